//! The loader: brings one stored catalog exactly in line with a source.
//!
//! One transaction per catalog, under a per-catalog advisory lock so that two
//! loads of one catalog never interleave. The snapshot is compared with what
//! is stored ([`plan`]) and only the differences are written ([`write`]). A
//! second identical load writes nothing; a source that cannot be read changes
//! nothing. A load that would take much of a stored catalog away is refused
//! before it writes ([`guard`]), and rows created again get the UUIDs they
//! had ([`identity`]).

mod bounds;
pub mod guard;
pub mod identity;
mod plan;
pub mod progress;
pub mod report;
pub mod request;
mod transaction;
mod write;

use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, Value};
use xxhash_rust::xxh3::xxh3_64;

pub use bounds::SourceBounds;
pub use guard::{ShrinkGuard, ShrinkLimits, ShrinkRefusal};
pub use progress::{NoProgress, Phase, Progress, retry_text};
pub use report::{LevelCounts, LoadOutcome, LoadReport};
pub use request::{
    InvalidLoadRequest, LoadDefaults, LoadRequest, LoadRequestDraft, source_of_catalog,
};
pub use transaction::LoadSession;

use serde::{Deserialize, Serialize};

use crate::catalog::{CatalogKey, CatalogKind};
use crate::fetch::Fetcher;
use crate::snapshot::{CatalogSnapshot, SkippedEntry, SnapshotSize, Transformed};
use crate::sources::{CatalogSource, SourceError};
use transaction::LoadTransaction;

/// How a load treats an existing catalog, and whether it writes at all.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadOptions {
    /// Bring an existing catalog in line with the source; without it an
    /// existing catalog is left as it is.
    pub update_existing: bool,
    /// Compute the full statistics but write nothing.
    pub dry_run: bool,
    /// Load even when the shrink guard would refuse it (see [`guard`]).
    pub allow_shrink: bool,
    /// How much of a stored catalog the load may take away.
    pub limits: ShrinkLimits,
    /// What the source may hold; beyond it entries are skipped.
    pub bounds: SourceBounds,
}

/// The limits a load of one source kind runs within, as the configuration
/// sets them: how much of a stored catalog it may take away, and what the
/// source may hold.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadLimits {
    /// The shrink guard's shares.
    pub shrink: ShrinkLimits,
    /// What the source may hold.
    pub source: SourceBounds,
    /// The cap on one fetched document of this source, where it differs
    /// from `fetch.max_bytes`.
    pub max_fetch_bytes: Option<u64>,
}

impl LoadLimits {
    /// The limits the configuration sets for a source kind.
    pub fn from_config(config: &crate::config::Config, kind: CatalogKind) -> Self {
        let section = config.sources.get(kind);
        Self {
            shrink: section.shrink_limits(),
            source: config.loader,
            max_fetch_bytes: section.max_fetch_bytes,
        }
    }
}

/// Why a load failed. Nothing was written when it does.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The source could not be fetched, parsed or understood.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The shrink guard refused the load: it would take too much of the
    /// stored catalog away. Repeating it cannot help; the source must change,
    /// or the operator force it.
    #[error(transparent)]
    Refused(#[from] ShrinkRefusal),
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl LoadError {
    /// Whether repeating the load cannot succeed while its inputs stay as
    /// they are (a refused load, a source not found or not parsing): a job
    /// fails at once on these instead of being retried.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Source(error) => error.is_permanent(),
            Self::Refused(_) => true,
            Self::Db(_) => false,
        }
    }
}

/// What a load leaves on its catalog so that a reload of the same documents
/// can report without parsing them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LoadSummary {
    #[serde(flatten)]
    size: SnapshotSize,
    /// The first [`SKIPPED_KEPT`] skipped entries: a source of a million
    /// bad entries must not become a catalog row of that size.
    skipped: Vec<SkippedEntry>,
    /// Skipped entries per level, all of them; absent in summaries written
    /// before the list was cut, which listed every entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skipped_counts: Option<SkippedCounts>,
}

/// How many skipped entries a catalog's load summary names.
const SKIPPED_KEPT: usize = 1_000;

/// Skipped entries per level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct SkippedCounts {
    packages: u64,
    versions: u64,
    targets: u64,
}

impl LoadSummary {
    fn of(size: SnapshotSize, report: &LoadReport) -> Self {
        Self {
            size,
            skipped: report.skipped.iter().take(SKIPPED_KEPT).cloned().collect(),
            skipped_counts: Some(SkippedCounts {
                packages: report.packages.skipped,
                versions: report.versions.skipped,
                targets: report.targets.skipped,
            }),
        }
    }

