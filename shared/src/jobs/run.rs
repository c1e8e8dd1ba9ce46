//! Running one delivered job: claim its record, do the work within the time
//! allowed, and record how it ended. Retries are decided here, not by the
//! queue: a failed attempt with budget left is re-queued after an
//! exponential backoff; the last one fails the job for good.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use serde_json::{Value, json};
use tracing::Instrument;

use super::records::{self, Claim, JobRecord};
use super::{JobMessage, JobQueue, JobSpec, enqueue};
use crate::catalog::CatalogKind;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::loader::{LoadError, LoadLimits, LoadOutcome, LoadReport, LoadRequest, Phase, Progress};
use crate::settings::CatalogSettings;

/// Skipped source entries kept in a job's result; the count says how many
/// there were in all.
const SKIPPED_IN_RESULT: usize = 100;

/// What a worker needs to run jobs.
#[derive(Clone)]
pub struct JobContext {
    /// The catalog database.
    pub db: DatabaseConnection,
    /// The process's configuration.
    pub config: Arc<Config>,
    /// Reads sources within the configured bounds.
    pub fetcher: Fetcher,
    /// Where retries and a refresh's loads are queued.
    pub queue: Arc<dyn JobQueue>,
    /// This worker's unique name, recorded on the jobs it runs.
    pub worker_name: String,
}

/// How a delivery ended, as the queue needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Acknowledge it: the job ended, was re-queued for a retry, or had
    /// ended before (a repeated delivery).
    Done,
    /// The job failed for good: the queue should put it with the dead.
    Failed(String),
    /// Another worker runs the job: the queue should deliver it again later.
    Later,
}

/// Why a job's attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    /// Another attempt may succeed.
    #[error("{0}")]
    Failed(String),
    /// No attempt can succeed while the inputs stay as they are (a load the
    /// shrink guard refused, a source not found or not parsing): the job
    /// fails at once, without retries.
    #[error("{0}")]
    Permanent(String),
    #[error("timed out after {0} s")]
    TimedOut(u64),
}

/// Runs the job a message names. An `Err` means the job's record could not
/// be read or written (the database is away): the queue should deliver the
/// message again later.
pub async fn process(
    context: &JobContext,
    message: JobMessage,
) -> Result<Disposition, sea_orm::DbErr> {
    let db = &context.db;
    let lease = context.config.jobs.silence_limit();
    let job = match records::claim(db, message.job_id, &context.worker_name, lease).await? {
        Claim::Started(job) => *job,
        Claim::Ended => {
            tracing::info!(job_id = %message.job_id, "job already ended or gone; acknowledged");
            return Ok(Disposition::Done);
        }
        Claim::HeldElsewhere => {
            tracing::info!(job_id = %message.job_id, "job runs on another worker; delivery deferred");
            return Ok(Disposition::Later);
        }
    };
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        kind = %job.kind,
        catalog = job.catalog.as_deref().unwrap_or(""),
        attempt = job.attempts,
    );
    async move {
        if job.attempts > job.max_attempts {
            let error = format!(
                "gave up after {} attempts (the last was interrupted)",
                job.max_attempts
            );
            return fail(context, &job, error).await;
        }
        tracing::info!(worker = %context.worker_name, "job started");
        let _lease = LeaseKeeper::start(context, job.id, lease);
        let started = std::time::Instant::now();
        let timeout = Duration::from_secs(context.config.jobs.timeout_secs);
        let outcome = match tokio::time::timeout(timeout, execute(context, &job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(AttemptError::TimedOut(timeout.as_secs())),
        };
        match outcome {
            Ok((state, result)) => {
                crate::metrics::job_ended(&job.kind, state, started.elapsed());
                if records::finish(db, job.id, &context.worker_name, state, result, None).await? {
                    tracing::info!(state, "job ended");
                } else {
                    tracing::warn!(state, "job ended, but another worker had taken it over");
                }
                Ok(Disposition::Done)
            }
            Err(AttemptError::Permanent(error)) => {
                crate::metrics::job_ended(&job.kind, "attempt_failed", started.elapsed());
                fail(context, &job, error).await
            }
            Err(error) => {
                crate::metrics::job_ended(&job.kind, "attempt_failed", started.elapsed());
                retry_or_fail(context, &job, error.to_string()).await
            }
        }
    }
    .instrument(span)
    .await
}

async fn retry_or_fail(
    context: &JobContext,
    job: &JobRecord,
    error: String,
) -> Result<Disposition, sea_orm::DbErr> {
    let db = &context.db;
    if job.attempts >= job.max_attempts {
        return fail(context, job, error).await;
    }
    let delay = backoff(context.config.jobs.retry_backoff_secs, job.attempts);
    if !records::requeue(db, job.id, &context.worker_name, &error, delay).await? {
        let error = format!("{error} (not retried: the same work is queued already)");
        return fail(context, job, error).await;
    }
    match context
        .queue
        .push(JobMessage { job_id: job.id }, delay)
        .await
    {
        Ok(()) => {
            tracing::warn!(%error, retry_in_secs = delay.as_secs(), "attempt failed; retrying");
        }
        // The record is queued: the workers' redelivery of stranded jobs
        // queues it again once the queue is back.
        Err(queue_error) => tracing::warn!(
            %error,
            %queue_error,
            "attempt failed; the retry could not be queued now and will be redelivered"
        ),
    }
    Ok(Disposition::Done)
}

