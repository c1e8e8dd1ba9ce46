//! How loads behave over time: idempotence, exact updates, dry runs, existing
//! catalogs, and concurrent loads.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use softcat_shared::config::FetchConfig;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{self, LevelCounts, LoadOptions, LoadOutcome, Phase, Progress};
use support::*;

const SAMPLE: &str = "spack/published-sample_repology.json";
/// The published sample holds 8 packages, 22 versions, and 24 targets (7zip
/// is `windows` and `detectable`: two extra variants on its one version).
const SAMPLE_SIZE: (u64, u64, u64) = (8, 22, 24);

fn sample() -> Value {
    serde_json::from_slice(&std::fs::read(data_file(SAMPLE)).unwrap()).unwrap()
}

/// The sample with one change of every kind:
/// - 3dtk: new summary (package updated);
/// - 3proxy: 0.8.11 gone (version and target deleted), 0.8.14 new;
/// - 7zip: no longer `detectable` (package updated, its `external/system` target deleted);
/// - D (ldc): gone (package, version and target deleted);
/// - abacus 2.2.0: new download URL (version updated);
/// - zz-new: a new package with two versions.
fn modified_sample() -> Value {
    let mut document = sample();
    let packages = document["packages"].as_object_mut().unwrap();
    packages["3dtk"]["summary"] = json!("The 3D Toolkit, described anew.\n");
    let versions = packages["3proxy"]["version"].as_array_mut().unwrap();
    versions.retain(|v| v["version"] != "0.8.11");
    versions.push(json!({"version": "0.8.14", "downloads": []}));
    packages["7zip"]["categories"] = json!(["windows"]);
    packages.remove("D");
    packages["abacus"]["version"][0]["downloads"] = json!(["https://example.org/abacus-2.2.0.tgz"]);
    packages.insert(
        "zz-new".into(),
        json!({"name": "zz-new", "summary": "new", "categories": [], "homepages": [],
               "version": [{"version": "1.0"}, {"version": "2.0", "downloads": []}]}),
    );
    document
}

fn counts(created: u64, updated: u64, unchanged: u64, deleted: u64) -> LevelCounts {
    LevelCounts {
        created,
        updated,
        unchanged,
        deleted,
        skipped: 0,
    }
}

#[tokio::test]
async fn an_update_writes_exactly_the_differences() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let original = spack_source(data_file(SAMPLE));
    db.load_spack(&original, FIRST_LOAD)
        .await
        .expect("first load");
    const UUID_3DTK: &str = "SELECT uuid::text FROM software_packages WHERE name = '3dtk'";
    let uuid_before = db.text(UUID_3DTK).await;

    let modified = spack_source(dir.write("repology.json", modified_sample().to_string()));
    let report = db.load_spack(&modified, UPDATE).await.expect("update");

    assert_eq!(report.outcome, LoadOutcome::Updated);
    assert_eq!(report.packages, counts(1, 2, 5, 1));
    assert_eq!(report.versions, counts(3, 1, 19, 2));
    assert_eq!(report.targets, counts(3, 0, 21, 3));
    assert_eq!(db.catalog_size("Spack", "2025-03-20").await, (8, 23, 24));

    let stale = db
        .count(
            "SELECT (SELECT count(*) FROM software_packages WHERE name = 'ldc') \
                  + (SELECT count(*) FROM software_versions WHERE version = '0.8.11') \
                  + (SELECT count(*) FROM software_targets WHERE target_type = 'external')",
        )
        .await;
    assert_eq!(stale, 0, "stale rows survived the update");
    let summary = db
        .count(
            "SELECT count(*) FROM software_packages \
             WHERE name = '3dtk' AND description = 'The 3D Toolkit, described anew.'",
        )
        .await;
    assert_eq!(summary, 1);
    // Updated rows keep their identity (the API's UUIDs stay valid).
    assert_eq!(db.text(UUID_3DTK).await, uuid_before);

    let again = db.load_spack(&modified, UPDATE).await.expect("reload");
    assert_eq!(again.outcome, LoadOutcome::Unchanged);
    assert_eq!(again.rows_written(), 0);
}

#[tokio::test]
async fn a_dry_run_counts_everything_and_writes_nothing() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let original = spack_source(data_file(SAMPLE));

    let report = db.load_spack(&original, DRY_RUN).await.expect("dry run");
    assert_eq!(report.outcome, LoadOutcome::DryRun);
    assert_eq!(
        (
            report.packages.created,
            report.versions.created,
            report.targets.created
        ),
        SAMPLE_SIZE
    );
    assert!(db.dump().await.is_empty(), "a dry run wrote rows");

    db.load_spack(&original, FIRST_LOAD).await.expect("load");
    let before = db.dump().await;
    let modified = spack_source(dir.write("repology.json", modified_sample().to_string()));
    let report = db.load_spack(&modified, DRY_RUN).await.expect("dry run");
    assert_eq!(report.outcome, LoadOutcome::DryRun);
    assert_eq!(report.packages, counts(1, 2, 5, 1));
    assert_eq!(report.versions, counts(3, 1, 19, 2));
    assert_eq!(report.targets, counts(3, 0, 21, 3));
    assert_eq!(db.dump().await, before);
}