    /// The report of a load that found these documents already loaded.
    fn report(self, catalog: CatalogKey, kind: CatalogKind) -> LoadReport {
        let mut report = LoadReport::new(catalog, kind, self.skipped);
        if let Some(counts) = self.skipped_counts {
            report.packages.skipped = counts.packages;
            report.versions.skipped = counts.versions;
            report.targets.skipped = counts.targets;
        }
        report
    }
}

/// Reads a source and loads it: fetch → parse → transform → load. When the
/// catalog was last loaded from exactly these documents with these options,
/// the load ends after the fetch.
pub async fn load_source<S: CatalogSource>(
    db: &DatabaseConnection,
    source: &S,
    fetcher: &Fetcher,
    options: LoadOptions,
    progress: &dyn Progress,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    progress.phase(Phase::Fetch, None);
    let documents = fetch_reporting_retries(source, fetcher, progress).await?;
    let fingerprint = source.source_fingerprint(&documents);
    let mut report = match unchanged_source(db, source.catalog_name(), fingerprint, options).await?
    {
        Some(report) => report,
        None => {
            progress.phase(Phase::Transform, None);
            let parsed = source.parse(&documents)?;
            drop(documents);
            let mut transformed = source.transform(parsed, &options.bounds)?;
            options.bounds.apply(&mut transformed);
            load_snapshot(db, transformed, Some(fingerprint), options, progress).await?
        }
    };
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Fetches the source's documents, telling `progress` of each retry.
async fn fetch_reporting_retries<S: CatalogSource>(
    source: &S,
    fetcher: &Fetcher,
    progress: &dyn Progress,
) -> Result<S::Documents, SourceError> {
    let (retries, mut reported) = tokio::sync::mpsc::unbounded_channel();
    let fetcher = fetcher.reporting_retries(retries);
    let fetch = source.fetch(&fetcher);
    tokio::pin!(fetch);
    loop {
        tokio::select! {
            documents = &mut fetch => return documents,
            Some(retry) = reported.recv() => progress.retry(Phase::Fetch, retry.retry, retry.of),
        }
    }
}

/// The report of a reload whose documents the catalog was last loaded from:
/// nothing to parse, compare or write. An empty `catalog_name` (the
/// documents name the catalog) matches on the documents alone.
async fn unchanged_source(
    db: &DatabaseConnection,
    catalog_name: &str,
    fingerprint: i64,
    options: LoadOptions,
) -> Result<Option<LoadReport>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT uuid, name, version, source, load_summary FROM software_catalogs \
             WHERE ($1 = '' OR name = $1) AND source_fingerprint = $2",
            [catalog_name.into(), fingerprint.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let Some(kind) = row
        .try_get::<Option<String>>("", "source")?
        .as_deref()
        .and_then(CatalogKind::parse)
    else {
        return Ok(None);
    };
    let Ok(summary) = serde_json::from_value::<LoadSummary>(
        row.try_get::<serde_json::Value>("", "load_summary")?,
    ) else {
        return Ok(None);
    };
    let key = CatalogKey::new(
        row.try_get::<String>("", "name")?,
        row.try_get::<String>("", "version")?,
    );
    let size = summary.size;
    let mut report = summary.report(key, kind);
    report.catalog_uuid = Some(row.try_get("", "uuid")?);
    report.outcome = if !options.update_existing {
        LoadOutcome::LeftExisting
    } else {
        report.packages.unchanged = size.packages;
        report.versions.unchanged = size.versions;
        report.targets.unchanged = size.targets;
        if options.dry_run {
            LoadOutcome::DryRun
        } else {
            LoadOutcome::Unchanged
        }
    };
    tracing::info!(catalog = %report.catalog, "source unchanged since the last load");
    Ok(Some(report))
}

/// Loads a transformed snapshot into the database. `source_fingerprint`
/// identifies the documents it came from (`None`: unknown), so that a reload
/// of the same documents can end early.
pub async fn load_snapshot(
    db: &DatabaseConnection,
    transformed: Transformed,
    source_fingerprint: Option<i64>,
    options: LoadOptions,
    progress: &dyn Progress,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    let Transformed { snapshot, skipped } = transformed;
    let mut report = LoadReport::new(snapshot.key.clone(), snapshot.kind, skipped);
    let mut txn = LoadTransaction::begin(db).await?;
    progress.transaction(txn.session());
    lock_catalog(&txn, &snapshot.key).await?;
    let existing = find_catalog(&txn, &snapshot.key).await?;
    report.catalog_uuid = existing.map(|(_, uuid)| uuid);
    if existing.is_some() && !options.update_existing {
        report.outcome = LoadOutcome::LeftExisting;
        txn.rollback().await?;
        report.elapsed = started.elapsed();
        return Ok(report);
    }

    progress.phase(Phase::Compare, Some(snapshot.packages.len() as u64));
    let compare_started = Instant::now();
    let plan = plan::compare(&txn, existing.map(|(id, _)| id), &snapshot).await?;
    let compare_elapsed = compare_started.elapsed();
    report.packages = LevelCounts {
        skipped: report.packages.skipped,
        ..plan.packages
    };
    report.versions = LevelCounts {
        skipped: report.versions.skipped,
        ..plan.versions
    };
    report.targets = LevelCounts {
        skipped: report.targets.skipped,
        ..plan.targets
    };
    if existing.is_some()
        && let Some(refusal) = guard::check(&report, plan.deleted_by_choice, options.limits)
    {
        if options.allow_shrink {
            tracing::warn!(
                catalog = %report.catalog,
                guard = refusal.guard.name(),
                level = %refusal.level,
                count = refusal.count,
                total = refusal.total,
                "shrink guard overridden (allow_shrink)"
            );
        } else if options.dry_run {
            report.refused = Some(refusal);
        } else {
            txn.rollback().await?;
            tracing::info!(
                catalog = %report.catalog,
                guard = refusal.guard.name(),
                level = %refusal.level,
                count = refusal.count,
                total = refusal.total,
                "load refused by the shrink guard; nothing written"
            );
            return Err(refusal.into());
        }
    }
    if options.dry_run {
        report.outcome = LoadOutcome::DryRun;
        txn.rollback().await?;
        report.elapsed = started.elapsed();
        return Ok(report);
    }

    progress.phase(Phase::Write, Some(report.rows_written()));
    let write_started = Instant::now();
    let (catalog_id, uuid, catalog_changed) = match existing {
        Some((id, uuid)) => (id, uuid, update_catalog(&txn, id, &snapshot).await?),
        None => {
            let (id, uuid) = insert_catalog(&txn, &snapshot).await?;
            (id, uuid, true)
        }
    };
    write::apply(
        &txn,
        plan::Stored {
            id: catalog_id,
            uuid,
        },
        &plan,
        progress,
    )
    .await?;
    let summary = LoadSummary::of(snapshot.size(), &report);
    record_load(&txn, catalog_id, source_fingerprint, &summary).await?;
    txn.commit().await?;
    let write_elapsed = write_started.elapsed();
    if (report.rows_written() > 0 || catalog_changed)
        && let Err(error) = crate::browse::generation::advance(&txn).await
    {
        tracing::warn!(%error, "could not advance the data generation; caches may serve old data");
    }
    report.catalog_uuid = Some(uuid);
    report.outcome = match existing {
        None => LoadOutcome::Created,
        Some(_) if plan.is_empty() && !catalog_changed => LoadOutcome::Unchanged,
        Some(_) => LoadOutcome::Updated,
    };
    report.elapsed = started.elapsed();
    drop(plan);
    if report.rows_written() >= LARGE_LOAD_ROWS {
        finish_large_load(txn, snapshot);
    }
    tracing::info!(
        catalog = %report.catalog,
        outcome = ?report.outcome,
        rows_written = report.rows_written(),
        skipped = report.skipped.len(),
        elapsed_ms = report.elapsed.as_millis() as u64,
        compare_ms = compare_elapsed.as_millis() as u64,
        write_ms = write_elapsed.as_millis() as u64,
        "catalog loaded"
    );
    Ok(report)
}

/// Rows written by one load from which the tables are tidied at once,
/// rather than whenever autovacuum gets to them.
const LARGE_LOAD_ROWS: u64 = 10_000;

/// What a large load leaves to do once it has committed, in the
/// background, so that its caller need not wait:
///
/// - frees the snapshot (some 100k rows of small allocations: tens of ms);
/// - refreshes the planner's statistics (row counts moved enough for stale
///   ones to pick bad plans) and merges the GIN indexes' pending lists,
///   which searches otherwise scan linearly (40 ms instead of 1 ms for a
///   `query=` search after a cold load). Autovacuum would do both within a
///   minute; this does them at once.
///
/// The work runs on the load's own session, after its commit, so closing
/// the pool waits for it. A failure only costs query speed until autovacuum
/// comes, so it is logged.
fn finish_large_load(session: LoadTransaction, snapshot: CatalogSnapshot) {
    const TIDY: [&str; 2] = [
        "ANALYZE software_packages, software_versions, software_targets",
        "SELECT gin_clean_pending_list(i.indexrelid::regclass) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
         WHERE a.amname = 'gin' AND i.indrelid IN \
           ('software_packages'::regclass, 'software_versions'::regclass)",
    ];
    tokio::spawn(async move {
        let started = Instant::now();
        let _ = tokio::task::spawn_blocking(move || drop(snapshot)).await;
        for sql in TIDY {
            if let Err(error) = session.execute_unprepared(sql).await {
                tracing::warn!(%error, "could not tidy the catalog tables after a large load");
                return;
            }
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "catalog tables tidied after a large load"
        );
    });
}

/// Holds the catalog's advisory lock until the transaction ends; a second
/// load of the same catalog waits here.
async fn lock_catalog(db: &impl ConnectionTrait, key: &CatalogKey) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT pg_advisory_xact_lock($1)",
        [catalog_lock_id(key).into()],
    ))
    .await?;
    Ok(())
}

