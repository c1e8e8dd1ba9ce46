//! `softcat scheduler`: an apalis-cron timetable (`scheduler.refresh_cron`
//! in `scheduler.timezone`, daily at 03:00 by default) whose ticks enqueue
//! the refresh of all enabled catalogs and, when enabled, the cleanup. Run
//! several replicas for availability: each tick is claimed in Postgres, so
//! exactly one replica enqueues per tick.

use std::str::FromStr;
use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data, Monitor, WorkerBuilder};
use apalis_cron::{CronScheduler, Tick};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sea_orm::DatabaseConnection;
use softcat_shared::config::{Config, ConfigError};
use softcat_shared::jobs::JobQueue;
use softcat_shared::schedule;

/// Why the scheduler could not run.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The timetable or time zone is unusable; names the key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cron runtime failed.
    #[error("scheduler: {0}")]
    Runtime(String),
}

/// The parsed timetable: the cron expression and its time zone.
pub fn timetable(config: &Config) -> Result<(cron::Schedule, Tz), ConfigError> {
    let schedule = cron::Schedule::from_str(&config.scheduler.refresh_cron)
        .map_err(|error| Config::invalid("scheduler.refresh_cron", error))?;
    let timezone = Tz::from_str(&config.scheduler.timezone)
        .map_err(|error| Config::invalid("scheduler.timezone", error))?;
    Ok((schedule, timezone))
}

#[derive(Clone)]
struct TickContext {
    db: DatabaseConnection,
    config: Arc<Config>,
    queue: Arc<dyn JobQueue>,
    replica: String,
}

/// Runs the timetable until `shutdown` completes.
pub async fn run(
    config: Arc<Config>,
    db: DatabaseConnection,
    queue: Arc<dyn JobQueue>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SchedulerError> {
    let (schedule, timezone) = timetable(&config)?;
    let replica = softcat_worker::unique_name("scheduler");
    tracing::info!(
        replica = %replica,
        cron = %config.scheduler.refresh_cron,
        timezone = %timezone,
        next = ?schedule.upcoming(timezone).next(),
        "scheduler started"
    );
    let context = TickContext {
        db,
        config,
        queue,
        replica: replica.clone(),
    };
    let cron = CronScheduler::new(schedule).with_timezone(timezone);
    Monitor::new()
        .register(move |_| {
            WorkerBuilder::new(replica.clone())
                .backend(cron.clone())
                .data(context.clone())
                .build(on_tick)
        })
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|error| SchedulerError::Runtime(error.to_string()))
}

/// One tick: enqueue unless another replica has. Errors are logged and the
/// timetable goes on; a missed tick is not caught up.
async fn on_tick(tick: Tick<Tz>, context: Data<TickContext>) -> Result<(), BoxDynError> {
    let at = i64::try_from(tick.get_timestamp())
        .ok()
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
        .ok_or("tick out of range")?;
    if let Err(error) = schedule::on_tick(
        &context.db,
        &context.config,
        context.queue.as_ref(),
        at,
        &context.replica,
    )
    .await
    {
        tracing::error!(%error, tick = %at, "scheduled jobs could not be enqueued");
    }
    Ok(())
}