/// Ends a job as failed for good, unless another worker has taken it over.
async fn fail(
    context: &JobContext,
    job: &JobRecord,
    error: String,
) -> Result<Disposition, sea_orm::DbErr> {
    let failed = records::finish(
        &context.db,
        job.id,
        &context.worker_name,
        "failed",
        Value::Null,
        Some(error.clone()),
    )
    .await?;
    if !failed {
        tracing::warn!(%error, "attempt failed, but another worker had taken the job over");
        return Ok(Disposition::Done);
    }
    tracing::warn!(%error, attempts = job.attempts, "job failed");
    Ok(Disposition::Failed(error))
}

/// The wait before retry number `attempt` (1-based): `base`, doubled per
/// attempt, at most an hour.
fn backoff(base_secs: u64, attempt: i32) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    Duration::from_secs(base_secs.saturating_mul(1 << doublings).min(3600))
}

/// Does a job's work; returns its final state and result.
async fn execute(
    context: &JobContext,
    job: &JobRecord,
) -> Result<(&'static str, Value), AttemptError> {
    let spec = job
        .spec()
        .map_err(|error| AttemptError::Failed(format!("unreadable parameters: {error}")))?;
    let db = &context.db;
    let failed = |error: &dyn std::fmt::Display| AttemptError::Failed(error.to_string());
    match spec {
        JobSpec::Load(request) => {
            let progress = RecordProgress::start(db, job.id, &context.worker_name);
            let limits = LoadLimits::from_config(&context.config, request.source);
            let report = request
                .run(db, &context.fetcher, limits, &progress)
                .await
                .map_err(|error: LoadError| {
                    if error.is_permanent() {
                        AttemptError::Permanent(error.to_string())
                    } else {
                        failed(&error)
                    }
                })?;
            crate::metrics::rows_written(&request.catalog_name, report.rows_written());
            let state = match report.outcome {
                LoadOutcome::Unchanged | LoadOutcome::LeftExisting => "unchanged",
                LoadOutcome::Created | LoadOutcome::Updated | LoadOutcome::DryRun => "succeeded",
            };
            Ok((state, load_result(&report)))
        }
        JobSpec::Refresh => {
            let settings = CatalogSettings::read(db, &context.config)
                .await
                .map_err(|e| failed(&e))?;
            let mut result = serde_json::Map::new();
            for kind in CatalogKind::all() {
                let entry = match settings.refresh_load(&context.config, kind) {
                    Ok(request) => {
                        let mut entry = refresh_enqueue(context, job, request.clone()).await?;
                        // Every stored stack of a source that holds several
                        // (EESSI) is refreshed, not only the newest; older
                        // snapshots of other sources are superseded.
                        if kind.definition().holds_several_versions {
                            let mut stored = Vec::new();
                            for version in stored_versions(db, kind, &request)
                                .await
                                .map_err(|e| failed(&e))?
                            {
                                let load = LoadRequest {
                                    catalog_version: Some(version.clone()),
                                    ..request.clone()
                                };
                                let mut queued = refresh_enqueue(context, job, load).await?;
                                queued["version"] = json!(version);
                                stored.push(queued);
                            }
                            entry["stored_versions"] = Value::Array(stored);
                        }
                        entry
                    }
                    Err(reason) => {
                        tracing::info!(source = %kind, %reason, "refresh skips a source");
                        json!({"skipped": reason})
                    }
                };
                result.insert(kind.as_str().to_owned(), entry);
            }
            Ok(("succeeded", Value::Object(result)))
        }
        JobSpec::Probe { .. } => Ok(("succeeded", Value::Null)),
        JobSpec::Cleanup => {
            let settings = CatalogSettings::read(db, &context.config)
                .await
                .map_err(|e| failed(&e))?;
            let report = crate::cleanup::run(db, settings.retention_days)
                .await
                .map_err(|e| failed(&e))?;
            let state = if report.is_empty() {
                "unchanged"
            } else {
                "succeeded"
            };
            let mut result = serde_json::to_value(&report).map_err(|e| failed(&e))?;
            result["retention_days"] = json!(settings.retention_days);
            Ok((state, result))
        }
    }
}

/// Enqueues one load of a refresh, as the refresh's child; its entry in the
/// refresh's result.
async fn refresh_enqueue(
    context: &JobContext,
    refresh: &JobRecord,
    load: LoadRequest,
) -> Result<Value, AttemptError> {
    let enqueued = enqueue(
        &context.db,
        context.queue.as_ref(),
        &JobSpec::Load(load),
        &format!("job:{}", refresh.id),
        Some(refresh.id),
        context.config.jobs.max_attempts,
    )
    .await
    .map_err(|error| AttemptError::Failed(error.to_string()))?;
    Ok(json!({"job_id": enqueued.job.id, "duplicate": enqueued.duplicate}))
}

