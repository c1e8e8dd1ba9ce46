//! The new kinds of source through the same loader path as EESSI and Spack:
//! a module tree replaced by its newer snapshot, a full module tree whose
//! stored counts equal a reading of its JSON, and a custom catalog uploaded
//! over the API and loaded by a worker.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use poem::http::StatusCode;
use serde_json::Value;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{LoadError, LoadLimits, LoadRequest, NoProgress};
use softcat_shared::sources::lmod;
use softcat_shared::sources::registry::OptionValue;
use support::app::TestApp;
use support::jobs::{RoleProcess, ended, wait_for_job};
use support::{TestDb, data_file};

/// A load of a module tree as `Wynton core`, for one zen4 CPU.
fn lmod_load(file: &str, allow_shrink: bool) -> LoadRequest {
    LoadRequest {
        source: lmod::KIND,
        catalog_name: "Wynton".into(),
        catalog_version: Some("core".into()),
        url: data_file(file),
        update_existing: true,
        dry_run: false,
        allow_shrink,
        options: [(
            "cpu_targets".to_owned(),
            OptionValue::List(vec!["x86_64/amd/zen4".into()]),
        )]
        .into(),
    }
}

/// Package → module names (`full`) of a spider JSON document, read without
/// the loader: packages without modules are not catalog packages.
fn modules_of(file: &str) -> BTreeMap<String, BTreeSet<String>> {
    let document: Value = serde_json::from_slice(&std::fs::read(data_file(file)).unwrap()).unwrap();
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for package in document.as_array().unwrap() {
        let modules: Vec<String> = match &package["versions"] {
            Value::Array(versions) => versions.iter().collect::<Vec<_>>(),
            Value::Object(versions) => versions.values().collect(),
            _ => Vec::new(),
        }
        .into_iter()
        .filter_map(|version| version["full"].as_str().map(str::to_owned))
        .collect();
        if !modules.is_empty() {
            packages
                .entry(package["package"].as_str().unwrap().to_owned())
                .or_default()
                .extend(modules);
        }
    }
    packages
}

/// Package → module names of the stored catalog, by plain SQL.
async fn stored_modules(db: &TestDb, name: &str) -> BTreeMap<String, BTreeSet<String>> {
    let rows = db
        .rows(&format!(
            "SELECT p.name AS package, v.modulename AS module FROM software_versions v \
             JOIN software_packages p ON p.id = v.package_id \
             JOIN software_catalogs c ON c.id = p.catalog_id WHERE c.name = '{name}'"
        ))
        .await;
    let mut stored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        stored
            .entry(row["package"].as_str().unwrap().to_owned())
            .or_default()
            .insert(row["module"].as_str().unwrap().to_owned());
    }
    stored
}

#[tokio::test]
async fn a_module_tree_loaded_over_its_older_snapshot_holds_exactly_the_newer_one() {
    let db = TestDb::new().await;
    let config = softcat_shared::config::Config::default();
    let fetcher = Fetcher::new(&config.fetch).unwrap();
    let limits = LoadLimits::from_config(&config, lmod::KIND);
    let older = "lmod/wynton-etc_2022-05-05.json";
    let newer = "lmod/wynton-etc_2022-05-16.json";
    lmod_load(older, false)
        .run(&db.conn, &fetcher, limits, &NoProgress)
        .await
        .unwrap();
    assert_eq!(stored_modules(&db, "Wynton").await, modules_of(older));
    let targets = db
        .count(
            "SELECT count(*) FROM software_targets t JOIN software_versions v ON v.id = t.version_id \
             WHERE t.target_name = 'x86_64/amd/zen4' AND t.path LIKE '%/%'",
        )
        .await;
    assert_eq!(
        targets,
        db.count("SELECT count(*) FROM software_versions").await,
        "one zen4 target per module, with its modulefile"
    );

    // Most of the tree went: the shrink guard refuses until forced.
    let refused = lmod_load(newer, false)
        .run(&db.conn, &fetcher, limits, &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(refused, LoadError::Refused(_)), "{refused}");
    assert_eq!(stored_modules(&db, "Wynton").await, modules_of(older));
    lmod_load(newer, true)
        .run(&db.conn, &fetcher, limits, &NoProgress)
        .await
        .unwrap();
    assert_eq!(stored_modules(&db, "Wynton").await, modules_of(newer));
}

