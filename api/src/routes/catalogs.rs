//! `/api/marketplace-software-catalogs/`: list, detail, and staff edits.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use softcat_shared::accounts::User;
use softcat_shared::browse::BadParameter;
use softcat_shared::browse::catalogs::{self, CatalogFields, CatalogFilter, CatalogRow};
use softcat_shared::catalog::{CatalogKind, CatalogType};
use softcat_shared::discover::discover;
use softcat_shared::fetch::Fetcher;
use softcat_shared::jobs::{self, JobSpec};
use softcat_shared::loader::{LoadRequest, LoadRequestDraft, source_of_catalog};
use softcat_shared::settings::CatalogSettings;
use softcat_shared::sources::custom;
use softcat_shared::uploads;
use uuid::Uuid;

use super::jobs::{JobQueued, accept};
use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
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
    /// What the catalog holds.
    pub catalog_type: CatalogTypeName,
    /// `catalog_type` as people read it.
    pub catalog_type_display: String,
    /// The loader that fills it (`eessi`, `spack`); null for a catalog
    /// created by hand.
    #[oai(nullable)]
    pub source: Option<String>,
    /// Where the data was loaded from.
    pub source_url: String,
    /// Free text.
    pub description: String,
    /// Source-level facts (timestamps, architectures …).
    pub metadata: serde_json::Value,
    /// Whether offerings may enable only some of its CPUs (binaries only).
    pub supports_cpu_target_restrictions: bool,
    /// Whether the daily refresh updates it.
    pub auto_update_enabled: bool,
    /// Number of packages, extensions included.
    pub package_count: i64,
    /// Number of versions.
    pub version_count: i64,
    /// Number of targets.
    pub target_count: i64,
    /// When a load of it last started.
    #[oai(nullable)]
    pub last_update_attempt: Option<DateTime<FixedOffset>>,
    /// When a load of it last succeeded.
    #[oai(nullable)]
    pub last_successful_update: Option<DateTime<FixedOffset>>,
    /// Why the last load failed, when it failed after the last success.
    #[oai(nullable)]
    pub update_errors: Option<String>,
    /// Every distinct CPU target among the catalog's targets (detail only).
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub cpu_targets: Option<Vec<CpuTarget>>,
    /// Creation time.
    pub created: DateTime<FixedOffset>,
    /// Last change of the catalog row.
    pub modified: DateTime<FixedOffset>,
}

/// What a catalog holds, in the marketplace's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CatalogTypeName {
    /// Pre-built binaries per CPU (EESSI).
    BinaryRuntime,
    /// Source recipes (Spack).
    SourcePackage,
    /// A package manager's channel (conda).
    PackageManager,
    /// A site's environment-module tree (Lmod).
    EnvironmentModule,
}

impl From<CatalogTypeName> for CatalogType {
    fn from(name: CatalogTypeName) -> Self {
        match name {
            CatalogTypeName::BinaryRuntime => Self::BinaryRuntime,
            CatalogTypeName::SourcePackage => Self::SourcePackage,
            CatalogTypeName::PackageManager => Self::PackageManager,
            CatalogTypeName::EnvironmentModule => Self::EnvironmentModule,
        }
    }
}

impl From<CatalogType> for CatalogTypeName {
    fn from(kind: CatalogType) -> Self {
        match kind {
            CatalogType::BinaryRuntime => Self::BinaryRuntime,
            CatalogType::SourcePackage => Self::SourcePackage,
            CatalogType::PackageManager => Self::PackageManager,
            CatalogType::EnvironmentModule => Self::EnvironmentModule,
        }
    }
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
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub name: String,
    /// Catalog version.
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub version: String,
    /// What the catalog holds: `binary_runtime`, `source_package`,
    /// `package_manager` or `environment_module`.
    #[oai(validator(max_length = 50, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub catalog_type: String,
    /// Where the data comes from: an http or https URL, a file: URL or a
    /// path.
    #[oai(validator(max_length = 2048, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub source_url: Option<String>,
    /// Free text.
    #[oai(validator(
        max_length = 10000,
        pattern = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]*$"
    ))]
    #[oai(nullable)]
    pub description: Option<String>,
    /// Whether the daily refresh updates it (default true).
    #[oai(nullable)]
    pub auto_update_enabled: Option<bool>,
}

