//! Versions: the filtered listing and a package's versions.

use chrono::{DateTime, FixedOffset, NaiveDate};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::packages::ExtensionRow;
use super::target_scope::Level;
use super::{BrowseError, Listing, Page, ResolvedScope, TargetScope, list, order_by, statement};
use crate::catalog::CatalogType;
use crate::sql::Conditions;

/// A version as the API shows it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct VersionRow {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// The version string.
    pub version: String,
    /// The module that provides it (EESSI), empty for Spack.
    pub modulename: String,
    /// The package's UUID.
    pub package_uuid: Uuid,
    /// The package's name.
    pub package_name: String,
    /// The catalog's UUID.
    pub catalog_uuid: Uuid,
    /// The catalog's type.
    pub catalog_type: String,
    /// Release date, where the source gives one.
    pub release_date: Option<NaiveDate>,
    /// Toolchain (`foss`).
    pub toolchain_name: String,
    /// Toolchain version (`2025b`).
    pub toolchain_version: String,
    /// Compatible toolchain families.
    pub toolchain_families_compatibility: serde_json::Value,
    /// Modules loaded with this one.
    pub required_modules: serde_json::Value,
    /// Source details (version suffix, download URLs, branch …).
    pub metadata: serde_json::Value,
    /// The package's dependencies (Spack), `[]` where the source has none.
    pub dependencies: serde_json::Value,
    /// For an extension version, the parent versions that include it:
    /// `[{uuid, package_name, version}]`.
    pub parent_versions: serde_json::Value,
    /// Number of targets.
    pub target_count: i64,
    /// When the version was created.
    pub created: DateTime<FixedOffset>,
    /// When the version last changed.
    pub modified: DateTime<FixedOffset>,
}

/// Filters of the version listing.
#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    /// Exact package.
    pub package_uuid: Option<Uuid>,
    /// Case-insensitive part of the package name.
    pub package_name: Option<String>,
    /// Exact package name (names are case-sensitive: `ASE` is not `ase`).
    pub package_name_exact: Option<String>,
    /// Case-insensitive part of the version string.
    pub version: Option<String>,
    /// Exact version string.
    pub version_exact: Option<String>,
    /// Exact catalog.
    pub catalog_uuid: Option<Uuid>,
    /// Exact catalog type.
    pub catalog_type: Option<CatalogType>,
    /// The target-level conditions: one target must satisfy them all.
    pub targets: TargetScope,
    /// Exact toolchain name.
    pub toolchain_name: Option<String>,
    /// Exact toolchain version.
    pub toolchain_version: Option<String>,
    /// A toolchain family the version is compatible with.
    pub toolchain_families_compatibility: Option<String>,
    /// Released on or after.
    pub release_date_after: Option<NaiveDate>,
    /// Released on or before.
    pub release_date_before: Option<NaiveDate>,
    /// Extension versions included in this parent version.
    pub parent_version_uuid: Option<Uuid>,
    /// `o=` values.
    pub ordering: Vec<String>,
}

const COLUMNS: &str = "v.id, v.uuid, v.version, v.modulename, p.uuid AS package_uuid, \
    p.name AS package_name, c.uuid AS catalog_uuid, c.catalog_type, v.release_date, \
    v.toolchain_name, v.toolchain_version, v.toolchain_families_compatibility, \
    v.required_modules, v.metadata, v.created, v.modified, \
    coalesce(p.metadata->'dependencies', '[]'::jsonb) AS dependencies, \
    (SELECT coalesce(jsonb_agg(jsonb_build_object('uuid', pv.uuid, \
              'package_name', pp.name, 'version', pv.version)), '[]'::jsonb) \
       FROM software_versions pv JOIN software_packages pp ON pp.id = pv.package_id \
       WHERE pv.id = v.parent_version_id) AS parent_versions, \
    (SELECT count(*) FROM software_targets t WHERE t.version_id = v.id) AS target_count";
const FROM: &str = "FROM software_versions v \
    JOIN software_packages p ON p.id = v.package_id \
    JOIN software_catalogs c ON c.id = p.catalog_id";
