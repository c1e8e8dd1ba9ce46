//! `/api/marketplace-provider-offerings/`: offerings, the catalogs they
//! provide, and the three link actions managers use.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use softcat_shared::browse::offerings::{self, EnabledCpus, LinkRow, OfferingDetail};
use uuid::Uuid;

use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::listing::{list_response, page_of};
use crate::state::AppState;

const COLLECTION: &str = "marketplace-provider-offerings";

/// An offering and the software catalogs it provides.
#[derive(Debug, Object)]
pub struct Offering {
    /// This object's URL.
    pub url: String,
    /// Identity.
    pub uuid: Uuid,
    /// Offering name.
    pub name: String,
    /// Offering type.
    #[oai(rename = "type")]
    pub offering_type: String,
    /// Usernames of the offering's managers.
    pub managers: Vec<String>,
    /// Catalogs the offering provides.
    pub software_catalogs: Vec<OfferingCatalog>,
    /// Creation time.
    pub created: DateTime<FixedOffset>,
}

/// One catalog an offering provides, for the CPUs it enables.
#[derive(Debug, Object)]
pub struct OfferingCatalog {
    /// The link's UUID, used by the update and remove actions.
    pub offering_catalog_uuid: Uuid,
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// The catalog's name.
    pub catalog_name: String,
    /// The catalog's version.
    pub catalog_version: String,
    /// Enabled CPU families; empty enables all.
    pub enabled_cpu_family: serde_json::Value,
    /// Enabled micro-architectures; empty enables all.
    pub enabled_cpu_microarchitectures: serde_json::Value,
    /// Packages with a target the link enables.
    pub package_count: i64,
}

/// Fields staff send to create an offering.
#[derive(Debug, Object)]
pub struct OfferingCreate {
    /// Offering name.
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub name: String,
    /// Offering type.
    #[oai(
        rename = "type",
        default,
        validator(max_length = 100, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub offering_type: String,
    /// Usernames of its managers.
    #[oai(
        default,
        validator(max_items = 100, max_length = 150, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub managers: Vec<String>,
}

/// `add_software_catalog`: link a catalog.
#[derive(Debug, Object)]
pub struct AddCatalog {
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// CPU families to enable, e.g. `["x86_64"]`; empty enables all.
    #[oai(
        default,
        validator(max_items = 64, max_length = 64, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub enabled_cpu_family: Vec<String>,
    /// Micro-architectures to enable, e.g. `["amd/zen4"]`; empty enables all.
    #[oai(
        default,
        validator(max_items = 256, max_length = 128, pattern = "^[^\\x00-\\x1F\\x7F]*$")
    )]
    pub enabled_cpu_microarchitectures: Vec<String>,
}

/// `update_software_catalog`: change the CPUs a link enables.
#[derive(Debug, Object)]
pub struct UpdateCatalog {
    /// The link to change.
    pub offering_catalog_uuid: Uuid,
    /// New CPU families; absent keeps them.
    #[oai(validator(max_items = 64, max_length = 64, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub enabled_cpu_family: Option<Vec<String>>,
    /// New micro-architectures; absent keeps them.
    #[oai(validator(max_items = 256, max_length = 128, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub enabled_cpu_microarchitectures: Option<Vec<String>>,
}

/// `remove_software_catalog`: unlink a catalog.
#[derive(Debug, Object)]
pub struct RemoveCatalog {
    /// The link to remove.
    pub offering_catalog_uuid: Uuid,
}

list_response!(OfferingPage, OfferingList, Offering);

/// Answer to a create.
#[derive(ApiResponse)]
pub enum OfferingCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Offering>),
}

/// Answer to adding a catalog.
#[derive(ApiResponse)]
pub enum CatalogAdded {
    /// Linked.
    #[oai(status = 201)]
    Created(Json<OfferingCatalog>),
}

/// Answer to removing a catalog.
#[derive(ApiResponse)]
pub enum CatalogRemoved {
    /// Unlinked.
    #[oai(status = 204)]
    NoContent,
}

fn link_object(link: LinkRow) -> OfferingCatalog {
    OfferingCatalog {
        offering_catalog_uuid: link.uuid,
        catalog: link.catalog_uuid,
        catalog_name: link.catalog_name,
        catalog_version: link.catalog_version,
        enabled_cpu_family: link.enabled_cpu_family,
        enabled_cpu_microarchitectures: link.enabled_cpu_microarchitectures,
        package_count: link.package_count,
    }
}

