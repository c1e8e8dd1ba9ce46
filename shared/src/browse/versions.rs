//! Versions: the filtered listing and a package's versions.

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::{BrowseError, Listing, Page, VERSION_TARGETS, list, offered_by, order_by, statement};
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
    /// Source details (version suffix, download URLs, parent installation …).
    pub metadata: serde_json::Value,
    /// For an extension version, the parent installation's version UUID.
    pub parent_version_uuid: Option<Uuid>,
}

/// Filters of the version listing.
#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    /// Exact package.
    pub package_uuid: Option<Uuid>,
    /// Exact package name (names are case-sensitive: `ASE` is not `ase`).
    pub package_name: Option<String>,
    /// Exact catalog.
    pub catalog_uuid: Option<Uuid>,
    /// Exact catalog type.
    pub catalog_type: Option<String>,
    /// Versions an offering provides, within the CPUs its links enable.
    pub offering_uuid: Option<Uuid>,
    /// Versions with a target of this CPU family.
    pub cpu_family: Option<String>,
    /// Versions with a target of this micro-architecture.
    pub cpu_microarchitecture: Option<String>,
    /// Exact toolchain name.
    pub toolchain_name: Option<String>,
    /// A toolchain family the version is compatible with.
    pub toolchain_families_compatibility: Option<String>,
    /// Released on or after.
    pub release_date_after: Option<NaiveDate>,
    /// Released on or before.
    pub release_date_before: Option<NaiveDate>,
    /// `o=` values.
    pub ordering: Vec<String>,
}

const COLUMNS: &str = "v.id, v.uuid, v.version, v.modulename, p.uuid AS package_uuid, \
    p.name AS package_name, c.uuid AS catalog_uuid, c.catalog_type, v.release_date, \
    v.toolchain_name, v.toolchain_version, v.toolchain_families_compatibility, \
    v.required_modules, v.metadata, parent.uuid AS parent_version_uuid";
const FROM: &str = "FROM software_versions v \
    JOIN software_packages p ON p.id = v.package_id \
    JOIN software_catalogs c ON c.id = p.catalog_id \
    LEFT JOIN software_versions parent ON parent.id = v.parent_version_id";
const ORDERINGS: [(&str, &str); 4] = [
    ("package_name", "p.name"),
    ("version", "v.version"),
    ("release_date", "v.release_date"),
    ("toolchain_name", "v.toolchain_name"),
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
    let mut conditions = Conditions::new();
    conditions.equals("p.uuid", filter.package_uuid);
    conditions.equals("p.name", filter.package_name.clone());
    conditions.equals("c.uuid", filter.catalog_uuid);
    conditions.equals("c.catalog_type", filter.catalog_type.clone());
    conditions.equals("v.toolchain_name", filter.toolchain_name.clone());
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
    if let Some(uuid) = filter.offering_uuid {
        let p = conditions.bind(uuid);
        conditions.push(offered_by(&p, Some(VERSION_TARGETS)));
    }
    let mut target_conditions = Vec::new();
    if let Some(family) = &filter.cpu_family {
        let p = conditions.bind(family.clone());
        target_conditions.push(format!("t.cpu_family = {p}"));
    }
    if let Some(micro) = &filter.cpu_microarchitecture {
        let p = conditions.bind(micro.clone());
        target_conditions.push(format!("t.cpu_microarchitecture = {p}"));
    }
    if !target_conditions.is_empty() {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM software_targets t WHERE t.version_id = v.id AND {})",
            target_conditions.join(" AND ")
        ));
    }
    Ok(list(db, COLUMNS, FROM, &conditions, &order, page).await?)
}

/// A version by UUID.
pub async fn get_version(db: &impl ConnectionTrait, uuid: Uuid) -> Result<VersionRow, BrowseError> {
    VersionRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE v.uuid = $1"),
        [uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("version"))
}

/// All versions of a package, in no particular order.
pub async fn versions_of_package(
    db: &impl ConnectionTrait,
    package_id: i64,
) -> Result<Vec<VersionRow>, DbErr> {
    VersionRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE v.package_id = $1"),
        [package_id.into()],
    ))
    .all(db)
    .await
}
