//! `softcat standalone`: the API, one worker and the scheduler in one
//! process, for a laptop or a demo. The same code as the separate roles,
//! over the configured Postgres and Redis, or, where none is configured,
//! over an embedded Postgres and an in-process queue, so that it runs on a
//! machine with neither. It applies the schema itself and can load the
//! bundled sample of real EESSI and Spack data first.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use softcat_shared::config::Config;
use softcat_shared::fetch::Fetcher;
use softcat_shared::jobs;
use softcat_shared::loader::{
    LoadDefaults, LoadError, LoadOptions, LoadReport, LoadRequestDraft, NoProgress, SourceBounds,
    load_source,
};
use softcat_shared::snapshot::Transformed;
use softcat_shared::sources::conda::{self, CondaSource};
use softcat_shared::sources::custom::{self, CustomSource};
use softcat_shared::sources::eessi::{self, EessiSource};
use softcat_shared::sources::lmod::{self, LmodSource};
use softcat_shared::sources::registry::{OptionValue, RegisteredSource};
use softcat_shared::sources::spack::{self, SpackSource};
use softcat_shared::sources::{CatalogKind, CatalogSource, SourceError};
use softcat_worker::{MemoryQueue, RedisQueue, WorkerQueue};
use tokio::sync::watch;

use crate::embedded::{self, EmbeddedPostgres};

