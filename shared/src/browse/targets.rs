//! Targets: the filtered listing and a package's targets.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::target_scope::{GPU_ARCHITECTURES_KEY, Level};
use super::{BrowseError, Listing, Page, ResolvedScope, TargetScope, list, order_by, statement};
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
    /// When the target was created.
    pub created: DateTime<FixedOffset>,
    /// When the target last changed.
    pub modified: DateTime<FixedOffset>,
}

impl TargetRow {
    /// The GPU architectures the target is built for (`nvidia/cc90`).
    pub fn gpu_architectures(&self) -> Vec<String> {
        self.metadata
            .get(GPU_ARCHITECTURES_KEY)
            .and_then(|gpus| serde_json::from_value(gpus.clone()).ok())
            .unwrap_or_default()
    }

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
    /// Case-insensitive part of the package name.
    pub package_name: Option<String>,
    /// Exact package name.
    pub package_name_exact: Option<String>,
    /// Exact catalog.
    pub catalog_uuid: Option<Uuid>,
    /// Case-insensitive part of the install path.
    pub path: Option<String>,
    /// Exact target type (`cpu_arch`, `build_variant` …).
    pub target_type: Option<String>,
    /// Exact target name (`x86_64/amd/zen4`, `default` …).
    pub target_name: Option<String>,
    /// The target-level conditions.
    pub targets: TargetScope,
    /// `o=` values.
    pub ordering: Vec<String>,
}

const COLUMNS: &str = "t.id, t.uuid, t.version_id, v.uuid AS version_uuid, v.version, \
    p.uuid AS package_uuid, p.name AS package_name, t.target_type, t.target_name, \
    t.cpu_family, t.cpu_microarchitecture, t.path, t.metadata, t.created, t.modified";
const FROM: &str = "FROM software_targets t \
    JOIN software_versions v ON v.id = t.version_id \
    JOIN software_packages p ON p.id = v.package_id \
    JOIN software_catalogs c ON c.id = p.catalog_id";
const ORDERINGS: [(&str, &str); 7] = [
    ("package_name", "p.name"),
    ("version", "softcat_version_key(v.version)"),
    ("target_type", "t.target_type"),
    ("target_name", "t.target_name"),
    ("cpu_family", "t.cpu_family"),
    ("cpu_microarchitecture", "t.cpu_microarchitecture"),
    ("created", "t.created"),
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
    let targets = filter
        .targets
        .clone()
        .resolve(db, filter.catalog_uuid)
        .await?;
    let mut conditions = Conditions::new();
    conditions.equals("v.uuid", filter.version_uuid);
    conditions.equals("v.version", filter.version.clone());
    conditions.equals("p.uuid", filter.package_uuid);
    conditions.contains("p.name", filter.package_name.as_deref());
    conditions.equals("p.name", filter.package_name_exact.clone());
    conditions.equals("c.uuid", filter.catalog_uuid);
    conditions.contains("t.path", filter.path.as_deref());
    conditions.equals("t.target_type", filter.target_type.clone());
    conditions.equals("t.target_name", filter.target_name.clone());
    targets.push(&mut conditions, Level::Target);
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

/// The targets of these versions that `scope` matches (all when it is
/// empty), by type and name.
pub async fn targets_of_versions(
    db: &impl ConnectionTrait,
    version_ids: Vec<i64>,
    scope: &ResolvedScope,
) -> Result<Vec<TargetRow>, DbErr> {
    let mut conditions = Conditions::new();
    let ids = conditions.bind(version_ids);
    conditions.push(format!("t.version_id = ANY({ids})"));
    scope.push(&mut conditions, Level::Target);
    TargetRow::find_by_statement(conditions.statement(
        db,
        format!(
            "SELECT {COLUMNS} {FROM}{} ORDER BY t.target_type, t.target_name",
            conditions.where_clause()
        ),
    ))
    .all(db)
    .await
}
