//! The operator commands' output on a loaded database: `softcat catalogs
//! list`, `softcat settings get|set`, `softcat jobs list|show|retry`.

mod support;

use std::process::{Command, Output};

use sea_orm::ConnectionTrait;
use serde_json::Value;
use softcat_shared::jobs::{self, JobSpec};
use support::jobs::*;
use support::*;

fn softcat(db: &TestDb, queue: &TestQueue, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", &queue.redis_url)
        .env("SOFTCAT_JOBS__QUEUE", &queue.name)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .expect("run softcat")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn catalogs_and_settings_as_tables_and_json() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    db.load_spack(
        &spack_source(data_file("spack/published-sample_repology.json")),
        UPDATE,
    )
    .await
    .unwrap();

    let table = stdout(&softcat(&db, &queue, &["catalogs", "list"]));
    assert!(
        squeeze(&table).starts_with("name version type packages modified uuid"),
        "{table}"
    );
    assert!(
        squeeze(&table).contains("Spack 2025-03-20 source_package 8 "),
        "{table}"
    );
    let json: Value = serde_json::from_str(&stdout(&softcat(
        &db,
        &queue,
        &["catalogs", "list", "--json"],
    )))
    .unwrap();
    assert_eq!(json[0]["name"], "Spack");
    assert_eq!(json[0]["package_count"], 8);

    let set = softcat(
        &db,
        &queue,
        &[
            "settings",
            "set",
            "SOFTWARE_CATALOG_RETENTION_DAYS=30",
            "SOFTWARE_CATALOG_SPACK_VERSION=2025-03-20",
        ],
    );
    let text = stdout(&set);
    assert!(
        squeeze(&text).contains("SOFTWARE_CATALOG_RETENTION_DAYS 30"),
        "{text}"
    );
    let settings: Value = serde_json::from_str(&stdout(&softcat(
        &db,
        &queue,
        &["settings", "get", "--json"],
    )))
    .unwrap();
    assert_eq!(settings["SOFTWARE_CATALOG_RETENTION_DAYS"], 30);
    assert_eq!(settings["SOFTWARE_CATALOG_SPACK_VERSION"], "2025-03-20");

    let bad = softcat(
        &db,
        &queue,
        &["settings", "set", "SOFTWARE_CATALOG_RETENTION_DAYS=-1"],
    );
    assert!(!bad.status.success());
    let error = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(error.contains("SOFTWARE_CATALOG_RETENTION_DAYS"), "{error}");
}

#[tokio::test]
async fn jobs_are_listed_shown_and_retried() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let client = queue.client();
    let spec = JobSpec::Probe {
        label: "ops".into(),
    };
    let job = jobs::enqueue(&db.conn, &client, &spec, "test", None, 3)
        .await
        .unwrap()
        .job;
    db.conn
        .execute_unprepared(&format!(
            "UPDATE jobs SET state = 'failed', attempts = 3, error = 'source unreachable', \
             finished = now() WHERE id = '{}'",
            job.id
        ))
        .await
        .unwrap();

    let list = stdout(&softcat(
        &db,
        &queue,
        &["jobs", "list", "--state", "failed"],
    ));
    let line = squeeze(&list);
    assert!(
        line.contains(&format!("{} probe failed 3/3", job.id)),
        "{list}"
    );
    assert!(line.contains("source unreachable"), "{list}");
    assert!(line.ends_with("1 of 1 jobs"), "{list}");

    let show = stdout(&softcat(
        &db,
        &queue,
        &["jobs", "show", &job.id.to_string()],
    ));
    assert!(squeeze(&show).contains("state failed"), "{show}");
    assert!(
        squeeze(&show).contains("error source unreachable"),
        "{show}"
    );
    let shown: Value = serde_json::from_str(&stdout(&softcat(
        &db,
        &queue,
        &["jobs", "show", &job.id.to_string(), "--json"],
    )))
    .unwrap();
    assert_eq!(shown["parameters"]["kind"], "probe");

    let retry = stdout(&softcat(
        &db,
        &queue,
        &["jobs", "retry", &job.id.to_string()],
    ));
    assert!(retry.contains(&format!("(retry of {})", job.id)), "{retry}");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM jobs WHERE state = 'queued' AND requested_by LIKE 'retry:%'"
        )
        .await,
        1
    );
    let not_failed = softcat(&db, &queue, &["jobs", "list", "--state", "done"]);
    assert!(!not_failed.status.success());
    assert!(String::from_utf8_lossy(&not_failed.stderr).contains("state"));
}

