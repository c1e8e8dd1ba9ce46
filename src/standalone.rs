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
use softcat_shared::jobs;
use softcat_shared::loader::{
    LoadError, LoadOptions, LoadReport, NoProgress, ShrinkLimits, load_source,
};
use softcat_shared::snapshot::Transformed;
use softcat_shared::sources::eessi::EessiSource;
use softcat_shared::sources::spack::SpackSource;
use softcat_shared::sources::{CatalogSource, SourceError};
use softcat_worker::{MemoryQueue, RedisQueue, WorkerQueue};
use tokio::sync::watch;

use crate::embedded::{self, EmbeddedPostgres};

/// The bundled sample (see `samples/README.md`), embedded in the binary so
/// that it loads wherever the binary runs.
const SAMPLE_EESSI: &[u8] = include_bytes!("../samples/eessi/eessi_api_metadata_software.json");
const SAMPLE_SPACK: &[u8] = include_bytes!("../samples/spack/repology.json");
/// Where the EESSI sample came from (its catalog's `source_url`): the test
/// fixture EESSI keeps in its docs repository (see `samples/README.md`).
pub const SAMPLE_EESSI_ORIGIN: &str = "https://github.com/EESSI/docs/blob/main/scripts/available_software/tests/test_dir/data/eessi_api_metadata_software.json";
/// Where the Spack sample came from: the first packages of Spack's
/// published repology.json of 2025-03-20.
pub const SAMPLE_SPACK_ORIGIN: &str = "https://packages.spack.io/data/repology.json";
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

/// The most connections of the session that takes recorded jobs.
const RECORDS_SESSION_CONNECTIONS: u32 = 1;

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
    let served = serve(config, queue, embedded.database, load_sample, shutdown).await;
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
    embedded_database: bool,
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
    // The in-process queue takes the jobs recorded in the database by other
    // processes, through a session of its own that names it as a
    // standalone instance (`softcat enqueue` looks for it).
    let records = match &queue {
        WorkerQueue::Memory(memory) => {
            let session = records_session(&config.database_url).await?;
            Some(tokio::spawn(
                memory.clone().serve_records(session, stopped()),
            ))
        }
        WorkerQueue::Redis(_) => None,
    };
    if let Some(address) = server.local_addr() {
        println!("{}", next_steps(&config, address, embedded_database));
    }
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
    if let Some(records) = records {
        let _ = records.await;
    }
    database.close().await?;
    api?;
    worker?;
    scheduler?;
    tracing::info!("standalone stopped");
    Ok(())
}

/// A connection to `url` whose session is named
/// [`jobs::STANDALONE_SESSION`], kept open while the instance runs.
async fn records_session(url: &str) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let mut url = url::Url::parse(url).context("the database URL is not a URL")?;
    url.query_pairs_mut()
        .append_pair("application_name", jobs::STANDALONE_SESSION);
    let mut options = sea_orm::ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .max_connections(RECORDS_SESSION_CONNECTIONS)
        .min_connections(RECORDS_SESSION_CONNECTIONS)
        .idle_timeout(None)
        .max_lifetime(None);
    sea_orm::Database::connect(options)
        .await
        .context("connecting to the database for the recorded jobs")
}

/// What a person does next, with this instance's real values: where the
/// API and its docs are, and the one command (runnable from any terminal,
/// as any user) that creates a staff account and prints its token.
pub fn next_steps(config: &Config, address: std::net::SocketAddr, embedded: bool) -> String {
    let base = format!("http://{address}");
    let database = if embedded || !has_password(&config.database_url) {
        format!("DATABASE_URL={} ", config.database_url)
    } else {
        // A configured password is not printed.
        "DATABASE_URL=<your database URL> ".to_owned()
    };
    let binary = binary_name();
    format!(
        "softcat standalone is up.\n\
         \x20 API:  {base}/api/\n\
         \x20 docs: {base}/api/docs/\n\
         Create a staff account and print its token (from any terminal, as any user):\n\
         \x20 TOKEN=$({database}{binary} users create admin --staff --token)\n\
         \x20 curl -H \"Authorization: Token $TOKEN\" {base}/api/marketplace-software-catalogs/\n\
         If admin exists already: {database}{binary} tokens create admin"
    )
}

