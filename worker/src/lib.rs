//! `softcat worker`: takes jobs off the queue and runs them with the job
//! logic in `softcat_shared::jobs`. Any number of worker processes may share
//! one Redis queue; each has a unique name, runs `jobs.concurrency` jobs at
//! once, and survives Redis or Postgres going away by starting its apalis
//! worker again once they are back. `softcat standalone` without Redis runs
//! the same worker over an in-process queue.
//!
//! A job runs in a task of its own, not inside the apalis worker that
//! delivered it: the job's lease in Postgres, not the queue, says whose it
//! is, so a worker that loses Redis but keeps Postgres lets its running
//! jobs finish while it reconnects. Only a stop (SIGTERM) past the grace
//! period hands jobs back.

pub mod memory;
pub mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use apalis::prelude::{AbortError, BoxDynError, Data, Monitor, WorkerBuilder, WorkerBuilderExt};
use sea_orm::DatabaseConnection;
use softcat_shared::config::Config;
use softcat_shared::fetch::Fetcher;
use softcat_shared::jobs::{self, Disposition, JobContext, JobMessage, JobQueue};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::AbortHandle;
use uuid::Uuid;

pub use memory::MemoryQueue;
pub use queue::{JobStorage, RedisError, RedisQueue};

/// The queue a worker takes its jobs from.
#[derive(Clone)]
pub enum WorkerQueue {
    /// A deployment's shared queue on Redis.
    Redis(Box<RedisQueue>),
    /// The in-process queue of a standalone process without Redis.
    Memory(MemoryQueue),
}

impl WorkerQueue {
    /// The queue as the job logic, the API and the scheduler push to it.
    pub fn job_queue(&self) -> Arc<dyn JobQueue> {
        match self {
            Self::Redis(queue) => Arc::new(queue.as_ref().clone()),
            Self::Memory(queue) => Arc::new(queue.clone()),
        }
    }

    /// Whether messages outlive the process. Redis keeps them; an
    /// in-process queue starts empty, so the jobs its records hold as
    /// queued or running were lost with the previous process.
    fn keeps_messages(&self) -> bool {
        matches!(self, Self::Redis(_))
    }
}

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The fetcher could not be built from the configuration.
    #[error(transparent)]
    Fetch(#[from] softcat_shared::fetch::FetchError),
    /// The Redis URL is unusable.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// `jobs.metrics_listen` cannot be bound.
    #[error("jobs.metrics_listen: cannot listen on {address}: {source}")]
    MetricsListen {
        /// The configured address.
        address: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Longest wait between two attempts to start again after the queue failed.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);
/// How often a worker looks for jobs whose queue message was lost.
const REDELIVERY_INTERVAL: Duration = Duration::from_secs(60);
/// How long a queued job may wait past its due time, or a running one go
/// without renewing its lease, before its message is presumed lost (Redis
/// lost it) and it is queued again.
const STRANDED_AFTER: Duration = Duration::from_secs(600);

/// How often a worker checks whether Redis lost its keys (restarted
/// empty), which loses the messages of queued jobs.
const QUEUE_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The jobs this process runs, each in a task of its own that outlives the
/// apalis worker which delivered it, and the permits that bound them to
/// `jobs.concurrency` across the apalis worker's restarts.
#[derive(Clone)]
struct Running(Arc<RunningState>);

struct RunningState {
    jobs: Mutex<HashMap<Uuid, RunningJob>>,
    changed: Notify,
    permits: Arc<Semaphore>,
}

/// A job's task and the worker name its attempt runs under.
struct RunningJob {
    worker: String,
    task: AbortHandle,
}

/// Takes a job out of [`Running`] when its task ends or is aborted.
struct Registered {
    running: Running,
    id: Uuid,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.running.0.jobs.lock() {
            jobs.remove(&self.id);
        }
        self.running.0.changed.notify_waiters();
    }
}

impl Running {
    fn new(concurrency: usize) -> Self {
        Self(Arc::new(RunningState {
            jobs: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }))
    }

    /// Runs a delivered job in its own task; the answer for the queue once
    /// it has ended. Dropping the returned future leaves the job running.
    async fn run(
        &self,
        context: JobContext,
        message: JobMessage,
    ) -> Result<Result<Disposition, sea_orm::DbErr>, BoxDynError> {
        let permit = self.0.permits.clone().acquire_owned().await?;
        let id = message.job_id;
        let registered = Registered {
            running: self.clone(),
            id,
        };
        let worker = context.worker_name.clone();
        let task = {
            // Held while the task is spawned, so that it is listed before
            // its guard can take it out again.
            let mut jobs = self.0.jobs.lock().map_err(|_| "the job list is poisoned")?;
            let task = tokio::spawn(async move {
                let _registered = registered;
                let _permit = permit;
                jobs::process(&context, message).await
            });
            jobs.insert(
                id,
                RunningJob {
                    worker,
                    task: task.abort_handle(),
                },
            );
            task
        };
        Ok(task.await?)
    }

