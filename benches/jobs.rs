//! Queue benchmark: `cargo bench --bench jobs`.
//!
//! With 1, 2 and 4 `softcat worker` processes on one Redis queue it measures
//! the rate at which they work off a backlog of probe jobs (jobs that do
//! nothing, so the figure is the queue's and the job records', not a
//! load's), and the enqueue-to-start latency of a job arriving at idle
//! workers (p50/p99). Then it times
//! `POST /api/admin/software-catalogs/refresh/` until both real catalogs
//! (the full EESSI and Spack files) are loaded by two workers.
//!
//! Needs Postgres at 127.0.0.1:5432 (or `SOFTCAT_BENCH_SERVER`), Redis at
//! 127.0.0.1:6379 (or `REDIS_URL`) and the real data in `../shared/data`
//! (or `SOFTCAT_DATA_DIR`). Each run uses its own database and queue
//! namespace and removes them at the end.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use softcat_shared::config::Config;
use softcat_shared::jobs::{self, JobSpec};
use softcat_shared::{accounts, db};
use softcat_worker::RedisQueue;

/// Probe jobs per throughput run.
const PROBES: usize = 400;
/// Jobs sent one at a time to idle workers for the latency figures.
const LATENCY_SAMPLES: usize = 40;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = std::env::var("SOFTCAT_BENCH_SERVER")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let redis_url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let database_url = format!("{server}/softcat_bench_jobs_{}", std::process::id());
        let queue = format!("softcat-bench:{}", uuid::Uuid::new_v4().simple());
        db::ensure_database(&database_url).await?;
        let result = run(&database_url, &redis_url, &queue).await;
        db::drop_database(&database_url).await?;
        clear_queue(&redis_url, &queue)?;
        result
    })
}

async fn run(database_url: &str, redis_url: &str, queue_name: &str) -> anyhow::Result<()> {
    let database = db::connect(database_url).await?;
    db::migrate(&database).await?;
    let mut config = Config {
        database_url: database_url.into(),
        redis_url: redis_url.into(),
        ..Config::default()
    };
    config.jobs.queue = queue_name.into();
    let config = Arc::new(config);
    let queue = RedisQueue::new(redis_url, &config.jobs)?;

    println!(
        "probe jobs: a backlog of {PROBES} worked off per run; latency: {LATENCY_SAMPLES} jobs sent to idle workers"
    );
    println!(
        "{:>8} {:>10} {:>12} {:>12} {:>12}",
        "workers", "jobs/s", "latency p50", "latency p99", "max"
    );
    for workers in [1, 2, 4] {
        // A backlog first, then the workers: the rate is the queue's, not
        // the enqueuer's, measured from the first start to the last end.
        let run = format!("backlog-{workers}");
        enqueue_probes(&database, &queue, PROBES, &run).await?;
        let processes: Vec<Worker> = (0..workers)
            .map(|_| Worker::spawn(&config))
            .collect::<anyhow::Result<_>>()?;
        wait_until_ended(&database, &run, PROBES).await?;
        let rate = PROBES as f64 / busy_seconds(&database, &run).await?;
        let latencies = idle_latencies(&database, &queue, workers).await?;
        println!(
            "{workers:>8} {rate:>10.0} {:>10.1}ms {:>10.1}ms {:>10.1}ms",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
        );
        drop(processes);
    }
    let repeated = database
        .query_one_raw(Statement::from_string(
            database.get_database_backend(),
            "SELECT count(*) AS n FROM jobs WHERE kind = 'probe' AND attempts <> 1",
        ))
        .await?
        .context("count")?
        .try_get::<i64>("", "n")?;
    println!("probe jobs started more than once or never: {repeated}");

    refresh_real_catalogs(&config, &database).await
}

/// Enqueues `count` probes labelled `run-<n>`.
async fn enqueue_probes(
    database: &DatabaseConnection,
    queue: &RedisQueue,
    count: usize,
    run: &str,
) -> anyhow::Result<()> {
    for index in 0..count {
        let spec = JobSpec::Probe {
            label: format!("{run}-{index}"),
        };
        jobs::enqueue(database, queue, &spec, "bench", None, 1).await?;
    }
    Ok(())
}

