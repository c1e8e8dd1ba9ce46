//! `softcat enqueue …`: puts a job on the queue from a shell, exactly as the
//! admin endpoint does, and prints its id.

use softcat_shared::config::Config;
use softcat_shared::jobs::{self, JobSpec};
use softcat_shared::settings::CatalogSettings;
use softcat_worker::RedisQueue;

use crate::cli::{EnqueueArgs, EnqueueCommand};
use crate::load::load_request;

/// Enqueues one job and prints it: a sentence, its record as JSON
/// (`--json`), or only its id (`-q`).
pub async fn run(config: &Config, args: EnqueueArgs) -> anyhow::Result<()> {
    let database = crate::database::open(config).await?;
    let mut json = args.json;
    let spec = match args.command {
        EnqueueCommand::Load(load) => {
            let settings = CatalogSettings::read(&database, config).await?;
            let defaults = settings.load_defaults(config, load.kind());
            // `enqueue load eessi --json` reaches the load options' flag.
            let (request, load_json) = load_request(load, defaults)?;
            json |= load_json;
            if request.catalog_version.as_deref() == Some(crate::load::ALL_VERSIONS) {
                anyhow::bail!(
                    "--catalog-version all: only `softcat load eessi` loads every stack; \
                     enqueue one load per version (or a refresh)"
                );
            }
            request.check_local_source().map_err(|error| {
                anyhow::anyhow!("--{}: {}", request_flag(&request), error.reason)
            })?;
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
        println!("queued {} job {}", enqueued.job.kind, enqueued.job.id);
    }
    Ok(())
}

/// The command-line flag of a load request's source location.
fn request_flag(request: &softcat_shared::loader::LoadRequest) -> &'static str {
    match request.source {
        softcat_shared::catalog::CatalogKind::Eessi => "api-url",
        softcat_shared::catalog::CatalogKind::Spack => "data-url",
    }
}