/// The Postgres advisory lock key that serialises loads of one catalog.
pub fn catalog_lock_id(key: &CatalogKey) -> i64 {
    xxh3_64(format!("softcat catalog\0{}\0{}", key.name, key.version).as_bytes()) as i64
}

async fn find_catalog(
    db: &impl ConnectionTrait,
    key: &CatalogKey,
) -> Result<Option<(i64, uuid::Uuid)>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT id, uuid FROM software_catalogs WHERE name = $1 AND version = $2",
            [key.name.clone().into(), key.version.clone().into()],
        ))
        .await?;
    row.map(|row| Ok((row.try_get("", "id")?, row.try_get("", "uuid")?)))
        .transpose()
}

fn catalog_fields(snapshot: &CatalogSnapshot) -> Vec<Value> {
    vec![
        snapshot.catalog_type.as_str().into(),
        snapshot.kind.as_str().into(),
        snapshot.source_url.clone().into(),
        snapshot.description.clone().into(),
        snapshot.metadata.clone().into(),
    ]
}

async fn insert_catalog(
    db: &impl ConnectionTrait,
    snapshot: &CatalogSnapshot,
) -> Result<(i64, uuid::Uuid), DbErr> {
    let mut values = vec![
        snapshot.key.name.clone().into(),
        snapshot.key.version.clone().into(),
    ];
    values.extend(catalog_fields(snapshot));
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO software_catalogs \
               (name, version, catalog_type, source, source_url, description, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, uuid",
            values,
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    Ok((row.try_get("", "id")?, row.try_get("", "uuid")?))
}

/// Remembers which documents the catalog is now in line with.
async fn record_load(
    db: &impl ConnectionTrait,
    id: i64,
    source_fingerprint: Option<i64>,
    summary: &LoadSummary,
) -> Result<(), DbErr> {
    let summary = serde_json::to_value(summary).map_err(|e| DbErr::Json(e.to_string()))?;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE software_catalogs SET source_fingerprint = $2, load_summary = $3 \
         WHERE id = $1 AND (source_fingerprint, load_summary) IS DISTINCT FROM ($2, $3::jsonb)",
        [id.into(), source_fingerprint.into(), summary.into()],
    ))
    .await?;
    Ok(())
}