/// Waits until `count` probes of `run` have ended.
async fn wait_until_ended(
    database: &DatabaseConnection,
    run: &str,
    count: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while ended(database, run).await? < count as i64 {
        if Instant::now() > deadline {
            bail!("{run}: jobs did not end within 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Seconds from the first start to the last end among the probes of `run`.
async fn busy_seconds(database: &DatabaseConnection, run: &str) -> anyhow::Result<f64> {
    let row = database
        .query_one_raw(Statement::from_sql_and_values(
            database.get_database_backend(),
            "SELECT extract(epoch FROM max(finished) - min(started))::float8 AS secs \
             FROM jobs WHERE parameters->>'label' LIKE $1",
            [format!("{run}-%").into()],
        ))
        .await?
        .context("busy time")?;
    Ok(row.try_get("", "secs")?)
}

async fn ended(database: &DatabaseConnection, run: &str) -> anyhow::Result<i64> {
    let row = database
        .query_one_raw(Statement::from_sql_and_values(
            database.get_database_backend(),
            "SELECT count(*) AS n FROM jobs WHERE kind = 'probe' AND state = 'succeeded' \
             AND parameters->>'label' LIKE $1",
            [format!("{run}-%").into()],
        ))
        .await?
        .context("count")?;
    Ok(row.try_get("", "n")?)
}

/// Milliseconds from enqueue to start of jobs sent one at a time to idle
/// workers, as the job records have them.
async fn idle_latencies(
    database: &DatabaseConnection,
    queue: &RedisQueue,
    workers: usize,
) -> anyhow::Result<Vec<f64>> {
    let run = format!("latency-{workers}");
    for index in 0..LATENCY_SAMPLES {
        let spec = JobSpec::Probe {
            label: format!("{run}-{index}"),
        };
        jobs::enqueue(database, queue, &spec, "bench", None, 1).await?;
        // Let the workers go idle again between jobs.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    wait_until_ended(database, &run, LATENCY_SAMPLES).await?;
    let rows = database
        .query_all_raw(Statement::from_sql_and_values(
            database.get_database_backend(),
            "SELECT extract(epoch FROM started - created)::float8 * 1000 AS ms FROM jobs \
             WHERE parameters->>'label' LIKE $1",
            [format!("{run}-%").into()],
        ))
        .await?;
    let mut latencies = rows
        .iter()
        .map(|row| row.try_get::<f64>("", "ms"))
        .collect::<Result<Vec<_>, _>>()?;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

/// Times the manual refresh of both real catalogs: API call to both loads
/// ended, with two workers.
async fn refresh_real_catalogs(
    config: &Arc<Config>,
    database: &DatabaseConnection,
) -> anyhow::Result<()> {
    let data = data_dir();
    let settings = json!({
        "SOFTWARE_CATALOG_EESSI_API_URL": data.join("eessi").display().to_string() + "/",
        "SOFTWARE_CATALOG_SPACK_DATA_URL": data.join("spack/repology.json").display().to_string(),
    });
    let changes = settings.as_object().context("settings")?;
    softcat_shared::settings::CatalogSettings::update(database, config, changes).await?;
    accounts::create_user(database, "bench", true).await?;
    let token = accounts::create_token(database, "bench").await?;

    let mut api_config = (**config).clone();
    api_config.api.listen = "127.0.0.1:0".into();
    let queue = RedisQueue::new(&config.redis_url, &config.jobs)?;
    let server =
        softcat_api::ApiServer::bind(Arc::new(api_config), database.clone(), Arc::new(queue))
            .await?;
    let address = server.local_addr().context("API address")?;
    let api = tokio::spawn(server.run_until(std::future::pending()));
    let workers: Vec<Worker> = (0..2)
        .map(|_| Worker::spawn(config))
        .collect::<anyhow::Result<_>>()?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let client = reqwest::Client::new();
    let started = Instant::now();
    let answer = client
        .post(format!(
            "http://{address}/api/admin/software-catalogs/refresh/"
        ))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    let refresh = answer["id"].as_str().context("refresh id")?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(900);
    let loads = loop {
        let rows = database
            .query_all_raw(Statement::from_sql_and_values(
                database.get_database_backend(),
                "SELECT catalog, state, extract(epoch FROM finished - started)::float8 AS secs \
                 FROM jobs WHERE parent_id = $1::uuid AND state IN ('succeeded', 'unchanged', 'failed')",
                [refresh.clone().into()],
            ))
            .await?;
        if rows.len() == 2 {
            break rows;
        }
        if Instant::now() > deadline {
            bail!("the refresh did not end within 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let total = started.elapsed();
    println!(
        "\nrefresh of both real catalogs (2 workers), API call to both loaded: {:.2} s",
        total.as_secs_f64()
    );
    for row in loads {
        let catalog: String = row.try_get("", "catalog")?;
        let state: String = row.try_get("", "state")?;
        let secs: f64 = row.try_get("", "secs")?;
        println!("  {catalog:<6} {state:<10} load {secs:.2} s");
    }
    drop(workers);
    api.abort();
    Ok(())
}

/// A `softcat worker` process of the release build, killed when dropped.
struct Worker(Child);

impl Worker {
    fn spawn(config: &Config) -> anyhow::Result<Self> {
        let child = Command::new(env!("CARGO_BIN_EXE_softcat"))
            .arg("worker")
            .env("DATABASE_URL", &config.database_url)
            .env("REDIS_URL", &config.redis_url)
            .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
            .env("SOFTCAT_JOBS__QUEUE", &config.jobs.queue)
            .env("SOFTCAT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Self(child))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os("SOFTCAT_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

fn clear_queue(redis_url: &str, queue: &str) -> anyhow::Result<()> {
    let mut connection = redis::Client::open(redis_url)?.get_connection()?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{queue}*"))
        .query(&mut connection)?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(keys).query::<()>(&mut connection)?;
    }
    redis::cmd("ZREM")
        .arg("core:apalis:queues:list")
        .arg(format!("{queue}:workers"))
        .query::<()>(&mut connection)?;
    Ok(())
}
