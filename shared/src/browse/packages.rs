//! Packages: the filtered listing and the detail with versions, targets and
//! extensions.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::targets::TargetRow;
use super::versions::VersionRow;
use super::{BrowseError, Listing, PACKAGE_TARGETS, Page, list, offered_by, order_by};
use crate::sql::{Conditions, contains_pattern, statement};
use crate::version_order::compare_versions;

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
    /// The catalog's UUID.
    pub catalog_uuid: Uuid,
    /// The catalog's name.
    pub catalog_name: String,
    /// The catalog's version.
    pub catalog_version: String,
    /// Whether this is an extension (a Python/R/Perl package inside another).
    pub is_extension: bool,
    /// The parent package of an extension that has exactly one.
    pub parent_software_uuid: Option<Uuid>,
    /// Number of versions.
    pub version_count: i64,
}

/// Filters of the package listing; every one narrows the result.
#[derive(Debug, Clone, Default)]
pub struct PackageFilter {
    /// Exact catalog.
    pub catalog_uuid: Option<Uuid>,
    /// Catalog name, case-insensitive.
    pub catalog_name: Option<String>,
    /// Exact catalog version.
    pub catalog_version: Option<String>,
    /// Case-insensitive part of the name.
    pub name: Option<String>,
    /// Case-insensitive part of the description.
    pub description: Option<String>,
    /// Case-insensitive part of the name, the description or a version.
    pub query: Option<String>,
    /// A version string the package has, exactly.
    pub has_version: Option<String>,
    /// Packages an offering provides, within the CPUs its links enable.
    pub offering_uuid: Option<Uuid>,
    /// Packages with a target of this CPU family.
    pub cpu_family: Option<String>,
    /// Packages with a target of this micro-architecture.
    pub cpu_microarchitecture: Option<String>,
    /// Extensions only, or main packages only.
    pub is_extension: Option<bool>,
    /// Extensions of this parent package.
    pub parent_software_uuid: Option<Uuid>,
    /// `o=` values.
    pub ordering: Vec<String>,
}

const COLUMNS: &str = "p.id, p.uuid, p.name, p.description, p.homepage, \
    c.uuid AS catalog_uuid, c.name AS catalog_name, c.version AS catalog_version, \
    p.is_extension, parent.uuid AS parent_software_uuid, \
    (SELECT count(*) FROM software_versions v WHERE v.package_id = p.id) AS version_count";
const FROM: &str = "FROM software_packages p \
    JOIN software_catalogs c ON c.id = p.catalog_id \
    LEFT JOIN software_packages parent ON parent.id = p.parent_software_id";
const ORDERINGS: [(&str, &str); 3] = [
    ("name", "p.name"),
    ("catalog_version", "c.version"),
    ("version_count", "version_count"),
];

/// One page of packages.
pub async fn list_packages(
    db: &impl ConnectionTrait,
    filter: &PackageFilter,
    page: Page,
) -> Result<Listing<PackageRow>, BrowseError> {
    let order = order_by(&filter.ordering, &ORDERINGS, "p.name ASC", "p.id ASC")?;
    let mut conditions = Conditions::new();
    conditions.equals("c.uuid", filter.catalog_uuid);
    if let Some(name) = &filter.catalog_name {
        let p = conditions.bind(name.clone());
        conditions.push(format!("lower(c.name) = lower({p})"));
    }
    conditions.equals("c.version", filter.catalog_version.clone());
    if let Some(name) = &filter.name {
        let p = conditions.bind(contains_pattern(name));
        conditions.push(format!("p.name ILIKE {p}"));
    }
    if let Some(description) = &filter.description {
        let p = conditions.bind(contains_pattern(description));
        conditions.push(format!("p.description ILIKE {p}"));
    }
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
    if let Some(uuid) = filter.offering_uuid {
        let p = conditions.bind(uuid);
        conditions.push(offered_by(&p, Some(PACKAGE_TARGETS)));
    }
    // The loader keeps each package's CPU targets in arrays; both filters
    // together must hold for one target.
    match (&filter.cpu_family, &filter.cpu_microarchitecture) {
        (Some(family), Some(micro)) => {
            let p = conditions.bind(format!("{family}/{micro}"));
            conditions.push(format!("p.cpu_targets @> ARRAY[{p}::text]"));
        }
        (Some(family), None) => {
            let p = conditions.bind(family.clone());
            conditions.push(format!("p.cpu_families @> ARRAY[{p}::text]"));
        }
        (None, Some(micro)) => {
            let p = conditions.bind(micro.clone());
            conditions.push(format!("p.cpu_microarchitectures @> ARRAY[{p}::text]"));
        }
        (None, None) => {}
    }
    conditions.equals("p.is_extension", filter.is_extension);
    conditions.equals("parent.uuid", filter.parent_software_uuid);
    Ok(list(db, COLUMNS, FROM, &conditions, &order, page).await?)
}

/// A package with everything below it.
#[derive(Debug, Clone)]
pub struct PackageDetail {
    /// The package itself.
    pub package: PackageRow,
    /// Versions, newest first by version semantics, each with its targets.
    pub versions: Vec<(VersionRow, Vec<TargetRow>)>,
    /// Extensions installed in this package's versions.
    pub extensions: Vec<ExtensionRow>,
}

/// An extension of a parent package: which one, in which version.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ExtensionRow {
    /// The extension package's UUID.
    pub uuid: Uuid,
    /// Its name.
    pub name: String,
    /// The extension's version.
    pub version: String,
}

/// A package by UUID, with its versions, their targets and its extensions.
pub async fn get_package(
    db: &impl ConnectionTrait,
    uuid: Uuid,
) -> Result<PackageDetail, BrowseError> {
    let package = PackageRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE p.uuid = $1"),
        [uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("package"))?;
    let versions = super::versions::versions_of_package(db, package.id).await?;
    let mut targets = targets_by_version(db, package.id).await?;
    let mut versions: Vec<(VersionRow, Vec<TargetRow>)> = versions
        .into_iter()
        .map(|version| {
            let targets = targets.remove(&version.id).unwrap_or_default();
            (version, targets)
        })
        .collect();
    versions.sort_by(|(a, _), (b, _)| {
        compare_versions(&b.version, &a.version).then_with(|| a.modulename.cmp(&b.modulename))
    });
    let extensions = ExtensionRow::find_by_statement(statement(
        db,
        "SELECT DISTINCT e.uuid, e.name, v.version FROM software_versions v \
         JOIN software_versions parent ON parent.id = v.parent_version_id \
         JOIN software_packages e ON e.id = v.package_id \
         WHERE parent.package_id = $1 ORDER BY e.name, v.version",
        [package.id.into()],
    ))
    .all(db)
    .await?;
    Ok(PackageDetail {
        package,
        versions,
        extensions,
    })
}

async fn targets_by_version(
    db: &impl ConnectionTrait,
    package_id: i64,
) -> Result<HashMap<i64, Vec<TargetRow>>, DbErr> {
    let rows = super::targets::targets_of_package(db, package_id).await?;
    let mut by_version: HashMap<i64, Vec<TargetRow>> = HashMap::new();
    for row in rows {
        by_version.entry(row.version_id).or_default().push(row);
    }
    Ok(by_version)
}
