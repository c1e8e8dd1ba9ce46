//! The job queue on Redis: apalis-redis storage configured against its
//! defaults that lose or duplicate work (see STACK.md): a connection with a
//! patient response timeout, explicit heartbeats so a dead worker's jobs are
//! handed on within seconds, and batches no larger than the concurrency so
//! one worker never hoards jobs others could run.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollWith, StreamStrategy, TaskBuilder, TaskSink};
use apalis_redis::RedisStorage;
use futures_util::future::BoxFuture;
use futures_util::task::AtomicWaker;
use futures_util::{FutureExt, Stream, StreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use softcat_shared::config::JobsConfig;
use softcat_shared::jobs::{JobMessage, JobQueue, QueueError};
use tokio::sync::OnceCell;

/// Time allowed for one Redis reply; redis-rs' 500 ms default ends a worker
/// on one slow reply.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to (re)connect to Redis.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The apalis storage of softcat's jobs.
pub type JobStorage = RedisStorage<JobMessage>;

/// Raised when Redis announces a pushed job; as a stream it wakes the
/// worker polling it, once per raise (raises in between collapse).
#[derive(Clone, Default)]
pub struct PushSignal(Arc<SignalState>);

#[derive(Default)]
struct SignalState {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl PushSignal {
    fn raise(&self) {
        self.0.raised.store(true, Ordering::Release);
        self.0.waker.wake();
    }
}

impl Stream for PushSignal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.0.waker.register(cx.waker());
        if self.0.raised.swap(false, Ordering::AcqRel) {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

/// The task that listens for pushed jobs; stops listening when dropped.
pub struct PushListener(tokio::task::JoinHandle<()>);

impl Drop for PushListener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a worker consumes: the storage, woken when a job is pushed as well
/// as by its heartbeat (apalis-redis alone polls an idle queue only at each
/// heartbeat).
pub type WorkerBackend = PollWith<JobStorage, StreamStrategy<PushSignal>>;

/// Why Redis could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct RedisError(#[from] redis::RedisError);

/// The queue of softcat jobs on one Redis. It connects on first use, so
/// that a process that starts while Redis is away still starts (the API
/// serves reads and answers 503 to enqueues until Redis is back).
#[derive(Clone)]
pub struct RedisQueue {
    client: redis::Client,
    config: apalis_redis::Config,
    storage: Arc<OnceCell<JobStorage>>,
}

impl RedisQueue {
    /// A queue on the Redis at `redis_url`; the URL is checked now, the
    /// connection made on first use and re-made by itself after that.
    pub fn new(redis_url: &str, jobs: &JobsConfig) -> Result<Self, RedisError> {
        let client = redis::Client::open(redis_url)?;
        let config = apalis_redis::Config::default()
            .queue(&jobs.queue)
            .batch_size(jobs.concurrency.max(1))
            .heartbeat_interval(Duration::from_secs(jobs.heartbeat_secs))
            .missed_heartbeats(jobs.missed_heartbeats)
            // The job records de-duplicate; Redis keys must not linger.
            .idempotency_ttl(None);
        Ok(Self {
            client,
            config,
            storage: Arc::new(OnceCell::new()),
        })
    }

    /// A worker's backend: the storage, woken by the messages announcing a
    /// pushed job, and the listener for them (keep it while the worker
    /// runs). When the subscription ends (Redis restarted), the heartbeat
    /// still polls.
    pub async fn worker_backend(&self) -> Result<(WorkerBackend, PushListener), RedisError> {
        let storage = self.storage().await?;
        let mut subscription = self.client.get_async_pubsub().await?;
        subscription.subscribe(self.push_channel()).await?;
        let signal = PushSignal::default();
        let raised = signal.clone();
        let listener = tokio::spawn(async move {
            let mut messages = subscription.into_on_message();
            while messages.next().await.is_some() {
                raised.raise();
            }
        });
        Ok((
            PollWith::new(storage, StreamStrategy::new(signal)),
            PushListener(listener),
        ))
    }

    /// The channel a push is announced on. (apalis-redis 1.0 publishes its
    /// own "available" message only for pushes without a run time, and it
    /// gives every push one, so it never does.)
    fn push_channel(&self) -> String {
        format!("{}:pushed", self.config.queue.as_ref())
    }

    /// The key whose value names the current life of the queue's keys: a
    /// Redis that restarted without persistence has lost it with them.
    fn epoch_key(&self) -> String {
        format!("{}:epoch", self.config.queue.as_ref())
    }

    /// Whether Redis has lost the queue's keys since `known` was read:
    /// `true` when the epoch key was missing, this call created it (exactly
    /// one caller wins) and `known` held an epoch before, so that the
    /// caller queues again the jobs whose messages were lost. `known`
    /// becomes the current epoch. A process's first check only learns the
    /// epoch (creating it if missing): it cannot tell a lost queue from a
    /// new one, and messages queued twice would let a delivery run a retry
    /// before its backoff; the periodic pass of stranded jobs covers a loss
    /// while no worker ran.
    pub async fn check_epoch(&self, known: &mut Option<String>) -> Result<bool, RedisError> {
        let mut storage = self.storage().await?;
        let mut random = [0u8; 8];
        let fresh = match getrandom::fill(&mut random) {
            Ok(()) => format!("{:016x}", u64::from_le_bytes(random)),
            Err(_) => format!("{}", std::process::id()),
        };
        let created: Option<String> = redis::cmd("SET")
            .arg(self.epoch_key())
            .arg(&fresh)
            .arg("NX")
            .query_async(storage.get_connection())
            .await?;
        if created.is_some() {
            let lost = known.is_some();
            *known = Some(fresh);
            return Ok(lost);
        }
        let current: Option<String> = redis::cmd("GET")
            .arg(self.epoch_key())
            .query_async(storage.get_connection())
            .await?;
        *known = current;
        Ok(false)
    }

    /// The apalis storage, connecting first if this is the first use.
    pub async fn storage(&self) -> Result<JobStorage, RedisError> {
        let storage = self
            .storage
            .get_or_try_init(|| async {
                let connection = ConnectionManager::new_with_config(
                    self.client.clone(),
                    ConnectionManagerConfig::new()
                        .set_response_timeout(Some(RESPONSE_TIMEOUT))
                        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
                        .set_number_of_retries(3)
                        .set_max_delay(Duration::from_secs(2)),
                )
                .await?;
                Ok::<_, RedisError>(RedisStorage::new(connection).with_config(self.config.clone()))
            })
            .await?;
        Ok(storage.clone())
    }
}

impl JobQueue for RedisQueue {
    fn push(&self, message: JobMessage, delay: Duration) -> BoxFuture<'_, Result<(), QueueError>> {
        async move {
            let mut storage = self
                .storage()
                .await
                .map_err(|error| QueueError(error.to_string()))?;
            let mut task = TaskBuilder::new(message);
            if !delay.is_zero() {
                task = task.run_after(delay);
            }
            storage
                .push_task(task.build())
                .await
                .map_err(|error| QueueError(error.to_string()))?;
            if delay.is_zero() {
                // Wakes idle workers now rather than at their next heartbeat;
                // a lost wake-up only costs that wait.
                let woken: Result<i64, _> = redis::cmd("PUBLISH")
                    .arg(self.push_channel())
                    .arg(1)
                    .query_async(storage.get_connection())
                    .await;
                if let Err(error) = woken {
                    tracing::debug!(%error, "could not announce a pushed job");
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn depth(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        async move {
            let mut storage = self
                .storage()
                .await
                .map_err(|error| QueueError(error.to_string()))?;
            let config = storage.get_config().clone();
            let (due, scheduled): (u64, u64) = redis::pipe()
                .cmd("LLEN")
                .arg(config.active_jobs_list())
                .cmd("ZCARD")
                .arg(config.scheduled_jobs_set())
                .query_async(storage.get_connection())
                .await
                .map_err(|error| QueueError(error.to_string()))?;
            Ok(due + scheduled)
        }
        .boxed()
    }
}
