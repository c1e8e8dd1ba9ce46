//! `softcat standalone`: the API, one worker and the scheduler in one
//! process, for a laptop or a demo. The same code as the separate roles,
//! over the configured Postgres and Redis, or, where none is configured,
//! over an embedded Postgres and an in-process queue, so that it runs on a
//! machine with neither. It applies the schema itself and can load the
//! bundled sample of real EESSI and Spack data first.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use softcat_shared::catalog::CatalogKind;
use softcat_shared::config::Config;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{LoadError, LoadRequest, NoProgress, ShrinkLimits};
use softcat_worker::{MemoryQueue, RedisQueue, WorkerQueue};
use tokio::sync::watch;

use crate::embedded::{self, EmbeddedPostgres};

/// The bundled sample (see `samples/README.md`), embedded in the binary so
/// that it loads wherever the binary runs.
const SAMPLE_EESSI: &[u8] = include_bytes!("../samples/eessi/eessi_api_metadata_software.json");
const SAMPLE_SPACK: &[u8] = include_bytes!("../samples/spack/repology.json");
/// The EESSI stack version the sample's installations belong to.
const SAMPLE_EESSI_VERSION: &str = "2023.06";

/// Which services standalone provides itself.
pub struct Embedded {
    /// Run an embedded Postgres (no database URL is configured).
    pub database: bool,
    /// Queue jobs in the process (no Redis URL is configured).
    pub queue: bool,
    /// Where the embedded Postgres keeps its files.
    pub data_dir: Option<PathBuf>,
}

/// Runs the three roles until SIGTERM or Ctrl-C.
pub async fn run(
    mut config: Config,
    embedded: Embedded,
    load_sample: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let postgres = if embedded.database {
        let dir = match embedded.data_dir {
            Some(dir) => dir,
            None => embedded::default_dir()?,
        };
        let postgres = EmbeddedPostgres::start(&dir).await?;
        config.database_url = postgres.url();
        Some(postgres)
    } else {
        None
    };
    let queue = if embedded.queue {
        tracing::info!("jobs are queued in the process (no Redis URL configured)");
        WorkerQueue::Memory(MemoryQueue::default())
    } else {
        WorkerQueue::Redis(Box::new(RedisQueue::new(&config.redis_url, &config.jobs)?))
    };
    let served = serve(config, queue, load_sample, shutdown).await;
    let stopped = match postgres {
        Some(postgres) => postgres.stop().await,
        None => Ok(()),
    };
    // Why serving failed matters more than a failed stop after it.
    served.and(stopped)
}

async fn serve(
    config: Config,
    queue: WorkerQueue,
    load_sample: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let database = crate::database::migrate(&config).await?;
    if load_sample {
        self::load_sample(&config, &database).await?;
    }
    let config = Arc::new(config);
    softcat_scheduler::timetable(&config)?;
    let server =
        softcat_api::ApiServer::bind(config.clone(), database.clone(), queue.job_queue()).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    };
    let (api, worker, scheduler) = tokio::join!(
        server.run_until(stopped()),
        softcat_worker::run(config.clone(), database.clone(), queue.clone(), stopped()),
        softcat_scheduler::run(
            config.clone(),
            database.clone(),
            queue.job_queue(),
            stopped()
        ),
    );
    database.close().await?;
    api?;
    worker?;
    scheduler?;
    tracing::info!("standalone stopped");
    Ok(())
}

/// Loads the bundled EESSI and Spack sample, bringing existing sample
/// catalogs in line (so a second start changes nothing).
async fn load_sample(
    config: &Config,
    database: &sea_orm::DatabaseConnection,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("softcat-sample-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = async {
        std::fs::write(dir.join("eessi_api_metadata_software.json"), SAMPLE_EESSI)?;
        std::fs::write(dir.join("repology.json"), SAMPLE_SPACK)?;
        let fetcher = Fetcher::new(&config.fetch)?;
        let loads = [
            LoadRequest {
                source: CatalogKind::Eessi,
                catalog_name: config.eessi.catalog_name.clone(),
                catalog_version: Some(SAMPLE_EESSI_VERSION.into()),
                url: format!("{}/", dir.display()),
                include_extensions: false,
                update_existing: true,
                dry_run: false,
                allow_shrink: false,
            },
            LoadRequest {
                source: CatalogKind::Spack,
                catalog_name: config.spack.catalog_name.clone(),
                catalog_version: None,
                url: dir.join("repology.json").display().to_string(),
                include_extensions: false,
                update_existing: true,
                dry_run: false,
                allow_shrink: false,
            },
        ];
        for load in loads {
            let limits = ShrinkLimits::from_config(config, load.source);
            match load.run(database, &fetcher, limits, &NoProgress).await {
                Ok(report) => {
                    tracing::info!(catalog = %report.catalog, outcome = ?report.outcome, "sample loaded");
                }
                // A catalog of the sample's name and version holding more
                // than the sample (the full catalog, loaded by hand) is kept.
                Err(LoadError::Refused(refusal)) => {
                    tracing::warn!(catalog = %load.catalog_name, %refusal, "sample not loaded; the stored catalog is kept");
                }
                Err(error) => return Err(error.into()),
            }
        }
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result.context("loading the bundled sample")
}
