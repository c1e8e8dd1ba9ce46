//! Packages: the filtered listing and the detail with versions, targets and
//! extensions.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::target_scope::Level;
use super::targets::TargetRow;
use super::versions::VersionRow;
use super::{BrowseError, Listing, Page, ResolvedScope, TargetScope, list, order_by};
use crate::catalog::CatalogType;
use crate::sql::{Conditions, contains_pattern, statement};

/// A package as the listing shows it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PackageRow {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// Package name.
    pub name: String,
    /// Summary.
    pub description: String,
    /// Home page.
    pub homepage: String,
    /// Categories or tags, as the source gives them.
    pub categories: serde_json::Value,
    /// Licence identifiers.
    pub licenses: serde_json::Value,
    /// Maintainer handles.
    pub maintainers: serde_json::Value,
    /// The catalog's UUID.
    pub catalog_uuid: Uuid,
    /// The catalog's name.
    pub catalog_name: String,
    /// The catalog's version.
    pub catalog_version: String,
    /// The catalog's type.
    pub catalog_type: String,
    /// Whether this is an extension (a Python/R/Perl package inside another).
    pub is_extension: bool,
    /// The packages whose installations include this extension:
    /// `[{uuid, name}]`, by name.
    pub parent_softwares: serde_json::Value,
    /// Number of versions.
    pub version_count: i64,
    /// Number of distinct extension packages installed in its versions.
    pub extension_count: i64,
    /// When the package was created.
    pub created: DateTime<FixedOffset>,
    /// When the package last changed.
    pub modified: DateTime<FixedOffset>,
}

/// Filters of the package listing; every one narrows the result.
#[derive(Debug, Clone, Default)]
pub struct PackageFilter {
    /// Exact catalog.
    pub catalog_uuid: Option<Uuid>,
    /// Case-insensitive part of the catalog name.
    pub catalog_name: Option<String>,
    /// Exact catalog name.
    pub catalog_name_exact: Option<String>,
    /// Exact catalog version.
    pub catalog_version: Option<String>,
    /// Exact catalog type.
    pub catalog_type: Option<CatalogType>,
    /// A category the package has (case-insensitive).
    pub category: Option<String>,
    /// A licence the package has (case-insensitive).
    pub license: Option<String>,
    /// Packages that include an extension of this type (`python`).
    pub extension_type: Option<String>,
    /// Packages that include an extension whose name holds this text.
    pub extension_name: Option<String>,
    /// Packages with a version built with this toolchain (`foss`).
    pub toolchain_name: Option<String>,
    /// Packages with a version built with a toolchain of this version.
    pub toolchain_version: Option<String>,
    /// Case-insensitive part of the name.
    pub name: Option<String>,
    /// Exact name (names are case-sensitive: `ASE` is not `ase`).
    pub name_exact: Option<String>,
    /// Case-insensitive part of the description.
    pub description: Option<String>,
    /// Case-insensitive part of the name, the description or a version.
    pub query: Option<String>,
    /// A version string the package has, exactly.
    pub has_version: Option<String>,
    /// The target-level conditions: one target must satisfy them all.
    pub targets: TargetScope,
    /// Extensions only, or main packages only.
    pub is_extension: Option<bool>,
    /// Extensions one of whose parents is this package.
    pub parent_software_uuid: Option<Uuid>,
    /// `o=` values.
    pub ordering: Vec<String>,
}

const COLUMNS: &str = "p.id, p.uuid, p.name, p.description, p.homepage, \
    p.categories, p.licenses, p.maintainers, \
    c.uuid AS catalog_uuid, c.name AS catalog_name, c.version AS catalog_version, \
    c.catalog_type, p.is_extension, p.created, p.modified, \
    (SELECT coalesce(jsonb_agg(jsonb_build_object('uuid', pp.uuid, 'name', pp.name) \
              ORDER BY pp.name, pp.id), '[]'::jsonb) \
       FROM software_packages pp WHERE pp.id IN ( \
         SELECT pv.package_id FROM software_versions ev \
         JOIN software_versions pv ON pv.id = ev.parent_version_id \
         WHERE ev.package_id = p.id)) AS parent_softwares, \
    (SELECT count(*) FROM software_versions v WHERE v.package_id = p.id) AS version_count, \
    (SELECT count(DISTINCT ev.package_id) FROM software_versions pv \
       JOIN software_versions ev ON ev.parent_version_id = pv.id \
       WHERE pv.package_id = p.id) AS extension_count";
