//! `/api/marketplace-software-targets/`: list and detail.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use softcat_shared::browse::targets::{self, TargetFilter, TargetRow};
use uuid::Uuid;

use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::filters::target_scope;
use crate::listing::{list_response, page_of};
use crate::state::AppState;

const COLLECTION: &str = "marketplace-software-targets";

/// Where a version runs: a CPU architecture (EESSI) or a build variant (Spack).
#[derive(Debug, Object)]
pub struct Target {
    /// This object's URL.
    pub url: String,
    /// Identity.
    pub uuid: Uuid,
    /// The version's UUID.
    pub version: Uuid,
    /// The version string.
    pub version_name: String,
    /// The package's UUID.
    pub package: Uuid,
    /// The package's name.
    pub package_name: String,
    /// `cpu_arch`, `build_variant`, `platform` …
    pub target_type: String,
    /// `x86_64/amd/zen4`, `default` …
    pub target_name: String,
    /// `x86_64`; null when the target is not a CPU.
    #[oai(nullable)]
    pub cpu_family: Option<String>,
    /// `amd/zen4`: everything after the family.
    #[oai(nullable)]
    pub cpu_microarchitecture: Option<String>,
    /// Family and micro-architecture joined: `x86_64/amd/zen4`.
    #[oai(nullable)]
    pub full_arch: Option<String>,
    /// Install path.
    pub path: String,
    /// GPU architectures it is built for (`nvidia/cc90`); empty for CPU-only builds.
    pub gpu_architectures: Vec<String>,
    /// Source details, e.g. `gpu_arch`.
    pub metadata: serde_json::Value,
    /// When the target was created.
    pub created: DateTime<FixedOffset>,
    /// When the target last changed.
    pub modified: DateTime<FixedOffset>,
}

/// A target object from its row.
pub fn target_object(base_url: &str, row: TargetRow) -> Target {
    Target {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        version: row.version_uuid,
        full_arch: row.full_arch(),
        gpu_architectures: row.gpu_architectures(),
        version_name: row.version,
        package: row.package_uuid,
        package_name: row.package_name,
        target_type: row.target_type,
        target_name: row.target_name,
        cpu_family: row.cpu_family,
        cpu_microarchitecture: row.cpu_microarchitecture,
        path: row.path,
        metadata: row.metadata,
        created: row.created,
        modified: row.modified,
    }
}

list_response!(TargetPage, TargetList, Target);

/// The target endpoints.
pub struct TargetsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(
    prefix_path = "/api/marketplace-software-targets",
    tag = "Tag::Targets"
)]
impl TargetsApi {
    /// List targets
    #[oai(path = "/", method = "get", operation_id = "targets_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Exact version.
        version_uuid: Query<Option<Uuid>>,
        /// Exact version string, e.g. `2026.2`.
        #[oai(example = "examples::version")]
        version: Query<Option<String>>,
        /// Exact package.
        package_uuid: Query<Option<Uuid>>,
        /// Case-insensitive part of the package name, e.g. `gromacs`.
        #[oai(example = "examples::package_name")]
        package_name: Query<Option<String>>,
        /// Exact package name (case-sensitive).
        package_name_exact: Query<Option<String>>,
        /// Exact catalog.
        catalog_uuid: Query<Option<Uuid>>,
        /// Case-insensitive part of the install path, e.g. `zen4`.
        path: Query<Option<String>>,
        /// Exact target type: `cpu_arch`, `build_variant`, `platform` …
        target_type: Query<Option<String>>,
        /// Exact target name, e.g. `x86_64/amd/zen4`.
        target_name: Query<Option<String>>,
        /// Targets an offering enables.
        offering_uuid: Query<Option<Uuid>>,
        /// What runs on this partition: its catalog links (and its offering's
        /// links without a partition), within what its CPU and GPU can run.
        partition_uuid: Query<Option<Uuid>>,
        /// CPU families, any of them, e.g. `x86_64`.
        #[oai(example = "examples::cpu_family")]
        cpu_family: Query<Option<Vec<String>>>,
        /// Micro-architectures, any of them, e.g. `amd/zen4` or `zen4`.
        #[oai(example = "examples::cpu_microarchitecture")]
        cpu_microarchitecture: Query<Option<Vec<String>>>,
        /// `true`: GPU builds; `false`: CPU-only builds.
        has_gpu: Query<Option<bool>>,
        /// Builds for this GPU architecture (`nvidia/cc90`, `cc90`).
        gpu_arch: Query<Option<String>>,
        /// Ordering: `package_name`, `version`, `target_type`,
        /// `target_name`, `cpu_family`, `cpu_microarchitecture`, `created`,
        /// each with `-` for descending.
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<TargetList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = TargetFilter {
            version_uuid: version_uuid.0,
            version: version.0,
            package_uuid: package_uuid.0,
            package_name: package_name.0,
            package_name_exact: package_name_exact.0,
            catalog_uuid: catalog_uuid.0,
            path: path.0,
            target_type: target_type.0,
            target_name: target_name.0,
            targets: target_scope(
                offering_uuid.0,
                partition_uuid.0,
                cpu_family.0,
                cpu_microarchitecture.0,
                has_gpu.0,
                gpu_arch.0,
            ),
            ordering: o.0.unwrap_or_default(),
        };
        let listing = targets::list_targets(&self.state.db, &filter, page).await?;
        TargetList::from_listing(request, &self.state, page, listing, target_object)
    }

    /// Show a target
    #[oai(path = "/:uuid/", method = "get", operation_id = "targets_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<Target>> {
        caller.require_reader(&self.state)?;
        let row = targets::get_target(&self.state.db, uuid.0).await?;
        Ok(Json(target_object(&self.state.base_url(request), row)))
    }
}
