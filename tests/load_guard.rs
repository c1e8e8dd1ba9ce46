//! No source can wipe a catalog: a load that would take much of a stored
//! catalog away is refused and writes nothing unless forced, a package key
//! given twice is reported, and rows created again keep their UUIDs.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use softcat_shared::jobs::{self, JobSpec};
use softcat_shared::loader::{
    LoadError, LoadOptions, LoadOutcome, LoadRequest, ShrinkGuard, ShrinkLimits,
};
use softcat_shared::snapshot::Level;
use support::jobs::{RoleProcess, TestQueue, ended, wait_for_job};
use support::*;

const REAL: &str = "spack/repology.json";
/// The real file's catalog version (its `last_update`).
const REAL_VERSION: &str = "2026-07-01";
const SAMPLE: &str = "spack/published-sample_repology.json";
const SAMPLE_VERSION: &str = "2025-03-20";

fn document(relative: &str) -> Value {
    serde_json::from_slice(&std::fs::read(data_file(relative)).unwrap()).unwrap()
}

const FORCED: LoadOptions = LoadOptions {
    allow_shrink: true,
    ..UPDATE
};

/// The UUID of every stored package, version and target, by natural key.
async fn uuids(db: &TestDb) -> BTreeMap<String, String> {
    const SQL: &str = "\
        SELECT 'package ' || c.name || '/' || c.version || '/' || p.name || '/' || p.is_extension \
               AS key, p.uuid::text AS uuid \
        FROM software_packages p JOIN software_catalogs c ON c.id = p.catalog_id \
        UNION ALL \
        SELECT 'version ' || p.name || '/' || v.version || '/' || v.modulename, v.uuid::text \
        FROM software_versions v JOIN software_packages p ON p.id = v.package_id \
        UNION ALL \
        SELECT 'target ' || p.name || '/' || v.version || '/' || v.modulename || '/' \
               || t.target_type || '/' || t.target_name, t.uuid::text \
        FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
        JOIN software_packages p ON p.id = v.package_id";
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(db.conn.get_database_backend(), SQL))
        .await
        .unwrap();
    rows.into_iter()
        .map(|row| {
            (
                row.try_get("", "key").unwrap(),
                row.try_get("", "uuid").unwrap(),
            )
        })
        .collect()
}

/// Rows in each catalog table, by plain SQL counts.
async fn table_counts(db: &TestDb) -> [u64; 4] {
    [
        db.count("SELECT count(*) FROM software_catalogs").await,
        db.count("SELECT count(*) FROM software_packages").await,
        db.count("SELECT count(*) FROM software_versions").await,
        db.count("SELECT count(*) FROM software_targets").await,
    ]
}

