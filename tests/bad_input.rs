//! Bad sources: a clear error and an untouched catalog, or a skipped and
//! counted entry while the rest loads.

mod support;

use serde_json::{Value, json};
use softcat_shared::config::FetchConfig;
use softcat_shared::fetch::FetchError;
use softcat_shared::loader::{LoadError, LoadOptions, LoadOutcome};
use softcat_shared::snapshot::Level;
use softcat_shared::sources::SourceError;
use support::*;

const SAMPLE: &str = "spack/published-sample_repology.json";

fn sample_text() -> String {
    std::fs::read_to_string(data_file(SAMPLE)).unwrap()
}

/// A database holding the Spack sample, and its rows as they are.
async fn loaded() -> (TestDb, Vec<String>) {
    let db = TestDb::new().await;
    db.load_spack(&spack_source(data_file(SAMPLE)), FIRST_LOAD)
        .await
        .expect("load sample");
    let rows = db.dump().await;
    (db, rows)
}

#[tokio::test]
async fn truncated_json_fails_and_changes_nothing() {
    let (db, before) = loaded().await;
    let dir = TempDir::new();
    let text = sample_text();
    let path = dir.write("repology.json", &text[..text.len() / 2]);

    let error = db
        .load_spack(&spack_source(path.clone()), UPDATE)
        .await
        .expect_err("truncated JSON must fail");
    assert!(
        matches!(&error, LoadError::Source(SourceError::Parse { document, .. }) if *document == path),
        "{error}"
    );
    assert!(error.to_string().contains("EOF"), "{error}");
    assert_eq!(db.dump().await, before);
}

#[tokio::test]
async fn a_document_of_the_wrong_shape_fails_and_changes_nothing() {
    let (db, before) = loaded().await;
    let dir = TempDir::new();
    for (name, document) in [
        (
            "list.json",
            json!({"last_update": "2025-03-20", "packages": ["3dtk"]}),
        ),
        ("no-packages.json", json!({"last_update": "2025-03-20"})),
        ("array.json", json!([1, 2, 3])),
    ] {
        let path = dir.write(name, document.to_string());
        let error = db
            .load_spack(&spack_source(path), UPDATE)
            .await
            .expect_err(name);
        assert!(
            matches!(error, LoadError::Source(SourceError::Parse { .. })),
            "{name}: {error}"
        );
    }
    assert_eq!(db.dump().await, before);
}

#[tokio::test]
async fn entries_with_wrong_types_or_missing_fields_are_skipped_and_named() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let mut document: Value = serde_json::from_str(&sample_text()).unwrap();
    let packages = document["packages"].as_object_mut().unwrap();
    packages["abacus"]["version"] = json!(5);
    packages["3proxy"]["version"][0] = json!({"downloads": []});
    packages["abduco"]["version"][1]["version"] = json!(["0.5"]);
    let path = dir.write("repology.json", document.to_string());

    let report = db
        .load_spack(&spack_source(path), FIRST_LOAD)
        .await
        .expect("the rest loads");
    assert_eq!(report.outcome, LoadOutcome::Created);
    assert_eq!(report.packages.skipped, 1);
    assert_eq!(report.versions.skipped, 2);
    let named = |level: Level, needle: &str| {
        report
            .skipped
            .iter()
            .any(|entry| entry.level == level && entry.entry.contains(needle))
    };
    assert!(named(Level::Package, "abacus"), "{:?}", report.skipped);
    assert!(named(Level::Version, "3proxy"), "{:?}", report.skipped);
    assert!(named(Level::Version, "abduco"), "{:?}", report.skipped);
    // 8 packages less abacus; 22 versions less abacus' 5 and the two bad ones.
    assert_eq!(db.catalog_size("Spack", "2025-03-20").await.0, 7);
    assert_eq!(db.catalog_size("Spack", "2025-03-20").await.1, 15);
}

#[tokio::test]
async fn eessi_entries_that_cannot_be_understood_are_skipped() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let installation = |version: Value, module: Value, archs: Value| {
        json!({"version": version, "module": module, "cpu_arch": archs,
               "required_modules": [{"full_module_name": "EESSI/2025.06"}]})
    };
    let document = json!({
        "architectures_map": {"2025.06": {}},
        "software": {
            "Good": {"description": "fine", "versions": [
                installation(json!("1.0"), json!({"full_module_name": "Good/1.0"}),
                             json!(["x86_64/generic", "x86_64/../../etc"])),
                installation(json!(2), json!({"full_module_name": "Good/2"}), json!([])),
                {"version": "3.0", "cpu_arch": ["x86_64/generic"],
                 "required_modules": [{"full_module_name": "EESSI/2025.06"}]},
            ]},
            "Broken": {"versions": "not a list"},
        }
    });
    dir.write("eessi_api_metadata_software.json", document.to_string());

    let report = db
        .load_eessi(&eessi_source(dir.path()), FIRST_LOAD)
        .await
        .expect("the rest loads");
    assert_eq!(
        (
            report.packages.skipped,
            report.versions.skipped,
            report.targets.skipped
        ),
        (1, 2, 1),
        "{:?}",
        report.skipped
    );
    assert!(report.skipped.iter().any(|e| e.reason == "no module name"));
    assert_eq!(db.catalog_size("EESSI", "2025.06").await, (1, 1, 1));
}

