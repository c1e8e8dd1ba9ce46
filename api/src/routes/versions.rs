//! `/api/marketplace-software-versions/`: list and detail.

use chrono::NaiveDate;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use softcat_shared::browse::versions::{self, VersionFilter, VersionRow};
use uuid::Uuid;

use super::targets::Target;
use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::listing::{list_response, page_of};
use crate::state::AppState;

const COLLECTION: &str = "marketplace-software-versions";

/// A version of a package; for EESSI one installation (module).
#[derive(Debug, Object)]
pub struct Version {
    /// This object's URL.
    pub url: String,
    /// Identity.
    pub uuid: Uuid,
    /// The version string.
    pub version: String,
    /// The module providing it (EESSI), empty for Spack.
    pub modulename: String,
    /// The package's UUID.
    pub package: Uuid,
    /// The package's name.
    pub package_name: String,
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// The catalog's type.
    pub catalog_type: String,
    /// Release date, where known.
    pub release_date: Option<NaiveDate>,
    /// Toolchain name (`foss`).
    pub toolchain_name: String,
    /// Toolchain version (`2025b`).
    pub toolchain_version: String,
    /// Compatible toolchain families.
    pub toolchain_families_compatibility: serde_json::Value,
    /// Modules loaded with this one.
    pub required_modules: serde_json::Value,
    /// Source details (version suffix, downloads, parent installation …).
    pub metadata: serde_json::Value,
    /// For an extension, the parent installation's version UUID.
    pub parent_version: Option<Uuid>,
    /// Targets (only inside a package's detail).
    #[oai(skip_serializing_if_is_none)]
    pub targets: Option<Vec<Target>>,
}

/// A version object from its row.
pub fn version_object(base_url: &str, row: VersionRow, targets: Option<Vec<Target>>) -> Version {
    Version {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        version: row.version,
        modulename: row.modulename,
        package: row.package_uuid,
        package_name: row.package_name,
        catalog: row.catalog_uuid,
        catalog_type: row.catalog_type,
        release_date: row.release_date,
        toolchain_name: row.toolchain_name,
        toolchain_version: row.toolchain_version,
        toolchain_families_compatibility: row.toolchain_families_compatibility,
        required_modules: row.required_modules,
        metadata: row.metadata,
        parent_version: row.parent_version_uuid,
        targets,
    }
}

list_response!(VersionPage, VersionList, Version);

/// The version endpoints.
pub struct VersionsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(
    prefix_path = "/api/marketplace-software-versions",
    tag = "Tag::Versions"
)]
impl VersionsApi {
    /// List versions
    #[oai(path = "/", method = "get", operation_id = "versions_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Exact package.
        package_uuid: Query<Option<Uuid>>,
        /// Exact package name (case-sensitive), e.g. `GROMACS`.
        #[oai(example = "examples::package_name")]
        package_name: Query<Option<String>>,
        /// Exact catalog.
        catalog_uuid: Query<Option<Uuid>>,
        /// `eessi` or `spack`.
        #[oai(example = "examples::catalog_type")]
        catalog_type: Query<Option<String>>,
        /// Versions an offering provides, within the CPUs it enables.
        offering_uuid: Query<Option<Uuid>>,
        /// Versions with a target of this CPU family, e.g. `aarch64`.
        #[oai(example = "examples::cpu_family")]
        cpu_family: Query<Option<String>>,
        /// Versions with a target of this micro-architecture, e.g. `neoverse_v1`.
        #[oai(example = "examples::cpu_microarchitecture")]
        cpu_microarchitecture: Query<Option<String>>,
        /// Exact toolchain name, e.g. `foss`.
        #[oai(example = "examples::toolchain_name")]
        toolchain_name: Query<Option<String>>,
        /// A compatible toolchain family, e.g. `2023a_foss`.
        #[oai(example = "examples::toolchain_family")]
        toolchain_families_compatibility: Query<Option<String>>,
        /// Released on or after this date (YYYY-MM-DD).
        release_date_after: Query<Option<NaiveDate>>,
        /// Released on or before this date (YYYY-MM-DD).
        release_date_before: Query<Option<NaiveDate>>,
        /// Ordering: `package_name`, `version`, `release_date`, `toolchain_name`,
        /// each with `-` for descending.
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page")]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size")]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<VersionList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = VersionFilter {
            package_uuid: package_uuid.0,
            package_name: package_name.0,
            catalog_uuid: catalog_uuid.0,
            catalog_type: catalog_type.0,
            offering_uuid: offering_uuid.0,
            cpu_family: cpu_family.0,
            cpu_microarchitecture: cpu_microarchitecture.0,
            toolchain_name: toolchain_name.0,
            toolchain_families_compatibility: toolchain_families_compatibility.0,
            release_date_after: release_date_after.0,
            release_date_before: release_date_before.0,
            ordering: o.0.unwrap_or_default(),
        };
        let listing = versions::list_versions(&self.state.db, &filter, page).await?;
        Ok(VersionList::from_listing(
            request,
            &self.state,
            page,
            listing,
            |base, row| version_object(base, row, None),
        ))
    }

    /// Show a version
    #[oai(path = "/:uuid/", method = "get", operation_id = "versions_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<Version>> {
        caller.require_reader(&self.state)?;
        let row = versions::get_version(&self.state.db, uuid.0).await?;
        Ok(Json(version_object(
            &self.state.base_url(request),
            row,
            None,
        )))
    }
}
