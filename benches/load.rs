//! Load benchmark over the real catalogs: `cargo bench --bench load`.
//!
//! For the full Spack and EESSI files it measures, each in a fresh database:
//! the parse floor (parse only, from memory), a plain COPY of the same rows
//! into empty tables, a cold load, a no-op reload, and a reload of a copy in
//! which 5% of the packages changed. It prints wall time, rows per second,
//! peak heap of each step, and the ratios to the targets: cold load within
//! 3 × parse + COPY, no-op reload within 1.5 × parse. Memory is the peak of
//! heap in use during the step, counted by a tracking allocator over the
//! allocator the binary uses (mimalloc). Each step runs three times and
//! the fastest run counts; each waits until the one before has finished
//! its background work.
//!
//! Needs Postgres at 127.0.0.1:5432 (or `SOFTCAT_BENCH_SERVER`) and the real
//! data in `../shared/data` (or `SOFTCAT_DATA_DIR`).

#[path = "support/heap.rs"]
mod heap;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::PgPoolCopyExt;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use softcat_shared::config::FetchConfig;
use softcat_shared::db;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{self, LoadOptions, LoadReport, NoProgress};
use softcat_shared::sources::CatalogSource;
use softcat_shared::sources::eessi::{EessiSource, SOFTWARE_DOCUMENT, extension_document};
use softcat_shared::sources::spack::SpackSource;

const UPDATE: LoadOptions = LoadOptions {
    update_existing: true,
    dry_run: false,
    allow_shrink: false,
    limits: loader::ShrinkLimits::DEFAULT,
    bounds: loader::SourceBounds::DEFAULT,
};
/// Columns copied for the COPY floor, per table in foreign-key order.
const TABLES: [(&str, &str); 4] = [
    (
        "software_catalogs",
        "id, uuid, name, version, catalog_type, source, source_url, description, metadata",
    ),
    (
        "software_packages",
        "id, uuid, catalog_id, name, is_extension, description, homepage, categories, licenses, \
         maintainers, metadata, fingerprint, tree_fingerprint, \
         cpu_families, cpu_microarchitectures, cpu_targets",
    ),
    (
        "software_versions",
        "id, uuid, package_id, version, modulename, release_date, toolchain_name, \
         toolchain_version, toolchain_families_compatibility, required_modules, \
         parent_version_id, metadata, fingerprint, tree_fingerprint",
    ),
    (
        "software_targets",
        "id, uuid, version_id, target_type, target_name, cpu_family, cpu_microarchitecture, \
         path, metadata, fingerprint",
    ),
];

/// Rounds of every database step, each in a fresh database; the fastest
/// round of each step is reported, as for the parse floor, so that a
/// machine's noise does not decide the ratios.
const ROUNDS: usize = 3;

#[derive(Clone)]
struct Step {
    label: &'static str,
    wall: Duration,
    rows: u64,
    peak_mib: f64,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let data = data_dir();
        let scratch = std::env::temp_dir().join(format!("softcat-bench-{}", std::process::id()));
        std::fs::create_dir_all(&scratch)?;
        let result = run(&data, &scratch).await;
        let _ = std::fs::remove_dir_all(&scratch);
        result
    })
}

async fn run(data: &Path, scratch: &Path) -> anyhow::Result<()> {
    let spack_file = data.join("spack/repology.json");
    let spack_modified = scratch.join("repology.json");
    write_modified_spack(&spack_file, &spack_modified)?;
    let spack = |path: &Path| SpackSource {
        data_url: path.to_string_lossy().into_owned(),
        catalog_name: "Spack".into(),
        catalog_version: None,
    };
    bench("Spack", &spack(&spack_file), &spack(&spack_modified)).await?;

    let eessi_dir = data.join("eessi");
    let eessi_modified = scratch.join("eessi");
    write_modified_eessi(&eessi_dir, &eessi_modified)?;
    let eessi = |path: &Path| EessiSource {
        api_url: path.to_string_lossy().into_owned(),
        catalog_name: "EESSI".into(),
        catalog_version: None,
        include_extensions: true,
    };
    bench("EESSI", &eessi(&eessi_dir), &eessi(&eessi_modified)).await
}

async fn bench<S: CatalogSource>(name: &str, source: &S, modified: &S) -> anyhow::Result<()> {
    let fetcher = Fetcher::new(&FetchConfig::default())?;
    let documents = source.fetch(&fetcher).await?;
    let mut parse = Duration::MAX;
    heap::reset_peak();
    for _ in 0..3 {
        let started = Instant::now();
        let parsed = source.parse(&documents)?;
        parse = parse.min(started.elapsed());
        drop(parsed);
    }
    let parse_step = Step {
        label: "parse only",
        wall: parse,
        rows: 0,
        peak_mib: heap::peak_since(0),
    };
    drop(documents);

    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let mut database = ScratchDb::new().await?;
        database.settle().await?;
        let cold = timed("cold load", || {
            loader::load_source(&database.conn, source, &fetcher, UPDATE, &NoProgress)
        })
        .await?;
        database.settle().await?;
        let noop = timed("no-op reload", || {
            loader::load_source(&database.conn, source, &fetcher, UPDATE, &NoProgress)
        })
        .await?;
        database.settle().await?;
        let changed = timed("5% modified", || {
            loader::load_source(&database.conn, modified, &fetcher, UPDATE, &NoProgress)
        })
        .await?;
        database.settle().await?;
        let copy = copy_floor(&database).await?;
        database.drop().await?;
        rounds.push([copy, cold, noop, changed]);
    }
    let [copy, cold, noop, changed] = [0, 1, 2, 3].map(|step| fastest(&rounds, step));

    println!("\n{name}");
    println!(
        "  {:<14}{:>10}{:>10}{:>12}{:>12}",
        "step", "wall s", "rows", "rows/s", "heap MiB"
    );
    for step in [&parse_step, &copy, &cold, &noop, &changed] {
        let rate = if step.rows > 0 {
            format!("{:.0}", step.rows as f64 / step.wall.as_secs_f64())
        } else {
            "-".to_owned()
        };
        println!(
            "  {:<14}{:>10.3}{:>10}{:>12}{:>12.0}",
            step.label,
            step.wall.as_secs_f64(),
            step.rows,
            rate,
            step.peak_mib
        );
    }
    let budget = 3.0 * parse.as_secs_f64() + copy.wall.as_secs_f64();
    println!(
        "  cold load / (3 × parse + COPY) = {:.2} / {:.2} = {:.2}  (target ≤ 1)",
        cold.wall.as_secs_f64(),
        budget,
        cold.wall.as_secs_f64() / budget
    );
    println!(
        "  no-op reload / parse            = {:.2}  (target ≤ 1.5)",
        noop.wall.as_secs_f64() / parse.as_secs_f64()
    );
    Ok(())
}