/// Fields staff may change; absent ones stay as they are.
#[derive(Debug, Object)]
pub struct CatalogUpdate {
    /// Catalog name.
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub name: Option<String>,
    /// Catalog version.
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub version: Option<String>,
    /// What the catalog holds: `binary_runtime`, `source_package`,
    /// `package_manager` or `environment_module`.
    #[oai(validator(max_length = 50, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub catalog_type: Option<String>,
    /// Where the data comes from: an http or https URL, a file: URL or a
    /// path.
    #[oai(validator(max_length = 2048, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub source_url: Option<String>,
    /// Free text.
    #[oai(validator(
        max_length = 10000,
        pattern = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]*$"
    ))]
    #[oai(nullable)]
    pub description: Option<String>,
    /// Whether the daily refresh updates it.
    #[oai(nullable)]
    pub auto_update_enabled: Option<bool>,
}

/// What `import_catalog` loads: a configured source's catalog by name.
#[derive(Debug, Object)]
pub struct CatalogImport {
    /// The catalog name of a configured source: `EESSI` or `Spack` by default.
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    pub name: String,
    /// The version to load (default: the setting, else the newest the source has).
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub version: Option<String>,
}

/// What one configured source offers, and which of it is loaded.
#[derive(Debug, Object)]
pub struct DiscoveredSource {
    /// The loader: `eessi` or `spack`.
    pub source: String,
    /// The catalog name its loads use.
    pub name: String,
    /// Where it was read.
    pub url: String,
    /// Every version it offers, oldest first.
    pub versions: Vec<DiscoveredVersion>,
    /// Why the source could not be read, when it could not.
    #[oai(nullable)]
    pub error: Option<String>,
}