/// Updates the catalog's own fields if they differ; says whether they did.
async fn update_catalog(
    db: &impl ConnectionTrait,
    id: i64,
    snapshot: &CatalogSnapshot,
) -> Result<bool, DbErr> {
    let mut values = vec![id.into()];
    values.extend(catalog_fields(snapshot));
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE software_catalogs \
             SET catalog_type = $2, source = $3, source_url = $4, description = $5, \
               metadata = $6, modified = now() \
             WHERE id = $1 AND (catalog_type, source, source_url, description, metadata) \
                   IS DISTINCT FROM ($2, $3, $4, $5, $6::jsonb)",
            values,
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Level;

    #[test]
    fn a_summary_written_before_the_counts_counts_its_list() {
        let written_before: LoadSummary = serde_json::from_value(serde_json::json!({
            "packages": 2, "versions": 3, "targets": 4,
            "skipped": [
                {"level": "version", "entry": "package \"a\" version entry #0", "reason": "bad"},
                {"level": "target", "entry": "package \"a\" version \"1\"", "reason": "bad"},
            ],
        }))
        .unwrap();
        let report =
            written_before.report(CatalogKey::new("Spack", "1"), crate::sources::spack::KIND);
        assert_eq!(report.versions.skipped, 1);
        assert_eq!(report.targets.skipped, 1);
        assert_eq!(report.skipped_count(), 2);
        assert_eq!(report.skipped[0].level, Level::Version);
    }
}
