//! Comparing a snapshot with the stored catalog: which rows to create, update
//! and delete at each level. Only ids, natural keys and fingerprints are read;
//! a subtree whose fingerprint matches is not read at all.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

use super::report::LevelCounts;
use crate::snapshot::{
    CatalogSnapshot, Fingerprint, PackageKey, PackageSnapshot, SnapshotSize, TargetKey, TargetRow,
    VersionKey, VersionSnapshot,
};

/// A stored row as the writer needs it: its id, and its UUID, from which
/// its new children's UUIDs are derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The row's id.
    pub id: i64,
    /// The row's UUID.
    pub uuid: uuid::Uuid,
}

/// Everything a load must write to bring the stored catalog in line.
#[derive(Debug, Default)]
pub struct Plan<'s> {
    /// Packages to insert, with all their versions and targets.
    pub new_packages: Vec<(&'s PackageKey, &'s PackageSnapshot)>,
    /// Stored packages whose subtree changed, and the snapshot.
    pub changed_packages: Vec<(Stored, &'s PackageSnapshot)>,
    /// Stored packages the source no longer has.
    pub deleted_packages: Vec<i64>,
    /// Versions to insert into stored packages, with their targets.
    pub new_versions: Vec<(Stored, &'s VersionKey, &'s VersionSnapshot)>,
    /// Stored versions whose subtree changed.
    pub changed_versions: Vec<(Stored, &'s VersionSnapshot)>,
    /// Stored versions the source no longer has.
    pub deleted_versions: Vec<i64>,
    /// Targets to insert into stored versions.
    pub new_targets: Vec<(Stored, &'s TargetKey, &'s TargetRow)>,
    /// Stored targets whose fields changed.
    pub changed_targets: Vec<(i64, &'s TargetRow)>,
    /// Stored targets the source no longer has.
    pub deleted_targets: Vec<i64>,
    /// Of the deletions counted, those of extension packages (with their
    /// versions and targets) that a snapshot excluding extensions drops by
    /// choice; zero otherwise.
    pub deleted_by_choice: SnapshotSize,
    /// Counts per level (without skipped entries, which the source reports).
    pub packages: LevelCounts,
    /// Version counts.
    pub versions: LevelCounts,
    /// Target counts.
    pub targets: LevelCounts,
}

impl Plan<'_> {
    /// Whether the stored catalog already matches the snapshot.
    pub fn is_empty(&self) -> bool {
        self.packages.written() + self.versions.written() + self.targets.written() == 0
    }
}

struct StoredRow {
    id: i64,
    uuid: uuid::Uuid,
    fingerprint: i64,
    tree_fingerprint: i64,
}

impl StoredRow {
    fn stored(&self) -> Stored {
        Stored {
            id: self.id,
            uuid: self.uuid,
        }
    }
}

/// Compares `snapshot` with the stored catalog `catalog_id` (`None`: not stored yet).
pub async fn compare<'s>(
    db: &impl ConnectionTrait,
    catalog_id: Option<i64>,
    snapshot: &'s CatalogSnapshot,
) -> Result<Plan<'s>, DbErr> {
    let mut plan = Plan::default();
    let mut stored_packages = match catalog_id {
        Some(id) => stored_packages(db, id).await?,
        None => HashMap::new(),
    };
    for (key, package) in &snapshot.packages {
        match stored_packages.remove(key) {
            None => {
                plan.packages.created += 1;
                for version in package.versions.values() {
                    plan.versions.created += 1;
                    plan.targets.created += version.targets.len() as u64;
                }
                plan.new_packages.push((key, package));
            }
            Some(stored) if stored.tree_fingerprint == package.tree_fingerprint() => {
                plan.packages.unchanged += 1;
                for version in package.versions.values() {
                    plan.versions.unchanged += 1;
                    plan.targets.unchanged += version.targets.len() as u64;
                }
            }
            Some(stored) => {
                if stored.fingerprint == package.row.fingerprint() {
                    plan.packages.unchanged += 1;
                } else {
                    plan.packages.updated += 1;
                }
                plan.changed_packages.push((stored.stored(), package));
            }
        }
    }
    let mut excluded_extensions = Vec::new();
    for (key, row) in stored_packages {
        if snapshot.extensions_excluded && key.is_extension {
            excluded_extensions.push(row.id);
        }
        plan.deleted_packages.push(row.id);
    }
    plan.packages.deleted = plan.deleted_packages.len() as u64;
    if !excluded_extensions.is_empty() {
        plan.deleted_by_choice = subtree_size(db, excluded_extensions).await?;
    }
    if !plan.deleted_packages.is_empty() {
        let ids = plan.deleted_packages.clone();
        plan.versions.deleted += count(
            db,
            "SELECT count(*) FROM software_versions WHERE package_id = ANY($1)",
            ids.clone(),
        )
        .await?;
        plan.targets.deleted += count(
            db,
            "SELECT count(*) FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
             WHERE v.package_id = ANY($1)",
            ids,
        )
        .await?;
    }
    let changed = plan.changed_packages.clone();
    compare_versions(db, &mut plan, changed).await?;
    Ok(plan)
}

/// Packages, versions and targets under the packages `ids`.
async fn subtree_size(db: &impl ConnectionTrait, ids: Vec<i64>) -> Result<SnapshotSize, DbErr> {
    Ok(SnapshotSize {
        packages: ids.len() as u64,
        versions: count(
            db,
            "SELECT count(*) FROM software_versions WHERE package_id = ANY($1)",
            ids.clone(),
        )
        .await?,
        targets: count(
            db,
            "SELECT count(*) FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
             WHERE v.package_id = ANY($1)",
            ids,
        )
        .await?,
    })
}

