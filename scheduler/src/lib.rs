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

/// The parsed timetable: the cron expression and its time zone. The
/// expression takes the usual five crontab fields (`0 3 * * *`: minute,
/// hour, day of month, month, day of week) or six with seconds first
/// (`0 0 3 * * *`); an unusable value is refused with the value and what is
/// expected.
pub fn timetable(config: &Config) -> Result<(cron::Schedule, Tz), ConfigError> {
    let expression = config.scheduler.refresh_cron.trim();
    let schedule = cron_schedule(expression).map_err(|_| {
        // cron's own message spans lines; the field count is what usually
        // went wrong.
        let fields = expression.split_whitespace().count();
        let counted = if (5..=7).contains(&fields) {
            String::new()
        } else {
            format!(" ({fields} fields)")
        };
        Config::invalid(
            "scheduler.refresh_cron",
            format!(
                "{expression:?} is not a cron expression{counted}; expected five fields \
                 (minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\" for \
                 daily at 03:00) or six with seconds first (\"0 0 3 * * *\")"
            ),
        )
    })?;
    let timezone = Tz::from_str(config.scheduler.timezone.trim()).map_err(|_| {
        Config::invalid(
            "scheduler.timezone",
            format!(
                "{:?} is not a time zone; expected an IANA name such as \"UTC\" or \
                 \"Europe/Amsterdam\"",
                config.scheduler.timezone
            ),
        )
    })?;
    Ok((schedule, timezone))
}

/// Parses a cron expression of five fields (a crontab line: seconds are
/// taken as 0) or of six or seven (seconds first, an optional year last).
fn cron_schedule(expression: &str) -> Result<cron::Schedule, cron::error::Error> {
    if expression.split_whitespace().count() == 5 {
        cron::Schedule::from_str(&format!("0 {expression}"))
    } else {
        cron::Schedule::from_str(expression)
    }
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
        cron = %config.scheduler.refresh_cron.trim(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cron: &str, timezone: &str) -> Config {
        let mut config = Config::default();
        config.scheduler.refresh_cron = cron.into();
        config.scheduler.timezone = timezone.into();
        config
    }

    #[test]
    fn five_and_six_field_expressions_mean_the_same_time() {
        let (five, _) = timetable(&config("0 3 * * *", "UTC")).unwrap();
        let (six, _) = timetable(&config("0 0 3 * * *", "UTC")).unwrap();
        let next = |schedule: &cron::Schedule| schedule.upcoming(Utc).take(3).collect::<Vec<_>>();
        assert_eq!(next(&five), next(&six));
    }

    #[test]
    fn a_bad_expression_names_the_key_the_value_and_the_forms() {
        let error = timetable(&config("0 3 * *", "UTC"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "configuration: scheduler.refresh_cron: \"0 3 * *\" is not a cron expression ("
            ),
            "{error}"
        );
        assert!(
            error.ends_with(
                "expected five fields (minute hour day-of-month month day-of-week, e.g. \
                 \"0 3 * * *\" for daily at 03:00) or six with seconds first (\"0 0 3 * * *\")"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_bad_time_zone_names_the_key_the_value_and_the_form() {
        let error = timetable(&config("0 3 * * *", "Mars/Olympus"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "configuration: scheduler.timezone: \"Mars/Olympus\" is not a time zone; \
             expected an IANA name such as \"UTC\" or \"Europe/Amsterdam\""
        );
    }
}
