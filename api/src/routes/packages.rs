//! `/api/marketplace-software-packages/`: list with filters, and the detail
//! with versions, targets and extensions.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use softcat_shared::browse::packages::{self, ExtensionRow, PackageFilter, PackageRow};
use uuid::Uuid;

use super::catalogs::CatalogTypeName;
use super::targets::target_object;
use super::versions::{Version, version_object};
use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::filters::target_scope;
use crate::listing::{list_response, page_of};
use crate::state::AppState;

const COLLECTION: &str = "marketplace-software-packages";

/// A package of a catalog; extensions are packages too.
#[derive(Debug, Object)]
pub struct Package {
    /// This object's URL.
    pub url: String,
    /// Identity.
    pub uuid: Uuid,
    /// Package name (case-sensitive).
    pub name: String,
    /// Summary.
    pub description: String,
    /// Home page.
    pub homepage: String,
    /// Categories or tags.
    pub categories: serde_json::Value,
    /// Licence identifiers.
    pub licenses: serde_json::Value,
    /// Maintainer handles.
    pub maintainers: serde_json::Value,
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// The catalog's name.
    pub catalog_name: String,
    /// The catalog's version.
    pub catalog_version: String,
    /// The catalog's type.
    pub catalog_type: String,
    /// Whether this is an extension (Python/R/Perl package of another).
    pub is_extension: bool,
    /// The packages whose installations include this extension (several
    /// for an extension shipped by more than one package).
    pub parent_softwares: Vec<ParentSoftware>,
    /// Number of versions.
    pub version_count: i64,
    /// Number of distinct extension packages installed in its versions.
    pub extension_count: i64,
    /// When the package was created.
    pub created: DateTime<FixedOffset>,
    /// When the package last changed.
    pub modified: DateTime<FixedOffset>,
}

/// A parent package of an extension.
#[derive(Debug, Object, serde::Deserialize)]
pub struct ParentSoftware {
    /// The parent package's UUID.
    pub uuid: Uuid,
    /// Its name.
    pub name: String,
    /// Its URL.
    #[serde(default)]
    pub url: String,
}

/// A package with its versions (newest first), their targets, and its extensions.
#[derive(Debug, Object)]
pub struct PackageDetail {
    /// The package.
    #[oai(flatten)]
    pub package: Package,
    /// The newest 100 versions by version semantics, each with its
    /// targets; with scoping filters, only versions with a matching target,
    /// and only those targets. `versions_url` lists them all.
    pub versions: Vec<Version>,
    /// How many versions match in all; more than `versions` holds when
    /// the package has over 100.
    pub matching_version_count: u64,
    /// The versions list of this package, which pages through every one.
    pub versions_url: String,
    /// Extensions installed in this package's versions.
    pub extensions: Vec<Extension>,
}

/// An extension of a package, in one version.
#[derive(Debug, Object)]
pub struct Extension {
    /// The extension package's URL.
    pub url: String,
    /// The extension package's UUID.
    pub uuid: Uuid,
    /// Its name.
    pub name: String,
    /// The extension version's UUID.
    pub version_uuid: Uuid,
    /// Its version.
    pub version: String,
    /// The UUID of the parent's version that includes it.
    pub parent_version: Uuid,
}

/// An extension object from its row.
pub fn extension_object(base_url: &str, row: ExtensionRow) -> Extension {
    Extension {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        name: row.name,
        version_uuid: row.version_uuid,
        version: row.version,
        parent_version: row.parent_version_uuid,
    }
}

fn package_object(base_url: &str, row: PackageRow) -> Package {
    let mut parent_softwares: Vec<ParentSoftware> =
        serde_json::from_value(row.parent_softwares).unwrap_or_default();
    for parent in &mut parent_softwares {
        parent.url = object_url(base_url, COLLECTION, parent.uuid);
    }
    Package {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        name: row.name,
        description: row.description,
        homepage: row.homepage,
        categories: row.categories,
        licenses: row.licenses,
        maintainers: row.maintainers,
        catalog: row.catalog_uuid,
        catalog_name: row.catalog_name,
        catalog_version: row.catalog_version,
        catalog_type: row.catalog_type,
        is_extension: row.is_extension,
        parent_softwares,
        version_count: row.version_count,
        extension_count: row.extension_count,
        created: row.created,
        modified: row.modified,
    }
}