const FROM: &str = "FROM software_packages p \
    JOIN software_catalogs c ON c.id = p.catalog_id";
const ORDERINGS: [(&str, &str); 6] = [
    ("name", "p.name"),
    ("catalog_name", "c.name"),
    ("catalog_version", "softcat_version_key(c.version)"),
    ("version_count", "version_count"),
    ("created", "p.created"),
    ("modified", "p.modified"),
];

/// One page of packages.
pub async fn list_packages(
    db: &impl ConnectionTrait,
    filter: &PackageFilter,
    page: Page,
) -> Result<Listing<PackageRow>, BrowseError> {
    let order = order_by(&filter.ordering, &ORDERINGS, "p.name ASC", "p.id ASC")?;
    let targets = filter
        .targets
        .clone()
        .resolve(db, filter.catalog_uuid)
        .await?;
    let mut conditions = Conditions::new();
    conditions.equals("c.uuid", filter.catalog_uuid);
    conditions.contains("c.name", filter.catalog_name.as_deref());
    conditions.equals("c.name", filter.catalog_name_exact.clone());
    conditions.equals("c.version", filter.catalog_version.clone());
    conditions.equals("c.catalog_type", filter.catalog_type.map(|t| t.as_str()));
    for (column, value) in [
        ("p.categories", &filter.category),
        ("p.licenses", &filter.license),
    ] {
        if let Some(value) = value {
            let p = conditions.bind(value.clone());
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements_text({column}) x \
                 WHERE lower(x) = lower({p}))"
            ));
        }
    }
    if filter.extension_type.is_some() || filter.extension_name.is_some() {
        let mut clauses = Vec::new();
        if let Some(kind) = &filter.extension_type {
            let p = conditions.bind(kind.clone());
            clauses.push(format!("e.metadata->>'type' = {p}"));
        }
        if let Some(name) = &filter.extension_name {
            let p = conditions.bind(contains_pattern(name));
            clauses.push(format!("e.name ILIKE {p}"));
        }
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM software_versions pv \
               JOIN software_versions ev ON ev.parent_version_id = pv.id \
               JOIN software_packages e ON e.id = ev.package_id \
               WHERE pv.package_id = p.id AND {})",
            clauses.join(" AND ")
        ));
    }
    if filter.toolchain_name.is_some() || filter.toolchain_version.is_some() {
        let mut clauses = Vec::new();
        if let Some(name) = &filter.toolchain_name {
            let p = conditions.bind(name.clone());
            clauses.push(format!("tv.toolchain_name = {p}"));
        }
        if let Some(version) = &filter.toolchain_version {
            let p = conditions.bind(version.clone());
            clauses.push(format!("tv.toolchain_version = {p}"));
        }
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM software_versions tv WHERE tv.package_id = p.id AND {})",
            clauses.join(" AND ")
        ));
    }
    conditions.contains("p.name", filter.name.as_deref());
    conditions.equals("p.name", filter.name_exact.clone());
    conditions.contains("p.description", filter.description.as_deref());
    if let Some(query) = &filter.query {
        let p = conditions.bind(contains_pattern(query));
        // One trigram-indexed look-up per column, rather than an OR that
        // no index serves.
        conditions.push(format!(
            "p.id IN (SELECT id FROM software_packages WHERE name ILIKE {p} \
               UNION SELECT id FROM software_packages WHERE description ILIKE {p} \
               UNION SELECT package_id FROM software_versions WHERE version ILIKE {p})"
        ));
    }
    if let Some(version) = &filter.has_version {
        let p = conditions.bind(version.clone());
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM software_versions v WHERE v.package_id = p.id AND v.version = {p})"
        ));
    }
    targets.push(&mut conditions, Level::Package);
    conditions.equals("p.is_extension", filter.is_extension);
    if let Some(parent) = filter.parent_software_uuid {
        let p = conditions.bind(parent);
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM software_versions ev \
               JOIN software_versions pv ON pv.id = ev.parent_version_id \
               JOIN software_packages pp ON pp.id = pv.package_id \
               WHERE ev.package_id = p.id AND pp.uuid = {p})"
        ));
    }
    Ok(list(db, COLUMNS, FROM, &conditions, &order, page).await?)
}