    fn is_empty(&self) -> bool {
        self.0
            .jobs
            .lock()
            .map(|jobs| jobs.is_empty())
            .unwrap_or(true)
    }

    /// Waits until no job runs, or `deadline`; whether none runs.
    async fn wait_idle(&self, deadline: Instant) -> bool {
        loop {
            let changed = self.0.changed.notified();
            if self.is_empty() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                return self.is_empty();
            }
        }
    }

    /// Waits until the process may take another job.
    async fn wait_for_room(&self) {
        if let Ok(permit) = self.0.permits.acquire().await {
            drop(permit);
        }
    }

    /// Stops the jobs still running (their transactions roll back) and
    /// hands them back to the queue state, their attempts not counted.
    async fn hand_back_all(&self, db: &DatabaseConnection) {
        let stopped: Vec<(Uuid, String)> = match self.0.jobs.lock() {
            Ok(jobs) => jobs
                .iter()
                .map(|(id, job)| {
                    job.task.abort();
                    (*id, job.worker.clone())
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        self.wait_idle(Instant::now() + Duration::from_secs(5))
            .await;
        for (id, worker) in stopped {
            match jobs::hand_back(db, id, &worker).await {
                Ok(true) => {
                    tracing::warn!(job_id = %id, %worker, "job handed back: it did not end within the grace period")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(job_id = %id, %worker, %error, "could not hand the job back; the queue will redeliver it")
                }
            }
        }
    }
}

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
/// that are handed back (queued again in their records), and the queue's
/// heartbeat recovery delivers them to another worker.
pub async fn run(
    config: Arc<Config>,
    db: DatabaseConnection,
    queue: WorkerQueue,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    softcat_shared::metrics::install();
    let fetcher = Fetcher::new(&config.fetch)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped_at = Arc::new(OnceLock::new());
    let stopping = stopped_at.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopping.set(Instant::now());
        let _ = stop_tx.send(true);
    });
    let metrics = match &config.jobs.metrics_listen {
        Some(address) => Some(serve_metrics(address, queue.job_queue(), db.clone()).await?),
        None => None,
    };
    if !queue.keeps_messages() {
        // A running job whose lease is still fresh is deferred by then and
        // taken up by the periodic pass.
        if let Err(error) =
            jobs::redeliver_stranded(&db, queue.job_queue().as_ref(), Duration::ZERO).await
        {
            tracing::warn!(%error, "could not queue again the jobs of a previous run");
        }
    }
    let redelivery = tokio::spawn(redeliver_stranded_jobs(queue.job_queue(), db.clone()));
    let queue_check = match &queue {
        WorkerQueue::Redis(redis) => Some(tokio::spawn(redeliver_after_queue_loss(
            redis.as_ref().clone(),
            db.clone(),
            config.jobs.silence_limit(),
        ))),
        WorkerQueue::Memory(_) => None,
    };
    let running = Running::new(config.jobs.concurrency);
    let result = run_until_stopped(&config, &queue, &db, &fetcher, &running, stop_rx).await;
    // Jobs the apalis worker no longer waited for (it stopped, or had
    // failed and was starting again) finish within the grace period.
    let grace = Duration::from_secs(config.jobs.shutdown_grace_secs);
    let deadline = stopped_at.get().copied().unwrap_or_else(Instant::now) + grace;
    if !running.wait_idle(deadline).await {
        running.hand_back_all(&db).await;
    }
    redelivery.abort();
    if let Some(queue_check) = queue_check {
        queue_check.abort();
    }
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    result
}

/// Serves `GET /metrics` on `address` in the background.
async fn serve_metrics(
    address: &str,
    queue: Arc<dyn JobQueue>,
    db: DatabaseConnection,
) -> Result<tokio::task::JoinHandle<()>, WorkerError> {
    use poem::listener::{Listener, TcpListener};
    use poem::{EndpointExt, Route, get, handler, web};

    #[derive(Clone)]
    struct Sources {
        db: DatabaseConnection,
        queue: Arc<dyn JobQueue>,
    }

    #[handler]
    async fn metrics(sources: web::Data<&Sources>) -> String {
        softcat_shared::metrics::render(&sources.db, sources.queue.as_ref()).await
    }

    let acceptor = TcpListener::bind(address.to_owned())
        .into_acceptor()
        .await
        .map_err(|source| WorkerError::MetricsListen {
            address: address.to_owned(),
            source,
        })?;
    tracing::info!(address, "worker metrics at /metrics");
    let app = Route::new()
        .at("/metrics", get(metrics))
        .data(Sources { db, queue });
    Ok(tokio::spawn(async move {
        if let Err(error) = poem::Server::new_with_acceptor(acceptor).run(app).await {
            tracing::warn!(%error, "the metrics endpoint stopped");
        }
    }))
}

