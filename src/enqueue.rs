//! `softcat enqueue …`: puts a job on the queue from a shell, exactly as the
//! admin endpoint does, and prints its id.

use softcat_shared::config::Config;
use softcat_shared::jobs::{self, JobSpec};
use softcat_shared::settings::CatalogSettings;
use softcat_worker::RedisQueue;

use crate::cli::EnqueueCommand;
use crate::load::load_request;

/// Enqueues one job.
pub async fn run(config: &Config, command: EnqueueCommand) -> anyhow::Result<()> {
    let database = crate::database::open(config).await?;
    let spec = match command {
        EnqueueCommand::Load(load) => {
            let settings = CatalogSettings::read(&database, config).await?;
            let defaults = settings.load_defaults(config, load.kind());
            let (request, _) = load_request(load, defaults)?;
            JobSpec::Load(request)
        }
        EnqueueCommand::Refresh => JobSpec::Refresh,
        EnqueueCommand::Cleanup => JobSpec::Cleanup,
        EnqueueCommand::Probe => JobSpec::probe(),
    };
    let queue = RedisQueue::new(&config.redis_url, &config.jobs)?;
    let enqueued = jobs::enqueue(
        &database,
        &queue,
        &spec,
        "cli",
        None,
        config.jobs.max_attempts,
    )
    .await?;
    if enqueued.duplicate {
        println!(
            "{} job {} was already queued for the same work; not queued again",
            enqueued.job.kind, enqueued.job.id
        );
    } else {
        println!("queued {} job {}", enqueued.job.kind, enqueued.job.id);
    }
    Ok(())
}
