//! `/api/marketplace-software-packages/`: list with filters, and the detail
//! with versions, targets and extensions.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use softcat_shared::browse::packages::{self, PackageFilter, PackageRow};
use uuid::Uuid;

use super::targets::target_object;
use super::versions::{Version, version_object};
use super::{Tag, examples, object_url};
use crate::auth::Caller;
use crate::error::ApiResult;
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
    /// The catalog's UUID.
    pub catalog: Uuid,
    /// The catalog's name.
    pub catalog_name: String,
    /// The catalog's version.
    pub catalog_version: String,
    /// Whether this is an extension (Python/R/Perl package of another).
    pub is_extension: bool,
    /// The parent package of an extension with exactly one.
    pub parent_software: Option<Uuid>,
    /// Number of versions.
    pub version_count: i64,
}

/// A package with its versions (newest first), their targets, and its extensions.
#[derive(Debug, Object)]
pub struct PackageDetail {
    /// The package.
    #[oai(flatten)]
    pub package: Package,
    /// Versions, newest first by version semantics.
    pub versions: Vec<Version>,
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
    /// Its version.
    pub version: String,
}

fn package_object(base_url: &str, row: PackageRow) -> Package {
    Package {
        url: object_url(base_url, COLLECTION, row.uuid),
        uuid: row.uuid,
        name: row.name,
        description: row.description,
        homepage: row.homepage,
        catalog: row.catalog_uuid,
        catalog_name: row.catalog_name,
        catalog_version: row.catalog_version,
        is_extension: row.is_extension,
        parent_software: row.parent_software_uuid,
        version_count: row.version_count,
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
        /// Catalog name, case-insensitive, e.g. `EESSI`.
        #[oai(example = "examples::catalog_name")]
        catalog_name: Query<Option<String>>,
        /// Exact catalog version, e.g. `2025.06`.
        #[oai(example = "examples::catalog_version")]
        catalog_version: Query<Option<String>>,
        /// Case-insensitive part of the package name, e.g. `gromacs`.
        #[oai(example = "examples::package_name")]
        name: Query<Option<String>>,
        /// Case-insensitive part of the description.
        description: Query<Option<String>>,
        /// Case-insensitive part of the name, the description or any version string.
        #[oai(example = "examples::query")]
        query: Query<Option<String>>,
        /// A version string the package has, exactly, e.g. `2026.2`.
        #[oai(example = "examples::version")]
        has_version: Query<Option<String>>,
        /// Packages an offering provides, within the CPUs its links enable.
        offering_uuid: Query<Option<Uuid>>,
        /// Packages with a target of this CPU family, e.g. `x86_64`.
        #[oai(example = "examples::cpu_family")]
        cpu_family: Query<Option<String>>,
        /// Packages with a target of this micro-architecture, e.g. `amd/zen4`.
        #[oai(example = "examples::cpu_microarchitecture")]
        cpu_microarchitecture: Query<Option<String>>,
        /// `true` for extensions only, `false` for main packages only.
        is_extension: Query<Option<bool>>,
        /// Extensions of this parent package.
        parent_software_uuid: Query<Option<Uuid>>,
        /// Ordering: `name`, `catalog_version`, `version_count`, each with `-`
        /// for descending; several as `o=a,b` or repeated.
        #[oai(example = "examples::ordering")]
        o: Query<Option<Vec<String>>>,
        /// Page number, from 1.
        #[oai(example = "examples::page")]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size")]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<PackageList> {
        caller.require_reader(&self.state)?;
        let page = page_of(page.0, page_size.0)?;
        let filter = PackageFilter {
            catalog_uuid: catalog_uuid.0,
            catalog_name: catalog_name.0,
            catalog_version: catalog_version.0,
            name: name.0,
            description: description.0,
            query: query.0,
            has_version: has_version.0,
            offering_uuid: offering_uuid.0,
            cpu_family: cpu_family.0,
            cpu_microarchitecture: cpu_microarchitecture.0,
            is_extension: is_extension.0,
            parent_software_uuid: parent_software_uuid.0,
            ordering: o.0.unwrap_or_default(),
        };
        let listing = packages::list_packages(&self.state.db, &filter, page).await?;
        Ok(PackageList::from_listing(
            request,
            &self.state,
            page,
            listing,
            package_object,
        ))
    }

    /// Show a package
    ///
    /// With every version (newest first), each with its targets, and the
    /// extensions installed in it.
    #[oai(path = "/:uuid/", method = "get", operation_id = "packages_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The object's UUID.
        uuid: Path<Uuid>,
    ) -> ApiResult<Json<PackageDetail>> {
        caller.require_reader(&self.state)?;
        let detail = packages::get_package(&self.state.db, uuid.0).await?;
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
            .map(|e| Extension {
                url: object_url(&base, COLLECTION, e.uuid),
                uuid: e.uuid,
                name: e.name,
                version: e.version,
            })
            .collect();
        Ok(Json(PackageDetail {
            package: package_object(&base, detail.package),
            versions,
            extensions,
        }))
    }
}