#[tokio::test]
async fn an_existing_catalog_is_left_alone_without_update_existing() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    db.load_spack(&spack_source(data_file(SAMPLE)), FIRST_LOAD)
        .await
        .expect("load");
    let before = db.dump().await;

    let modified = spack_source(dir.write("repology.json", modified_sample().to_string()));
    let report = db.load_spack(&modified, FIRST_LOAD).await.expect("load");
    assert_eq!(report.outcome, LoadOutcome::LeftExisting);
    assert_eq!(report.rows_written(), 0);
    assert!(report.catalog_uuid.is_some());
    assert_eq!(db.dump().await, before);
}

#[tokio::test]
async fn two_loads_of_one_catalog_are_serialised() {
    let db = TestDb::new().await;
    let source = spack_source(data_file("spack/repology.json"));
    let (first, second) = tokio::join!(
        db.load_spack(&source, UPDATE),
        db.load_spack(&source, UPDATE)
    );
    let mut outcomes = [
        first.expect("first").outcome,
        second.expect("second").outcome,
    ];
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    assert_eq!(outcomes, [LoadOutcome::Created, LoadOutcome::Unchanged]);
    assert_eq!(db.count("SELECT count(*) FROM software_catalogs").await, 1);
    let (packages, versions, _) = db.catalog_size("Spack", "2026-07-01").await;
    assert_eq!((packages, versions), (8931, 43364));
}

#[tokio::test]
async fn two_catalogs_load_at_once_independently() {
    let db = TestDb::new().await;
    let spack = spack_source(data_file(SAMPLE));
    let mut eessi = eessi_source(data_dir().join("eessi").to_string_lossy());
    eessi.include_extensions = false;
    let mut other_spack = spack_source(data_file(SAMPLE));
    other_spack.catalog_version = Some("pinned".into());

    let (a, b, c) = tokio::join!(
        db.load_spack(&spack, FIRST_LOAD),
        db.load_eessi(&eessi, FIRST_LOAD),
        db.load_spack(&other_spack, FIRST_LOAD)
    );
    for report in [a, b, c] {
        assert_eq!(report.expect("load").outcome, LoadOutcome::Created);
    }
    assert_eq!(db.catalog_size("Spack", "2025-03-20").await, SAMPLE_SIZE);
    assert_eq!(db.catalog_size("Spack", "pinned").await, SAMPLE_SIZE);
    let (eessi_packages, _, _) = db.catalog_size("EESSI", "2025.06").await;
    assert!(eessi_packages > 0);
    assert_eq!(db.count("SELECT count(*) FROM software_catalogs").await, 3);
}

#[tokio::test]
async fn turning_extensions_off_removes_them_on_update() {
    let db = TestDb::new().await;
    let mut source = eessi_source(data_dir().join("eessi").to_string_lossy());
    let with = db.load_eessi(&source, FIRST_LOAD).await.expect("load");
    source.include_extensions = false;
    let without = db
        .load_eessi(
            &source,
            LoadOptions {
                update_existing: true,
                dry_run: false,
                allow_shrink: false,
                limits: loader::ShrinkLimits::DEFAULT,
                bounds: loader::SourceBounds::DEFAULT,
            },
        )
        .await
        .expect("update");
    let extension_packages = db
        .count("SELECT count(*) FROM software_packages WHERE is_extension")
        .await;
    assert_eq!(extension_packages, 0);
    assert!(without.packages.deleted > 0);
    assert_eq!(
        with.packages.created - without.packages.deleted,
        without.packages.unchanged
    );
}

#[tokio::test]
async fn the_same_data_in_other_bytes_is_compared_and_found_unchanged() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let source = spack_source(dir.write("repology.json", sample().to_string()));
    db.load_spack(&source, FIRST_LOAD).await.expect("load");
    let before = db.dump().await;
    // Pretty-printed: other bytes, so no early end; the full comparison
    // must find every row unchanged and write nothing.
    dir.write(
        "repology.json",
        serde_json::to_string_pretty(&sample()).unwrap(),
    );
    let report = db.load_spack(&source, UPDATE).await.expect("reload");
    assert_eq!(report.outcome, LoadOutcome::Unchanged);
    assert_eq!(report.packages, counts(0, 0, 8, 0));
    assert_eq!(report.versions, counts(0, 0, 22, 0));
    assert_eq!(report.targets, counts(0, 0, 24, 0));
    let data_rows = |rows: Vec<String>| -> Vec<String> {
        // The catalog row records which documents it was loaded from.
        rows.into_iter().skip(1).collect()
    };
    assert_eq!(data_rows(db.dump().await), data_rows(before));
}

