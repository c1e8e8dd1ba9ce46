//! The in-process job queue of `softcat standalone` when no Redis is
//! configured: a channel feeding apalis' in-memory backend. Its messages
//! live as long as the process; the job records in Postgres outlive it, and
//! the worker's redelivery pass queues again what a previous run left.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use apalis::prelude::{MemorySink, MemoryStorage, MemoryStorageError, Task, TaskBuilder};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use softcat_shared::jobs::{JobMessage, JobQueue, QueueError};
use tokio::sync::{Mutex, mpsc};

/// The queue, shared by the API, the scheduler and the worker of one
/// process. Cloning shares it.
#[derive(Clone)]
pub struct MemoryQueue {
    sender: mpsc::UnboundedSender<JobMessage>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<JobMessage>>>,
    /// Messages pushed and not yet taken by the worker, delayed ones included.
    waiting: Arc<AtomicU64>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
            waiting: Arc::default(),
        }
    }
}

impl MemoryQueue {
    /// The apalis backend a worker consumes. Every call gives a backend over
    /// the same messages, so a worker started again goes on where the last
    /// one stopped; pushes go through [`JobQueue::push`], not the backend.
    pub fn backend(&self) -> MemoryStorage<JobMessage> {
        let tasks = futures_util::stream::unfold(
            (self.receiver.clone(), self.waiting.clone()),
            |(receiver, waiting)| async move {
                let message = receiver.lock().await.recv().await?;
                waiting.fetch_sub(1, Ordering::Relaxed);
                let task: Task<JobMessage> = TaskBuilder::new(message).build();
                Some((task, (receiver, waiting)))
            },
        );
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
            QueueError("the in-process queue is closed".into())
        })
    }
}

impl JobQueue for MemoryQueue {
    fn push(&self, message: JobMessage, delay: Duration) -> BoxFuture<'_, Result<(), QueueError>> {
        async move {
            self.waiting.fetch_add(1, Ordering::Relaxed);
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
