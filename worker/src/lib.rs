//! `softcat worker`: takes jobs off the Redis queue and runs them with the
//! job logic in `softcat_shared::jobs`. Any number of worker processes may
//! share one queue; each has a unique name, runs `jobs.concurrency` jobs at
//! once, and survives Redis or Postgres going away by starting its apalis
//! worker again once they are back.

pub mod queue;

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{AbortError, BoxDynError, Data, Monitor, WorkerBuilder, WorkerBuilderExt};
use sea_orm::DatabaseConnection;
use softcat_shared::config::Config;
use softcat_shared::fetch::Fetcher;
use softcat_shared::jobs::{self, Disposition, JobContext, JobMessage};
use tokio::sync::watch;

pub use queue::{JobStorage, RedisError, RedisQueue};

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The fetcher could not be built from the configuration.
    #[error(transparent)]
    Fetch(#[from] softcat_shared::fetch::FetchError),
}

/// Longest wait between two attempts to start again after the queue failed.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);

/// A process-wide unique worker name: host, process id and a random suffix,
/// because apalis-redis refuses a name that a live worker holds and a
/// stopped worker's name lingers.
pub fn unique_name(role: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into());
    let mut random = [0u8; 4];
    let suffix = match getrandom::fill(&mut random) {
        Ok(()) => u32::from_le_bytes(random),
        Err(_) => std::process::id().rotate_left(16),
    };
    format!("{role}-{host}-{}-{suffix:08x}", std::process::id())
}

/// Runs jobs until `shutdown` completes; then lets running jobs finish
/// within `jobs.shutdown_grace_secs` and returns. Jobs still running after
/// that are handed to other workers by the queue's heartbeat recovery.
pub async fn run(
    config: Arc<Config>,
    db: DatabaseConnection,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let fetcher = Fetcher::new(&config.fetch)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut delay = Duration::from_secs(1);
    loop {
        if *stop_rx.borrow() {
            return Ok(());
        }
        match run_once(&config, &db, &fetcher, stop_rx.clone()).await {
            Ok(()) if *stop_rx.borrow() => return Ok(()),
            Ok(()) => tracing::warn!("the worker stopped by itself; starting again"),
            Err(error) => {
                tracing::warn!(%error, retry_in_secs = delay.as_secs(), "the worker failed; starting again")
            }
        }
        let mut stop = stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
        }
        delay = (delay * 2).min(MAX_RESTART_DELAY);
    }
}

/// One life of the apalis worker: connect, register under a fresh name, run
/// until stopped or until the queue fails.
async fn run_once(
    config: &Arc<Config>,
    db: &DatabaseConnection,
    fetcher: &Fetcher,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxDynError> {
    let queue = RedisQueue::new(&config.redis_url, &config.jobs)?;
    let storage = queue.storage().await?;
    let name = unique_name("worker");
    let context = JobContext {
        db: db.clone(),
        config: config.clone(),
        fetcher: fetcher.clone(),
        queue: Arc::new(queue.clone()),
        worker_name: name.clone(),
    };
    tracing::info!(worker = %name, queue = %config.jobs.queue, concurrency = config.jobs.concurrency, "worker started");
    let concurrency = config.jobs.concurrency;
    let monitor = Monitor::new()
        .register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(storage.clone())
                .data(context.clone())
                .catch_panic()
                .concurrency(concurrency)
                .build(handle)
        })
        .shutdown_timeout(Duration::from_secs(config.jobs.shutdown_grace_secs));
    monitor
        .run_with_signal(async move {
            let _ = stop.wait_for(|stop| *stop).await;
            tracing::info!("worker stopping: running jobs may finish");
            Ok(())
        })
        .await?;
    Ok(())
}

/// The apalis handler: runs one delivered job. A job that failed for good
/// is aborted, which puts it in the queue's dead set; a job whose record
/// cannot be reached is returned as an error for the queue to retry later.
async fn handle(message: JobMessage, context: Data<JobContext>) -> Result<(), BoxDynError> {
    match jobs::process(&context, message).await {
        Ok(Disposition::Done) => Ok(()),
        Ok(Disposition::Failed(error)) => Err(AbortError::new(error).into()),
        Err(error) => {
            tracing::warn!(job_id = %message.job_id, %error, "job record unreachable; the queue will deliver the job again");
            Err(error.into())
        }
    }
}