#[tokio::test]
async fn a_reload_of_the_same_documents_reports_from_the_last_load() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let mut document = sample();
    document["packages"]["abacus"]["version"] = json!("not a list");
    let source = spack_source(dir.write("repology.json", document.to_string()));
    let first = db.load_spack(&source, FIRST_LOAD).await.expect("load");
    assert_eq!(first.packages.skipped, 1);

    let again = db.load_spack(&source, UPDATE).await.expect("reload");
    assert_eq!(again.outcome, LoadOutcome::Unchanged);
    assert_eq!(again.packages.unchanged, first.packages.created);
    assert_eq!(again.versions.unchanged, first.versions.created);
    assert_eq!(again.targets.unchanged, first.targets.created);
    assert_eq!(again.skipped, first.skipped);
    assert_eq!(again.catalog_uuid, first.catalog_uuid);

    let dry = db.load_spack(&source, DRY_RUN).await.expect("dry run");
    assert_eq!(dry.outcome, LoadOutcome::DryRun);
    assert_eq!(dry.rows_written(), 0);
    let left = db.load_spack(&source, FIRST_LOAD).await.expect("again");
    assert_eq!(left.outcome, LoadOutcome::LeftExisting);
}

#[tokio::test]
async fn text_that_the_copy_format_escapes_is_stored_as_the_source_has_it() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let summary = "tab\there, new\nline, carriage\rreturn, back\\slash, \\N, \"quoted\", ünïcode";
    let mut document = sample();
    let package = &mut document["packages"]["3dtk"];
    package["summary"] = json!(summary);
    package["maintainers"] = json!(["back\\slash", "tab\tand \"quote\""]);
    package["version"] = json!([{"version": "\\N"}, {"version": "1.0\tbeta"}]);
    let source = spack_source(dir.write("repology.json", document.to_string()));
    db.load_spack(&source, FIRST_LOAD).await.unwrap();

    let stored = db
        .text(
            "SELECT json_build_array(description, maintainers, \
               (SELECT json_agg(version ORDER BY version COLLATE \"C\") FROM software_versions v \
                WHERE v.package_id = p.id))::text \
             FROM software_packages p WHERE name = '3dtk'",
        )
        .await;
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        stored,
        json!([
            summary,
            ["back\\slash", "tab\tand \"quote\""],
            ["1.0\tbeta", "\\N"]
        ])
    );
}

/// Tells when the load's writing has begun.
#[derive(Default)]
struct WriteBegun(tokio::sync::Notify);

impl Progress for WriteBegun {
    fn phase(&self, _: Phase, _: Option<u64>) {}

    fn advance(&self, _: u64) {
        self.0.notify_one();
    }
}

#[tokio::test]
async fn a_load_dropped_while_copying_leaves_nothing_and_blocks_nothing() {
    let db = TestDb::new().await;
    let source = spack_source(data_file("spack/repology.json"));
    let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
    let write_begun = WriteBegun::default();
    // A job's timeout drops the load like this, in the middle of a COPY.
    tokio::select! {
        _ = loader::load_source(&db.conn, &source, &fetcher, FIRST_LOAD, &write_begun) => {
            panic!("the load ended before it was dropped")
        }
        () = write_begun.0.notified() => {}
    }
    assert_eq!(db.count("SELECT count(*) FROM software_catalogs").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM software_packages").await, 0);

    // The catalog's lock and the pool's connections are free again.
    let report = tokio::time::timeout(Duration::from_secs(120), db.load_spack(&source, FIRST_LOAD))
        .await
        .expect("the next load waited for the dropped one")
        .unwrap();
    assert_eq!(report.outcome, LoadOutcome::Created);
    assert_eq!(
        db.count("SELECT count(*) FROM software_packages").await,
        report.packages.created
    );
}

#[tokio::test]
async fn a_package_beyond_the_source_bounds_is_cut_and_named() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let versions: Vec<Value> = (0..1_500)
        .map(|minor| json!({"version": format!("2.{minor}"), "downloads": []}))
        .collect();
    let document = json!({
        "last_update": "2026-07-01 10:00:00 +0000",
        "num_packages": 2,
        "packages": {
            "huge": {"name": "huge", "summary": "too many versions", "version": versions},
            "small": {"name": "small", "summary": "fine", "version": [{"version": "1.0"}]},
        },
    });
    let source = spack_source(dir.write("repology.json", document.to_string()));
    let bounded = LoadOptions {
        bounds: loader::SourceBounds {
            max_versions_per_package: 1_000,
            ..loader::SourceBounds::DEFAULT
        },
        ..UPDATE
    };
    let report = db.load_spack(&source, bounded).await.expect("load");
    assert_eq!(report.packages.created, 2);
    assert_eq!(report.versions.created, 1_001);
    let named = report
        .skipped
        .iter()
        .find(|entry| entry.entry.contains("huge"))
        .expect("the cut package is named");
    assert!(
        named.reason.contains("500 oldest versions"),
        "{}",
        named.reason
    );
    // The newest stay.
    let oldest_kept = db
        .count(
            "SELECT count(*) FROM software_versions v JOIN software_packages p ON p.id = v.package_id \
             WHERE p.name = 'huge' AND v.version IN ('2.499', '2.500', '2.1499')",
        )
        .await;
    assert_eq!(oldest_kept, 2, "2.500 and 2.1499 are kept, 2.499 is not");
}