list_response!(PackagePage, PackageList, Package);

/// The package endpoints.
pub struct PackagesApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(
    prefix_path = "/api/marketplace-software-packages",
    tag = "Tag::Packages"
)]
impl PackagesApi {
    /// List packages
    ///
    /// Every filter narrows the result; the default order is by name.
    #[oai(path = "/", method = "get", operation_id = "packages_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// Exact catalog.
        catalog_uuid: Query<Option<Uuid>>,
        /// Case-insensitive part of the catalog name, e.g. `eessi`.
        #[oai(example = "examples::catalog_name")]
        catalog_name: Query<Option<String>>,
        /// Exact catalog name.
        catalog_name_exact: Query<Option<String>>,
        /// Exact catalog version, e.g. `2025.06`.
        #[oai(example = "examples::catalog_version")]
        catalog_version: Query<Option<String>>,
        /// What the catalog holds.
        catalog_type: Query<Option<CatalogTypeName>>,
        /// A category the package has, e.g. `chem` (case-insensitive).
        category: Query<Option<String>>,
        /// A licence the package has, e.g. `MIT` (case-insensitive).
        license: Query<Option<String>>,
        /// Packages that include an extension of this type, e.g. `python`.
        extension_type: Query<Option<String>>,
        /// Packages that include an extension whose name holds this text,
        /// e.g. `numpy`.
        extension_name: Query<Option<String>>,
        /// Packages with a version built with this toolchain, e.g. `foss`.
        #[oai(example = "examples::toolchain_name")]
        toolchain_name: Query<Option<String>>,
        /// Packages with a version built with a toolchain of this version, e.g. `2023b`.
        toolchain_version: Query<Option<String>>,
        /// Case-insensitive part of the package name, e.g. `gromacs`.
        #[oai(example = "examples::package_name")]
        name: Query<Option<String>>,
        /// Exact package name (case-sensitive: `ASE` is not `ase`).
        name_exact: Query<Option<String>>,
        /// Case-insensitive part of the description.
        description: Query<Option<String>>,
        /// Case-insensitive part of the name, the description or any version string.
        #[oai(example = "examples::query")]
        query: Query<Option<String>>,
        /// The same as `query` (`query` wins when both are given).
        search: Query<Option<String>>,
        /// A version string the package has, exactly, e.g. `2026.2`.
        #[oai(example = "examples::version")]
        has_version: Query<Option<String>>,
        /// Packages an offering provides: one of their targets is enabled by
        /// the offering's link to their catalog.
        offering_uuid: Query<Option<Uuid>>,
        /// What runs on this partition: its catalog links (and its offering's
        /// links without a partition), within what its CPU and GPU can run.
        partition_uuid: Query<Option<Uuid>>,
        /// Packages with a target of one of these CPU families, e.g.
        /// `x86_64` (repeat or comma-separate for several).
        #[oai(example = "examples::cpu_family")]
        cpu_family: Query<Option<Vec<String>>>,
        /// Packages with a target of one of these micro-architectures,
        /// e.g. `amd/zen4` or `zen4` (repeat or comma-separate for several).
        #[oai(example = "examples::cpu_microarchitecture")]
        cpu_microarchitecture: Query<Option<Vec<String>>>,
        /// `true`: packages with a GPU build; `false`: with a CPU-only build.
        has_gpu: Query<Option<bool>>,
        /// Packages with a build for this GPU architecture, e.g.
        /// `nvidia/cc90` or `cc90`.
        gpu_arch: Query<Option<String>>,
        /// `true` for extensions only, `false` for main packages only.
        is_extension: Query<Option<bool>>,
        /// Extensions one of whose parent packages is this one.
        parent_software_uuid: Query<Option<Uuid>>,
        /// Ordering: `name`, `catalog_name`, `catalog_version`,
        /// `version_count`, `created`, `modified`, each with `-` for
        /// descending; several as `o=a,b` or repeated.
        #[oai(example = "examples::ordering")]
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<PackageList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = PackageFilter {
            catalog_uuid: catalog_uuid.0,
            catalog_name: catalog_name.0,
            catalog_name_exact: catalog_name_exact.0,
            catalog_version: catalog_version.0,
            catalog_type: catalog_type.0.map(Into::into),
            category: category.0,
            license: license.0,
            extension_type: extension_type.0,
            extension_name: extension_name.0,
            toolchain_name: toolchain_name.0,
            toolchain_version: toolchain_version.0,
            name: name.0,
            name_exact: name_exact.0,
            description: description.0,
            query: query.0.or(search.0),
            has_version: has_version.0,
            targets: target_scope(
                offering_uuid.0,
                partition_uuid.0,
                cpu_family.0,
                cpu_microarchitecture.0,
                has_gpu.0,
                gpu_arch.0,
            ),
            is_extension: is_extension.0,
            parent_software_uuid: parent_software_uuid.0,
            ordering: o.0.unwrap_or_default(),
        };
        let listing = packages::list_packages(&self.state.db, &filter, page).await?;
        PackageList::from_listing(request, &self.state, page, listing, package_object)
    }

    /// Show a package
    ///
    /// With its newest 100 versions, each with its targets (the versions
    /// list, at `versions_url`, has them all), and the extensions installed
    /// in it. The scoping filters keep only the
    /// targets they match and the versions with one of them: "which GROMACS
    /// can my offering's users run on zen4" is one call.
    #[oai(path = "/:uuid/", method = "get", operation_id = "packages_retrieve")]
    #[allow(clippy::too_many_arguments)]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
        /// Only what this offering provides.
        offering_uuid: Query<Option<Uuid>>,
        /// What runs on this partition: its catalog links (and its offering's
        /// links without a partition), within what its CPU and GPU can run.
        partition_uuid: Query<Option<Uuid>>,
        /// Only targets of these CPU families.
        cpu_family: Query<Option<Vec<String>>>,
        /// Only targets of these micro-architectures.
        cpu_microarchitecture: Query<Option<Vec<String>>>,
        /// Only GPU builds (`true`) or CPU-only builds (`false`).
        has_gpu: Query<Option<bool>>,
        /// Only builds for this GPU architecture.
        gpu_arch: Query<Option<String>>,
    ) -> ApiResult<Json<PackageDetail>> {
        caller.require_reader(&self.state)?;
        let scope = target_scope(
            offering_uuid.0,
            partition_uuid.0,
            cpu_family.0,
            cpu_microarchitecture.0,
            has_gpu.0,
            gpu_arch.0,
        );
        let detail = packages::get_package(&self.state.db, uuid.0, &scope).await?;
        let base = self.state.base_url(request);
        let versions = detail
            .versions
            .into_iter()
            .map(|(version, targets)| {
                let targets = targets
                    .into_iter()
                    .map(|t| target_object(&base, t))
                    .collect();
                version_object(&base, version, Some(targets))
            })
            .collect();
        let extensions = detail
            .extensions
            .into_iter()
            .map(|e| extension_object(&base, e))
            .collect();
        Ok(Json(PackageDetail {
            // The scoping filters are the versions list's own.
            versions_url: format!(
                "{base}/api/marketplace-software-versions/?package_uuid={}{}",
                detail.package.uuid,
                request
                    .uri()
                    .query()
                    .map(|query| format!("&{query}"))
                    .unwrap_or_default()
            ),
            package: package_object(&base, detail.package),
            versions,
            matching_version_count: detail.matching_versions,
            extensions,
        }))
    }
}