/// Versions a package detail nests at most; the versions list (filtered
/// by the package) pages through all of them.
pub const DETAIL_VERSIONS: u64 = 100;

/// A package with everything below it.
#[derive(Debug, Clone)]
pub struct PackageDetail {
    /// The package itself.
    pub package: PackageRow,
    /// The newest [`DETAIL_VERSIONS`] versions by version semantics, each
    /// with its targets.
    pub versions: Vec<(VersionRow, Vec<TargetRow>)>,
    /// How many versions match in all (more than nested when capped).
    pub matching_versions: u64,
    /// Extensions installed in this package's versions.
    pub extensions: Vec<ExtensionRow>,
}

/// An extension of a parent package: which one, in which version, installed
/// with which of the parent's versions.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ExtensionRow {
    /// The extension package's UUID.
    pub uuid: Uuid,
    /// Its name.
    pub name: String,
    /// The extension version's UUID.
    pub version_uuid: Uuid,
    /// The extension's version.
    pub version: String,
    /// The UUID of the parent's version that includes it.
    pub parent_version_uuid: Uuid,
}

/// A package by UUID, with its versions, their targets and its extensions.
/// A non-empty `scope` keeps only the targets it matches, and the versions
/// with one of them.
pub async fn get_package(
    db: &impl ConnectionTrait,
    uuid: Uuid,
    scope: &TargetScope,
) -> Result<PackageDetail, BrowseError> {
    let package = PackageRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE p.uuid = $1"),
        [uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("package"))?;
    let scope = scope
        .clone()
        .resolve(db, Some(package.catalog_uuid))
        .await?;
    let versions =
        super::versions::versions_of_package(db, package.id, &scope, DETAIL_VERSIONS).await?;
    let ids = versions.rows.iter().map(|version| version.id).collect();
    let mut targets = targets_by_version(db, ids, &scope).await?;
    let matching_versions = versions.count;
    let versions = versions
        .rows
        .into_iter()
        .map(|version| {
            let targets = targets.remove(&version.id).unwrap_or_default();
            (version, targets)
        })
        .collect();
    let extensions = ExtensionRow::find_by_statement(statement(
        db,
        "SELECT e.uuid, e.name, v.uuid AS version_uuid, v.version, \
           parent.uuid AS parent_version_uuid FROM software_versions v \
         JOIN software_versions parent ON parent.id = v.parent_version_id \
         JOIN software_packages e ON e.id = v.package_id \
         WHERE parent.package_id = $1 ORDER BY e.name, v.version, v.id",
        [package.id.into()],
    ))
    .all(db)
    .await?;
    Ok(PackageDetail {
        package,
        versions,
        matching_versions,
        extensions,
    })
}

async fn targets_by_version(
    db: &impl ConnectionTrait,
    version_ids: Vec<i64>,
    scope: &ResolvedScope,
) -> Result<HashMap<i64, Vec<TargetRow>>, DbErr> {
    let rows = super::targets::targets_of_versions(db, version_ids, scope).await?;
    let mut by_version: HashMap<i64, Vec<TargetRow>> = HashMap::new();
    for row in rows {
        by_version.entry(row.version_id).or_default().push(row);
    }
    Ok(by_version)
}
