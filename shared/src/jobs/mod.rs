//! Jobs: the unit of work the queue carries. A record in Postgres for every
//! job is the history users query and the single truth about its state;
//! the queue (Redis, through the [`JobQueue`] port) only carries job ids to
//! the workers. Delivery is at least once, so everything here is safe to
//! repeat: a job that already ended is acknowledged and not run again.

pub mod records;
mod run;

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::loader::LoadRequest;

pub use records::{
    Enqueued, JobError, JobFilter, JobRecord, PREFIX_CANDIDATES, STANDALONE_SESSION, cancel,
    due_queued, enqueue, get, hand_back, ids_with_prefix, last_load_of, list, redeliver_lost,
    redeliver_stranded, standalone_serving, state_counts,
};
pub use run::{Disposition, JobContext, process};

/// What a job does, with every parameter it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JobSpec {
    /// Load one catalog.
    Load(LoadRequest),
    /// Enqueue a load of every catalog whose updates are enabled.
    Refresh,
    /// Remove superseded catalog versions and old job records.
    Cleanup,
    /// Do nothing: proves the queue and the workers end to end (monitoring
    /// canaries, the queue benchmark). Probes with different labels are
    /// different work.
    Probe {
        /// Tells probes apart.
        label: String,
    },
}

impl JobSpec {
    /// A probe no other job de-duplicates.
    pub fn probe() -> Self {
        Self::Probe {
            label: Uuid::new_v4().to_string(),
        }
    }

    /// The kind as stored in `jobs.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Load(_) => "load",
            Self::Refresh => "refresh",
            Self::Cleanup => "cleanup",
            Self::Probe { .. } => "probe",
        }
    }

    /// The catalog a load brings in line.
    pub fn catalog(&self) -> Option<&str> {
        match self {
            Self::Load(request) if request.catalog_name.is_empty() => None,
            Self::Load(request) => Some(&request.catalog_name),
            Self::Refresh | Self::Cleanup | Self::Probe { .. } => None,
        }
    }

    /// Jobs with equal keys do the same work, so only one of them may wait
    /// in the queue at a time: a load of one catalog version (of one
    /// document, when the document names the catalog; a dry run, and
    /// a load forced past the shrink guard, are other work), one refresh,
    /// one cleanup. Parts are separated by a control character, which names
    /// and versions cannot hold.
    pub fn dedupe_key(&self) -> String {
        match self {
            Self::Load(request) => format!(
                "load\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}{}",
                request.source,
                if request.catalog_name.is_empty() {
                    &request.url
                } else {
                    &request.catalog_name
                },
                request.catalog_version.as_deref().unwrap_or(""),
                if request.dry_run { "dry-run" } else { "" },
                if request.allow_shrink {
                    "\u{1f}allow-shrink"
                } else {
                    ""
                }
            ),
            Self::Probe { label } => format!("probe\u{1f}{label}"),
            Self::Refresh | Self::Cleanup => self.kind().to_owned(),
        }
    }
}

/// The states of a job, in the order a job passes them.
pub const JOB_STATES: [&str; 6] = [
    "queued",
    "running",
    "succeeded",
    "unchanged",
    "failed",
    "cancelled",
];

/// The job kinds.
pub const JOB_KINDS: [&str; 4] = ["load", "refresh", "cleanup", "probe"];

/// What the queue carries: the id of a job record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The job record's id.
    pub job_id: Uuid,
}

/// Why the queue refused a message.
#[derive(Debug, thiserror::Error)]
#[error("job queue: {0}")]
pub struct QueueError(pub String);

/// The queue as the domain sees it: a place to put job ids, now or later.
/// The worker crate implements it on Redis.
pub trait JobQueue: Send + Sync {
    /// Puts a message on the queue, to be delivered after `delay`.
    fn push(&self, message: JobMessage, delay: Duration) -> BoxFuture<'_, Result<(), QueueError>>;
    /// Messages waiting: due now or scheduled for later (retries).
    fn depth(&self) -> BoxFuture<'_, Result<u64, QueueError>>;
}
