//! Removal of old catalog data: catalog versions that a newer version of the
//! same catalog has superseded, that are older than the retention period and
//! that no offering links; and finished job records and claimed scheduler
//! ticks past the same age.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, TransactionTrait};
use serde::Serialize;

use crate::catalog::CatalogKey;
use crate::version_order::compare_versions;

/// What a cleanup removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Catalog versions removed, with their packages, versions and targets.
    pub catalogs_removed: Vec<CatalogKey>,
    /// Finished job records removed.
    pub jobs_removed: u64,
    /// Uploaded custom catalog documents removed.
    pub uploads_removed: u64,
}

impl CleanupReport {
    /// Whether anything was removed.
    pub fn is_empty(&self) -> bool {
        self.catalogs_removed.is_empty() && self.jobs_removed == 0 && self.uploads_removed == 0
    }
}

/// Removes what is older than `retention_days`, in one transaction.
pub async fn run(db: &DatabaseConnection, retention_days: u32) -> Result<CleanupReport, DbErr> {
    let days = i32::try_from(retention_days).unwrap_or(i32::MAX);
    let txn = db.begin().await?;
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "SELECT c.id, c.name, c.version, \
                    c.created < now() - make_interval(days => $1) AS expired, \
                    EXISTS (SELECT 1 FROM offering_software_catalogs l WHERE l.catalog_id = c.id) AS linked \
             FROM software_catalogs c FOR UPDATE",
            [days.into()],
        ))
        .await?;
    let mut by_name: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for row in rows {
        let candidate = Candidate {
            id: row.try_get("", "id")?,
            key: CatalogKey::new(
                row.try_get::<String>("", "name")?,
                row.try_get::<String>("", "version")?,
            ),
            expired: row.try_get("", "expired")?,
            linked: row.try_get("", "linked")?,
        };
        by_name
            .entry(candidate.key.name.clone())
            .or_default()
            .push(candidate);
    }
    let mut report = CleanupReport::default();
    let mut removed_ids = Vec::new();
    for mut versions in by_name.into_values() {
        versions.sort_by(|a, b| compare_versions(&b.key.version, &a.key.version));
        for superseded in versions.into_iter().skip(1) {
            if superseded.expired && !superseded.linked {
                removed_ids.push(superseded.id);
                report.catalogs_removed.push(superseded.key);
            }
        }
    }
    if !removed_ids.is_empty() {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "DELETE FROM software_catalogs \
             WHERE id IN (SELECT jsonb_array_elements_text($1)::bigint)",
            [serde_json::json!(removed_ids).into()],
        ))
        .await?;
    }
    report.jobs_removed = txn
        .execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "DELETE FROM jobs WHERE finished < now() - make_interval(days => $1) \
             AND state IN ('succeeded', 'unchanged', 'failed', 'cancelled')",
            [days.into()],
        ))
        .await?
        .rows_affected();
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "DELETE FROM scheduler_ticks WHERE tick < now() - make_interval(days => $1)",
        [days.into()],
    ))
    .await?;
    report.uploads_removed = crate::uploads::remove_older_than(&txn, retention_days).await?;
    txn.commit().await?;
    if !report.catalogs_removed.is_empty()
        && let Err(error) = crate::browse::generation::advance(db).await
    {
        tracing::warn!(%error, "could not advance the data generation; caches may serve old data");
    }
    tracing::info!(
        catalogs_removed = report.catalogs_removed.len(),
        jobs_removed = report.jobs_removed,
        uploads_removed = report.uploads_removed,
        retention_days,
        "cleanup done"
    );
    Ok(report)
}

struct Candidate {
    id: i64,
    key: CatalogKey,
    expired: bool,
    linked: bool,
}
