//! The in-process job queue of `softcat standalone` when no Redis is
//! configured: a channel feeding apalis' in-memory backend. Its messages
//! live as long as the process; the job records in Postgres outlive it, and
//! the worker's redelivery pass queues again what a previous run left.
//! [`MemoryQueue::serve_records`] takes the queued jobs recorded in Postgres
//! that never came through this queue (`softcat enqueue` or `softcat jobs
//! retry` from another process) and queues them too.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apalis::prelude::{MemorySink, MemoryStorage, MemoryStorageError, Task, TaskBuilder};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use softcat_shared::jobs::{self, JobMessage, JobQueue, QueueError};
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

/// How often [`MemoryQueue::serve_records`] looks for queued records.
pub const RECORDS_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long after the worker took a job's message the records' poll leaves
/// the job alone, while the worker claims it (a queued record then is not
/// a lost one).
const TAKEN_GRACE: Duration = Duration::from_secs(10);
/// The most queued records one poll takes.
const RECORDS_PER_POLL: u32 = 100;

/// What the queue knows of one job's messages.
#[derive(Default)]
struct Tracked {
    /// Messages pushed and not yet taken by the worker.
    waiting: u32,
    /// When the worker last took one.
    taken: Option<Instant>,
}

impl Tracked {
    /// Whether the job's record may be queued again from the database.
    fn stale(&self, now: Instant) -> bool {
        self.waiting == 0 && self.taken.is_none_or(|taken| now - taken >= TAKEN_GRACE)
    }
}

/// The queue, shared by the API, the scheduler and the worker of one
/// process. Cloning shares it.
#[derive(Clone)]
pub struct MemoryQueue {
    sender: mpsc::UnboundedSender<JobMessage>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<JobMessage>>>,
    /// Messages pushed and not yet taken by the worker, delayed ones included.
    waiting: Arc<AtomicU64>,
    /// The jobs with a message in the queue or recently taken.
    tracked: Arc<std::sync::Mutex<HashMap<Uuid, Tracked>>>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
            waiting: Arc::default(),
            tracked: Arc::default(),
        }
    }
}

impl MemoryQueue {
    /// The apalis backend a worker consumes. Every call gives a backend over
    /// the same messages, so a worker started again goes on where the last
    /// one stopped; pushes go through [`JobQueue::push`], not the backend.
    pub fn backend(&self) -> MemoryStorage<JobMessage> {
        let tasks = futures_util::stream::unfold(self.clone(), |queue| async move {
            let message = queue.receiver.lock().await.recv().await?;
            queue.waiting.fetch_sub(1, Ordering::Relaxed);
            queue.track(message.job_id, |tracked| {
                tracked.waiting = tracked.waiting.saturating_sub(1);
                tracked.taken = Some(Instant::now());
            });
            let task: Task<JobMessage> = TaskBuilder::new(message).build();
            Some((task, queue))
        });
        let unused = futures_util::sink::drain().sink_map_err(
            |never: std::convert::Infallible| -> MemoryStorageError { match never {} },
        );
        MemoryStorage::new_with(
            MemorySink::new(Arc::new(futures_util::lock::Mutex::new(Box::new(unused)))),
            tasks.boxed(),
        )
    }

    fn send(&self, message: JobMessage) -> Result<(), QueueError> {
        self.sender.send(message).map_err(|_| {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            self.track(message.job_id, |tracked| {
                tracked.waiting = tracked.waiting.saturating_sub(1);
            });
            QueueError("the in-process queue is closed".into())
        })
    }

    /// Changes what the queue knows of job `id`.
    fn track(&self, id: Uuid, change: impl FnOnce(&mut Tracked)) {
        // A panic while holding the lock leaves a map that is still whole.
        let mut tracked = self
            .tracked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(tracked.entry(id).or_default());
    }

    /// Of `ids`, those without a message in this queue and not taken by the
    /// worker lately; forgets the jobs taken long enough ago.
    fn untracked(&self, ids: Vec<Uuid>) -> Vec<Uuid> {
        let now = Instant::now();
        let mut tracked = self
            .tracked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tracked.retain(|_, job| !job.stale(now));
        ids.into_iter()
            .filter(|id| tracked.get(id).is_none_or(|job| job.stale(now)))
            .collect()
    }

    /// Every [`RECORDS_POLL_INTERVAL`] until `shutdown`, queues the jobs
    /// recorded in `db` as queued and due now that have no message in this
    /// queue: those enqueued by another process, which pushed no message
    /// here. A job queued twice is run once: the worker's claim of the
    /// record turns the second delivery away.
    pub async fn serve_records(
        self,
        db: DatabaseConnection,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + RECORDS_POLL_INTERVAL,
            RECORDS_POLL_INTERVAL,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let poll = async {
            let mut failing = false;
            loop {
                ticks.tick().await;
                let due = match jobs::due_queued(&db, RECORDS_PER_POLL).await {
                    Ok(due) => {
                        failing = false;
                        due
                    }
                    Err(error) => {
                        if !failing {
                            tracing::warn!(%error, "could not look for queued job records");
                        }
                        failing = true;
                        continue;
                    }
                };
                for id in self.untracked(due) {
                    tracing::info!(job_id = %id, "queued a job recorded by another process");
                    if let Err(error) = self.push(JobMessage { job_id: id }, Duration::ZERO).await {
                        tracing::warn!(job_id = %id, %error, "could not queue a recorded job");
                    }
                }
            }
        };
        tokio::select! {
            () = poll => {},
            () = shutdown => {},
        }
    }
}

impl JobQueue for MemoryQueue {
    fn push(&self, message: JobMessage, delay: Duration) -> BoxFuture<'_, Result<(), QueueError>> {
        async move {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            self.track(message.job_id, |tracked| tracked.waiting += 1);
            if delay.is_zero() {
                return self.send(message);
            }
            let queue = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Err(error) = queue.send(message) {
                    tracing::warn!(job_id = %message.job_id, %error, "a delayed job could not be queued");
                }
            });
            Ok(())
        }
        .boxed()
    }

    fn depth(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        async move { Ok(self.waiting.load(Ordering::Relaxed)) }.boxed()
    }
}