#[tokio::test]
async fn a_source_over_the_size_cap_is_refused() {
    let (db, before) = loaded().await;
    let limit = FetchConfig {
        max_bytes: 1_000,
        retries: 0,
        ..FetchConfig::default()
    };
    let error = db
        .load_spack_with(&spack_source(data_file(SAMPLE)), UPDATE, &limit)
        .await
        .expect_err("over the cap");
    assert!(
        matches!(
            error,
            LoadError::Source(SourceError::Fetch(FetchError::TooLarge {
                limit: 1_000,
                ..
            }))
        ),
        "{error}"
    );

    let server = FileServer::serve(&data_dir().join("spack")).await;
    let url = format!("{}/published-sample_repology.json", server.base_url);
    let error = db
        .load_spack_with(&spack_source(url), UPDATE, &limit)
        .await
        .expect_err("over the cap over HTTP");
    assert!(
        error.to_string().contains("larger than the limit"),
        "{error}"
    );
    assert_eq!(db.dump().await, before);
}

/// A forced load of a source with many bad entries keeps a bounded list of
/// them on its catalog, and a reload of the same documents still reports
/// every one by count.
#[tokio::test]
async fn many_skipped_entries_leave_a_bounded_summary() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let mut document: Value = serde_json::from_str(&sample_text()).unwrap();
    let bad: Vec<Value> = (0..1_500).map(|_| json!({"version": 5})).collect();
    document["packages"]["many-bad"] = json!({"name": "many-bad", "version": bad});
    let path = dir.write("repology.json", document.to_string());
    let forced = LoadOptions {
        allow_shrink: true,
        ..FIRST_LOAD
    };
    let first = db
        .load_spack(&spack_source(path.clone()), forced)
        .await
        .expect("forced past the skip guard");
    assert_eq!(first.versions.skipped, 1_500);
    assert_eq!(first.skipped.len(), 1_500, "a load lists every entry");
    let kept = db
        .count("SELECT jsonb_array_length(load_summary->'skipped')::bigint FROM software_catalogs")
        .await;
    assert_eq!(kept, 1_000);

    let again = db
        .load_spack(&spack_source(path), UPDATE)
        .await
        .expect("unchanged");
    assert_eq!(again.outcome, LoadOutcome::Unchanged);
    assert_eq!(again.versions.skipped, 1_500);
    assert_eq!(again.skipped_count(), 1_500);
    assert_eq!(again.skipped[..], first.skipped[..1_000]);
}

/// A compressed answer is held to the cap by its unpacked size: a small
/// gzip body that unpacks to sixteen times the cap is refused.
#[tokio::test]
async fn a_compressed_source_is_capped_by_its_unpacked_size() {
    use std::io::Write;

    use poem::listener::{Acceptor, Listener, TcpListener};

    let (db, before) = loaded().await;
    let limit = FetchConfig {
        max_bytes: 64 * 1024,
        retries: 0,
        ..FetchConfig::default()
    };
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&vec![b' '; 16 * 64 * 1024]).unwrap();
    let bomb = gzip.finish().unwrap();
    assert!((bomb.len() as u64) < limit.max_bytes / 16, "{}", bomb.len());

    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let address = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let endpoint = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(bomb.clone())
    });
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));

    let url = format!("http://{address}/repology.json");
    let error = db
        .load_spack_with(&spack_source(url), UPDATE, &limit)
        .await
        .expect_err("unpacked beyond the cap");
    server.abort();
    assert!(
        matches!(
            error,
            LoadError::Source(SourceError::Fetch(FetchError::TooLarge {
                limit: 65_536,
                ..
            }))
        ),
        "{error}"
    );
    assert_eq!(db.dump().await, before);
}

