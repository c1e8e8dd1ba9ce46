//! Job records: creating one (with de-duplication), reading, listing and
//! cancelling them, and the state changes a worker makes as a job runs.

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{JOB_KINDS, JOB_STATES, JobMessage, JobQueue, JobSpec};
use crate::browse::{BadParameter, Listing, Page, list as list_rows};
use crate::sql::{Conditions, statement};

/// One job as stored.
#[derive(Debug, Clone, PartialEq, FromQueryResult, Serialize)]
pub struct JobRecord {
    /// The job's id, also its public identity.
    pub id: Uuid,
    /// `load`, `refresh`, `cleanup` or `probe`.
    pub kind: String,
    /// The job's parameters (a [`JobSpec`] as JSON).
    pub parameters: Value,
    /// The catalog a load brings in line.
    pub catalog: Option<String>,
    /// queued, running, succeeded, unchanged, failed or cancelled.
    pub state: String,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed before the job fails for good.
    pub max_attempts: i32,
    /// The phase and row counts of a running load.
    pub progress: Option<Value>,
    /// The statistics of the finished job.
    pub result: Option<Value>,
    /// The error of the last failed attempt.
    pub error: Option<String>,
    /// The worker that ran the last attempt.
    pub worker: Option<String>,
    /// Who asked for the job (`api:<user>`, `cli`, `scheduler`, `job:<id>`).
    pub requested_by: String,
    /// The refresh job that enqueued this load.
    pub parent_id: Option<Uuid>,
    /// When a retry is due.
    pub run_after: Option<DateTime<FixedOffset>>,
    /// When the job was enqueued.
    pub created: DateTime<FixedOffset>,
    /// When its last attempt started.
    pub started: Option<DateTime<FixedOffset>>,
    /// When it ended.
    pub finished: Option<DateTime<FixedOffset>>,
    /// When the record last changed.
    pub modified: DateTime<FixedOffset>,
}

impl JobRecord {
    /// The job's parameters, typed.
    pub fn spec(&self) -> Result<JobSpec, serde_json::Error> {
        serde_json::from_value(self.parameters.clone())
    }
}

/// The columns of a [`JobRecord`] from `jobs j`.
macro_rules! job_columns {
    () => {
        "j.id, j.kind, j.parameters, j.catalog, j.state, j.attempts, j.max_attempts, \
         j.progress, j.result, j.error, j.worker, j.requested_by, j.parent_id, j.run_after, \
         j.created, j.started, j.finished, j.modified"
    };
}

const COLUMNS: &str = job_columns!();

/// A statement on `jobs j` returning the changed records.
const RETURNING: &str = concat!(" RETURNING ", job_columns!());

/// Why a job operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A parameter is unusable; names it.
    #[error(transparent)]
    Invalid(#[from] BadParameter),
    /// No job has that id.
    #[error("job not found")]
    NotFound,
    /// The job is not in a state that allows the operation.
    #[error("the job is {0}; only a queued job can be cancelled")]
    NotCancellable(String),
    /// The job was recorded but the queue refused it; the record says so.
    #[error(transparent)]
    Queue(#[from] super::QueueError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// The answer to an enqueue.
#[derive(Debug, Clone)]
pub struct Enqueued {
    /// The job that will do the work.
    pub job: JobRecord,
    /// `true` when the same work was already queued and that job is returned
    /// instead of a new one.
    pub duplicate: bool,
}

/// Records a job and puts it on the queue. When a job doing the same work
/// is already queued, that job is returned and nothing new is queued.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    queue: &dyn JobQueue,
    spec: &JobSpec,
    requested_by: &str,
    parent: Option<Uuid>,
    max_attempts: u32,
) -> Result<Enqueued, JobError> {
    let parameters = serde_json::to_value(spec).map_err(|e| DbErr::Json(e.to_string()))?;
    let dedupe_key = spec.dedupe_key();
    // A queued duplicate may start between the insert and the look-up; then
    // the insert succeeds on the next round.
    for _ in 0..3 {
        let inserted = JobRecord::find_by_statement(statement(
            db,
            format!(
                "INSERT INTO jobs AS j (kind, parameters, catalog, dedupe_key, max_attempts, requested_by, parent_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (dedupe_key) WHERE state = 'queued' DO NOTHING{RETURNING}"
            ),
            [
                spec.kind().into(),
                parameters.clone().into(),
                spec.catalog().map(str::to_owned).into(),
                dedupe_key.clone().into(),
                i32::try_from(max_attempts).unwrap_or(i32::MAX).into(),
                requested_by.into(),
                parent.into(),
            ],
        ))
        .one(db)
        .await?;
        if let Some(job) = inserted {
            push_new(db, queue, &job).await?;
            tracing::info!(job_id = %job.id, kind = %job.kind, catalog = job.catalog.as_deref(), requested_by, "job enqueued");
            return Ok(Enqueued {
                job,
                duplicate: false,
            });
        }
        let queued = JobRecord::find_by_statement(statement(
            db,
            format!("SELECT {COLUMNS} FROM jobs j WHERE j.dedupe_key = $1 AND j.state = 'queued'"),
            [dedupe_key.clone().into()],
        ))
        .one(db)
        .await?;
        if let Some(job) = queued {
            tracing::info!(job_id = %job.id, kind = %job.kind, "the same work is already queued");
            return Ok(Enqueued {
                job,
                duplicate: true,
            });
        }
    }
    Err(DbErr::Custom("the job could not be recorded; try again".into()).into())
}

/// Puts a freshly recorded job on the queue; when the queue refuses, the
/// record is failed so that nothing waits for a message that never came.
async fn push_new(
    db: &impl ConnectionTrait,
    queue: &dyn JobQueue,
    job: &JobRecord,
) -> Result<(), JobError> {
    let message = JobMessage { job_id: job.id };
    if let Err(error) = queue.push(message, std::time::Duration::ZERO).await {
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE jobs SET state = 'failed', error = $2, finished = now(), modified = now() \
             WHERE id = $1",
            [job.id.into(), error.to_string().into()],
        ))
        .await?;
        return Err(error.into());
    }
    Ok(())
}

