//! `/api/marketplace-software-catalogs/`: list, detail, and staff edits.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use softcat_shared::browse::catalogs::{self, CatalogFields, CatalogFilter, CatalogRow};
use uuid::Uuid;

use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::listing::{list_response, page_of};
use crate::state::AppState;

const COLLECTION: &str = "marketplace-software-catalogs";

/// A software catalog: one version of one source (`EESSI` 2025.06).
#[derive(Debug, Object)]
pub struct Catalog {
    /// This object's URL.
    pub url: String,
    /// Identity.
    pub uuid: Uuid,
    /// Catalog name.
    pub name: String,
    /// Catalog version.
    pub version: String,
    /// Source kind: `eessi` or `spack`.
    pub catalog_type: String,
    /// Where the data was loaded from.
    pub source_url: String,
    /// Free text.
    pub description: String,
    /// Number of packages, extensions included.
    pub package_count: i64,
    /// Every distinct CPU target among the catalog's targets (detail only).
    #[oai(skip_serializing_if_is_none)]
    pub cpu_targets: Option<Vec<CpuTarget>>,
    /// Creation time.
    pub created: DateTime<FixedOffset>,
    /// Last change of the catalog row.
    pub modified: DateTime<FixedOffset>,
}

/// A CPU target an offering can enable.
#[derive(Debug, Object)]
pub struct CpuTarget {
    /// `x86_64`.
    pub cpu_family: String,
    /// `amd/zen4`.
    pub cpu_microarchitecture: String,
    /// `x86_64/amd/zen4`.
    pub full_arch: String,
}

/// Fields staff send to create a catalog.
#[derive(Debug, Object)]
pub struct CatalogCreate {
    /// Catalog name.
    pub name: String,
    /// Catalog version.
    pub version: String,
    /// Source kind.
    pub catalog_type: String,
    /// Where the data comes from.
    pub source_url: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

/// Fields staff may change; absent ones stay as they are.
#[derive(Debug, Object)]
pub struct CatalogUpdate {
    /// Catalog name.
    pub name: Option<String>,
    /// Catalog version.
    pub version: Option<String>,
    /// Source kind.
    pub catalog_type: Option<String>,
    /// Where the data comes from.
    pub source_url: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

list_response!(CatalogPage, CatalogList, Catalog);

/// Answer to a create.
#[derive(ApiResponse)]
pub enum CatalogCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Catalog>),
}

/// Answer to a delete.
#[derive(ApiResponse)]
pub enum CatalogDeleted {
    /// Deleted, with everything below it.
    #[oai(status = 204)]
    NoContent,
}

/// The catalog endpoints.
pub struct CatalogsApi {
    /// Shared state.
    pub state: AppState,
}

impl CatalogsApi {
    async fn detail(&self, request: &Request, row: CatalogRow) -> ApiResult<Catalog> {
        let targets = catalogs::cpu_targets(&self.state.db, row.id)
            .await?
            .into_iter()
            .map(|target| CpuTarget {
                full_arch: target.to_string(),
                cpu_family: target.family().to_owned(),
                cpu_microarchitecture: target.microarchitecture().to_owned(),
            })
            .collect();
        Ok(catalog_object(
            &self.state.base_url(request),
            row,
            Some(targets),
        ))
    }
}

fn catalog_object(base_url: &str, row: CatalogRow, cpu_targets: Option<Vec<CpuTarget>>) -> Catalog {
    Catalog {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        name: row.name,
        version: row.version,
        catalog_type: row.catalog_type,
        source_url: row.source_url,
        description: row.description,
        package_count: row.package_count,
        cpu_targets,
        created: row.created,
        modified: row.modified,
    }
}

fn fields_of_create(body: CatalogCreate) -> CatalogFields {
    CatalogFields {
        name: Some(body.name),
        version: Some(body.version),
        catalog_type: Some(body.catalog_type),
        source_url: body.source_url,
        description: body.description,
    }
}

#[OpenApi(
    prefix_path = "/api/marketplace-software-catalogs",
    tag = "Tag::Catalogs"
)]
impl CatalogsApi {
    /// List catalogs
    ///
    /// Ordered by name, then version.
    #[oai(path = "/", method = "get", operation_id = "catalogs_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Case-insensitive part of the catalog name.
        #[oai(example = "examples::catalog_name")]
        name: Query<Option<String>>,
        /// Exact catalog version, e.g. `2025.06`.
        #[oai(example = "examples::catalog_version")]
        version: Query<Option<String>>,
        /// `eessi` or `spack`.
        #[oai(example = "examples::catalog_type")]
        catalog_type: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(example = "examples::page")]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size")]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<CatalogList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = CatalogFilter {
            name: name.0,
            version: version.0,
            catalog_type: catalog_type.0,
        };
        let listing = catalogs::list_catalogs(&self.state.db, &filter, page).await?;
        Ok(CatalogList::from_listing(
            request,
            &self.state,
            page,
            listing,
            |base, row| catalog_object(base, row, None),
        ))
    }

    /// Show a catalog
    ///
    /// With the distinct CPU targets of its packages.
    #[oai(path = "/:uuid/", method = "get", operation_id = "catalogs_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<Catalog>> {
        caller.require_reader(&self.state)?;
        let row = catalogs::get_catalog(&self.state.db, uuid.0).await?;
        Ok(Json(self.detail(request, row).await?))
    }

    /// Create a catalog (staff)
    #[oai(path = "/", method = "post", operation_id = "catalogs_create")]
    async fn create(
        &self,
        caller: Caller,
        request: &Request,
        body: Json<CatalogCreate>,
    ) -> ApiResult<CatalogCreated> {
        caller.require_staff()?;
        let row = catalogs::create_catalog(&self.state.db, &fields_of_create(body.0)).await?;
        Ok(CatalogCreated::Created(Json(
            self.detail(request, row).await?,
        )))
    }

    /// Change a catalog (staff)
    #[oai(
        path = "/:uuid/",
        method = "patch",
        operation_id = "catalogs_partial_update"
    )]
    async fn update(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<CatalogUpdate>,
    ) -> ApiResult<Json<Catalog>> {
        caller.require_staff()?;
        let body = body.0;
        let fields = CatalogFields {
            name: body.name,
            version: body.version,
            catalog_type: body.catalog_type,
            source_url: body.source_url,
            description: body.description,
        };
        let row = catalogs::update_catalog(&self.state.db, uuid.0, &fields).await?;
        Ok(Json(self.detail(request, row).await?))
    }

    /// Delete a catalog (staff)
    ///
    /// Removes its packages, versions, targets and offering links.
    #[oai(path = "/:uuid/", method = "delete", operation_id = "catalogs_destroy")]
    async fn destroy(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<CatalogDeleted> {
        caller.require_staff()?;
        catalogs::delete_catalog(&self.state.db, uuid.0).await?;
        Ok(CatalogDeleted::NoContent)
    }
}