const ORDERINGS: [(&str, &str); 5] = [
    ("package_name", "p.name"),
    ("version", "softcat_version_key(v.version)"),
    ("release_date", "v.release_date"),
    ("toolchain_name", "v.toolchain_name"),
    ("created", "v.created"),
];

/// One page of versions.
pub async fn list_versions(
    db: &impl ConnectionTrait,
    filter: &VersionFilter,
    page: Page,
) -> Result<Listing<VersionRow>, BrowseError> {
    let order = order_by(
        &filter.ordering,
        &ORDERINGS,
        "p.name ASC, v.version ASC",
        "v.id ASC",
    )?;
    let targets = filter
        .targets
        .clone()
        .resolve(db, filter.catalog_uuid)
        .await?;
    let mut conditions = Conditions::new();
    conditions.equals("p.uuid", filter.package_uuid);
    conditions.contains("p.name", filter.package_name.as_deref());
    conditions.equals("p.name", filter.package_name_exact.clone());
    conditions.contains("v.version", filter.version.as_deref());
    conditions.equals("v.version", filter.version_exact.clone());
    conditions.equals("c.uuid", filter.catalog_uuid);
    conditions.equals("c.catalog_type", filter.catalog_type.map(|t| t.as_str()));
    conditions.equals("v.toolchain_name", filter.toolchain_name.clone());
    conditions.equals("v.toolchain_version", filter.toolchain_version.clone());
    if let Some(family) = &filter.toolchain_families_compatibility {
        let p = conditions.bind(family.clone());
        conditions.push(format!(
            "v.toolchain_families_compatibility @> to_jsonb({p}::text)"
        ));
    }
    if let Some(date) = filter.release_date_after {
        let p = conditions.bind(date);
        conditions.push(format!("v.release_date >= {p}"));
    }
    if let Some(date) = filter.release_date_before {
        let p = conditions.bind(date);
        conditions.push(format!("v.release_date <= {p}"));
    }
    if let Some(parent) = filter.parent_version_uuid {
        let p = conditions.bind(parent);
        conditions.push(format!(
            "v.parent_version_id = (SELECT id FROM software_versions WHERE uuid = {p})"
        ));
    }
    targets.push(&mut conditions, Level::Version);
    Ok(list(db, COLUMNS, FROM, &conditions, &order, page).await?)
}

/// A version with the extensions installed in it.
#[derive(Debug, Clone)]
pub struct VersionDetail {
    /// The version itself.
    pub version: VersionRow,
    /// Extension versions included in this one, by name.
    pub extensions: Vec<ExtensionRow>,
}

/// A version by UUID, with the extensions installed in it.
pub async fn get_version(
    db: &impl ConnectionTrait,
    uuid: Uuid,
) -> Result<VersionDetail, BrowseError> {
    let version = VersionRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE v.uuid = $1"),
        [uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("version"))?;
    let extensions = ExtensionRow::find_by_statement(statement(
        db,
        "SELECT e.uuid, e.name, v.uuid AS version_uuid, v.version, \
           $2::uuid AS parent_version_uuid FROM software_versions v \
         JOIN software_packages e ON e.id = v.package_id \
         WHERE v.parent_version_id = $1 ORDER BY e.name, v.version, v.id",
        [version.id.into(), uuid.into()],
    ))
    .all(db)
    .await?;
    Ok(VersionDetail {
        version,
        extensions,
    })
}

/// The newest `limit` versions of a package (by version order, then
/// module) that `scope` matches (all when it is empty), and how many match
/// in all.
pub async fn versions_of_package(
    db: &impl ConnectionTrait,
    package_id: i64,
    scope: &ResolvedScope,
    limit: u64,
) -> Result<Listing<VersionRow>, DbErr> {
    let mut conditions = Conditions::new();
    conditions.equals("v.package_id", Some(package_id));
    scope.push(&mut conditions, Level::Version);
    let order = " ORDER BY softcat_version_key(v.version) DESC, v.modulename ASC, v.id ASC";
    let page = Page {
        number: 1,
        size: limit,
    };
    list(db, COLUMNS, FROM, &conditions, order, page).await
}