/// A job by id.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<JobRecord, JobError> {
    JobRecord::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} FROM jobs j WHERE j.id = $1"),
        [id.into()],
    ))
    .one(db)
    .await?
    .ok_or(JobError::NotFound)
}

/// The load that last brought the catalog `catalog_uuid` in line (its
/// newest load job that wrote or found it unchanged, dry runs aside): what
/// `update_catalog` repeats for a catalog no configured source names, such
/// as a site's module tree or a custom catalog.
pub async fn last_load_of(
    db: &impl ConnectionTrait,
    catalog_uuid: Uuid,
) -> Result<Option<crate::loader::LoadRequest>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT parameters FROM jobs WHERE kind = 'load' \
               AND state IN ('succeeded', 'unchanged') \
               AND result->>'catalog_uuid' = $1 \
               AND NOT coalesce((parameters->>'dry_run')::boolean, false) \
             ORDER BY finished DESC LIMIT 1",
            [catalog_uuid.to_string().into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let parameters: Value = row.try_get("", "parameters")?;
    Ok(match serde_json::from_value(parameters) {
        Ok(JobSpec::Load(request)) => Some(request),
        _ => None,
    })
}

/// Candidates [`ids_with_prefix`] returns at most: enough to show that a
/// prefix is ambiguous.
pub const PREFIX_CANDIDATES: u64 = 5;

/// The ids of the jobs whose id starts with `prefix` (hexadecimal digits
/// and hyphens, as git and docker take object ids), at most
/// [`PREFIX_CANDIDATES`] of them, in order.
pub async fn ids_with_prefix(db: &impl ConnectionTrait, prefix: &str) -> Result<Vec<Uuid>, DbErr> {
    let pattern = format!("{}%", prefix.to_ascii_lowercase());
    let rows = db
        .query_all_raw(statement(
            db,
            format!(
                "SELECT id FROM jobs WHERE id::text LIKE $1 ORDER BY id LIMIT {PREFIX_CANDIDATES}"
            ),
            [pattern.into()],
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "id")).collect()
}

/// Filters of the job listing.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Exact kind.
    pub kind: Option<String>,
    /// Exact state.
    pub state: Option<String>,
    /// Exact catalog name.
    pub catalog: Option<String>,
    /// Loads enqueued by this refresh job.
    pub parent_id: Option<Uuid>,
}

