//! Hostile-source benchmark: `cargo bench --bench hostile`.
//!
//! A source may publish a package with a million versions. A load keeps its
//! newest `loader.max_versions_per_package` (5,000), and every source makes
//! that cut in its transform, before the versions are built into snapshot
//! rows. This builds, in memory, the real Spack `repology.json` with one
//! such package added (`huge`, 1,000,000 versions of one download each),
//! and measures on its bytes, as a load runs them after the fetch:
//! - parse + transform + the loader's bounds of the real file alone;
//! - the same of the file with `huge`;
//! - the same with the cut made only after the transform (every version
//!   built first, then cut), what loads did before the transform cut.
//!
//! It prints wall time and peak heap of each, and what `huge` costs over
//! the real file per byte of its text in the document: the target is a few
//! times its text (< 4), however many versions it lists, where building
//! every version first costs over ten times.
//!
//! Needs the real data in `../shared/data` (or `SOFTCAT_DATA_DIR`); no
//! database.

#[path = "support/heap.rs"]
mod heap;
#[path = "support/measure.rs"]
mod measure;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use softcat_shared::loader::SourceBounds;
use softcat_shared::snapshot::SnapshotSize;
use softcat_shared::sources::CatalogSource;
use softcat_shared::sources::spack::SpackSource;

use measure::{Step, measure};

const VERSIONS: usize = 1_000_000;
/// What `huge` may cost over the real file, per byte of its text.
const TARGET_HEAP_PER_BYTE: f64 = 4.0;

fn main() -> anyhow::Result<()> {
    let real = std::fs::read(data_dir().join("spack/repology.json"))?;
    let hostile = with_huge_package(&real)?;
    let extra_bytes = (hostile.len() - real.len()) as f64;
    let source = SpackSource {
        data_url: "repology.json".into(),
        catalog_name: "Spack".into(),
        catalog_version: None,
    };
    let bounds = SourceBounds::DEFAULT;
    let uncut = SourceBounds {
        max_versions_per_package: usize::MAX,
        ..bounds
    };
    let mut sizes = Vec::new();
    let mut load = |label, bytes: &Vec<u8>, transform_bounds: SourceBounds| {
        measure(label, || {
            let mut transformed = source.transform(source.parse(bytes)?, &transform_bounds)?;
            bounds.apply(&mut transformed);
            sizes.push((label, transformed.snapshot.size()));
            Ok(())
        })
    };
    let plain = load("real file", &real, bounds)?;
    let cut = load("with huge, cut in transform", &hostile, bounds)?;
    let late = load("with huge, cut after", &hostile, uncut)?;
    sizes.dedup_by_key(|(label, _)| *label);

    println!(
        "\nhostile Spack source: the real repology.json ({:.1} MB) and a package of {VERSIONS} \
         versions ({:.1} MB more)",
        real.len() as f64 / 1e6,
        extra_bytes / 1e6
    );
    for (label, size) in &sizes {
        let SnapshotSize {
            packages,
            versions,
            targets,
        } = size;
        println!("  {label:<30} {packages} packages, {versions} versions, {targets} targets");
    }
    println!(
        "  {:<30}{:>10}{:>12}",
        "parse + transform + bounds", "wall s", "heap MiB"
    );
    for step in [&plain, &cut, &late] {
        println!(
            "  {:<30}{:>10.3}{:>12.0}",
            step.label,
            step.wall.as_secs_f64(),
            step.peak_mib
        );
    }
    let per_byte = |step: &Step| (step.peak_mib - plain.peak_mib) * 1024.0 * 1024.0 / extra_bytes;
    println!(
        "  huge's heap per byte of its text, cut in transform = {:.2}  (target < {TARGET_HEAP_PER_BYTE})",
        per_byte(&cut)
    );
    println!(
        "  huge's heap per byte of its text, cut after        = {:.2}",
        per_byte(&late)
    );
    Ok(())
}

/// The real document with the package `huge` added.
fn with_huge_package(real: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut document: Value = serde_json::from_slice(real)?;
    let versions: Vec<Value> = (0..VERSIONS)
        .map(|v| {
            json!({
                "version": format!("1.{v}"),
                "downloads": [format!("https://example.org/huge-1.{v}.tar.gz")],
            })
        })
        .collect();
    document["packages"]["huge"] = json!({"name": "huge", "summary": "x", "version": versions});
    Ok(serde_json::to_vec(&document)?)
}

fn data_dir() -> PathBuf {
    std::env::var_os("SOFTCAT_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}