#[tokio::test]
async fn a_source_whose_every_package_is_wrong_is_refused_and_changes_nothing() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let real = spack_source(data_file(REAL));
    db.load_spack(&real, FIRST_LOAD).await.expect("real load");
    let counts = table_counts(&db).await;
    let stored_packages = db.catalog_size("Spack", REAL_VERSION).await.0;
    assert!(stored_packages > 8000, "{counts:?}");
    let identities = uuids(&db).await;

    // The right last_update, every package of the wrong shape.
    let mut wrong = document(REAL);
    for package in wrong["packages"].as_object_mut().unwrap().values_mut() {
        package["summary"] = json!(5);
        package["version"] = json!("1.0");
    }
    let wrong = spack_source(dir.write("wrong.json", wrong.to_string()));
    let error = db.load_spack(&wrong, UPDATE).await.expect_err("refused");
    let LoadError::Refused(refusal) = &error else {
        panic!("not refused by the guard: {error}");
    };
    assert_eq!(refusal.guard, ShrinkGuard::Empty);
    assert_eq!(refusal.count, stored_packages);
    let message = error.to_string();
    assert!(message.contains("refused (empty source)"), "{message}");
    assert!(message.contains("--allow-shrink"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(table_counts(&db).await, counts, "a refused load wrote");
    assert_eq!(uuids(&db).await, identities);

    // A dry run computes and says it would be refused.
    let report = db.load_spack(&wrong, DRY_RUN).await.expect("dry run");
    assert_eq!(report.outcome, LoadOutcome::DryRun);
    assert_eq!(report.packages.deleted, stored_packages);
    let refused = report.refused.expect("the dry run names the guard");
    assert_eq!(refused.guard, ShrinkGuard::Empty);
    let json = serde_json::to_value(&refused).unwrap();
    assert_eq!(json["guard"], "empty");
    assert!(json["message"].as_str().unwrap().contains("--allow-shrink"));

    // A third of the packages gone: the deleted share, with its figures.
    let mut shrunk = document(REAL);
    let packages = shrunk["packages"].as_object_mut().unwrap();
    let gone: Vec<String> = packages.keys().step_by(3).cloned().collect();
    for key in &gone {
        packages.remove(key);
    }
    let shrunk = spack_source(dir.write("shrunk.json", shrunk.to_string()));
    match db.load_spack(&shrunk, UPDATE).await {
        Err(LoadError::Refused(refusal)) => {
            assert_eq!(
                (refusal.guard, refusal.level),
                (ShrinkGuard::Deleted, Level::Package)
            );
            assert_eq!(refusal.total, stored_packages);
            let message = refusal.to_string();
            assert!(message.contains("more than the 25 % allowed"), "{message}");
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(table_counts(&db).await, counts, "a refused load wrote");

    // Within a configured share it loads.
    let generous = LoadOptions {
        limits: ShrinkLimits {
            max_deleted_share: 0.5,
            ..ShrinkLimits::DEFAULT
        },
        ..UPDATE
    };
    let report = db.load_spack(&shrunk, generous).await.expect("within 50 %");
    assert_eq!(report.outcome, LoadOutcome::Updated);
    assert!(report.packages.deleted > 0);
}

#[tokio::test]
async fn an_empty_source_is_refused_unless_forced_and_a_wiped_catalog_comes_back_with_its_uuids() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let real = spack_source(data_file(REAL));
    db.load_spack(&real, FIRST_LOAD).await.expect("real load");
    let counts = table_counts(&db).await;
    let identities = uuids(&db).await;

    let mut empty = document(REAL);
    empty["packages"] = json!({});
    let empty = spack_source(dir.write("empty.json", empty.to_string()));
    // Even a deleted share of 100 % does not let an empty source through.
    let anything = LoadOptions {
        limits: ShrinkLimits {
            max_skipped_share: 1.0,
            max_deleted_share: 1.0,
        },
        ..UPDATE
    };
    match db.load_spack(&empty, anything).await {
        Err(LoadError::Refused(refusal)) => assert_eq!(refusal.guard, ShrinkGuard::Empty),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(table_counts(&db).await, counts, "a refused load wrote");

    // Forced, it empties the catalog (the catalog row stays).
    let report = db.load_spack(&empty, FORCED).await.expect("forced");
    assert_eq!(report.outcome, LoadOutcome::Updated);
    assert_eq!(db.catalog_size("Spack", REAL_VERSION).await, (0, 0, 0));

    // The real file again: every row comes back with the UUID it had.
    db.load_spack(&real, UPDATE).await.expect("reload");
    assert_eq!(table_counts(&db).await, counts);
    let again = uuids(&db).await;
    assert_eq!(again.len(), identities.len());
    let changed: Vec<&String> = identities
        .iter()
        .filter(|(key, uuid)| again.get(*key) != Some(*uuid))
        .map(|(key, _)| key)
        .take(5)
        .collect();
    assert!(changed.is_empty(), "rows with new UUIDs: {changed:?}");
}

#[tokio::test]
async fn a_package_key_given_twice_is_skipped_and_named() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let sample = document(SAMPLE);
    let packages = serde_json::to_string(&sample["packages"]).unwrap();
    // A second copy of `abacus` after all the others: a JSON map keeps the
    // last copy, the loader keeps the first and reports the second.
    let second = json!({"name": "abacus", "summary": "a second copy",
                        "version": [{"version": "9.9"}]});
    let text = format!(
        "{{\"last_update\": {}, \"packages\": {}, \"abacus\": {second}}}}}",
        sample["last_update"],
        &packages[..packages.len() - 1],
    );
    let source = spack_source(dir.write("repology.json", text));
    let report = db.load_spack(&source, FIRST_LOAD).await.expect("load");
    assert_eq!(report.packages.skipped, 1, "{:?}", report.skipped);
    let entry = &report.skipped[0];
    assert_eq!(entry.level, Level::Package);
    assert_eq!(entry.entry, "package \"abacus\"");
    assert!(entry.reason.contains("more than once"), "{}", entry.reason);
    assert_eq!(db.catalog_size("Spack", SAMPLE_VERSION).await.0, 8);
    let description = db
        .text("SELECT description FROM software_packages WHERE name = 'abacus'")
        .await;
    assert_ne!(description, "a second copy");
    assert_eq!(
        db.count("SELECT count(*) FROM software_versions WHERE version = '9.9'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_load_job_the_guard_refuses_fails_at_once_naming_the_guard() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    db.load_spack(&spack_source(data_file(SAMPLE)), FIRST_LOAD)
        .await
        .expect("sample load");
    let mut empty = document(SAMPLE);
    empty["packages"] = json!({});
    let url = dir.write("empty.json", empty.to_string());
    let queue = TestQueue::new();
    let worker = RoleProcess::spawn("worker", &db, &queue, &[]);
    let load = |allow_shrink| {
        JobSpec::Load(LoadRequest {
            source: softcat_shared::sources::spack::KIND,
            catalog_name: "Spack".into(),
            catalog_version: None,
            url: url.clone(),
            update_existing: true,
            dry_run: false,
            allow_shrink,
            options: Default::default(),
        })
    };

    let job = jobs::enqueue(&db.conn, &queue.client(), &load(false), "test", None, 3)
        .await
        .expect("enqueue");
    let job = wait_for_job(&db, job.job.id, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(job.state, "failed", "{job:#?}");
    assert_eq!(job.attempts, 1, "a refused load was retried: {job:#?}");
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("refused (empty source)"), "{error}");
    assert!(error.contains("allow_shrink"), "{error}");
    assert_eq!(db.catalog_size("Spack", SAMPLE_VERSION).await.0, 8);

    let forced = jobs::enqueue(&db.conn, &queue.client(), &load(true), "test", None, 3)
        .await
        .expect("enqueue");
    assert_eq!(forced.job.parameters["allow_shrink"], true);
    let forced = wait_for_job(
        &db,
        forced.job.id,
        Duration::from_secs(60),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(forced.state, "succeeded", "{forced:#?}");
    assert_eq!(db.catalog_size("Spack", SAMPLE_VERSION).await.0, 0);
}

#[tokio::test]
async fn extensions_lost_by_the_source_are_refused_but_left_out_by_choice_are_not() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let mut source = eessi_source(data_dir().join("eessi").to_string_lossy());
    db.load_eessi(&source, FIRST_LOAD).await.expect("load");
    let counts = table_counts(&db).await;

    // A source that lost its extensions: no extension document, and no
    // installation listing any. Most of the catalog would go.
    let mut software = document("eessi/eessi_api_metadata_software.json");
    for entry in software["software"].as_object_mut().unwrap().values_mut() {
        for version in entry["versions"].as_array_mut().unwrap() {
            if let Some(version) = version.as_object_mut() {
                version.remove("extensions");
            }
        }
    }
    dir.write("eessi_api_metadata_software.json", software.to_string());
    source.api_url = format!("{}/", dir.path());
    match db.load_eessi(&source, UPDATE).await {
        Err(LoadError::Refused(refusal)) => {
            assert_eq!(
                (refusal.guard, refusal.level),
                (ShrinkGuard::Deleted, Level::Package)
            );
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(table_counts(&db).await, counts, "a refused load wrote");

    // Asked to leave extensions out, the same load removes them.
    source.include_extensions = false;
    let report = db.load_eessi(&source, UPDATE).await.expect("by choice");
    assert!(
        report.packages.deleted > report.packages.unchanged,
        "{report:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM software_packages WHERE is_extension")
            .await,
        0
    );
}