/// One page of jobs, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &JobFilter,
    page: Page,
) -> Result<Listing<JobRecord>, JobError> {
    check_one_of("kind", filter.kind.as_deref(), &JOB_KINDS)?;
    check_one_of("state", filter.state.as_deref(), &JOB_STATES)?;
    let mut conditions = Conditions::new();
    conditions.equals("j.kind", filter.kind.clone());
    conditions.equals("j.state", filter.state.clone());
    conditions.equals("j.catalog", filter.catalog.clone());
    conditions.equals("j.parent_id", filter.parent_id);
    let order = " ORDER BY j.created DESC, j.id DESC";
    Ok(list_rows(db, COLUMNS, "FROM jobs j", &conditions, order, page).await?)
}

fn check_one_of(
    parameter: &str,
    value: Option<&str>,
    allowed: &[&str],
) -> Result<(), BadParameter> {
    match value {
        Some(value) if !allowed.contains(&value) => Err(BadParameter::new(
            parameter,
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// Cancels a queued job (also one waiting for a retry); a worker that
/// receives it later acknowledges it without running it.
pub async fn cancel(db: &impl ConnectionTrait, id: Uuid) -> Result<JobRecord, JobError> {
    let cancelled = JobRecord::find_by_statement(statement(
        db,
        format!(
            "UPDATE jobs AS j SET state = 'cancelled', finished = now(), modified = now() \
             WHERE j.id = $1 AND j.state = 'queued'{RETURNING}"
        ),
        [id.into()],
    ))
    .one(db)
    .await?;
    match cancelled {
        Some(job) => {
            tracing::info!(job_id = %id, "job cancelled");
            Ok(job)
        }
        None => Err(JobError::NotCancellable(get(db, id).await?.state)),
    }
}

/// How many jobs are in each state, per kind: `(kind, state, count)`.
pub async fn state_counts(db: &impl ConnectionTrait) -> Result<Vec<(String, String, i64)>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT kind, state, count(*) AS count FROM jobs GROUP BY kind, state ORDER BY kind, state",
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get("", "kind")?,
                row.try_get("", "state")?,
                row.try_get("", "count")?,
            ))
        })
        .collect()
}

/// What claiming a delivered job found.
#[derive(Debug)]
pub(crate) enum Claim {
    /// The attempt is this worker's.
    Started(Box<JobRecord>),
    /// The job is gone or has ended: a repeated delivery.
    Ended,
    /// Another worker runs it and keeps its lease: try again later.
    HeldElsewhere,
}

/// Starts an attempt: a queued job, or a running one whose worker has not
/// renewed its lease within `lease`, becomes running on `worker`. The
/// transaction of the attempt before, when the record names one and it
/// still runs (its worker died or was cut off mid-load), is ended first,
/// so that the new attempt does not wait for the catalog lock it holds.
pub(crate) async fn claim(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    lease: std::time::Duration,
) -> Result<Claim, DbErr> {
    let claimed = db
        .query_one_raw(statement(
            db,
            format!(
                "WITH previous AS (SELECT id, backend_pid, backend_xact_start FROM jobs \
                   WHERE id = $1 FOR UPDATE) \
                 UPDATE jobs AS j SET state = 'running', attempts = j.attempts + 1, worker = $2, \
                 started = now(), run_after = NULL, progress = NULL, modified = now(), \
                 backend_pid = NULL, backend_xact_start = NULL \
                 FROM previous p \
                 WHERE j.id = p.id AND (j.state = 'queued' \
                    OR (j.state = 'running' AND j.modified < now() - make_interval(secs => $3))){RETURNING}, \
                 p.backend_pid AS previous_pid, p.backend_xact_start AS previous_xact_start"
            ),
            [id.into(), worker.into(), lease.as_secs_f64().into()],
        ))
        .await?;
    if let Some(row) = claimed {
        let job = JobRecord::from_query_result(&row, "")?;
        let previous_pid: Option<i32> = row.try_get("", "previous_pid")?;
        let previous_start: Option<DateTime<FixedOffset>> =
            row.try_get("", "previous_xact_start")?;
        if let (Some(pid), Some(xact_start)) = (previous_pid, previous_start) {
            end_previous_session(db, id, worker, pid, xact_start).await;
        }
        if job.kind == "load" {
            load_status_changed(db).await;
        }
        return Ok(Claim::Started(Box::new(job)));
    }
    let state = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT state FROM jobs WHERE id = $1",
            [id.into()],
        ))
        .await?
        .map(|row| row.try_get::<String>("", "state"))
        .transpose()?;
    Ok(match state.as_deref() {
        Some("running" | "queued") => Claim::HeldElsewhere,
        _ => Claim::Ended,
    })
}

/// How long a takeover waits for the previous attempt's session to be gone.
const TERMINATE_WAIT_MS: i64 = 5_000;