#[tokio::test]
async fn an_unreachable_or_missing_source_fails_and_changes_nothing() {
    let (db, before) = loaded().await;
    let quick = FetchConfig {
        retries: 1,
        retry_backoff_ms: 10,
        connect_timeout_secs: 2,
        ..FetchConfig::default()
    };
    let error = db
        .load_spack_with(&spack_source(unreachable_url()), UPDATE, &quick)
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(
            error,
            LoadError::Source(SourceError::Fetch(FetchError::Transport { .. }))
        ),
        "{error}"
    );
    // The message says why, not only that sending failed.
    assert!(
        error
            .to_string()
            .to_lowercase()
            .contains("connection refused"),
        "{error}"
    );

    let server = FileServer::serve(&data_dir().join("spack")).await;
    let error = db
        .load_spack_with(
            &spack_source(format!("{}/absent.json", server.base_url)),
            UPDATE,
            &quick,
        )
        .await
        .expect_err("404");
    assert!(
        matches!(
            error,
            LoadError::Source(SourceError::Fetch(FetchError::NotFound { .. }))
        ),
        "{error}"
    );
    assert_eq!(db.dump().await, before);
}

#[tokio::test]
async fn an_eessi_version_the_source_lacks_is_an_error_naming_the_ones_it_has() {
    let db = TestDb::new().await;
    let mut source = eessi_source(data_dir().join("eessi").to_string_lossy());
    source.catalog_version = Some("2099.01".into());
    let error = db
        .load_eessi(&source, FIRST_LOAD)
        .await
        .expect_err("unknown version");
    let message = error.to_string();
    assert!(message.contains("2099.01"), "{message}");
    assert!(message.contains("2023.06, 2025.06"), "{message}");
    assert!(db.dump().await.is_empty());
}

/// A local HTTP server answering each request, in turn, after a delay with
/// the given status and body (the last answer repeats); stops with the test.
fn scripted_server(answers: Vec<(std::time::Duration, u16, Vec<u8>)>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let (delay, status, body) = answers[index.min(answers.len() - 1)].clone();
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                std::thread::sleep(delay);
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    format!("http://{address}/repology.json")
}

#[tokio::test]
async fn a_slow_source_has_one_deadline_for_all_its_attempts() {
    let (db, before) = loaded().await;
    // Each answer takes 1.5 s and is a 503: with a deadline per attempt the
    // four attempts would take over 6 s.
    let url = scripted_server(vec![(
        std::time::Duration::from_millis(1500),
        503,
        Vec::new(),
    )]);
    let config = FetchConfig {
        total_timeout_secs: 2,
        retries: 3,
        retry_backoff_ms: 100,
        ..FetchConfig::default()
    };
    let started = std::time::Instant::now();
    let error = db
        .load_spack_with(&spack_source(url), UPDATE, &config)
        .await
        .expect_err("past the deadline");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            error,
            LoadError::Source(SourceError::Fetch(FetchError::Deadline {
                secs: 2,
                attempts: 2,
                ..
            }))
        ),
        "{error}"
    );
    assert!(error.to_string().contains("not read within 2 s"), "{error}");
    assert!(
        elapsed < std::time::Duration::from_millis(3500),
        "{elapsed:?}"
    );
    assert_eq!(db.dump().await, before);
}

/// Records the retries a load reports.
#[derive(Default)]
struct Retries(std::sync::Mutex<Vec<String>>);

impl softcat_shared::loader::Progress for Retries {
    fn phase(&self, _: softcat_shared::loader::Phase, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn retry(&self, phase: softcat_shared::loader::Phase, retry: u32, of: u32) {
        let text = softcat_shared::loader::retry_text(phase, retry, of);
        self.0.lock().unwrap().push(text);
    }
}

#[tokio::test]
async fn a_load_says_which_retry_of_its_fetch_it_is_on() {
    let db = TestDb::new().await;
    let quick = std::time::Duration::ZERO;
    let url = scripted_server(vec![
        (quick, 503, Vec::new()),
        (quick, 503, Vec::new()),
        (quick, 200, sample_text().into_bytes()),
    ]);
    let config = FetchConfig {
        retries: 3,
        retry_backoff_ms: 10,
        ..FetchConfig::default()
    };
    let fetcher = softcat_shared::fetch::Fetcher::new(&config).unwrap();
    let retries = Retries::default();
    let report = softcat_shared::loader::load_source(
        &db.conn,
        &spack_source(url),
        &fetcher,
        FIRST_LOAD,
        &retries,
    )
    .await
    .expect("loaded on the third attempt");
    assert_eq!(report.outcome, LoadOutcome::Created);
    assert_eq!(
        *retries.0.lock().unwrap(),
        ["fetching (retry 1 of 3)", "fetching (retry 2 of 3)"]
    );
}
