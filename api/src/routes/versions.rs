//! `/api/marketplace-software-versions/`: list and detail.

use chrono::{DateTime, FixedOffset, NaiveDate};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use softcat_shared::browse::versions::{self, VersionFilter, VersionRow};
use uuid::Uuid;

use super::catalogs::CatalogTypeName;
use super::packages::{Extension, extension_object};
use super::targets::Target;
use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::filters::target_scope;
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
    /// The module providing it, in parts; null where there is none.
    #[oai(nullable)]
    pub module: Option<Module>,
    /// The package's UUID.
    pub package: Uuid,
    /// The package's name.
    pub package_name: String,
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// The catalog's type.
    pub catalog_type: String,
    /// Release date, where known.
    #[oai(nullable)]
    pub release_date: Option<NaiveDate>,
    /// The toolchain it was built with; null where there is none.
    #[oai(nullable)]
    pub toolchain: Option<Toolchain>,
    /// Toolchain name (`foss`).
    pub toolchain_name: String,
    /// Toolchain version (`2025b`).
    pub toolchain_version: String,
    /// Compatible toolchain families.
    pub toolchain_families_compatibility: serde_json::Value,
    /// Modules loaded with this one.
    pub required_modules: serde_json::Value,
    /// Download URLs (Spack).
    pub downloads: Vec<String>,
    /// The branch this version is built from (Spack `develop` …).
    #[oai(nullable)]
    pub branch: Option<String>,
    /// The package's dependencies (Spack).
    pub dependencies: serde_json::Value,
    /// Source details (version suffix, downloads, branch …).
    pub metadata: serde_json::Value,
    /// For an extension, the parent versions that include it.
    pub parent_versions: Vec<ParentVersion>,
    /// Number of targets.
    pub target_count: i64,
    /// When the version was created.
    pub created: DateTime<FixedOffset>,
    /// When the version last changed.
    pub modified: DateTime<FixedOffset>,
    /// Targets (only inside a package's detail).
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub targets: Option<Vec<Target>>,
    /// Extension versions installed in this one (only in a version's detail).
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub extensions: Option<Vec<Extension>>,
}

/// An environment module: `GROMACS/2024.1-foss-2023b` is module
/// `GROMACS`, version `2024.1-foss-2023b`.
#[derive(Debug, Object)]
pub struct Module {
    /// The full name to `module load`.
    pub full_module_name: String,
    /// The part before the first `/`.
    pub module_name: String,
    /// The rest.
    pub module_version: String,
}

/// A toolchain: name and version.
#[derive(Debug, Object)]
pub struct Toolchain {
    /// `foss`, `GCC` …
    pub name: String,
    /// `2023b`, `13.2.0` …
    pub version: String,
}

/// A parent version of an extension version.
#[derive(Debug, Object, serde::Deserialize)]
pub struct ParentVersion {
    /// The parent version's UUID.
    pub uuid: Uuid,
    /// The parent package's name.
    pub package_name: String,
    /// The parent's version string.
    pub version: String,
}

