//! Loading the full real EESSI and Spack files: what the database holds equals
//! what is computed independently from the JSON here, and a second load of
//! the same data changes nothing.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use softcat_shared::loader::{LoadOutcome, LoadReport};
use support::*;

fn read_json(relative: &str) -> Value {
    serde_json::from_slice(&std::fs::read(data_file(relative)).expect("read")).expect("json")
}

fn as_str(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Expected (packages, versions, targets) of the Spack catalog: packages by
/// `name`, versions by distinct version string, one `default` build variant
/// per version plus one per `windows` / `detectable` / `build-tools` category.
fn spack_expected(document: &Value) -> (u64, u64, u64) {
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut variants: HashMap<&str, u64> = HashMap::new();
    for package in document["packages"].as_object().unwrap().values() {
        let name = as_str(&package["name"]);
        let set = versions.entry(name).or_default();
        for version in package["version"].as_array().unwrap() {
            set.insert(as_str(&version["version"]));
        }
        let categories: Vec<&str> = package["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(as_str)
            .collect();
        let extra = ["windows", "detectable", "build-tools"]
            .iter()
            .filter(|c| categories.contains(c))
            .count() as u64;
        variants.entry(name).or_insert(1 + extra);
    }
    let packages = versions.len() as u64;
    let version_count = versions.values().map(|v| v.len() as u64).sum();
    let targets = versions
        .iter()
        .map(|(name, v)| v.len() as u64 * variants[name])
        .sum();
    (packages, version_count, targets)
}

/// Expected (packages, versions, targets) of one EESSI stack with extensions:
/// main versions by (software, version, module) in that stack, one target per
/// distinct cpu_arch; extension versions by (extension, version, parent
/// module), with their parent's targets.
fn eessi_expected(software: &Value, extensions: &Value, stack: &str) -> (u64, u64, u64) {
    let eessi_module = format!("EESSI/{stack}");
    let mut main: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    let mut module_targets: HashMap<&str, usize> = HashMap::new();
    for (name, entry) in software["software"].as_object().unwrap() {
        for installation in entry["versions"].as_array().unwrap() {
            let in_stack = installation["required_modules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| as_str(&m["full_module_name"]) == eessi_module);
            if !in_stack {
                continue;
            }
            let module = as_str(&installation["module"]["full_module_name"]);
            let archs: &mut BTreeSet<&str> = main
                .entry(name.as_str())
                .or_default()
                .entry(module)
                .or_default();
            archs.extend(
                installation["cpu_arch"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(as_str),
            );
            module_targets.insert(module, archs.len());
        }
    }
    let mut ext: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for (name, entry) in extensions["software"].as_object().unwrap() {
        for installation in entry["versions"].as_array().unwrap() {
            let parent = as_str(&installation["modulename"]);
            if module_targets.contains_key(parent) {
                ext.entry(name.as_str())
                    .or_default()
                    .insert((as_str(&installation["version"]), parent));
            }
        }
    }
    let packages = (main.len() + ext.len()) as u64;
    let versions = main.values().map(|m| m.len()).sum::<usize>() as u64
        + ext.values().map(|e| e.len()).sum::<usize>() as u64;
    let targets = main
        .values()
        .flat_map(|modules| modules.values())
        .map(|archs| archs.len() as u64)
        .sum::<u64>()
        + ext
            .values()
            .flatten()
            .map(|(_, parent)| module_targets[parent] as u64)
            .sum::<u64>();
    (packages, versions, targets)
}

fn assert_all_created(report: &LoadReport, expected: (u64, u64, u64)) {
    assert_eq!(report.outcome, LoadOutcome::Created);
    assert_eq!(
        (
            report.packages.created,
            report.versions.created,
            report.targets.created
        ),
        expected
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

fn assert_nothing_written(report: &LoadReport, expected: (u64, u64, u64)) {
    assert_eq!(report.outcome, LoadOutcome::Unchanged);
    assert_eq!(report.rows_written(), 0, "{report:?}");
    assert_eq!(
        (
            report.packages.unchanged,
            report.versions.unchanged,
            report.targets.unchanged
        ),
        expected
    );
}

#[tokio::test]
async fn full_spack_file_loads_every_package_version_and_target() {
    let db = TestDb::new().await;
    let expected = spack_expected(&read_json("spack/repology.json"));
    let source = spack_source(data_file("spack/repology.json"));

    let report = db.load_spack(&source, FIRST_LOAD).await.expect("load");
    assert_all_created(&report, expected);
    assert_eq!(report.catalog.version, "2026-07-01");
    assert_eq!(db.catalog_size("Spack", "2026-07-01").await, expected);

    let again = db.load_spack(&source, UPDATE).await.expect("reload");
    assert_nothing_written(&again, expected);
    assert_eq!(db.catalog_size("Spack", "2026-07-01").await, expected);
}

/// A large load tidies the tables after its commit, in the background, on a
/// connection of the pool: closing the pool waits for it, and then the
/// planner has statistics of the loaded rows.
#[tokio::test]
async fn a_large_load_leaves_the_tables_analysed_by_the_time_its_pool_closes() {
    let mut db = TestDb::new().await;
    let source = spack_source(data_file("spack/repology.json"));
    let statistics = "SELECT count(DISTINCT tablename) FROM pg_stats \
        WHERE tablename IN ('software_packages', 'software_versions', 'software_targets')";
    assert_eq!(
        db.count(statistics).await,
        0,
        "no statistics before the load"
    );

    db.load_spack(&source, FIRST_LOAD).await.expect("load");
    db.conn.close_by_ref().await.expect("close the pool");
    db.conn = softcat_shared::db::connect(&db.url)
        .await
        .expect("reconnect");
    assert_eq!(db.count(statistics).await, 3);
}

#[tokio::test]
async fn full_eessi_files_load_the_newest_stack_with_extensions() {
    let db = TestDb::new().await;
    let software = read_json("eessi/eessi_api_metadata_software.json");
    let extensions = read_json("eessi/eessi_api_metadata_ext-python.json");
    let expected = eessi_expected(&software, &extensions, "2025.06");
    // The data directory holds only the Python extensions file: the other
    // kinds are absent, which means "no extensions of that kind".
    let source = eessi_source(data_dir().join("eessi").to_string_lossy());

    let report = db.load_eessi(&source, FIRST_LOAD).await.expect("load");
    assert_eq!(report.catalog.version, "2025.06");
    assert_all_created(&report, expected);
    assert_eq!(db.catalog_size("EESSI", "2025.06").await, expected);

    // Every extension version points at the installation that includes it.
    let orphans = db
        .count(
            "SELECT count(*) FROM software_versions v JOIN software_packages p \
             ON p.id = v.package_id WHERE p.is_extension AND v.parent_version_id IS NULL",
        )
        .await;
    assert_eq!(orphans, 0);
    // … the one its metadata names.
    let mislinked = db
        .count(
            "SELECT count(*) FROM software_versions v \
             JOIN software_packages p ON p.id = v.package_id \
             JOIN software_versions pv ON pv.id = v.parent_version_id \
             JOIN software_packages pp ON pp.id = pv.package_id \
             WHERE (pp.name, pv.version, pv.modulename, pp.is_extension) IS DISTINCT FROM \
               (v.metadata->'parent'->>'package', v.metadata->'parent'->>'version', \
                v.metadata->'parent'->>'modulename', false)",
        )
        .await;
    assert_eq!(mislinked, 0);

    let again = db.load_eessi(&source, UPDATE).await.expect("reload");
    assert_nothing_written(&again, expected);
}

#[tokio::test]
async fn eessi_older_stack_is_its_own_catalog() {
    let db = TestDb::new().await;
    let software = read_json("eessi/eessi_api_metadata_software.json");
    let extensions = read_json("eessi/eessi_api_metadata_ext-python.json");
    let expected = eessi_expected(&software, &extensions, "2023.06");
    let mut source = eessi_source(data_dir().join("eessi").to_string_lossy());
    source.catalog_version = Some("2023.06".into());

    let report = db.load_eessi(&source, FIRST_LOAD).await.expect("load");
    assert_all_created(&report, expected);
    assert_eq!(db.catalog_size("EESSI", "2023.06").await, expected);
    assert_eq!(db.catalog_size("EESSI", "2025.06").await, (0, 0, 0));
}

#[tokio::test]
async fn eessi_over_http_reads_the_published_layout() {
    let db = TestDb::new().await;
    let server = FileServer::serve(&data_dir().join("eessi")).await;
    let mut source = eessi_source(format!("{}/", server.base_url));
    source.include_extensions = false;
    let software = read_json("eessi/eessi_api_metadata_software.json");
    let (packages, versions, targets) =
        eessi_expected(&software, &serde_json::json!({"software": {}}), "2025.06");

    let report = db.load_eessi(&source, FIRST_LOAD).await.expect("load");
    assert_all_created(&report, (packages, versions, targets));
    let extensions = db
        .count("SELECT count(*) FROM software_packages WHERE is_extension")
        .await;
    assert_eq!(extensions, 0);
}
