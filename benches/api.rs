//! API benchmark over the real catalogs: `cargo bench --bench api`.
//!
//! Loads the full Spack and EESSI files into a scratch database, starts the
//! `softcat api` binary as a separate process on loopback, and drives it
//! from this process with a fixed number of requests over 64 concurrent
//! connections for four requests: (a) a package list page, (b) a `query=`
//! search, (c) a package detail with all its versions and targets, (d) a
//! `cpu_microarchitecture` filter. It prints requests per second and p50/p99
//! latency, and beside each the same SQL's throughput in Postgres alone
//! (pgbench, 64 clients), so the API's overhead shows as a ratio.
//! Targets: p99 under 20 ms, API throughput at least half the SQL's.
//!
//! Each request is measured twice: as clients see it (repeated requests are
//! answered from the API's response cache), and uncached (each request
//! carries a throwaway parameter, so every one runs its SQL).
//!
//! Needs Postgres at 127.0.0.1:5432 (or `SOFTCAT_BENCH_SERVER`), `pgbench`
//! on the PATH, and the real data in `../shared/data` (or `SOFTCAT_DATA_DIR`).
//! `SOFTCAT_BENCH_REQUESTS` sets the request count per scenario.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use softcat_shared::config::FetchConfig;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{self, LoadOptions, NoProgress};
use softcat_shared::sources::eessi::EessiSource;
use softcat_shared::sources::spack::SpackSource;
use softcat_shared::{accounts, db};

const CONNECTIONS: usize = 64;
const UPDATE: LoadOptions = LoadOptions {
    update_existing: true,
    dry_run: false,
    allow_shrink: false,
    limits: loader::ShrinkLimits::DEFAULT,
    bounds: loader::SourceBounds::DEFAULT,
};

/// One benchmarked request and the SQL the API runs for it.
struct Scenario {
    label: &'static str,
    path: String,
    sql: String,
}

