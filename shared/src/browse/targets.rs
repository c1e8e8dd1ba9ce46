//! Targets: the filtered listing and a package's targets.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::{BrowseError, Listing, Page, list, offered_by, order_by, statement};
use crate::sql::Conditions;

/// A target as the API shows it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TargetRow {
    /// Join key.
    pub id: i64,
    /// Public identity.
    pub uuid: Uuid,
    /// The version's join key.
    pub version_id: i64,
    /// The version's UUID.
    pub version_uuid: Uuid,
    /// The version string.
    pub version: String,
    /// The package's UUID.
    pub package_uuid: Uuid,
    /// The package's name.
    pub package_name: String,
    /// `cpu_arch` (EESSI) or a build variant kind (Spack).
    pub target_type: String,
    /// `x86_64/amd/zen4`, `default` …
    pub target_name: String,
    /// `x86_64`; none for targets that are not CPUs.
    pub cpu_family: Option<String>,
    /// `amd/zen4`; none for targets that are not CPUs.
    pub cpu_microarchitecture: Option<String>,
    /// Install path (EESSI's CVMFS directory).
    pub path: String,
    /// Source details (GPU architectures …).
    pub metadata: serde_json::Value,
}

impl TargetRow {
    /// `family/micro-architecture`, when the target is a CPU.
    pub fn full_arch(&self) -> Option<String> {
        match (&self.cpu_family, &self.cpu_microarchitecture) {
            (Some(family), Some(micro)) => Some(format!("{family}/{micro}")),
            _ => None,
        }
    }
}

/// Filters of the target listing.
#[derive(Debug, Clone, Default)]
pub struct TargetFilter {
    /// Exact version.
    pub version_uuid: Option<Uuid>,
    /// Exact version string.
    pub version: Option<String>,
    /// Exact package.
    pub package_uuid: Option<Uuid>,
    /// Exact package name.
    pub package_name: Option<String>,
    /// Exact catalog.
    pub catalog_uuid: Option<Uuid>,
    /// Targets an offering enables.
    pub offering_uuid: Option<Uuid>,
    /// Exact CPU family.
    pub cpu_family: Option<String>,
    /// Exact micro-architecture.
    pub cpu_microarchitecture: Option<String>,
    /// `o=` values.
    pub ordering: Vec<String>,
}

const COLUMNS: &str = "t.id, t.uuid, t.version_id, v.uuid AS version_uuid, v.version, \
    p.uuid AS package_uuid, p.name AS package_name, t.target_type, t.target_name, \
    t.cpu_family, t.cpu_microarchitecture, t.path, t.metadata";
const FROM: &str = "FROM software_targets t \
    JOIN software_versions v ON v.id = t.version_id \
    JOIN software_packages p ON p.id = v.package_id \
    JOIN software_catalogs c ON c.id = p.catalog_id";
const ORDERINGS: [(&str, &str); 5] = [
    ("package_name", "p.name"),
    ("version", "v.version"),
    ("target_name", "t.target_name"),
    ("cpu_family", "t.cpu_family"),
    ("cpu_microarchitecture", "t.cpu_microarchitecture"),
];

/// One page of targets.
pub async fn list_targets(
    db: &impl ConnectionTrait,
    filter: &TargetFilter,
    page: Page,
) -> Result<Listing<TargetRow>, BrowseError> {
    let order = order_by(
        &filter.ordering,
        &ORDERINGS,
        "p.name ASC, v.version ASC, t.target_type ASC, t.target_name ASC",
        "t.id ASC",
    )?;
    let mut conditions = Conditions::new();
    conditions.equals("v.uuid", filter.version_uuid);
    conditions.equals("v.version", filter.version.clone());
    conditions.equals("p.uuid", filter.package_uuid);
    conditions.equals("p.name", filter.package_name.clone());
    conditions.equals("c.uuid", filter.catalog_uuid);
    conditions.equals("t.cpu_family", filter.cpu_family.clone());
    conditions.equals(
        "t.cpu_microarchitecture",
        filter.cpu_microarchitecture.clone(),
    );
    if let Some(uuid) = filter.offering_uuid {
        let p = conditions.bind(uuid);
        conditions.push(offered_by(&p, None));
    }
    Ok(list(db, COLUMNS, FROM, &conditions, &order, page).await?)
}

/// A target by UUID.
pub async fn get_target(db: &impl ConnectionTrait, uuid: Uuid) -> Result<TargetRow, BrowseError> {
    TargetRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} {FROM} WHERE t.uuid = $1"),
        [uuid.into()],
    ))
    .one(db)
    .await?
    .ok_or(BrowseError::NotFound("target"))
}

/// All targets of a package's versions, by type and name.
pub async fn targets_of_package(
    db: &impl ConnectionTrait,
    package_id: i64,
) -> Result<Vec<TargetRow>, DbErr> {
    TargetRow::find_by_statement(statement(
        db,
        format!(
            "SELECT {COLUMNS} {FROM} WHERE v.package_id = $1 \
             ORDER BY t.target_type, t.target_name"
        ),
        [package_id.into()],
    ))
    .all(db)
    .await
}