/// The fastest of the rounds' runs of one step.
fn fastest(rounds: &[[Step; 4]], step: usize) -> Step {
    rounds
        .iter()
        .map(|round| round[step].clone())
        .min_by_key(|run| run.wall)
        .expect("ROUNDS is at least one")
}

async fn timed<F, Fut>(label: &'static str, load: F) -> anyhow::Result<Step>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<LoadReport, loader::LoadError>>,
{
    heap::reset_peak();
    let started = Instant::now();
    let report = load().await?;
    Ok(Step {
        label,
        wall: started.elapsed(),
        rows: report.rows_written(),
        peak_mib: heap::peak_since(0),
    })
}

/// A plain COPY of the loaded rows into empty tables of a fresh database.
async fn copy_floor(loaded: &ScratchDb) -> anyhow::Result<Step> {
    let source = loaded.conn.get_postgres_connection_pool();
    let mut exports = Vec::new();
    for (table, columns) in TABLES {
        let mut out = source
            .copy_out_raw(&format!("COPY (SELECT {columns} FROM {table}) TO STDOUT"))
            .await?;
        let mut bytes = Vec::new();
        use futures_util::StreamExt;
        while let Some(chunk) = out.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        exports.push((table, columns, bytes));
    }
    let mut target = ScratchDb::new().await?;
    target.settle().await?;
    let pool = target.conn.get_postgres_connection_pool();
    heap::reset_peak();
    let started = Instant::now();
    let mut rows = 0;
    for (table, columns, bytes) in &exports {
        let mut copy = pool
            .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await?;
        copy.send(bytes.as_slice()).await?;
        rows += copy.finish().await?;
    }
    let step = Step {
        label: "plain COPY",
        wall: started.elapsed(),
        rows,
        peak_mib: heap::peak_since(0),
    };
    target.drop().await?;
    Ok(step)
}

/// Every 20th package gets a new summary and a new version.
fn write_modified_spack(original: &Path, modified: &Path) -> anyhow::Result<()> {
    let mut document: Value = serde_json::from_slice(&std::fs::read(original)?)?;
    if let Some(packages) = document["packages"].as_object_mut() {
        for package in packages.values_mut().step_by(20) {
            package["summary"] = json!("changed for the benchmark");
            if let Some(versions) = package["version"].as_array_mut() {
                versions.push(json!({"version": "0.0.0-bench", "downloads": []}));
            }
        }
    }
    std::fs::write(modified, serde_json::to_vec(&document)?)?;
    Ok(())
}

/// Every 20th software gets a new description; extensions stay as they are.
fn write_modified_eessi(original: &Path, modified: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(modified)?;
    let mut document: Value =
        serde_json::from_slice(&std::fs::read(original.join(SOFTWARE_DOCUMENT))?)?;
    if let Some(software) = document["software"].as_object_mut() {
        for entry in software.values_mut().step_by(20) {
            entry["description"] = json!("changed for the benchmark");
        }
    }
    std::fs::write(
        modified.join(SOFTWARE_DOCUMENT),
        serde_json::to_vec(&document)?,
    )?;
    let python = extension_document("python");
    std::fs::copy(original.join(&python), modified.join(&python))?;
    Ok(())
}

struct ScratchDb {
    url: String,
    conn: DatabaseConnection,
}

impl ScratchDb {
    async fn new() -> anyhow::Result<Self> {
        let server = std::env::var("SOFTCAT_BENCH_SERVER")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let url = format!("{server}/softcat_bench_{}", uuid::Uuid::new_v4().simple());
        db::ensure_database(&url).await?;
        let conn = db::connect(&url).await?;
        db::migrate(&conn).await?;
        Ok(Self { url, conn })
    }

    /// Lets the next step be measured alone: waits for what a load leaves
    /// running in the background (it holds a connection of the pool until
    /// it is done) and has the server flush what earlier steps wrote, so
    /// that a checkpoint does not fall into the next step.
    async fn settle(&mut self) -> anyhow::Result<()> {
        self.conn.close_by_ref().await?;
        self.conn = db::connect(&self.url).await?;
        if let Err(error) = self.conn.execute_unprepared("CHECKPOINT").await {
            eprintln!("note: no CHECKPOINT between steps ({error}); figures are noisier");
        }
        Ok(())
    }

    async fn drop(self) -> anyhow::Result<()> {
        self.conn.close().await?;
        db::drop_database(&self.url).await?;
        Ok(())
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os("SOFTCAT_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}
