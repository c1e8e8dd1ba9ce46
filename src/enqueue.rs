//! `softcat enqueue …`: puts a job on the queue from a shell, exactly as the
//! admin endpoint does, and prints its id. The job goes to Redis, for the
//! workers; when a standalone instance with an in-process queue serves the
//! database, it is only recorded, and that instance runs it from its record.

use softcat_shared::config::Config;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use softcat_shared::jobs::{self, JobMessage, JobQueue, JobSpec, QueueError};
use softcat_shared::settings::CatalogSettings;
use softcat_worker::RedisQueue;

use crate::cli::{EnqueueArgs, EnqueueCommand, url_flag};
use crate::load::load_request;

/// Enqueues one job and prints it: a sentence, its record as JSON
/// (`--json`), or only its id (`-q`).
pub async fn run(config: &Config, args: EnqueueArgs) -> anyhow::Result<()> {
    let database = crate::database::open(config).await?;
    let mut json = args.json;
    let spec = match args.command {
        EnqueueCommand::Load(load) => {
            let settings = CatalogSettings::read(&database, config).await?;
            let defaults = settings.load_defaults(config, load.kind);
            // `enqueue load eessi --json` reaches the load options' flag.
            let (request, load_json) = load_request(load, defaults)?;
            json |= load_json;
            if request.catalog_version.as_deref() == Some(crate::load::ALL_VERSIONS) {
                anyhow::bail!(
                    "--catalog-version all: only `softcat load` loads every version; \
                     enqueue one load per version (or a refresh)"
                );
            }
            request.check_local_source().map_err(|error| {
                anyhow::anyhow!("--{}: {}", url_flag(request.source), error.reason)
            })?;
            JobSpec::Load(request)
        }
        EnqueueCommand::Refresh => JobSpec::Refresh,
        EnqueueCommand::Cleanup => JobSpec::Cleanup,
        EnqueueCommand::Probe => JobSpec::probe(),
    };
    let queue = CliQueue::new(config, &database).await?;
    let enqueued = jobs::enqueue(
        &database,
        &queue,
        &spec,
        "cli",
        None,
        config.jobs.max_attempts,
    )
    .await?;
    if json {
        let mut record = serde_json::to_value(&enqueued.job)?;
        record["duplicate"] = enqueued.duplicate.into();
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else if args.quiet {
        println!("{}", enqueued.job.id);
    } else if enqueued.duplicate {
        println!(
            "{} job {} was already queued for the same work; not queued again",
            enqueued.job.kind, enqueued.job.id
        );
    } else {
        println!(
            "queued {} job {}{}",
            enqueued.job.kind,
            enqueued.job.id,
            queue.runner()
        );
    }
    Ok(())
}

/// A boxed future, as [`JobQueue`] returns them.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the operator commands put a job: on Redis for the workers, or
/// nowhere but its record when a standalone instance with an in-process
/// queue serves the database (it takes queued records itself, about once
/// a second).
pub enum CliQueue {
    /// Push to the configured Redis.
    Redis(Box<RedisQueue>),
    /// Record only: a standalone instance serving the database runs it.
    Standalone,
}

impl CliQueue {
    /// The queue for jobs recorded in `database`.
    pub async fn new(
        config: &Config,
        database: &sea_orm::DatabaseConnection,
    ) -> anyhow::Result<Self> {
        if jobs::standalone_serving(database).await? {
            return Ok(Self::Standalone);
        }
        Ok(Self::Redis(Box::new(RedisQueue::new(
            &config.redis_url,
            &config.jobs,
        )?)))
    }

    /// What to add to "queued … job ID" about who runs it.
    pub fn runner(&self) -> &'static str {
        match self {
            Self::Redis(_) => "",
            Self::Standalone => {
                " (recorded; the standalone instance serving this database runs it)"
            }
        }
    }
}

impl JobQueue for CliQueue {
    fn push(&self, message: JobMessage, delay: Duration) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            match self {
                Self::Redis(redis) => redis.push(message, delay).await.map_err(|error| {
                    QueueError(format!(
                        "{}; no standalone instance serves this database either, \
                         so nothing would run the job",
                        error.0
                    ))
                }),
                Self::Standalone => Ok(()),
            }
        })
    }

    fn depth(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(async move {
            match self {
                Self::Redis(redis) => redis.depth().await,
                Self::Standalone => Ok(0),
            }
        })
    }
}