/// Ends the session of a previous attempt's transaction if it still runs:
/// the backend `pid` in the transaction that began at `xact_start` (a
/// reused pid or a pooled connection now serving other work does not
/// match). Waits until it is gone, so that its locks are free. A failure
/// is logged, not returned: the new attempt then waits for the session's
/// own bounds (see the loader's transaction).
async fn end_previous_session(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    worker: &str,
    pid: i32,
    xact_start: DateTime<FixedOffset>,
) {
    let ended = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT pg_terminate_backend(pid, $3) AS ended FROM pg_stat_activity \
             WHERE pid = $1 AND xact_start = $2",
            [pid.into(), xact_start.into(), TERMINATE_WAIT_MS.into()],
        ))
        .await;
    match ended {
        Ok(rows) if rows.is_empty() => {}
        Ok(_) => tracing::warn!(
            %job_id,
            worker,
            backend_pid = pid,
            "ended the transaction of the job's previous attempt, whose lease had expired"
        ),
        Err(error) => tracing::warn!(
            %job_id,
            worker,
            backend_pid = pid,
            %error,
            "could not end the transaction of the job's previous attempt"
        ),
    }
}

/// Records the Postgres session of a running job's load transaction with
/// its lease, while the job is `worker`'s.
pub(crate) async fn record_backend(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    session: crate::loader::LoadSession,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE jobs SET backend_pid = $3, backend_xact_start = $4 \
         WHERE id = $1 AND state = 'running' AND worker = $2",
        [
            id.into(),
            worker.into(),
            session.pid.into(),
            session.xact_start.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Renews `worker`'s lease on a running job, so that no other worker
/// claims it while it runs.
pub(crate) async fn renew_lease(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE jobs SET modified = now() WHERE id = $1 AND state = 'running' AND worker = $2",
        [id.into(), worker.into()],
    ))
    .await?;
    Ok(())
}

/// Ends a job running on `worker` with its result. `false` when the job is
/// no longer this worker's (its lease ran out and another took it over):
/// then that worker's attempt decides how the job ends.
pub(crate) async fn finish(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    state: &str,
    result: Value,
    error: Option<String>,
) -> Result<bool, DbErr> {
    let finished = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE jobs SET state = $3, result = $4, error = $5, progress = NULL, \
             finished = now(), modified = now() \
             WHERE id = $1 AND state = 'running' AND worker = $2 RETURNING kind",
            [
                id.into(),
                worker.into(),
                state.into(),
                result.into(),
                error.into(),
            ],
        ))
        .await?;
    let Some(finished) = finished else {
        return Ok(false);
    };
    if finished.try_get::<String>("", "kind")? == "load" {
        load_status_changed(db).await;
    }
    Ok(true)
}

/// A catalog's answer shows the status of its loads: when a load starts or
/// ends, cached answers are stale.
async fn load_status_changed(db: &impl ConnectionTrait) {
    if let Err(error) = crate::browse::generation::advance(db).await {
        tracing::warn!(%error, "could not advance the data generation; catalogs may show an old update status");
    }
}

/// Puts a job running on `worker` back in the queue state, unless another
/// queued job already does the same work (the unique index allows one).
const BACK_TO_QUEUED: &str = "UPDATE jobs AS j SET state = 'queued', progress = NULL, modified = now(), \
    error = $3, run_after = now() + make_interval(secs => $4), \
    attempts = CASE WHEN $5 THEN greatest(j.attempts - 1, 0) ELSE j.attempts END \
    WHERE j.id = $1 AND j.state = 'running' AND j.worker = $2 AND NOT EXISTS ( \
       SELECT 1 FROM jobs d WHERE d.dedupe_key = j.dedupe_key AND d.state = 'queued')";

/// Puts a failed attempt's job back in the queue state until `delay` has
/// passed. `false` when another queued job already does the same work (or
/// the job is no longer this worker's), in which case the caller fails it.
pub(crate) async fn requeue(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    error: &str,
    delay: std::time::Duration,
) -> Result<bool, DbErr> {
    back_to_queued(db, id, worker, error, delay, false).await
}

/// Gives a running job back to the queue state when its worker stops before
/// it ended (shutdown after the grace period). The interrupted attempt is
/// not counted. `false` when the job is no longer this worker's.
pub async fn hand_back(db: &impl ConnectionTrait, id: Uuid, worker: &str) -> Result<bool, DbErr> {
    let error = "handed back: the worker stopped before the job ended";
    back_to_queued(db, id, worker, error, std::time::Duration::ZERO, true).await
}