/// One version a source offers.
#[derive(Debug, Object)]
pub struct DiscoveredVersion {
    /// The catalog version (`2023.06`).
    pub version: String,
    /// Whether it is loaded.
    pub loaded: bool,
    /// The loaded catalog's URL, when it is.
    #[oai(nullable)]
    pub catalog_url: Option<String>,
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
    /// Enqueues a load of `name` (a configured source's catalog) at
    /// `version`, bringing an existing catalog in line when `update_existing`.
    async fn enqueue_load(
        &self,
        request: &Request,
        user: &User,
        name: String,
        version: Option<String>,
        update_existing: bool,
    ) -> ApiResult<JobQueued> {
        let config = &self.state.config;
        let source = source_of_catalog(config, &name).ok_or_else(|| {
            ApiError::from(BadParameter::new(
                "name",
                format!(
                    "no configured source loads a catalog named {name:?}; use one of {}",
                    config
                        .sources
                        .iter()
                        .filter(|(_, section)| !section.catalog_name.is_empty())
                        .map(|(_, section)| format!("{:?}", section.catalog_name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        })?;
        let settings = CatalogSettings::read(&self.state.db, config).await?;
        let draft = LoadRequestDraft {
            catalog_name: Some(name),
            catalog_version: version,
            update_existing,
            ..LoadRequestDraft::default()
        };
        let load = draft
            .resolve(source, settings.load_defaults(config, source))
            .map_err(|error| ApiError::Invalid(BadParameter::new(error.field, error.reason)))?;
        accept(&self.state, request, JobSpec::Load(load), user).await
    }

    async fn cpu_targets_of(&self, catalog_id: i64) -> ApiResult<Vec<CpuTarget>> {
        Ok(catalogs::cpu_targets(&self.state.db, catalog_id)
            .await?
            .into_iter()
            .map(|target| CpuTarget {
                full_arch: target.to_string(),
                cpu_family: target.family().to_owned(),
                cpu_microarchitecture: target.microarchitecture().to_owned(),
            })
            .collect())
    }

    async fn detail(&self, request: &Request, row: CatalogRow) -> ApiResult<Catalog> {
        let targets = self.cpu_targets_of(row.id).await?;
        Ok(catalog_object(
            &self.state.base_url(request),
            row,
            Some(targets),
        ))
    }
}

fn catalog_object(base_url: &str, row: CatalogRow, cpu_targets: Option<Vec<CpuTarget>>) -> Catalog {
    // The schema's CHECK constraint holds the type to the known values.
    let catalog_type = CatalogType::parse(&row.catalog_type).unwrap_or(CatalogType::BinaryRuntime);
    Catalog {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        name: row.name,
        version: row.version,
        catalog_type: catalog_type.into(),
        catalog_type_display: catalog_type.display().to_owned(),
        source: row.source,
        source_url: row.source_url,
        description: row.description,
        metadata: row.metadata,
        supports_cpu_target_restrictions: catalog_type.supports_cpu_target_restrictions(),
        auto_update_enabled: row.auto_update_enabled,
        package_count: row.package_count,
        version_count: row.version_count,
        target_count: row.target_count,
        last_update_attempt: row.last_update_attempt,
        last_successful_update: row.last_successful_update,
        update_errors: row.update_errors,
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
        auto_update_enabled: body.auto_update_enabled,
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
        /// Exact catalog name.
        name_exact: Query<Option<String>>,
        /// Exact catalog version, e.g. `2025.06`.
        #[oai(example = "examples::catalog_version")]
        version: Query<Option<String>>,
        /// Case-insensitive part of the description.
        description: Query<Option<String>>,
        /// What the catalogs hold.
        catalog_type: Query<Option<CatalogTypeName>>,
        /// The loader that fills them: `eessi`, `spack`.
        #[oai(example = "examples::source")]
        source: Query<Option<String>>,
        /// Catalogs the daily refresh updates (`true`) or leaves alone.
        auto_update_enabled: Query<Option<bool>>,
        /// Ordering: `name`, `version`, `catalog_type`, `created`,
        /// `modified`, each with `-` for descending.
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<CatalogList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = CatalogFilter {
            name: name.0,
            name_exact: name_exact.0,
            version: version.0,
            description: description.0,
            catalog_type: catalog_type.0.map(Into::into),
            source: source.0,
            auto_update_enabled: auto_update_enabled.0,
            ordering: o.0.unwrap_or_default(),
        };
        let listing = catalogs::list_catalogs(&self.state.db, &filter, page).await?;
        CatalogList::from_listing(request, &self.state, page, listing, |base, row| {
            catalog_object(base, row, None)
        })
    }

    /// What the configured sources offer (staff)
    ///
    /// Reads every configured source (with the runtime settings' URLs) and
    /// lists the catalog versions it offers, loaded or not: every EESSI
    /// stack version its API file lists, the Spack snapshot its data URL
    /// serves.
    #[oai(
        path = "/discover/",
        method = "get",
        operation_id = "catalogs_discover"
    )]
    async fn discover(
        &self,
        caller: Caller,
        request: &Request,
    ) -> ApiResult<Json<Vec<DiscoveredSource>>> {
        caller.require_staff()?;
        let fetcher = Fetcher::new(&self.state.config.fetch).map_err(|error| {
            tracing::error!(%error, "cannot build the fetcher");
            ApiError::Internal
        })?;
        let offers = discover(&self.state.db, &self.state.config, &fetcher).await?;
        let base = self.state.base_url(request);
        Ok(Json(
            offers
                .into_iter()
                .map(|offer| DiscoveredSource {
                    source: offer.source.as_str().to_owned(),
                    name: offer.catalog_name,
                    url: offer.url,
                    versions: offer
                        .versions
                        .into_iter()
                        .map(|(version, uuid)| DiscoveredVersion {
                            version,
                            loaded: uuid.is_some(),
                            catalog_url: uuid.map(|uuid| object_url(&base, COLLECTION, uuid)),
                        })
                        .collect(),
                    error: offer.error,
                })
                .collect(),
        ))
    }

    /// Load a configured source's catalog (staff)
    ///
    /// Enqueues a load of a catalog that is not stored yet; answers 202
    /// with the job. A catalog that exists is a 400: use `update_catalog`.
    #[oai(
        path = "/import_catalog/",
        method = "post",
        operation_id = "catalogs_import_catalog"
    )]
    async fn import_catalog(
        &self,
        caller: Caller,
        request: &Request,
        body: Json<CatalogImport>,
    ) -> ApiResult<JobQueued> {
        let user = caller.require_staff()?;
        let CatalogImport { name, version } = body.0;
        if let Some(version) = &version
            && catalogs::find_catalog(&self.state.db, &name, version)
                .await?
                .is_some()
        {
            return Err(ApiError::Invalid(BadParameter::new(
                "version",
                format!(
                    "{name} {version} is already loaded; update it with its update_catalog action"
                ),
            ))
            .into());
        }
        self.enqueue_load(request, user, name, version, false).await
    }

    /// Upload a custom catalog (staff)
    ///
    /// The body is a softcat catalog file, JSON or YAML (its JSON Schema:
    /// `/api/schemas/custom-catalog.json`), at most 16 MiB. It is checked
    /// at once (a document that is not a catalog is a 400 naming the path
    /// in it), kept, and loaded by a job; answers 202 with the job. Entries
    /// with errors are skipped and named in the job's result while the rest
    /// loads. A stored catalog of the same name and version is brought in
    /// line unless `update_existing=false`.
    #[oai(path = "/upload/", method = "post", operation_id = "catalogs_upload")]
    async fn upload(
        &self,
        caller: Caller,
        request: &Request,
        /// Bring a stored catalog of the same name and version in line
        /// (default true).
        update_existing: Query<Option<bool>>,
        /// Compute the statistics, write nothing (default false).
        dry_run: Query<Option<bool>>,
        /// Load even if the shrink guard would refuse it (default false).
        allow_shrink: Query<Option<bool>>,
        body: Binary<Vec<u8>>,
    ) -> ApiResult<JobQueued> {
        let user = caller.require_staff()?;
        custom::parse_bytes("body", &body.0)
            .map_err(|error| ApiError::from(BadParameter::new("body", error.to_string())))?;
        let upload = uploads::store(&self.state.db, body.0, &user.username).await?;
        let load = LoadRequest {
            source: custom::KIND,
            catalog_name: String::new(),
            catalog_version: None,
            url: uploads::location(upload),
            update_existing: update_existing.0.unwrap_or(true),
            dry_run: dry_run.0.unwrap_or(false),
            allow_shrink: allow_shrink.0.unwrap_or(false),
            options: Default::default(),
        };
        accept(&self.state, request, JobSpec::Load(load), user).await
    }

    /// Bring a catalog in line with its source (staff)
    ///
    /// Enqueues a load of this catalog's version from its source, updating
    /// it; answers 202 with the job. A catalog no configured source names
    /// (a module tree, a conda channel, a custom catalog) gets the load
    /// that last brought it in line again.
    #[oai(
        path = "/:uuid/update_catalog/",
        method = "post",
        operation_id = "catalogs_update_catalog"
    )]
    async fn update_catalog(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<JobQueued> {
        let user = caller.require_staff()?;
        let row = catalogs::get_catalog(&self.state.db, uuid.0).await?;
        if row.source.as_deref().and_then(CatalogKind::parse).is_none() {
            return Err(ApiError::Invalid(BadParameter::new(
                "uuid",
                format!(
                    "{} {} was created by hand: no source loads it",
                    row.name, row.version
                ),
            ))
            .into());
        }
        if source_of_catalog(&self.state.config, &row.name).is_none() {
            // A catalog no configured source names (a module tree, a conda
            // channel, a custom catalog): its last load again, updating.
            let last = jobs::last_load_of(&self.state.db, row.uuid).await?;
            let Some(last) = last else {
                return Err(ApiError::Invalid(BadParameter::new(
                    "uuid",
                    format!(
                        "{} {} was loaded by no job that is still kept: load it again \
                         with softcat load or a load job",
                        row.name, row.version
                    ),
                ))
                .into());
            };
            let load = LoadRequest {
                catalog_version: Some(row.version),
                update_existing: true,
                dry_run: false,
                allow_shrink: false,
                ..last
            };
            return accept(&self.state, request, JobSpec::Load(load), user).await;
        }
        self.enqueue_load(request, user, row.name, Some(row.version), true)
            .await
    }

    /// A catalog's CPU targets
    ///
    /// Every distinct CPU target among its targets: what an offering
    /// manager chooses from.
    #[oai(
        path = "/:uuid/cpu_targets/",
        method = "get",
        operation_id = "catalogs_cpu_targets"
    )]
    async fn cpu_targets(
        &self,
        caller: Caller,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<Vec<CpuTarget>>> {
        caller.require_reader(&self.state)?;
        let row = catalogs::get_catalog(&self.state.db, uuid.0).await?;
        Ok(Json(self.cpu_targets_of(row.id).await?))
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
            auto_update_enabled: body.auto_update_enabled,
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