struct Figures {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let data = data_dir();
    let server = std::env::var("SOFTCAT_BENCH_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("softcat_bench_api_{}", std::process::id());
    let url = format!("{server}/{name}");
    db::ensure_database(&url).await?;
    let result = bench(&data, &url, &name).await;
    db::drop_database(&url).await?;
    result
}

async fn bench(data: &Path, url: &str, database: &str) -> anyhow::Result<()> {
    let requests: usize = std::env::var("SOFTCAT_BENCH_REQUESTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(4_000);
    let connection = db::connect(url).await?;
    db::migrate(&connection).await?;
    load_catalogs(&connection, data).await?;
    accounts::create_user(&connection, "bench", false).await?;
    let token = accounts::create_token(&connection, "bench").await?;
    let scenarios = scenarios(&connection).await?;

    let port = free_port()?;
    let mut api = ApiProcess::start(url, port)?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await?;

    println!(
        "API benchmark: {requests} requests per scenario, {CONNECTIONS} connections, \
         API in a separate process on loopback"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>6} {:>11} {:>8} {:>10}",
        "request", "req/s", "p50 ms", "p99 ms", "errors", "SQL tx/s", "API/SQL", "p99 ≤ 20ms"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()?;
    for scenario in &scenarios {
        let url = format!("{base}{}", scenario.path);
        let separator = if url.contains('?') { '&' } else { '?' };
        let sql = pgbench(database, &scenario.sql, requests)?;
        let same = url.clone();
        drive(&client, &token, CONNECTIONS * 4, move |_| same.clone()).await?;
        let same = url.clone();
        let cached = drive(&client, &token, requests, move |_| same.clone()).await?;
        let uncached = drive(&client, &token, requests, move |n| {
            format!("{url}{separator}bench={n}")
        })
        .await?;
        for (mode, figures) in [("", cached), (" uncached", uncached)] {
            let verdict = if figures.p99 <= Duration::from_millis(20) {
                "met"
            } else {
                "NOT met"
            };
            println!(
                "{:<28} {:>9.0} {:>9.2} {:>9.2} {:>6} {:>11.0} {:>8.2} {:>10}",
                format!("{}{mode}", scenario.label),
                figures.requests_per_second,
                figures.p50.as_secs_f64() * 1e3,
                figures.p99.as_secs_f64() * 1e3,
                figures.errors,
                sql,
                figures.requests_per_second / sql,
                verdict,
            );
        }
    }
    api.stop();
    connection.close().await?;
    Ok(())
}

/// The four requests, with the SQL statements the API runs for each
/// (authentication aside), as pgbench replays them.
async fn scenarios(db: &DatabaseConnection) -> anyhow::Result<Vec<Scenario>> {
    const COLUMNS: &str = "p.id, p.uuid, p.name, p.description, p.homepage, \
        p.categories, p.licenses, p.maintainers, \
        c.uuid AS catalog_uuid, c.name AS catalog_name, c.version AS catalog_version, \
        c.catalog_type, p.is_extension, p.created, p.modified, \
        (SELECT coalesce(jsonb_agg(jsonb_build_object('uuid', pp.uuid, 'name', pp.name) \
                  ORDER BY pp.name, pp.id), '[]'::jsonb) \
           FROM software_packages pp WHERE pp.id IN ( \
             SELECT pv.package_id FROM software_versions ev \
             JOIN software_versions pv ON pv.id = ev.parent_version_id \
             WHERE ev.package_id = p.id)) AS parent_softwares, \
        (SELECT count(*) FROM software_versions v WHERE v.package_id = p.id) AS version_count, \
        (SELECT count(DISTINCT ev.package_id) FROM software_versions pv \
           JOIN software_versions ev ON ev.parent_version_id = pv.id \
           WHERE pv.package_id = p.id) AS extension_count";
    const FROM: &str = "FROM software_packages p JOIN software_catalogs c ON c.id = p.catalog_id";
    let list = |filter: &str| {
        format!(
            "SELECT count(*) {FROM}{filter};\n\
             SELECT {COLUMNS} {FROM}{filter} ORDER BY p.name ASC, p.id ASC LIMIT 10 OFFSET 0;\n"
        )
    };
    let query = " WHERE p.id IN (SELECT id FROM software_packages WHERE name ILIKE '%fftw%' \
        UNION SELECT id FROM software_packages WHERE description ILIKE '%fftw%' \
        UNION SELECT package_id FROM software_versions WHERE version ILIKE '%fftw%')";
    let micro = " WHERE p.cpu_microarchitectures && ARRAY['amd/zen4']::text[]";

    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT p.id, p.uuid::text AS uuid FROM software_packages p \
             JOIN software_catalogs c ON c.id = p.catalog_id \
             WHERE c.name = 'EESSI' AND p.name = 'GROMACS' AND NOT p.is_extension",
        ))
        .await?
        .context("GROMACS is not in the EESSI catalog")?;
    let id: i64 = row.try_get("", "id")?;
    let uuid: String = row.try_get("", "uuid")?;
    let detail = format!(
        "SELECT {COLUMNS} {FROM} WHERE p.uuid = '{uuid}';\n\
         SELECT count(*) FROM software_versions v JOIN software_packages p ON p.id = v.package_id \
           JOIN software_catalogs c ON c.id = p.catalog_id WHERE v.package_id = {id};\n\
         SELECT v.*, (SELECT count(*) FROM software_targets t WHERE t.version_id = v.id) \
           FROM software_versions v JOIN software_packages p ON p.id = v.package_id \
           JOIN software_catalogs c ON c.id = p.catalog_id WHERE v.package_id = {id} \
           ORDER BY softcat_version_key(v.version) DESC, v.modulename ASC, v.id ASC LIMIT 100;\n\
         SELECT t.* FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
           JOIN software_packages p ON p.id = v.package_id \
           JOIN software_catalogs c ON c.id = p.catalog_id \
           WHERE v.package_id = {id} ORDER BY t.target_type, t.target_name;\n\
         SELECT e.uuid, e.name, v.uuid, v.version, parent.uuid FROM software_versions v \
           JOIN software_versions parent ON parent.id = v.parent_version_id \
           JOIN software_packages e ON e.id = v.package_id \
           WHERE parent.package_id = {id} ORDER BY e.name, v.version, v.id;\n"
    );
    Ok(vec![
        Scenario {
            label: "(a) package list page",
            path: "/api/marketplace-software-packages/".into(),
            sql: list(""),
        },
        Scenario {
            label: "(b) query=fftw",
            path: "/api/marketplace-software-packages/?query=fftw".into(),
            sql: list(query),
        },
        Scenario {
            label: "(c) GROMACS detail",
            path: format!("/api/marketplace-software-packages/{uuid}/"),
            sql: detail,
        },
        Scenario {
            label: "(d) cpu_microarch=amd/zen4",
            path: "/api/marketplace-software-packages/?cpu_microarchitecture=amd/zen4".into(),
            sql: list(micro),
        },
    ])
}