#[tokio::test]
async fn enqueue_prints_a_sentence_json_or_only_the_id() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();

    let sentence = stdout(&softcat(&db, &queue, &["enqueue", "probe"]));
    assert!(sentence.starts_with("queued probe job "), "{sentence}");

    let json: Value = serde_json::from_str(&stdout(&softcat(
        &db,
        &queue,
        &["enqueue", "cleanup", "--json"],
    )))
    .expect("enqueue --json prints JSON");
    assert_eq!(json["kind"], "cleanup");
    assert_eq!(json["state"], "queued");
    assert_eq!(json["duplicate"], false);

    let quiet = stdout(&softcat(&db, &queue, &["enqueue", "-q", "refresh"]));
    let id: uuid::Uuid = quiet.trim().parse().expect("-q prints only the id");
    assert_eq!(quiet, format!("{id}\n"));

    let data = data_file("spack/published-sample_repology.json");
    let load: Value = serde_json::from_str(&stdout(&softcat(
        &db,
        &queue,
        &[
            "enqueue",
            "load",
            "spack",
            "--data-url",
            &data,
            "--dry-run",
            "--json",
        ],
    )))
    .expect("enqueue load … --json prints JSON");
    assert_eq!(load["kind"], "load");
    assert_eq!(load["parameters"]["dry_run"], true);

    let missing = softcat(
        &db,
        &queue,
        &[
            "enqueue",
            "load",
            "spack",
            "--data-url",
            "/nonexistent/repology.json",
        ],
    );
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "error: --data-url: /nonexistent/repology.json: no such file or directory\n"
    );
}

#[tokio::test]
async fn job_ids_may_be_given_as_a_unique_prefix() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let mut ids = Vec::new();
    for id in [
        "3f2a1111-0000-4000-8000-000000000001",
        "3f2a2222-0000-4000-8000-000000000002",
        "7c000000-0000-4000-8000-000000000003",
    ] {
        db.conn
            .execute_unprepared(&format!(
                "INSERT INTO jobs (id, kind, parameters, dedupe_key, state, attempts, \
                 max_attempts, requested_by, error, finished) VALUES ('{id}', 'probe', \
                 '{{\"kind\": \"probe\", \"label\": \"{id}\"}}', '{id}', 'failed', 3, 3, \
                 'test', 'gone', now())"
            ))
            .await
            .unwrap();
        ids.push(id);
    }

    let show = stdout(&softcat(&db, &queue, &["jobs", "show", "3f2a1"]));
    assert!(
        squeeze(&show).starts_with(&format!("id {}", ids[0])),
        "{show}"
    );
    let shown: Value = serde_json::from_str(&stdout(&softcat(
        &db,
        &queue,
        &["jobs", "show", "7C", "--json"],
    )))
    .unwrap();
    assert_eq!(shown["id"], ids[2]);

    let ambiguous = softcat(&db, &queue, &["jobs", "show", "3f2a"]);
    assert!(!ambiguous.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ambiguous.stderr),
        format!("error: job id 3f2a is ambiguous: {}, {}\n", ids[0], ids[1])
    );
    let unknown = softcat(&db, &queue, &["jobs", "retry", "abc"]);
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "error: no job id starts with abc\n"
    );

    let retry = stdout(&softcat(&db, &queue, &["jobs", "retry", "3f2a2"]));
    assert!(retry.contains(&format!("(retry of {})", ids[1])), "{retry}");
}

#[tokio::test]
async fn enqueue_without_redis_or_a_standalone_instance_fails_and_fails_the_record() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let output = Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(["enqueue", "probe"])
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("SOFTCAT_JOBS__QUEUE", &queue.name)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .expect("run softcat");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(
        last.ends_with(
            "no standalone instance serves this database either, so nothing would run the job"
        ),
        "{stderr}"
    );
    let states = db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT state FROM jobs",
        ))
        .await
        .unwrap();
    let states: Vec<String> = states
        .iter()
        .map(|row| row.try_get("", "state").unwrap())
        .collect();
    assert_eq!(states, ["failed"]);
}

#[tokio::test]
async fn users_create_with_token_prints_only_a_working_key() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let output = softcat(
        &db,
        &queue,
        &["users", "create", "admin", "--staff", "--token"],
    );
    let key = stdout(&output);
    assert_eq!(key.lines().count(), 1, "{key}");
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("created staff admin ("),
        "{output:?}"
    );
    let tokens = stdout(&softcat(&db, &queue, &["tokens", "list", "admin"]));
    assert!(tokens.contains(&key.trim()[..8]), "{tokens}");
}
