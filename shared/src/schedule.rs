//! What the scheduler does at a tick of its timetable, and how replicas
//! agree that only one of them does it: the first to record the tick in
//! Postgres enqueues; the others find it taken and do nothing.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use serde::Serialize;
use uuid::Uuid;

use crate::config::Config;
use crate::jobs::{self, JobError, JobQueue, JobSpec};
use crate::settings::CatalogSettings;

/// The timetable whose ticks enqueue the daily refresh and cleanup.
pub const DAILY_REFRESH: &str = "daily-refresh";

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TickOutcome {
    /// Another replica had the tick already.
    TakenElsewhere,
    /// This replica enqueued the jobs (new or already-queued ones).
    Enqueued {
        /// The refresh job.
        refresh: Uuid,
        /// The cleanup job, when cleanup is enabled.
        cleanup: Option<Uuid>,
    },
}

/// Why a tick failed.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// A job could not be enqueued.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Handles one tick of the daily timetable for replica `replica`.
pub async fn on_tick(
    db: &DatabaseConnection,
    config: &Config,
    queue: &dyn JobQueue,
    tick: DateTime<Utc>,
    replica: &str,
) -> Result<TickOutcome, TickError> {
    if !claim_tick(db, DAILY_REFRESH, tick, replica).await? {
        tracing::info!(%tick, "tick taken by another scheduler replica");
        return Ok(TickOutcome::TakenElsewhere);
    }
    let max_attempts = config.jobs.max_attempts;
    let refresh = jobs::enqueue(
        db,
        queue,
        &JobSpec::Refresh,
        "scheduler",
        None,
        max_attempts,
    )
    .await?;
    let settings = CatalogSettings::read(db, config).await?;
    let cleanup = if settings.cleanup_enabled {
        let job = jobs::enqueue(
            db,
            queue,
            &JobSpec::Cleanup,
            "scheduler",
            None,
            max_attempts,
        )
        .await?;
        Some(job.job.id)
    } else {
        None
    };
    tracing::info!(%tick, refresh = %refresh.job.id, cleanup = ?cleanup, "scheduled jobs enqueued");
    Ok(TickOutcome::Enqueued {
        refresh: refresh.job.id,
        cleanup,
    })
}

/// Records that `replica` handles `tick`; `false` when another replica did.
async fn claim_tick(
    db: &impl ConnectionTrait,
    schedule: &str,
    tick: DateTime<Utc>,
    replica: &str,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO scheduler_ticks (schedule, tick, claimed_by) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            [schedule.into(), tick.into(), replica.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}