fn offering_object(base_url: &str, detail: OfferingDetail) -> Offering {
    Offering {
        url: object_url(base_url, COLLECTION, detail.offering.uuid),
        uuid: detail.offering.uuid,
        name: detail.offering.name,
        offering_type: detail.offering.offering_type,
        managers: detail.managers,
        software_catalogs: detail.catalogs.into_iter().map(link_object).collect(),
        created: detail.offering.created,
    }
}

/// The offering endpoints.
pub struct OfferingsApi {
    /// Shared state.
    pub state: AppState,
}

impl OfferingsApi {
    /// The offering, once the caller is shown to be staff or its manager.
    async fn managed(&self, caller: &Caller, uuid: Uuid) -> Result<OfferingDetail, ApiError> {
        caller.require_user()?;
        let detail = offerings::get_offering(&self.state.db, uuid).await?;
        caller
            .require_manager(&self.state, detail.offering.id)
            .await?;
        Ok(detail)
    }
}

#[OpenApi(
    prefix_path = "/api/marketplace-provider-offerings",
    tag = "Tag::Offerings"
)]
impl OfferingsApi {
    /// List offerings
    #[oai(path = "/", method = "get", operation_id = "offerings_list")]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Case-insensitive part of the offering name.
        name: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(example = "examples::page")]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size")]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<OfferingList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let listing = offerings::list_offerings(&self.state.db, name.0.as_deref(), page).await?;
        OfferingList::from_listing(request, &self.state, page, listing, offering_object)
    }

    /// Show an offering
    #[oai(path = "/:uuid/", method = "get", operation_id = "offerings_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<Offering>> {
        caller.require_reader(&self.state)?;
        let detail = offerings::get_offering(&self.state.db, uuid.0).await?;
        Ok(Json(offering_object(&self.state.base_url(request), detail)))
    }

    /// Create an offering (staff)
    ///
    /// `managers` names the users who may change its catalog links.
    #[oai(path = "/", method = "post", operation_id = "offerings_create")]
    async fn create(
        &self,
        caller: Caller,
        request: &Request,
        body: Json<OfferingCreate>,
    ) -> ApiResult<OfferingCreated> {
        caller.require_staff()?;
        let body = body.0;
        let detail = offerings::create_offering(
            &self.state.db,
            &body.name,
            &body.offering_type,
            &body.managers,
        )
        .await?;
        Ok(OfferingCreated::Created(Json(offering_object(
            &self.state.base_url(request),
            detail,
        ))))
    }

    /// Add a software catalog to an offering (staff, managers)
    ///
    /// The catalog must exist and not be linked yet; every enabled CPU family
    /// and micro-architecture must be among the catalog's targets.
    #[oai(
        path = "/:uuid/add_software_catalog/",
        method = "post",
        operation_id = "offerings_add_software_catalog"
    )]
    async fn add_software_catalog(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<AddCatalog>,
    ) -> ApiResult<CatalogAdded> {
        let offering = self.managed(&caller, uuid.0).await?;
        let body = body.0;
        let cpus = EnabledCpus {
            families: body.enabled_cpu_family,
            microarchitectures: body.enabled_cpu_microarchitectures,
        };
        let link =
            offerings::add_link(&self.state.db, offering.offering.id, body.catalog, &cpus).await?;
        Ok(CatalogAdded::Created(Json(link_object(link))))
    }

    /// Change the CPUs an offering's catalog enables (staff, managers)
    #[oai(
        path = "/:uuid/update_software_catalog/",
        method = "patch",
        operation_id = "offerings_update_software_catalog"
    )]
    async fn update_software_catalog(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<UpdateCatalog>,
    ) -> ApiResult<Json<OfferingCatalog>> {
        let offering = self.managed(&caller, uuid.0).await?;
        let body = body.0;
        let link = offerings::update_link(
            &self.state.db,
            offering.offering.id,
            body.offering_catalog_uuid,
            body.enabled_cpu_family,
            body.enabled_cpu_microarchitectures,
        )
        .await?;
        Ok(Json(link_object(link)))
    }

    /// Remove a software catalog from an offering (staff, managers)
    #[oai(
        path = "/:uuid/remove_software_catalog/",
        method = "post",
        operation_id = "offerings_remove_software_catalog"
    )]
    async fn remove_software_catalog(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
        body: Json<RemoveCatalog>,
    ) -> ApiResult<CatalogRemoved> {
        let offering = self.managed(&caller, uuid.0).await?;
        offerings::remove_link(
            &self.state.db,
            offering.offering.id,
            body.0.offering_catalog_uuid,
        )
        .await?;
        Ok(CatalogRemoved::NoContent)
    }
}