/// The bundled sample (see `samples/README.md`), embedded in the binary so
/// that it loads wherever the binary runs: each file with the path it is
/// written to.
const SAMPLE_FILES: [(&str, &[u8]); 5] = [
    (
        "eessi/eessi_api_metadata_software.json",
        include_bytes!("../samples/eessi/eessi_api_metadata_software.json"),
    ),
    (
        "spack/repology.json",
        include_bytes!("../samples/spack/repology.json"),
    ),
    (
        "lmod/stallo.json",
        include_bytes!("../samples/lmod/stallo.json"),
    ),
    (
        "conda/linux-64/repodata.json",
        include_bytes!("../samples/conda/linux-64/repodata.json"),
    ),
    (
        "custom/example.yaml",
        include_bytes!("../samples/custom/example.yaml"),
    ),
];
/// Where the EESSI sample came from (its catalog's `source_url`): the test
/// fixture EESSI keeps in its docs repository (see `samples/README.md`).
pub const SAMPLE_EESSI_ORIGIN: &str = "https://github.com/EESSI/docs/blob/main/scripts/available_software/tests/test_dir/data/eessi_api_metadata_software.json";
/// Where the Spack sample came from: the first packages of Spack's
/// published repology.json of 2025-03-20.
pub const SAMPLE_SPACK_ORIGIN: &str = "https://packages.spack.io/data/repology.json";
/// Where the Lmod sample came from: UiT's Stallo module tree, written by
/// the Lmod of 2013 (juselius/spiderman).
pub const SAMPLE_LMOD_ORIGIN: &str = "https://github.com/juselius/spiderman/blob/master/lmod.json";
/// Where the conda sample came from: builds of three packages of the
/// pytorch channel's linux-64 repodata.
pub const SAMPLE_CONDA_ORIGIN: &str = "https://conda.anaconda.org/pytorch/";
/// Where the custom catalog sample came from: the example softcat keeps.
pub const SAMPLE_CUSTOM_ORIGIN: &str = "samples/custom/example.yaml";
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
fn report_sample(kind: CatalogKind, result: Result<LoadReport, LoadError>) -> anyhow::Result<()> {
    match result {
        Ok(report) => {
            tracing::info!(catalog = %report.catalog, outcome = ?report.outcome, "sample loaded");
            Ok(())
        }
        Err(LoadError::Refused(refusal)) => {
            tracing::warn!(source = %kind, %refusal, "sample not loaded; the stored catalog is kept");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// A bundled sample source: read from the copy the binary writes to a
/// temporary directory, recorded with the place the sample came from as
/// its catalog's `source_url` (the directory is gone once loaded).
struct SampleSource<S> {
    inner: S,
    origin: &'static str,
}

impl<S: CatalogSource> CatalogSource for SampleSource<S> {
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

    fn transform(
        &self,
        parsed: Self::Parsed,
        bounds: &SourceBounds,
    ) -> Result<Transformed, SourceError> {
        let mut transformed = self.inner.transform(parsed, bounds)?;
        transformed.snapshot.source_url = self.origin.to_owned();
        Ok(transformed)
    }
}

/// Loads the bundled sample, one catalog per source kind, bringing
/// existing sample catalogs in line (so a second start changes nothing).
async fn load_sample(
    config: &Config,
    database: &sea_orm::DatabaseConnection,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("softcat-sample-{}", std::process::id()));
    let result = async {
        for (path, bytes) in SAMPLE_FILES {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, bytes)?;
        }
        let fetcher = Fetcher::new(&config.fetch)?;
        let at = |path: &str| dir.join(path).display().to_string();
        let eessi = LoadRequestDraft {
            url: Some(format!("{}/", at("eessi"))),
            catalog_version: Some(SAMPLE_EESSI_VERSION.into()),
            options: [("include_extensions".to_owned(), OptionValue::Flag(false))].into(),
            ..LoadRequestDraft::default()
        };
        let spack = LoadRequestDraft {
            url: Some(at("spack/repology.json")),
            ..LoadRequestDraft::default()
        };
        let lmod = LoadRequestDraft {
            url: Some(at("lmod/stallo.json")),
            catalog_name: Some("Stallo".into()),
            catalog_version: Some("2013".into()),
            options: [(
                "cpu_targets".to_owned(),
                OptionValue::List(vec!["x86_64/intel/sandybridge".into()]),
            )]
            .into(),
            ..LoadRequestDraft::default()
        };
        let conda = LoadRequestDraft {
            url: Some(at("conda")),
            catalog_name: Some("pytorch".into()),
            ..LoadRequestDraft::default()
        };
        let custom = LoadRequestDraft {
            url: Some(at("custom/example.yaml")),
            ..LoadRequestDraft::default()
        };
        let sample = Sample {
            config,
            database,
            fetcher: &fetcher,
        };
        sample
            .load::<EessiSource>(eessi::KIND, eessi, SAMPLE_EESSI_ORIGIN)
            .await?;
        sample
            .load::<SpackSource>(spack::KIND, spack, SAMPLE_SPACK_ORIGIN)
            .await?;
        sample
            .load::<LmodSource>(lmod::KIND, lmod, SAMPLE_LMOD_ORIGIN)
            .await?;
        sample
            .load::<CondaSource>(conda::KIND, conda, SAMPLE_CONDA_ORIGIN)
            .await?;
        sample
            .load::<CustomSource>(custom::KIND, custom, SAMPLE_CUSTOM_ORIGIN)
            .await?;
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result.context("loading the bundled sample")
}

/// What loading one sample source takes.
struct Sample<'a> {
    config: &'a Config,
    database: &'a sea_orm::DatabaseConnection,
    fetcher: &'a Fetcher,
}

impl Sample<'_> {
    /// Loads one sample source over the stored catalog, recording `origin`
    /// as its catalog's `source_url`.
    async fn load<S: RegisteredSource>(
        &self,
        kind: CatalogKind,
        draft: LoadRequestDraft,
        origin: &'static str,
    ) -> anyhow::Result<()> {
        let request = LoadRequestDraft {
            update_existing: true,
            ..draft
        }
        .resolve(kind, LoadDefaults::from_config(self.config, kind))?;
        let options = LoadOptions {
            update_existing: true,
            dry_run: false,
            allow_shrink: false,
            limits: self.config.sources.get(kind).shrink_limits(),
            bounds: self.config.loader,
        };
        let source = SampleSource {
            inner: S::from_request(&request)?,
            origin,
        };
        let result = load_source(self.database, &source, self.fetcher, options, &NoProgress).await;
        report_sample(kind, result)
    }
}