async fn load_catalogs(db: &DatabaseConnection, data: &Path) -> anyhow::Result<()> {
    let fetcher = Fetcher::new(&FetchConfig::default())?;
    let spack = SpackSource {
        data_url: data.join("spack/repology.json").display().to_string(),
        catalog_name: "Spack".into(),
        catalog_version: None,
    };
    let eessi = EessiSource {
        api_url: data.join("eessi").display().to_string(),
        catalog_name: "EESSI".into(),
        catalog_version: None,
        include_extensions: true,
    };
    let started = Instant::now();
    loader::load_source(db, &spack, &fetcher, UPDATE, &NoProgress).await?;
    loader::load_source(db, &eessi, &fetcher, UPDATE, &NoProgress).await?;
    println!(
        "loaded Spack and EESSI in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Sends `requests` GETs over `CONNECTIONS` concurrent connections; request
/// `n` goes to `url(n)`.
async fn drive(
    client: &reqwest::Client,
    token: &str,
    requests: usize,
    url: impl Fn(usize) -> String + Send + Sync + 'static,
) -> anyhow::Result<Figures> {
    let url = Arc::new(url);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let header = format!("Token {token}");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let client = client.clone();
        let url = url.clone();
        let header = header.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                let sent = Instant::now();
                let response = client
                    .get(url(n))
                    .header("Authorization", &header)
                    .send()
                    .await;
                let ok = match response {
                    Ok(response) => {
                        let status = response.status();
                        response.bytes().await.is_ok() && status.is_success()
                    }
                    Err(_) => false,
                };
                latencies.push(sent.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for task in tasks {
        let (task_latencies, task_errors) = task.await?;
        latencies.extend(task_latencies);
        errors += task_errors;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Ok(Figures {
        requests_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(0.50),
        p99: percentile(0.99),
        errors,
    })
}

/// Transactions per second of `sql` under pgbench with 64 clients.
fn pgbench(database: &str, sql: &str, transactions: usize) -> anyhow::Result<f64> {
    let file = std::env::temp_dir().join(format!("softcat-bench-{}.sql", std::process::id()));
    std::fs::write(&file, sql)?;
    let per_client = transactions.div_ceil(CONNECTIONS).to_string();
    let output = Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-n", "-M", "prepared"])
        .args([
            "-c",
            &CONNECTIONS.to_string(),
            "-j",
            "2",
            "-t",
            &per_client,
            "-f",
        ])
        .arg(&file)
        .arg(database)
        .output()
        .context("running pgbench")?;
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {stdout}"))
}

/// The `softcat api` binary, run as its own process.
struct ApiProcess(Child);

impl ApiProcess {
    fn start(database_url: &str, port: u16) -> anyhow::Result<Self> {
        let child = Command::new(env!("CARGO_BIN_EXE_softcat"))
            .arg("api")
            .env("DATABASE_URL", database_url)
            .env("SOFTCAT_API__LISTEN", format!("127.0.0.1:{port}"))
            .env("SOFTCAT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting softcat api")?;
        Ok(Self(child))
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(format!("{base}/ready")).await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the API did not become ready at {base}")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn data_dir() -> PathBuf {
    std::env::var_os("SOFTCAT_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}
