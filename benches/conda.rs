//! Conda channel benchmark: `cargo bench --bench conda`.
//!
//! Builds, in a temporary directory, a channel whose `linux-64/repodata.json`
//! is about 200 MB (the size of conda-forge's): the real pytorch channel's
//! records copied again and again, each copy under its own package names
//! (`pytorch` → `pytorch-k0042`), the even copies in `packages` and the odd
//! ones in `packages.conda`. It then measures, on the bytes as the fetch
//! returns them:
//! - the conda source's parse alone, and its parse + transform (to the
//!   snapshot the loader compares);
//! - a plain `serde_json::from_slice::<serde_json::Value>` of the same bytes,
//!   what a whole-document tree costs before any transform;
//! - `serde_json::from_slice::<&RawValue>` (a check of the syntax that
//!   builds nothing), the floor of reading the bytes at all.
//!
//! It prints wall time and peak heap of each side by side, and the ratios.
//! Memory is the peak of heap in use during the step above what was in use
//! before it (the fetched bytes, in use before every step, are not counted),
//! counted by a tracking allocator over mimalloc, the allocator the softcat
//! binary uses. Each step runs three times; the fastest run's time counts,
//! and the largest peak.
//!
//! Needs the real data in `../shared/data` (or `SOFTCAT_DATA_DIR`); no
//! database.

#[path = "support/heap.rs"]
mod heap;
#[path = "support/measure.rs"]
mod measure;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json::value::RawValue;
use softcat_shared::config::FetchConfig;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::SourceBounds;
use softcat_shared::sources::CatalogSource;
use softcat_shared::sources::conda::CondaSource;

use measure::measure;

/// The size of conda-forge's `linux-64/repodata.json`.
const TARGET_BYTES: usize = 200 * 1000 * 1000;

fn main() -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("softcat-bench-conda-{}", std::process::id()));
    let result = run(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run(scratch: &Path) -> anyhow::Result<()> {
    let original = data_dir().join("conda/pytorch_linux-64_repodata.json");
    let repodata = scratch.join("linux-64/repodata.json");
    std::fs::create_dir_all(scratch.join("linux-64"))?;
    let (copies, records) = write_repodata(&original, &repodata)?;
    let bytes = std::fs::metadata(&repodata)?.len();

    let source = CondaSource {
        channel_url: scratch.to_string_lossy().into_owned(),
        catalog_name: "bench".into(),
        catalog_version: None,
        subdirs: CondaSource::default_subdirs(),
    };
    let fetcher = Fetcher::new(&FetchConfig::default())?;
    let documents = tokio::runtime::Runtime::new()?.block_on(source.fetch(&fetcher))?;

    let contents = std::fs::read(&repodata)?;
    let scan = measure("serde_json scan only", || {
        serde_json::from_slice::<&RawValue>(&contents)?;
        Ok(())
    })?;
    let mut size = None;
    let mut held = 0;
    let parse = measure("conda parse", || {
        let parsed = source.parse(&documents)?;
        drop(parsed);
        Ok(())
    })?;
    let transform = measure("conda parse + transform", || {
        let before = heap::in_use();
        let transformed = source.transform(source.parse(&documents)?, &SourceBounds::DEFAULT)?;
        held = heap::in_use().saturating_sub(before);
        size = Some((transformed.snapshot.size(), transformed.skipped.len()));
        drop(transformed);
        Ok(())
    })?;
    let tree = measure("serde_json Value", || {
        let value: Value = serde_json::from_slice(&contents)?;
        drop(value);
        Ok(())
    })?;

    println!(
        "\nconda: linux-64/repodata.json of {:.0} MB, {records} records ({copies} copies of pytorch's)",
        bytes as f64 / 1e6
    );
    if let Some((size, skipped)) = size {
        println!(
            "  snapshot: {} packages, {} versions, {} targets, {skipped} skipped",
            size.packages, size.versions, size.targets
        );
    }
    println!("  {:<26}{:>10}{:>12}", "step", "wall s", "heap MiB");
    for step in [&scan, &parse, &transform, &tree] {
        println!(
            "  {:<26}{:>10.3}{:>12.0}",
            step.label,
            step.wall.as_secs_f64(),
            step.peak_mib
        );
    }
    println!(
        "  parse heap / Value heap              = {:.0} / {:.0} = {:.2}  (target < 1)",
        parse.peak_mib,
        tree.peak_mib,
        parse.peak_mib / tree.peak_mib
    );
    println!(
        "  parse + transform heap / Value heap  = {:.0} / {:.0} = {:.2}  (target < 1)",
        transform.peak_mib,
        tree.peak_mib,
        transform.peak_mib / tree.peak_mib
    );
    let held_mib = held as f64 / (1024.0 * 1024.0);
    println!(
        "  the snapshot alone holds {held_mib:.0} MiB; a loader that built the Value first \
         would hold about {:.0} MiB at once",
        tree.peak_mib + held_mib
    );
    println!(
        "  parse wall / scan wall               = {:.2}",
        parse.wall.as_secs_f64() / scan.wall.as_secs_f64()
    );
    println!(
        "  parse wall / Value wall              = {:.2}",
        parse.wall.as_secs_f64() / tree.wall.as_secs_f64()
    );
    println!(
        "  parse + transform wall / Value wall  = {:.2}",
        transform.wall.as_secs_f64() / tree.wall.as_secs_f64()
    );
    Ok(())
}

/// Writes copies of the original's records, renamed per copy, until the
/// document is about [`TARGET_BYTES`]; returns the copies and records.
fn write_repodata(original: &Path, path: &Path) -> anyhow::Result<(usize, usize)> {
    let document: Value = serde_json::from_slice(&std::fs::read(original)?)?;
    let records: Vec<&Value> = ["packages", "packages.conda"]
        .into_iter()
        .filter_map(|map| document[map].as_object())
        .flat_map(|map| map.values())
        .collect();
    // One record of copy `copy` as `"file": {record}`.
    let entry = |out: &mut dyn Write, record: &Value, copy: usize, extension: &str| {
        let mut record = record.clone();
        let name = format!("{}-k{copy:04}", record["name"].as_str().unwrap_or("x"));
        let file = format!(
            "{name}-{}-{}.{extension}",
            record["version"].as_str().unwrap_or_default(),
            record["build"].as_str().unwrap_or_default()
        );
        record["name"] = Value::String(name);
        serde_json::to_writer(&mut *out, &file)?;
        out.write_all(b":")?;
        serde_json::to_writer(&mut *out, &record)?;
        anyhow::Ok(())
    };
    let mut one_copy = Vec::new();
    for record in &records {
        entry(&mut one_copy, record, 0, "tar.bz2")?;
        one_copy.push(b',');
    }
    let copies = TARGET_BYTES.div_ceil(one_copy.len());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(br#"{"info":{"subdir":"linux-64"},"packages":{"#)?;
    for (parity, extension) in [(0, "tar.bz2"), (1, "conda")] {
        if parity == 1 {
            out.write_all(br#"},"packages.conda":{"#)?;
        }
        let mut first = true;
        for copy in (0..copies).filter(|copy| copy % 2 == parity) {
            for record in &records {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                entry(&mut out, record, copy, extension)?;
            }
        }
    }
    out.write_all(br#"},"removed":[],"repodata_version":1}"#)?;
    out.flush()?;
    Ok((copies, copies * records.len()))
}

fn data_dir() -> PathBuf {
    std::env::var_os("SOFTCAT_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}