/// A version object from its row.
pub fn version_object(base_url: &str, row: VersionRow, targets: Option<Vec<Target>>) -> Version {
    let module = (!row.modulename.is_empty()).then(|| {
        let (name, version) = row
            .modulename
            .split_once('/')
            .unwrap_or((row.modulename.as_str(), ""));
        Module {
            full_module_name: row.modulename.clone(),
            module_name: name.to_owned(),
            module_version: version.to_owned(),
        }
    });
    let toolchain = (!row.toolchain_name.is_empty()).then(|| Toolchain {
        name: row.toolchain_name.clone(),
        version: row.toolchain_version.clone(),
    });
    let downloads = row
        .metadata
        .get("downloads")
        .and_then(|value| serde_json::from_value(value.clone()).ok())
        .unwrap_or_default();
    let branch = row
        .metadata
        .get("branch")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    Version {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        version: row.version,
        modulename: row.modulename,
        module,
        package: row.package_uuid,
        package_name: row.package_name,
        catalog: row.catalog_uuid,
        catalog_type: row.catalog_type,
        release_date: row.release_date,
        toolchain,
        toolchain_name: row.toolchain_name,
        toolchain_version: row.toolchain_version,
        toolchain_families_compatibility: row.toolchain_families_compatibility,
        required_modules: row.required_modules,
        downloads,
        branch,
        dependencies: row.dependencies,
        metadata: row.metadata,
        parent_versions: serde_json::from_value(row.parent_versions).unwrap_or_default(),
        target_count: row.target_count,
        created: row.created,
        modified: row.modified,
        targets,
        extensions: None,
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
        /// Case-insensitive part of the package name, e.g. `gromacs`.
        #[oai(example = "examples::package_name")]
        package_name: Query<Option<String>>,
        /// Exact package name (case-sensitive: `ASE` is not `ase`).
        package_name_exact: Query<Option<String>>,
        /// Part of the version string, e.g. `2024`.
        version: Query<Option<String>>,
        /// Exact version string.
        version_exact: Query<Option<String>>,
        /// Exact catalog.
        catalog_uuid: Query<Option<Uuid>>,
        /// What the catalog holds.
        catalog_type: Query<Option<CatalogTypeName>>,
        /// Versions an offering provides: one of their targets is enabled
        /// by the offering's link to their catalog.
        offering_uuid: Query<Option<Uuid>>,
        /// What runs on this partition: its catalog links (and its offering's
        /// links without a partition), within what its CPU and GPU can run.
        partition_uuid: Query<Option<Uuid>>,
        /// Versions with a target of one of these CPU families, e.g. `aarch64`.
        #[oai(example = "examples::cpu_family")]
        cpu_family: Query<Option<Vec<String>>>,
        /// Versions with a target of one of these micro-architectures,
        /// e.g. `neoverse_v1`, `amd/zen4` or `zen4`.
        #[oai(example = "examples::cpu_microarchitecture")]
        cpu_microarchitecture: Query<Option<Vec<String>>>,
        /// `true`: versions with a GPU build; `false`: with a CPU-only build.
        has_gpu: Query<Option<bool>>,
        /// Versions with a build for this GPU architecture (`nvidia/cc90`, `cc90`).
        gpu_arch: Query<Option<String>>,
        /// Exact toolchain name, e.g. `foss`.
        #[oai(example = "examples::toolchain_name")]
        toolchain_name: Query<Option<String>>,
        /// Exact toolchain version, e.g. `2023b`.
        toolchain_version: Query<Option<String>>,
        /// A compatible toolchain family, e.g. `2023a_foss`.
        #[oai(example = "examples::toolchain_family")]
        toolchain_families_compatibility: Query<Option<String>>,
        /// Released on or after this date (YYYY-MM-DD).
        release_date_after: Query<Option<NaiveDate>>,
        /// Released on or before this date (YYYY-MM-DD).
        release_date_before: Query<Option<NaiveDate>>,
        /// Extension versions included in this parent version.
        parent_version_uuid: Query<Option<Uuid>>,
        /// Ordering: `package_name`, `version`, `release_date`,
        /// `toolchain_name`, `created`, each with `-` for descending.
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<VersionList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = VersionFilter {
            package_uuid: package_uuid.0,
            package_name: package_name.0,
            package_name_exact: package_name_exact.0,
            version: version.0,
            version_exact: version_exact.0,
            catalog_uuid: catalog_uuid.0,
            catalog_type: catalog_type.0.map(Into::into),
            targets: target_scope(
                offering_uuid.0,
                partition_uuid.0,
                cpu_family.0,
                cpu_microarchitecture.0,
                has_gpu.0,
                gpu_arch.0,
            ),
            toolchain_name: toolchain_name.0,
            toolchain_version: toolchain_version.0,
            toolchain_families_compatibility: toolchain_families_compatibility.0,
            release_date_after: release_date_after.0,
            release_date_before: release_date_before.0,
            parent_version_uuid: parent_version_uuid.0,
            ordering: o.0.unwrap_or_default(),
        };
        let listing = versions::list_versions(&self.state.db, &filter, page).await?;
        VersionList::from_listing(request, &self.state, page, listing, |base, row| {
            version_object(base, row, None)
        })
    }

    /// Show a version
    ///
    /// With the extension versions installed in it.
    #[oai(path = "/:uuid/", method = "get", operation_id = "versions_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<Version>> {
        caller.require_reader(&self.state)?;
        let detail = versions::get_version(&self.state.db, uuid.0).await?;
        let base = self.state.base_url(request);
        let mut version = version_object(&base, detail.version, None);
        version.extensions = Some(
            detail
                .extensions
                .into_iter()
                .map(|e| extension_object(&base, e))
                .collect(),
        );
        Ok(Json(version))
    }
}