async fn back_to_queued(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    error: &str,
    delay: std::time::Duration,
    uncount_attempt: bool,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            BACK_TO_QUEUED,
            [
                id.into(),
                worker.into(),
                error.into(),
                delay.as_secs_f64().into(),
                uncount_attempt.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Puts jobs back on the queue whose message may have been lost (Redis
/// restarted without persistence, or a process died between recording a
/// job and queueing it): queued jobs due for `stale` without starting, and
/// running jobs whose lease has not been renewed for `stale`. A message
/// delivered twice is harmless: the second finds the job ended or leased.
/// Returns the ids put back.
pub async fn redeliver_stranded(
    db: &impl ConnectionTrait,
    queue: &dyn JobQueue,
    stale: std::time::Duration,
) -> Result<Vec<Uuid>, JobError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE jobs SET modified = now() WHERE id IN ( \
                SELECT id FROM jobs WHERE state IN ('queued', 'running') \
                  AND greatest(modified, coalesce(run_after, modified)) \
                      < now() - make_interval(secs => $1) \
                ORDER BY created LIMIT 1000 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
            [stale.as_secs_f64().into()],
        ))
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        queue
            .push(JobMessage { job_id: id }, std::time::Duration::ZERO)
            .await?;
        ids.push(id);
    }
    if !ids.is_empty() {
        tracing::warn!(
            count = ids.len(),
            "re-queued jobs whose queue message may have been lost"
        );
    }
    Ok(ids)
}

/// Puts back on the queue every job whose message a queue that lost its
/// keys (Redis restarted empty) held: queued jobs, a retry at its due time,
/// and running jobs whose lease has not been renewed within `lease` (their
/// worker is gone). Running jobs whose lease is renewed are left alone:
/// they finish on their worker. Returns the ids put back.
pub async fn redeliver_lost(
    db: &impl ConnectionTrait,
    queue: &dyn JobQueue,
    lease: std::time::Duration,
) -> Result<Vec<Uuid>, JobError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT id, greatest(extract(epoch FROM run_after - now()), 0)::float8 AS wait_secs \
             FROM jobs WHERE state = 'queued' \
                OR (state = 'running' AND modified < now() - make_interval(secs => $1)) \
             ORDER BY created",
            [lease.as_secs_f64().into()],
        ))
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        let wait: Option<f64> = row.try_get("", "wait_secs")?;
        let delay = std::time::Duration::try_from_secs_f64(wait.unwrap_or(0.0)).unwrap_or_default();
        queue.push(JobMessage { job_id: id }, delay).await?;
        tracing::info!(job_id = %id, wait_secs = delay.as_secs(), "job queued again: the queue lost its message");
        ids.push(id);
    }
    Ok(ids)
}

/// Records the phase of a running job.
pub(crate) async fn record_progress(
    db: &impl ConnectionTrait,
    id: Uuid,
    progress: Value,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE jobs SET progress = $2, modified = now() WHERE id = $1 AND state = 'running'",
        [id.into(), progress.into()],
    ))
    .await?;
    Ok(())
}

/// The `application_name` of the Postgres session through which a
/// standalone instance with an in-process queue takes the jobs recorded in
/// its database; [`standalone_serving`] looks for it.
pub const STANDALONE_SESSION: &str = "softcat standalone";

/// The ids of queued jobs that are due now (no retry delay pending), the
/// oldest first, at most `limit`: what a standalone instance's in-process
/// queue takes from the records however they were enqueued.
pub async fn due_queued(db: &impl ConnectionTrait, limit: u32) -> Result<Vec<Uuid>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT id FROM jobs WHERE state = 'queued' \
               AND (run_after IS NULL OR run_after <= now()) \
             ORDER BY created LIMIT $1",
            [i64::from(limit).into()],
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "id")).collect()
}

/// Whether a standalone instance with an in-process queue is connected to
/// this database (its session named [`STANDALONE_SESSION`]): it runs every
/// queued job recorded here, without a message on any queue.
pub async fn standalone_serving(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
               WHERE datname = current_database() AND application_name = $1) AS serving",
            [STANDALONE_SESSION.into()],
        ))
        .await?;
    Ok(row
        .map(|row| row.try_get::<bool>("", "serving"))
        .transpose()?
        .unwrap_or(false))
}