async fn run_until_stopped(
    config: &Arc<Config>,
    queue: &WorkerQueue,
    db: &DatabaseConnection,
    fetcher: &Fetcher,
    running: &Running,
    stop_rx: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let mut delay = Duration::from_secs(1);
    loop {
        if *stop_rx.borrow() {
            return Ok(());
        }
        // Jobs of a previous life still running take their share of the
        // concurrency: start again only when one more job may run.
        let mut stop = stop_rx.clone();
        tokio::select! {
            _ = running.wait_for_room() => {}
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
        }
        match run_once(config, queue, db, fetcher, running, stop_rx.clone()).await {
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

/// One life of the apalis worker: register under a fresh name (with Redis,
/// subscribed to pushes first), run until stopped or until the queue fails.
/// The queue itself outlives it (a Redis connection reconnects by itself),
/// and so do the jobs it delivered (see [`Running`]).
async fn run_once(
    config: &Arc<Config>,
    queue: &WorkerQueue,
    db: &DatabaseConnection,
    fetcher: &Fetcher,
    running: &Running,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxDynError> {
    let name = unique_name("worker");
    let context = JobContext {
        db: db.clone(),
        config: config.clone(),
        fetcher: fetcher.clone(),
        queue: queue.job_queue(),
        worker_name: name.clone(),
    };
    tracing::info!(worker = %name, queue = %config.jobs.queue, concurrency = config.jobs.concurrency, "worker started");
    let concurrency = config.jobs.concurrency;
    let stopped = stop.clone();
    let tracked = running.clone();
    let monitor = Monitor::new();
    // The two backends are different types; the worker is built alike.
    macro_rules! worker {
        ($backend:expr) => {{
            let name = name.clone();
            move |_| {
                WorkerBuilder::new(name.clone())
                    .backend($backend)
                    .data(context.clone())
                    .data(tracked.clone())
                    .catch_panic()
                    .concurrency(concurrency)
                    .build(handle)
            }
        }};
    }
    let _listener;
    let monitor = match queue {
        WorkerQueue::Redis(redis) => {
            let (backend, listener) = redis.worker_backend().await?;
            _listener = Some(listener);
            monitor.register(worker!(backend.clone()))
        }
        WorkerQueue::Memory(memory) => {
            _listener = None;
            let memory = memory.clone();
            monitor.register(worker!(memory.backend()))
        }
    };
    monitor
        .shutdown_timeout(Duration::from_secs(config.jobs.shutdown_grace_secs))
        .run_with_signal(async move {
            let _ = stop.wait_for(|stop| *stop).await;
            tracing::info!("worker stopping: running jobs may finish");
            Ok(())
        })
        .await?;
    if !running.is_empty() && !*stopped.borrow() {
        tracing::warn!(worker = %name, "the queue failed; running jobs go on, their leases renewed in Postgres");
    }
    Ok(())
}

/// Every [`REDELIVERY_INTERVAL`], queues again the jobs whose message was
/// lost. Any worker may do it; each stranded job is taken by one of them.
async fn redeliver_stranded_jobs(queue: Arc<dyn JobQueue>, db: DatabaseConnection) {
    let mut ticks = tokio::time::interval(REDELIVERY_INTERVAL);
    loop {
        ticks.tick().await;
        if let Err(error) = jobs::redeliver_stranded(&db, queue.as_ref(), STRANDED_AFTER).await {
            tracing::warn!(%error, "could not look for stranded jobs");
        }
    }
}

/// Every [`QUEUE_CHECK_INTERVAL`], asks Redis whether it lost its keys
/// (it restarted without persistence); if so, and this worker is the one
/// that noticed first, queues again from the records every job whose
/// message was lost: the queued ones (a retry at its due time) and the
/// running ones whose lease (`lease`) has expired.
async fn redeliver_after_queue_loss(queue: RedisQueue, db: DatabaseConnection, lease: Duration) {
    let mut known = None;
    let mut ticks = tokio::time::interval(QUEUE_CHECK_INTERVAL);
    loop {
        ticks.tick().await;
        match queue.check_epoch(&mut known).await {
            Ok(true) => match jobs::redeliver_lost(&db, &queue, lease).await {
                Ok(ids) => tracing::info!(
                    count = ids.len(),
                    "the queue lost its messages; queued its jobs again from their records"
                ),
                Err(error) => {
                    tracing::warn!(%error, "could not queue again the jobs of a lost queue")
                }
            },
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, "could not check the queue"),
        }
    }
}

/// The apalis handler: runs one delivered job. A job that failed for good
/// is aborted, which puts it in the queue's dead set; a job whose record
/// cannot be reached is returned as an error for the queue to retry later.
async fn handle(
    message: JobMessage,
    context: Data<JobContext>,
    running: Data<Running>,
) -> Result<(), BoxDynError> {
    let outcome = running.run((*context).clone(), message).await?;
    match outcome {
        Ok(Disposition::Done) => Ok(()),
        Ok(Disposition::Failed(error)) => Err(AbortError::new(error).into()),
        Ok(Disposition::Later) => Err("the job runs on another worker".into()),
        Err(error) => {
            tracing::warn!(job_id = %message.job_id, %error, "job record unreachable; the queue will deliver the job again");
            Err(error.into())
        }
    }
}