/// The stored versions of the catalog a refresh load names, other than the
/// one it loads, whose automatic updates are on. A load of the source's
/// newest version (no version asked) stands for the newest stored one, so
/// that one is not loaded twice.
async fn stored_versions(
    db: &impl ConnectionTrait,
    kind: CatalogKind,
    load: &LoadRequest,
) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT version FROM software_catalogs \
             WHERE source = $1 AND name = $2 AND auto_update_enabled \
               AND version IS DISTINCT FROM coalesce($3, ( \
                 SELECT newest.version FROM software_catalogs newest \
                 WHERE newest.source = $1 AND newest.name = $2 \
                 ORDER BY softcat_version_key(newest.version) DESC LIMIT 1)) \
             ORDER BY softcat_version_key(version)",
            [
                kind.as_str().into(),
                load.catalog_name.clone().into(),
                load.catalog_version.clone().into(),
            ],
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "version")).collect()
}

/// A load report as a job's result, with the list of skipped entries cut.
fn load_result(report: &LoadReport) -> Value {
    let mut result = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Some(skipped) = result.get_mut("skipped").and_then(Value::as_array_mut) {
        skipped.truncate(SKIPPED_IN_RESULT);
        result["skipped_count"] = json!(report.skipped_count());
    }
    result
}

/// Renews a running job's lease every third of its length until dropped
/// (the attempt ended, or its future was dropped at shutdown).
struct LeaseKeeper(tokio::task::JoinHandle<()>);

impl LeaseKeeper {
    fn start(context: &JobContext, job_id: uuid::Uuid, lease: Duration) -> Self {
        let db = context.db.clone();
        let worker = context.worker_name.clone();
        let every = (lease / 3).max(Duration::from_millis(500));
        Self(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(error) = records::renew_lease(&db, job_id, &worker).await {
                    tracing::warn!(%job_id, %error, "could not renew the job's lease");
                }
            }
        }))
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes the phase of a running load, and its transaction's session, to
/// its job record.
struct RecordProgress {
    db: DatabaseConnection,
    job_id: uuid::Uuid,
    worker: String,
    phases: LatestWriter,
}

impl RecordProgress {
    fn start(db: &DatabaseConnection, job_id: uuid::Uuid, worker: &str) -> Self {
        let writer = db.clone();
        let phases = LatestWriter::start(move |progress| {
            let db = writer.clone();
            async move {
                if let Err(error) = records::record_progress(&db, job_id, progress).await {
                    tracing::debug!(%error, "could not record progress");
                }
            }
        });
        Self {
            db: db.clone(),
            job_id,
            worker: worker.to_owned(),
            phases,
        }
    }
}

/// Writes values one at a time, in the order they are given, the latest
/// replacing any not yet written: a record of progress that never goes
/// back to an earlier phase, however the writes are scheduled. Its task
/// ends once it is dropped and its last value is written.
struct LatestWriter(tokio::sync::watch::Sender<Option<Value>>);

impl LatestWriter {
    fn start<W, F>(write: W) -> Self
    where
        W: Fn(Value) -> F + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let (values, mut latest) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            while latest.changed().await.is_ok() {
                let value = latest.borrow_and_update().clone();
                if let Some(value) = value {
                    write(value).await;
                }
            }
        });
        Self(values)
    }

    fn write(&self, value: Value) {
        self.0.send_replace(Some(value));
    }
}

impl Progress for RecordProgress {
    fn phase(&self, phase: Phase, total: Option<u64>) {
        self.phases
            .write(json!({"phase": phase.name(), "total": total}));
    }

    fn advance(&self, _: u64) {}

    fn transaction(&self, session: crate::loader::LoadSession) {
        let (db, job_id, worker) = (self.db.clone(), self.job_id, self.worker.clone());
        tokio::spawn(async move {
            if let Err(error) = records::record_backend(&db, job_id, &worker, session).await {
                tracing::warn!(%job_id, %error, "could not record the load's session");
            }
        });
    }

    fn retry(&self, phase: Phase, retry: u32, of: u32) {
        self.phases.write(json!({
            "phase": phase.name(),
            "detail": crate::loader::retry_text(phase, retry, of),
            "retry": retry,
            "retries": of,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_is_written_in_order_and_ends_with_the_latest() {
        let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = written.clone();
        let writer = LatestWriter::start(move |value| {
            let record = record.clone();
            async move {
                // Writes that take varied time, as database round trips do.
                let n = value.as_u64().unwrap();
                tokio::time::sleep(Duration::from_millis(n % 3)).await;
                record.lock().unwrap().push(n);
            }
        });
        for n in 0..200u64 {
            writer.write(json!(n));
            if n % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        drop(writer);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while written.lock().unwrap().last() != Some(&199) {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                written.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let written = written.lock().unwrap();
        assert!(
            written.windows(2).all(|pair| pair[0] < pair[1]),
            "went back: {written:?}"
        );
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(30, 1), Duration::from_secs(30));
        assert_eq!(backoff(30, 2), Duration::from_secs(60));
        assert_eq!(backoff(30, 3), Duration::from_secs(120));
        assert_eq!(backoff(30, 40), Duration::from_secs(3600));
    }
}