fn has_password(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|url| url.password().is_some())
}

/// How to run this binary from another terminal: `softcat` when that is
/// what the `PATH` finds, else its full path.
fn binary_name() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|exe| exe.canonicalize()) else {
        return "softcat".into();
    };
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("softcat"))
            .find(|candidate| candidate.is_file())
            .and_then(|candidate| candidate.canonicalize().ok())
    });
    if on_path.as_ref() == Some(&exe) {
        "softcat".into()
    } else {
        exe.display().to_string()
    }
}

/// Logs how a sample load ended. A catalog of the sample's name and
/// version holding more than the sample (the full catalog, loaded by hand)
/// is kept: the shrink guard refuses to replace it.
fn report_sample(catalog: &str, result: Result<LoadReport, LoadError>) -> anyhow::Result<()> {
    match result {
        Ok(report) => {
            tracing::info!(catalog = %report.catalog, outcome = ?report.outcome, "sample loaded");
            Ok(())
        }
        Err(LoadError::Refused(refusal)) => {
            tracing::warn!(%catalog, %refusal, "sample not loaded; the stored catalog is kept");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// A bundled sample source: read from the copy the binary writes to a
/// temporary directory, recorded with the place the sample came from as
/// its catalog's `source_url` (the directory is gone once loaded).
struct Sample<S> {
    inner: S,
    origin: &'static str,
}

impl<S: CatalogSource> CatalogSource for Sample<S> {
    type Documents = S::Documents;
    type Parsed = S::Parsed;

    fn location(&self) -> &str {
        self.origin
    }

    fn catalog_name(&self) -> &str {
        self.inner.catalog_name()
    }

    fn source_fingerprint(&self, documents: &Self::Documents) -> i64 {
        self.inner.source_fingerprint(documents)
    }

    fn fetch(
        &self,
        fetcher: &Fetcher,
    ) -> impl Future<Output = Result<Self::Documents, SourceError>> + Send {
        self.inner.fetch(fetcher)
    }

    fn parse(&self, documents: &Self::Documents) -> Result<Self::Parsed, SourceError> {
        self.inner.parse(documents)
    }

    fn versions(&self, parsed: &Self::Parsed) -> Vec<String> {
        self.inner.versions(parsed)
    }

    fn transform(&self, parsed: Self::Parsed) -> Result<Transformed, SourceError> {
        let mut transformed = self.inner.transform(parsed)?;
        transformed.snapshot.source_url = self.origin.to_owned();
        Ok(transformed)
    }
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
        let options = LoadOptions {
            update_existing: true,
            dry_run: false,
            allow_shrink: false,
            limits: ShrinkLimits::default(),
            bounds: config.loader,
        };
        let eessi = Sample {
            inner: EessiSource {
                api_url: format!("{}/", dir.display()),
                catalog_name: config.eessi.catalog_name.clone(),
                catalog_version: Some(SAMPLE_EESSI_VERSION.into()),
                include_extensions: false,
            },
            origin: SAMPLE_EESSI_ORIGIN,
        };
        let eessi_options = LoadOptions {
            limits: ShrinkLimits::from_config(config, CatalogKind::Eessi),
            ..options
        };
        report_sample(
            &eessi.inner.catalog_name,
            load_source(database, &eessi, &fetcher, eessi_options, &NoProgress).await,
        )?;
        let spack = Sample {
            inner: SpackSource {
                data_url: dir.join("repology.json").display().to_string(),
                catalog_name: config.spack.catalog_name.clone(),
                catalog_version: None,
            },
            origin: SAMPLE_SPACK_ORIGIN,
        };
        let spack_options = LoadOptions {
            limits: ShrinkLimits::from_config(config, CatalogKind::Spack),
            ..options
        };
        report_sample(
            &spack.inner.catalog_name,
            load_source(database, &spack, &fetcher, spack_options, &NoProgress).await,
        )?;
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result.context("loading the bundled sample")
}