#[tokio::test]
async fn a_hierarchical_tree_stores_what_its_json_holds() {
    let db = TestDb::new().await;
    let config = softcat_shared::config::Config::default();
    let fetcher = Fetcher::new(&config.fetch).unwrap();
    let file = "lmod/salilab-modules-py27_2022-07-27.json";
    let load = LoadRequest {
        catalog_name: "Salilab".into(),
        ..lmod_load(file, false)
    };
    let report = load
        .run(
            &db.conn,
            &fetcher,
            LoadLimits::from_config(&config, lmod::KIND),
            &NoProgress,
        )
        .await
        .unwrap();
    let expected = modules_of(file);
    assert_eq!(stored_modules(&db, "Salilab").await, expected);
    assert_eq!(report.packages.created, expected.len() as u64, "{report:?}");
    let catalog_type = db
        .rows("SELECT catalog_type, source FROM software_catalogs")
        .await;
    assert_eq!(catalog_type[0]["catalog_type"], "environment_module");
    assert_eq!(catalog_type[0]["source"], "lmod");
}

/// Uploads `body` as staff; the answer.
async fn upload(app: &TestApp, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!(
            "{}/api/marketplace-software-catalogs/upload/",
            app.base
        ))
        .header("Content-Type", "application/yaml")
        .body(body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, body)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        concat!(env!("CARGO_MANIFEST_DIR"), "/shared/tests/fixtures/custom/").to_owned() + name,
    )
    .unwrap()
}

#[tokio::test]
async fn an_uploaded_custom_catalog_is_loaded_by_a_worker() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let user = app.token("user", false).await;
    let worker = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);

    let (status, _) = upload(&app, None, fixture("example.yaml")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = upload(&app, Some(&user), fixture("example.yaml")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = upload(
        &app,
        Some(&staff),
        b"catalog: {name: x}\npackages: []\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("catalog.version"), "{body}");
    let (status, _) = upload(&app, Some(&staff), vec![b'#'; 17 * 1024 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, accepted) = upload(&app, Some(&staff), fixture("example.yaml")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().parse().unwrap();
    let job = wait_for_job(&app.db, id, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(job.state, "succeeded", "{job:?}\n{}", worker.log_text());
    let example: Value = serde_json::from_slice(&fixture("example.json")).unwrap();
    let catalogs = app
        .get("/api/marketplace-software-catalogs/", Some(&staff))
        .await;
    let catalog = &catalogs.body["results"][0];
    assert_eq!(catalog["name"], example["catalog"]["name"]);
    assert_eq!(catalog["version"], example["catalog"]["version"]);
    assert_eq!(catalog["catalog_type"], example["catalog"]["catalog_type"]);
    assert_eq!(
        catalog["package_count"].as_u64().unwrap(),
        example["packages"].as_array().unwrap().len() as u64
    );

    // Its update repeats the load that brought it in (the kept upload).
    let updated = app
        .send(
            reqwest::Method::POST,
            &format!(
                "/api/marketplace-software-catalogs/{}/update_catalog/",
                catalog["uuid"].as_str().unwrap()
            ),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(updated.status, StatusCode::ACCEPTED, "{}", updated.body);
    let id = updated.body["id"].as_str().unwrap().parse().unwrap();
    let job = wait_for_job(&app.db, id, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(job.state, "unchanged", "{job:?}\n{}", worker.log_text());

    // A document with bad entries loads the rest and names them.
    let (status, accepted) = upload(&app, Some(&staff), fixture("errors.yaml")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().parse().unwrap();
    let job = wait_for_job(&app.db, id, Duration::from_secs(60), &[&worker], ended).await;
    let result = job.result.clone().unwrap_or_default().to_string();
    assert!(
        result.contains("packages[3].versions[0].targets[1].cpu_family"),
        "{job:?}"
    );
    assert_eq!(
        app.db.count("SELECT count(*) FROM catalog_uploads").await,
        2,
        "each upload is kept for its job"
    );
}

#[tokio::test]
async fn a_module_tree_served_over_http_is_dated_by_its_last_modified_header() {
    let db = TestDb::new().await;
    let dir = support::TempDir::new();
    let file = "wynton-etc_2022-05-16.json";
    dir.write(
        file,
        std::fs::read(data_file(&format!("lmod/{file}"))).unwrap(),
    );
    let modified = chrono::NaiveDate::from_ymd_opt(2022, 5, 16)
        .unwrap()
        .and_hms_opt(9, 30, 0)
        .unwrap()
        .and_utc();
    std::fs::File::options()
        .write(true)
        .open(std::path::Path::new(&dir.path()).join(file))
        .unwrap()
        .set_modified(modified.into())
        .unwrap();
    let server = support::FileServer::serve(std::path::Path::new(&dir.path())).await;
    let config = softcat_shared::config::Config::default();
    let load = LoadRequest {
        catalog_version: None,
        url: format!("{}/{file}", server.base_url),
        ..lmod_load(file, false)
    };
    let report = load
        .run(
            &db.conn,
            &Fetcher::new(&config.fetch).unwrap(),
            LoadLimits::from_config(&config, lmod::KIND),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(report.catalog.version, "2022-05-16");
}