async fn compare_versions<'s>(
    db: &impl ConnectionTrait,
    plan: &mut Plan<'s>,
    changed_packages: Vec<(Stored, &'s PackageSnapshot)>,
) -> Result<(), DbErr> {
    if changed_packages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = changed_packages.iter().map(|(row, _)| row.id).collect();
    let mut stored = stored_versions(db, ids).await?;
    for (stored_package, package) in changed_packages {
        for (key, version) in &package.versions {
            match stored.remove(&version_row_key(stored_package.id, key)) {
                None => {
                    plan.versions.created += 1;
                    plan.targets.created += version.targets.len() as u64;
                    plan.new_versions.push((stored_package, key, version));
                }
                Some(row) if row.tree_fingerprint == version.tree_fingerprint() => {
                    plan.versions.unchanged += 1;
                    plan.targets.unchanged += version.targets.len() as u64;
                }
                Some(row) => {
                    if row.fingerprint == version.row.fingerprint() {
                        plan.versions.unchanged += 1;
                    } else {
                        plan.versions.updated += 1;
                    }
                    plan.changed_versions.push((row.stored(), version));
                }
            }
        }
    }
    plan.deleted_versions = stored.into_values().map(|row| row.id).collect();
    plan.versions.deleted += plan.deleted_versions.len() as u64;
    if !plan.deleted_versions.is_empty() {
        plan.targets.deleted += count(
            db,
            "SELECT count(*) FROM software_targets WHERE version_id = ANY($1)",
            plan.deleted_versions.clone(),
        )
        .await?;
    }
    let changed = plan.changed_versions.clone();
    compare_targets(db, plan, changed).await
}

async fn compare_targets<'s>(
    db: &impl ConnectionTrait,
    plan: &mut Plan<'s>,
    changed_versions: Vec<(Stored, &'s VersionSnapshot)>,
) -> Result<(), DbErr> {
    if changed_versions.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = changed_versions.iter().map(|(row, _)| row.id).collect();
    let rows = db
        .query_all_raw(statement(
            db,
            "SELECT id, version_id, target_type, target_name, fingerprint \
             FROM software_targets WHERE version_id = ANY($1)",
            ids,
        ))
        .await?;
    let mut stored: HashMap<(i64, String, String), (i64, i64)> = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert(
            (
                row.try_get("", "version_id")?,
                row.try_get("", "target_type")?,
                row.try_get("", "target_name")?,
            ),
            (row.try_get("", "id")?, row.try_get("", "fingerprint")?),
        );
    }
    for (stored_version, version) in changed_versions {
        for (key, target) in &version.targets {
            let stored_key = (
                stored_version.id,
                key.target_type.clone(),
                key.target_name.clone(),
            );
            match stored.remove(&stored_key) {
                None => {
                    plan.targets.created += 1;
                    plan.new_targets.push((stored_version, key, target));
                }
                Some((_, fingerprint)) if fingerprint == target.fingerprint() => {
                    plan.targets.unchanged += 1;
                }
                Some((id, _)) => {
                    plan.targets.updated += 1;
                    plan.changed_targets.push((id, target));
                }
            }
        }
    }
    plan.deleted_targets = stored.into_values().map(|(id, _)| id).collect();
    plan.targets.deleted += plan.deleted_targets.len() as u64;
    Ok(())
}

async fn stored_packages(
    db: &impl ConnectionTrait,
    catalog_id: i64,
) -> Result<HashMap<PackageKey, StoredRow>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db,
            "SELECT id, uuid, name, is_extension, fingerprint, tree_fingerprint \
             FROM software_packages WHERE catalog_id = $1",
            catalog_id,
        ))
        .await?;
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert(
            PackageKey {
                name: row.try_get("", "name")?,
                is_extension: row.try_get("", "is_extension")?,
            },
            StoredRow {
                id: row.try_get("", "id")?,
                uuid: row.try_get("", "uuid")?,
                fingerprint: row.try_get("", "fingerprint")?,
                tree_fingerprint: row.try_get("", "tree_fingerprint")?,
            },
        );
    }
    Ok(stored)
}

async fn stored_versions(
    db: &impl ConnectionTrait,
    package_ids: Vec<i64>,
) -> Result<HashMap<(i64, String, String), StoredRow>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db,
            "SELECT id, uuid, package_id, version, modulename, fingerprint, tree_fingerprint \
             FROM software_versions WHERE package_id = ANY($1)",
            package_ids,
        ))
        .await?;
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert(
            (
                row.try_get("", "package_id")?,
                row.try_get("", "version")?,
                row.try_get("", "modulename")?,
            ),
            StoredRow {
                id: row.try_get("", "id")?,
                uuid: row.try_get("", "uuid")?,
                fingerprint: row.try_get("", "fingerprint")?,
                tree_fingerprint: row.try_get("", "tree_fingerprint")?,
            },
        );
    }
    Ok(stored)
}

async fn count(db: &impl ConnectionTrait, sql: &str, ids: Vec<i64>) -> Result<u64, DbErr> {
    let row = db.query_one_raw(statement(db, sql, ids)).await?;
    let count: i64 = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    Ok(count as u64)
}

/// A Postgres statement with one bound value.
pub fn statement(db: &impl ConnectionTrait, sql: &str, value: impl Into<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, [value.into()])
}

/// The key under which a stored version is matched.
type VersionRowKey = (i64, String, String);

/// Builds the key under which a stored version is matched.
fn version_row_key(package_id: i64, key: &VersionKey) -> VersionRowKey {
    (package_id, key.version.clone(), key.modulename.clone())
}
