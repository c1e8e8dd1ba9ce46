//! The job system end to end: the admin endpoints, real `softcat worker` and
//! `softcat scheduler` processes, real Redis and Postgres, and sources
//! served over HTTP from the real data files.

mod support;

use std::time::{Duration, Instant};

use poem::http::StatusCode;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::{Value, json};
use softcat_shared::catalog::CatalogKey;
use softcat_shared::jobs::{self, JobQueue, JobSpec};
use softcat_shared::loader::catalog_lock_id;
use softcat_shared::schedule::TickOutcome;
use support::app::TestApp;
use support::jobs::*;
use support::*;
use uuid::Uuid;

const SPACK_SAMPLE: &str = "spack/published-sample_repology.json";
const SPACK_SAMPLE_VERSION: &str = "2025-03-20";

/// A directory served over HTTP holding the Spack sample as repology.json.
async fn spack_server() -> (TempDir, FileServer) {
    let dir = TempDir::new();
    dir.write(
        "repology.json",
        std::fs::read(data_file(SPACK_SAMPLE)).expect("sample"),
    );
    let server = FileServer::serve(std::path::Path::new(&dir.path())).await;
    (dir, server)
}

/// A free local address for a listener.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Every catalog → package → version → target path, without the row
/// identities, which differ between databases.
async fn catalog_content(db: &TestDb) -> String {
    db.text(
        "SELECT string_agg(line, E'\\n' ORDER BY line) FROM ( \
           SELECT concat_ws(' ', c.name, c.version, p.name, v.version, \
                  t.target_type, t.target_name, t.path) AS line \
           FROM software_catalogs c JOIN software_packages p ON p.catalog_id = c.id \
           JOIN software_versions v ON v.package_id = p.id \
           JOIN software_targets t ON t.version_id = v.id) lines",
    )
    .await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> support::app::Answer {
    app.send(poem::http::Method::POST, path, Some(token), Some(body))
        .await
}

fn job_id(answer: &support::app::Answer) -> Uuid {
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    answer.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

#[tokio::test]
async fn a_load_enqueued_over_http_is_run_by_a_worker_process() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let (_dir, server) = spack_server().await;
    let url = format!("{}/repology.json", server.base_url);

    let answer = post(
        &app,
        "/api/admin/jobs/",
        &staff,
        json!({"kind": "load", "source": "spack", "url": url}),
    )
    .await;
    let id = job_id(&answer);
    assert_eq!(answer.body["state"], "queued");
    assert_eq!(answer.body["duplicate"], false);
    assert!(
        answer.body["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/admin/jobs/{id}/"))
    );

    let metrics_address = free_address();
    let worker = RoleProcess::spawn(
        "worker",
        &app.db,
        &app.queue,
        &[("SOFTCAT_JOBS__METRICS_LISTEN", &metrics_address)],
    );
    let job = wait_for_job(&app.db, id, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(job.state, "succeeded", "{job:#?}");
    assert_eq!(job.attempts, 1);

    // The worker's metrics name the job and the rows it wrote.
    let metrics = reqwest::get(format!("http://{metrics_address}/metrics"))
        .await
        .expect("worker metrics")
        .bytes()
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let rows_written = job.result.as_ref().map(|r| {
        ["packages", "versions", "targets"]
            .iter()
            .map(|level| {
                let counts = &r[level];
                counts["created"].as_u64().unwrap()
                    + counts["updated"].as_u64().unwrap()
                    + counts["deleted"].as_u64().unwrap()
            })
            .sum::<u64>()
    });
    for line in [
        "softcat_jobs_finished_total{kind=\"load\",state=\"succeeded\"} 1".to_owned(),
        "softcat_jobs{kind=\"load\",state=\"succeeded\"} 1".to_owned(),
        "softcat_queue_depth 0".to_owned(),
        format!(
            "softcat_catalog_rows_written_total{{catalog=\"Spack\"}} {}",
            rows_written.unwrap()
        ),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    assert!(
        metrics.contains("softcat_job_duration_seconds_bucket{kind=\"load\",state=\"succeeded\"")
    );
    // The API's: requests by route and status, with latency histograms.
    let api_metrics = app.get("/metrics", None).await;
    assert_eq!(api_metrics.status, StatusCode::OK);
    let text = api_metrics.body.as_str().expect("text").to_owned();
    assert!(
        text.contains(
            "softcat_http_requests_total{method=\"POST\",route=\"/api/admin/jobs\",status=\"202\"}"
        ),
        "{text}"
    );
    assert!(text.contains("softcat_http_request_duration_seconds_bucket{"));
    assert!(text.contains("softcat_jobs{kind=\"load\",state=\"succeeded\"}"));
    assert!(job.worker.as_deref().unwrap().starts_with("worker-"));
    let result = job.result.expect("statistics");
    assert_eq!(result["outcome"], "created");
    assert_eq!(result["packages"]["created"], 8);
    let (packages, versions, targets) = app.db.catalog_size("Spack", SPACK_SAMPLE_VERSION).await;
    assert_eq!(packages, 8);
    assert_eq!(result["versions"]["created"], versions);
    assert_eq!(result["targets"]["created"], targets);

    // The record over HTTP, and the listing with its filters.
    let shown = app
        .get(&format!("/api/admin/jobs/{id}/"), Some(&staff))
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["state"], "succeeded");
    assert_eq!(shown.body["parameters"]["url"], url.as_str());
    assert_eq!(shown.body["requested_by"], "api:admin");
    let listed = app
        .get(
            "/api/admin/jobs/?kind=load&state=succeeded&catalog=Spack",
            Some(&staff),
        )
        .await;
    assert_eq!(listed.body["count"], 1);
    let none = app.get("/api/admin/jobs/?state=failed", Some(&staff)).await;
    assert_eq!(none.body["count"], 0);
    let bad = app.get("/api/admin/jobs/?state=done", Some(&staff)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "state");
}

#[tokio::test]
async fn only_staff_reach_the_admin_endpoints_and_bad_jobs_are_refused() {
    let app = TestApp::spawn(true).await;
    let user = app.token("user", false).await;
    let staff = app.token("admin", true).await;
    let body = json!({"kind": "refresh"});
    let anonymous = app
        .send(
            poem::http::Method::POST,
            "/api/admin/jobs/",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(&app, "/api/admin/jobs/", &user, body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/admin/jobs/", Some(&user)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/admin/settings/", Some(&user)).await.status,
        StatusCode::FORBIDDEN
    );

    let no_source = post(&app, "/api/admin/jobs/", &staff, json!({"kind": "load"})).await;
    assert_eq!(no_source.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_source.body["field"], "source");
    let empty_name = post(
        &app,
        "/api/admin/jobs/",
        &staff,
        json!({"kind": "load", "source": "eessi", "catalog_name": " "}),
    )
    .await;
    assert_eq!(empty_name.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty_name.body["field"], "catalog_name");
    let bad_kind = post(&app, "/api/admin/jobs/", &staff, json!({"kind": "reboot"})).await;
    assert_eq!(bad_kind.status, StatusCode::BAD_REQUEST);
    let unknown = app
        .get(
            &format!("/api/admin/jobs/{}/", Uuid::new_v4()),
            Some(&staff),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.db.count("SELECT count(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn an_unreachable_queue_fails_the_enqueue_and_its_record() {
    let db = TestDb::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let queue = TestQueue::on(&format!("redis://127.0.0.1:{port}"));
    let error = jobs::enqueue(
        &db.conn,
        &queue.client(),
        &JobSpec::probe(),
        "test",
        None,
        3,
    )
    .await
    .expect_err("nothing listens there");
    assert!(matches!(error, jobs::JobError::Queue(_)), "{error}");
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE state = 'failed' AND error LIKE 'job queue:%'")
            .await,
        1,
        "the record says why nothing runs"
    );
}

#[tokio::test]
async fn the_same_load_is_queued_once_and_a_queued_job_can_be_cancelled() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    // No worker runs: the URL is never fetched.
    let load = json!({"kind": "load", "source": "spack", "url": unreachable_url()});
    let first = post(&app, "/api/admin/jobs/", &staff, load.clone()).await;
    let second = post(&app, "/api/admin/jobs/", &staff, load.clone()).await;
    assert_eq!(job_id(&first), job_id(&second));
    assert_eq!(second.body["duplicate"], true);
    // A dry run is other work.
    let mut dry = load.clone();
    dry["dry_run"] = json!(true);
    let dry = post(&app, "/api/admin/jobs/", &staff, dry).await;
    assert_ne!(job_id(&dry), job_id(&first));
    assert_eq!(app.db.count("SELECT count(*) FROM jobs").await, 2);

    let id = job_id(&first);
    let cancelled = post(
        &app,
        &format!("/api/admin/jobs/{id}/cancel/"),
        &staff,
        json!({}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
    let again = post(
        &app,
        &format!("/api/admin/jobs/{id}/cancel/"),
        &staff,
        json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body["detail"].as_str().unwrap().contains("cancelled"));
    let unknown = post(
        &app,
        &format!("/api/admin/jobs/{}/cancel/", Uuid::new_v4()),
        &staff,
        json!({}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Once the queued one is cancelled, the same load may be queued anew; a
    // worker skips the cancelled job's message and runs the new one.
    let third = post(&app, "/api/admin/jobs/", &staff, load).await;
    assert_ne!(job_id(&third), id);
    let worker = RoleProcess::spawn(
        "worker",
        &app.db,
        &app.queue,
        &[("SOFTCAT_JOBS__MAX_ATTEMPTS", "1")],
    );
    let job = wait_for_job(
        &app.db,
        job_id(&third),
        Duration::from_secs(60),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(job.state, "failed");
    assert_eq!(jobs::get(&app.db.conn, id).await.unwrap().attempts, 0);
}

#[tokio::test]
async fn a_refresh_loads_each_enabled_catalog_in_isolation() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let (_dir, server) = spack_server().await;
    let changed = app
        .send(
            poem::http::Method::PATCH,
            "/api/admin/settings/",
            Some(&staff),
            Some(json!({
                "SOFTWARE_CATALOG_EESSI_API_URL": unreachable_url().replace("repology.json", ""),
                "SOFTWARE_CATALOG_SPACK_DATA_URL": format!("{}/repology.json", server.base_url),
            })),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);

    let refresh = post(
        &app,
        "/api/admin/software-catalogs/refresh/",
        &staff,
        json!({}),
    )
    .await;
    let refresh_id = job_id(&refresh);
    let worker = RoleProcess::spawn(
        "worker",
        &app.db,
        &app.queue,
        &[
            ("SOFTCAT_JOBS__MAX_ATTEMPTS", "1"),
            ("SOFTCAT_JOBS__CONCURRENCY", "2"),
        ],
    );
    let refresh = wait_for_job(
        &app.db,
        refresh_id,
        Duration::from_secs(60),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(refresh.state, "succeeded", "{refresh:#?}");
    let result = refresh.result.expect("result");
    let eessi: Uuid = result["eessi"]["job_id"].as_str().unwrap().parse().unwrap();
    let spack: Uuid = result["spack"]["job_id"].as_str().unwrap().parse().unwrap();

    let spack = wait_for_job(&app.db, spack, Duration::from_secs(60), &[&worker], ended).await;
    let eessi = wait_for_job(&app.db, eessi, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(spack.state, "succeeded", "{spack:#?}");
    assert_eq!(spack.parent_id, Some(refresh_id));
    assert_eq!(eessi.state, "failed");
    assert!(
        eessi.error.as_deref().unwrap().contains("127.0.0.1"),
        "{eessi:#?}"
    );
    assert_eq!(
        app.db.catalog_size("Spack", SPACK_SAMPLE_VERSION).await.0,
        8
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM software_catalogs WHERE name = 'EESSI'")
            .await,
        0
    );

    // A disabled source is skipped with its reason.
    app.send(
        poem::http::Method::PATCH,
        "/api/admin/settings/",
        Some(&staff),
        Some(json!({"SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED": false})),
    )
    .await;
    let second = job_id(
        &post(
            &app,
            "/api/admin/software-catalogs/refresh/",
            &staff,
            json!({}),
        )
        .await,
    );
    let second = wait_for_job(&app.db, second, Duration::from_secs(60), &[&worker], ended).await;
    let result = second.result.expect("result");
    assert!(
        result["eessi"]["skipped"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    let reload = result["spack"]["job_id"].as_str().unwrap().parse().unwrap();
    let reload = wait_for_job(&app.db, reload, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(reload.state, "unchanged");
}

#[tokio::test]
async fn two_loads_of_one_catalog_on_two_workers_run_one_after_the_other() {
    let app = TestApp::spawn(false).await;
    let mut load = HeldLoad::new(&app.db).await;
    let first_worker = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let second_worker = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let workers = [&first_worker, &second_worker];
    let first = load.start(&app.db, &app.queue, &workers).await;
    // The first is running, so the same load may be queued again.
    let second = load.start(&app.db, &app.queue, &workers).await;
    assert_ne!(first.id, second.id);
    assert_ne!(first.worker, second.worker, "each worker holds one load");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.db.count("SELECT count(*) FROM software_catalogs").await,
        0
    );

    load.release().await;
    let first = wait_for_job(&app.db, first.id, Duration::from_secs(30), &workers, ended).await;
    let second = wait_for_job(&app.db, second.id, Duration::from_secs(30), &workers, ended).await;
    let mut states = [first.state.clone(), second.state.clone()];
    states.sort();
    assert_eq!(states, ["succeeded", "unchanged"], "{first:#?} {second:#?}");
    assert_eq!(
        app.db.catalog_size("Spack", SPACK_SAMPLE_VERSION).await.0,
        8
    );
}

#[tokio::test]
async fn an_idle_worker_is_woken_by_a_push_not_by_its_heartbeat() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let worker = RoleProcess::spawn(
        "worker",
        &db,
        &queue,
        &[("SOFTCAT_JOBS__HEARTBEAT_SECS", "60")],
    );
    // The first job shows the worker is up; then it goes idle.
    run_probe(&db, &queue, "first", &[&worker]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pushed = Instant::now();
    let second = run_probe(&db, &queue, "second", &[&worker]).await;
    assert_eq!(second.state, "succeeded");
    assert!(
        pushed.elapsed() < Duration::from_secs(30),
        "started at the heartbeat, not on the push: {:?}",
        pushed.elapsed()
    );
}

#[tokio::test]
async fn a_second_delivery_of_a_running_job_does_not_run_it_again() {
    let app = TestApp::spawn(false).await;
    let mut load = HeldLoad::new(&app.db).await;
    let first = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let job = load.start(&app.db, &app.queue, &[&first]).await;
    let second = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    // A duplicate message, as a Redis failover or a stalled heartbeat makes.
    app.queue
        .client()
        .push(jobs::JobMessage { job_id: job.id }, Duration::ZERO)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !second.log_text().contains("delivery deferred") {
        assert!(Instant::now() < deadline, "{}", second.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let still = jobs::get(&app.db.conn, job.id).await.unwrap();
    assert_eq!((still.state.as_str(), still.attempts), ("running", 1));
    assert_eq!(still.worker, job.worker);

    load.release().await;
    let done = wait_for_job(
        &app.db,
        job.id,
        Duration::from_secs(30),
        &[&first, &second],
        ended,
    )
    .await;
    assert_eq!(done.state, "succeeded");
    assert_eq!(done.attempts, 1, "ran once");
}

#[tokio::test]
async fn a_worker_that_lost_its_job_does_not_record_the_end() {
    let app = TestApp::spawn(false).await;
    let mut load = HeldLoad::new(&app.db).await;
    let worker = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let job = load.start(&app.db, &app.queue, &[&worker]).await;
    // Another worker took the job over, as after a lease that ran out.
    app.db
        .conn
        .execute_unprepared(&format!(
            "UPDATE jobs SET worker = 'worker-elsewhere' WHERE id = '{}'",
            job.id
        ))
        .await
        .unwrap();
    load.release().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !worker
        .log_text()
        .contains("another worker had taken it over")
    {
        assert!(Instant::now() < deadline, "{}", worker.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let record = jobs::get(&app.db.conn, job.id).await.unwrap();
    assert_eq!(record.state, "running", "{record:#?}");
    assert_eq!(record.worker.as_deref(), Some("worker-elsewhere"));
}

#[tokio::test]
async fn a_job_of_a_killed_worker_is_finished_by_another() {
    let app = TestApp::spawn(false).await;
    let mut load = HeldLoad::new(&app.db).await;
    let doomed = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let job = load.start(&app.db, &app.queue, &[&doomed]).await;
    let doomed_name = job.worker.clone();

    doomed.signal("KILL");
    let killed = Instant::now();
    load.release().await;
    let rescuer = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let job = wait_for_job(&app.db, job.id, Duration::from_secs(60), &[&rescuer], ended).await;
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(job.state, "succeeded", "{job:#?}");
    assert_eq!(job.attempts, 2);
    assert_ne!(job.worker, doomed_name);

    // Exactly what one clean load leaves.
    let reference = TestDb::new().await;
    reference
        .load_spack(&spack_source(load.url.clone()), UPDATE)
        .await
        .expect("reference load");
    assert_eq!(
        catalog_content(&app.db).await,
        catalog_content(&reference).await
    );
    assert_eq!(
        app.db.catalog_size("Spack", SPACK_SAMPLE_VERSION).await,
        reference.catalog_size("Spack", SPACK_SAMPLE_VERSION).await
    );
}

#[tokio::test]
async fn a_failing_job_is_retried_within_its_budget_then_failed_and_dead() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let worker = RoleProcess::spawn(
        "worker",
        &app.db,
        &app.queue,
        &[
            ("SOFTCAT_JOBS__MAX_ATTEMPTS", "3"),
            ("SOFTCAT_LOG_FORMAT", "json"),
        ],
    );
    let answer = post(
        &app,
        "/api/admin/jobs/",
        &staff,
        json!({"kind": "load", "source": "spack", "url": unreachable_url()}),
    )
    .await;
    let id = job_id(&answer);
    let job = wait_for_job(&app.db, id, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(job.state, "failed");
    // The API enqueued it with the budget of its own configuration (3).
    assert_eq!(job.attempts, 3, "{job:#?}");
    assert!(
        job.error.as_deref().unwrap().contains("127.0.0.1"),
        "{job:#?}"
    );
    // Backoff: 1 s, then 2 s, between the three attempts.
    let waited = job.finished.unwrap() - job.created;
    assert!(waited >= chrono::Duration::seconds(3), "{waited}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.queue.set_size("dead"), 1);

    // JSON logs, every line of the job carrying its id and catalog.
    let log = worker.log_text();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let retries: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "attempt failed; retrying")
        .collect();
    assert_eq!(retries.len(), 2, "{log}");
    for line in retries {
        assert_eq!(line["span"]["job_id"], id.to_string());
        assert_eq!(line["span"]["catalog"], "Spack");
    }
}

#[tokio::test]
async fn a_fetch_that_cannot_succeed_fails_the_job_at_once() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let (_dir, server) = spack_server().await;

    // A local path that does not exist is refused before anything is queued.
    let missing = post(
        &app,
        "/api/admin/jobs/",
        &staff,
        json!({"kind": "load", "source": "spack", "url": "/nonexistent/repology.json"}),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
    assert_eq!(missing.body["field"], "url");
    assert_eq!(
        missing.body["detail"],
        "url: /nonexistent/repology.json: no such file or directory"
    );
    assert_eq!(app.db.count("SELECT count(*) FROM jobs").await, 0);

    let worker = RoleProcess::spawn(
        "worker",
        &app.db,
        &app.queue,
        &[("SOFTCAT_JOBS__MAX_ATTEMPTS", "3")],
    );
    // A 404, and a path that went away after the job was queued: one
    // attempt each, failed with the reason.
    let not_found = format!("{}/absent.json", server.base_url);
    let answer = post(
        &app,
        "/api/admin/jobs/",
        &staff,
        json!({"kind": "load", "source": "spack", "url": not_found}),
    )
    .await;
    let id = job_id(&answer);
    let job = wait_for_job(&app.db, id, Duration::from_secs(30), &[&worker], ended).await;
    assert_eq!(job.state, "failed");
    assert_eq!(job.attempts, 1, "{job:#?}");
    assert_eq!(
        job.error.as_deref(),
        Some(&*format!("{not_found}: not found"))
    );

    let gone = jobs::enqueue(
        &app.db.conn,
        &app.queue.client(),
        &spack_load("/nonexistent/gone.json".into()),
        "test",
        None,
        3,
    )
    .await
    .unwrap();
    let job = wait_for_job(
        &app.db,
        gone.job.id,
        Duration::from_secs(30),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(job.state, "failed");
    assert_eq!(job.attempts, 1, "{job:#?}");
    assert_eq!(
        job.error.as_deref(),
        Some("/nonexistent/gone.json: not found")
    );

    // A document that does not parse.
    let broken_dir = TempDir::new();
    let broken = broken_dir.write("repology.json", "{ not json");
    let answer = post(
        &app,
        "/api/admin/jobs/",
        &staff,
        json!({"kind": "load", "source": "spack", "url": broken}),
    )
    .await;
    let id = job_id(&answer);
    let job = wait_for_job(&app.db, id, Duration::from_secs(30), &[&worker], ended).await;
    assert_eq!(job.state, "failed");
    assert_eq!(job.attempts, 1, "{job:#?}");
}

#[tokio::test]
async fn workers_carry_on_after_redis_restarts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start_redis = || {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        std::thread::sleep(Duration::from_millis(300));
        child
    };
    let mut redis = start_redis();
    let db = TestDb::new().await;
    let queue = TestQueue::on(&format!("redis://127.0.0.1:{port}"));
    let (_dir, server) = spack_server().await;
    let worker = RoleProcess::spawn("worker", &db, &queue, &[]);
    let client = queue.client();
    let load = |dry_run: bool| {
        JobSpec::Load(softcat_shared::loader::LoadRequest {
            source: softcat_shared::sources::spack::KIND,
            catalog_name: "Spack".into(),
            catalog_version: None,
            url: format!("{}/repology.json", server.base_url),
            update_existing: true,
            dry_run,
            allow_shrink: false,
            options: Default::default(),
        })
    };
    let before = jobs::enqueue(&db.conn, &client, &load(true), "test", None, 3)
        .await
        .unwrap();
    let before = wait_for_job(
        &db,
        before.job.id,
        Duration::from_secs(30),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(before.state, "succeeded");

    redis.kill().unwrap();
    redis.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut redis = start_redis();

    // The enqueue itself may need the connection to come back first.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        match jobs::enqueue(&db.conn, &client, &load(false), "test", None, 3).await {
            Ok(enqueued) => break enqueued,
            Err(error) if Instant::now() < deadline => {
                eprintln!("enqueue while redis restarts: {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("redis did not come back: {error}"),
        }
    };
    let after = wait_for_job(
        &db,
        after.job.id,
        Duration::from_secs(60),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(after.state, "succeeded", "{after:#?}");
    assert_eq!(db.catalog_size("Spack", SPACK_SAMPLE_VERSION).await.0, 8);
    drop(worker);
    redis.kill().unwrap();
    redis.wait().unwrap();
}

/// A load of the Spack sample's catalog version from `url`.
fn spack_load(url: String) -> JobSpec {
    JobSpec::Load(softcat_shared::loader::LoadRequest {
        source: softcat_shared::sources::spack::KIND,
        catalog_name: "Spack".into(),
        catalog_version: Some(SPACK_SAMPLE_VERSION.into()),
        url,
        update_existing: true,
        dry_run: false,
        allow_shrink: false,
        options: Default::default(),
    })
}

/// A load of the served Spack sample whose catalog lock the test holds, as
/// a long load would: a worker running it waits inside its transaction
/// until the test releases the lock.
struct HeldLoad {
    spec: JobSpec,
    url: String,
    holder: Option<sea_orm::DatabaseTransaction>,
    _dir: TempDir,
    _server: FileServer,
}

impl HeldLoad {
    async fn new(db: &TestDb) -> Self {
        let (dir, server) = spack_server().await;
        let url = format!("{}/repology.json", server.base_url);
        let holder = db.conn.begin().await.unwrap();
        let key = CatalogKey::new("Spack", SPACK_SAMPLE_VERSION);
        holder
            .execute_raw(Statement::from_sql_and_values(
                holder.get_database_backend(),
                "SELECT pg_advisory_xact_lock($1)",
                [catalog_lock_id(&key).into()],
            ))
            .await
            .unwrap();
        let spec = spack_load(url.clone());
        Self {
            spec,
            url,
            holder: Some(holder),
            _dir: dir,
            _server: server,
        }
    }

    /// Enqueues the load and waits until one of `workers` runs it.
    async fn start(
        &self,
        db: &TestDb,
        queue: &TestQueue,
        workers: &[&RoleProcess],
    ) -> jobs::JobRecord {
        let job = jobs::enqueue(&db.conn, &queue.client(), &self.spec, "test", None, 3)
            .await
            .unwrap();
        let running = |job: &jobs::JobRecord| job.state == "running";
        wait_for_job(db, job.job.id, Duration::from_secs(30), workers, running).await
    }

    /// Lets the waiting loads go on.
    async fn release(&mut self) {
        if let Some(holder) = self.holder.take() {
            holder.rollback().await.unwrap();
        }
    }
}

#[tokio::test]
async fn sigterm_lets_a_running_job_finish_within_the_grace_period() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let mut load = HeldLoad::new(&db).await;
    let mut worker = RoleProcess::spawn("worker", &db, &queue, &[]);
    let job = load.start(&db, &queue, &[&worker]).await;

    worker.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.release().await;
    let status = worker.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{}", worker.log_text());
    assert!(worker.log_text().contains("worker stopped"));
    let job = jobs::get(&db.conn, job.id).await.unwrap();
    assert_eq!(job.state, "succeeded", "{job:#?}");
}

#[tokio::test]
async fn sigterm_hands_back_a_job_that_outlasts_the_grace_period() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let mut load = HeldLoad::new(&db).await;
    let mut stopping = RoleProcess::spawn(
        "worker",
        &db,
        &queue,
        &[("SOFTCAT_JOBS__SHUTDOWN_GRACE_SECS", "1")],
    );
    let job = load.start(&db, &queue, &[&stopping]).await;

    stopping.signal("TERM");
    let status = stopping.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{}", stopping.log_text());
    let handed_back = jobs::get(&db.conn, job.id).await.unwrap();
    assert_eq!(handed_back.state, "queued", "{handed_back:#?}");
    assert_eq!(
        handed_back.attempts, 0,
        "an interrupted attempt is not counted"
    );
    assert_eq!(db.count("SELECT count(*) FROM software_catalogs").await, 0);

    load.release().await;
    let successor = RoleProcess::spawn("worker", &db, &queue, &[]);
    let job = wait_for_job(&db, job.id, Duration::from_secs(30), &[&successor], ended).await;
    assert_eq!(job.state, "succeeded", "{job:#?}");
    assert_eq!(job.attempts, 1);
}

#[tokio::test]
async fn a_job_whose_queue_message_was_lost_is_queued_again() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let (_dir, server) = spack_server().await;
    let spec = spack_load(format!("{}/repology.json", server.base_url));
    let client = queue.client();
    let job = jobs::enqueue(&db.conn, &client, &spec, "test", None, 3)
        .await
        .unwrap();
    // Redis restarts without persistence: the message is gone.
    drop(TestQueue {
        redis_url: queue.redis_url.clone(),
        name: queue.name.clone(),
    });
    let stale = Duration::from_secs(600);
    let fresh = jobs::redeliver_stranded(&db.conn, &client, stale)
        .await
        .unwrap();
    assert!(fresh.is_empty(), "a job queued a moment ago is left alone");
    db.conn
        .execute_unprepared("UPDATE jobs SET modified = now() - interval '11 minutes'")
        .await
        .unwrap();
    let again = jobs::redeliver_stranded(&db.conn, &client, stale)
        .await
        .unwrap();
    assert_eq!(again, vec![job.job.id]);
    let once = jobs::redeliver_stranded(&db.conn, &client, stale)
        .await
        .unwrap();
    assert!(once.is_empty(), "put back once per period");

    let worker = RoleProcess::spawn("worker", &db, &queue, &[]);
    let job = wait_for_job(&db, job.job.id, Duration::from_secs(30), &[&worker], ended).await;
    assert_eq!(job.state, "succeeded");
}

#[tokio::test]
async fn two_scheduler_replicas_enqueue_one_refresh_per_tick() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    app.send(
        poem::http::Method::PATCH,
        "/api/admin/settings/",
        Some(&staff),
        Some(json!({
            "SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED": false,
            "SOFTWARE_CATALOG_SPACK_UPDATE_ENABLED": false,
        })),
    )
    .await;
    let every_two_seconds = [("SOFTCAT_SCHEDULER__REFRESH_CRON", "*/2 * * * * *")];
    let worker = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let first = RoleProcess::spawn("scheduler", &app.db, &app.queue, &every_two_seconds);
    let second = RoleProcess::spawn("scheduler", &app.db, &app.queue, &every_two_seconds);
    tokio::time::sleep(Duration::from_secs(9)).await;
    drop(first);
    drop(second);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ticks = app.db.count("SELECT count(*) FROM scheduler_ticks").await;
    let refreshes = app
        .db
        .count("SELECT count(*) FROM jobs WHERE kind = 'refresh' AND requested_by = 'scheduler'")
        .await;
    assert!(ticks >= 3, "{ticks} ticks\n{}", worker.log_text());
    assert_eq!(refreshes, ticks, "one refresh per tick");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM jobs WHERE kind = 'cleanup'")
            .await,
        0,
        "cleanup is off by default"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app
        .db
        .count(
            "SELECT count(*) FROM jobs WHERE kind = 'refresh' AND state IN ('queued', 'running')",
        )
        .await
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the last refresh did not end\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM jobs WHERE kind = 'refresh' AND state <> 'succeeded'")
            .await,
        0,
        "{}",
        worker.log_text()
    );
}

#[tokio::test]
async fn a_tick_is_handled_by_one_replica_only() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let config = test_config(&db, &queue);
    db.conn
        .execute_unprepared(
            "INSERT INTO settings (key, value) VALUES ('SOFTWARE_CATALOG_CLEANUP_ENABLED', 'true')",
        )
        .await
        .unwrap();
    let client = queue.client();
    let tick = chrono::Utc::now();
    let (first, second) = tokio::join!(
        softcat_shared::schedule::on_tick(&db.conn, &config, &client, tick, "replica-a"),
        softcat_shared::schedule::on_tick(&db.conn, &config, &client, tick, "replica-b"),
    );
    let outcomes = [first.unwrap(), second.unwrap()];
    let enqueued: Vec<_> = outcomes
        .iter()
        .filter(|outcome| {
            matches!(
                outcome,
                TickOutcome::Enqueued {
                    cleanup: Some(_),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(enqueued.len(), 1, "{outcomes:?}");
    assert!(outcomes.contains(&TickOutcome::TakenElsewhere));
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE kind = 'refresh'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM jobs WHERE kind = 'cleanup'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_bad_timetable_stops_the_scheduler_with_the_key() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let mut scheduler = RoleProcess::spawn(
        "scheduler",
        &db,
        &queue,
        &[("SOFTCAT_SCHEDULER__TIMEZONE", "Mars/Olympus")],
    );
    let status = scheduler.wait_exit(Duration::from_secs(15));
    assert!(!status.success());
    assert!(scheduler.log_text().contains("scheduler.timezone"));
}

#[tokio::test]
async fn settings_are_validated_by_key_and_kept() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let shown = app.get("/api/admin/settings/", Some(&staff)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["SOFTWARE_CATALOG_RETENTION_DAYS"], 90);
    assert_eq!(shown.body["SOFTWARE_CATALOG_CLEANUP_ENABLED"], false);
    assert_eq!(shown.body["SOFTWARE_CATALOG_EESSI_UPDATE_ENABLED"], true);
    assert_eq!(shown.body["SOFTWARE_CATALOG_EESSI_VERSION"], Value::Null);

    let patch = |body: Value| {
        app.send(
            poem::http::Method::PATCH,
            "/api/admin/settings/",
            Some(&staff),
            Some(body),
        )
    };
    for (key, value) in [
        ("SOFTWARE_CATALOG_RETENTION_DAYS", json!(-5)),
        ("SOFTWARE_CATALOG_SPACK_DATA_URL", json!("not a url")),
        ("SOFTWARE_CATALOG_CLEANUP_ENABLED", json!("yes")),
        ("SOFTWARE_CATALOG_UNKNOWN", json!(1)),
    ] {
        let answer = patch(json!({ key: value })).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{key}");
        assert_eq!(answer.body["field"], key);
    }
    let not_an_object = patch(json!(["SOFTWARE_CATALOG_CLEANUP_ENABLED"])).await;
    assert_eq!(not_an_object.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_an_object.body["field"], "body");
    // All or nothing: a good key beside a bad one is not stored.
    let mixed = patch(
        json!({"SOFTWARE_CATALOG_CLEANUP_ENABLED": true, "SOFTWARE_CATALOG_RETENTION_DAYS": 0}),
    )
    .await;
    assert_eq!(mixed.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.db.count("SELECT count(*) FROM settings").await, 0);

    let changed = patch(json!({
        "SOFTWARE_CATALOG_CLEANUP_ENABLED": true,
        "SOFTWARE_CATALOG_RETENTION_DAYS": 30,
        "SOFTWARE_CATALOG_EESSI_VERSION": "2023.06",
    }))
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let shown = app.get("/api/admin/settings/", Some(&staff)).await;
    assert_eq!(shown.body["SOFTWARE_CATALOG_RETENTION_DAYS"], 30);
    assert_eq!(shown.body["SOFTWARE_CATALOG_CLEANUP_ENABLED"], true);
    assert_eq!(shown.body["SOFTWARE_CATALOG_EESSI_VERSION"], "2023.06");
    // null resets a key to its default.
    patch(json!({"SOFTWARE_CATALOG_RETENTION_DAYS": null})).await;
    let shown = app.get("/api/admin/settings/", Some(&staff)).await;
    assert_eq!(shown.body["SOFTWARE_CATALOG_RETENTION_DAYS"], 90);
}

#[tokio::test]
async fn cleanup_removes_superseded_old_versions_but_keeps_what_offerings_use() {
    let db = TestDb::new().await;
    let sample = data_file(SPACK_SAMPLE);
    for version in ["2024-01-01", "2024-06-01", "2025-01-01", "2025-06-01"] {
        let mut source = spack_source(sample.clone());
        source.catalog_version = Some(version.into());
        db.load_spack(&source, UPDATE).await.expect("load");
    }
    // Three old versions, one of them linked to an offering; the newest is
    // old too but is not superseded. Two finished jobs, one past retention.
    for sql in [
        "UPDATE software_catalogs SET created = now() - interval '200 days' \
         WHERE version IN ('2024-01-01', '2024-06-01', '2025-06-01')",
        "INSERT INTO offerings (name, type) VALUES ('HPC', 'Marketplace.Slurm')",
        "INSERT INTO offering_software_catalogs (offering_id, catalog_id) \
         SELECT o.id, c.id FROM offerings o, software_catalogs c WHERE c.version = '2024-01-01'",
        "INSERT INTO jobs (kind, dedupe_key, state, max_attempts, requested_by, finished) VALUES \
         ('cleanup', 'cleanup', 'succeeded', 1, 'test', now() - interval '200 days'), \
         ('cleanup', 'cleanup', 'failed', 1, 'test', now() - interval '2 days')",
    ] {
        db.conn.execute_unprepared(sql).await.expect(sql);
    }

    let report = softcat_shared::cleanup::run(&db.conn, 90)
        .await
        .expect("cleanup");
    assert_eq!(
        report.catalogs_removed,
        vec![CatalogKey::new("Spack", "2024-06-01")]
    );
    assert_eq!(report.jobs_removed, 1);
    let left = db
        .text("SELECT string_agg(version, ',' ORDER BY version) FROM software_catalogs")
        .await;
    assert_eq!(left, "2024-01-01,2025-01-01,2025-06-01");
    // Packages, versions and targets went with the catalog.
    assert_eq!(
        db.count("SELECT count(*) FROM software_packages").await,
        3 * 8
    );
}

/// A Postgres server of the test's own, from the machine's Postgres
/// binaries, that the test can stop and start; removed when dropped.
struct PrivatePostgres {
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn bin(tool: &str) -> std::path::PathBuf {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("Postgres binaries");
        let mut dirs: Vec<_> = versions.flatten().map(|entry| entry.path()).collect();
        dirs.sort();
        dirs.last()
            .expect("a Postgres version")
            .join("bin")
            .join(tool)
    }

    /// Whether the tests run as root, whom Postgres refuses to run as.
    fn as_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
    }

    /// A Postgres tool as a command; as the `postgres` user when root.
    fn command(tool: &str) -> std::process::Command {
        if Self::as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(Self::bin(tool));
            command
        } else {
            std::process::Command::new(Self::bin(tool))
        }
    }

    fn run(tool: &str, args: &[&str]) {
        let status = Self::command(tool)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect(tool);
        assert!(status.success(), "{tool} {args:?}");
    }

    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("softcat-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        if Self::as_root() {
            let status = std::process::Command::new("chown")
                .args(["postgres:postgres", dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.join("data");
        Self::run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let server = Self { dir, port };
        server.start();
        server
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/softcat", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        Self::run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        let data = self.dir.join("data");
        Self::run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Self::command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Redis queue, with every message delivered `delay` late.
struct LateQueue {
    inner: softcat_worker::RedisQueue,
    delay: Duration,
}

impl jobs::JobQueue for LateQueue {
    fn push(
        &self,
        message: jobs::JobMessage,
        _: Duration,
    ) -> futures_util::future::BoxFuture<'_, Result<(), jobs::QueueError>> {
        self.inner.push(message, self.delay)
    }

    fn depth(&self) -> futures_util::future::BoxFuture<'_, Result<u64, jobs::QueueError>> {
        self.inner.depth()
    }
}

#[tokio::test]
async fn workers_carry_on_after_postgres_restarts() {
    let postgres = PrivatePostgres::new();
    softcat_shared::db::ensure_database(&postgres.url())
        .await
        .unwrap();
    let conn = softcat_shared::db::connect(&postgres.url()).await.unwrap();
    softcat_shared::db::migrate(&conn).await.unwrap();
    let db = TestDb {
        url: postgres.url(),
        conn,
    };
    let queue = TestQueue::new();
    let mut worker = RoleProcess::spawn("worker", &db, &queue, &[]);
    let before = run_probe(&db, &queue, "before", &[&worker]).await;
    assert_eq!(before.state, "succeeded");

    // A message arrives while Postgres is down: the worker waits for a
    // connection (or, after the pool's timeout, leaves the message for the
    // queue to deliver again) and runs the job once Postgres is back.
    let late = LateQueue {
        inner: queue.client(),
        delay: Duration::from_secs(2),
    };
    let during = JobSpec::Probe {
        label: "during".into(),
    };
    let during = jobs::enqueue(&db.conn, &late, &during, "test", None, 3)
        .await
        .unwrap();
    postgres.stop();
    tokio::time::sleep(Duration::from_secs(5)).await;
    postgres.start();

    let during = wait_for_job(
        &db,
        during.job.id,
        Duration::from_secs(60),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(during.state, "succeeded", "{during:#?}");
    assert_eq!(during.attempts, 1, "failed claims are not attempts");
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "the worker kept running"
    );
    drop(db);
}

#[tokio::test]
async fn a_catalog_shows_the_status_of_its_loads() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let (_dir, server) = spack_server().await;
    let url = format!("{}/repology.json", server.base_url);
    let worker = RoleProcess::spawn(
        "worker",
        &app.db,
        &app.queue,
        &[("SOFTCAT_JOBS__MAX_ATTEMPTS", "1")],
    );
    let body = json!({"kind": "load", "source": "spack", "url": url, "update_existing": true});
    let loaded = job_id(&post(&app, "/api/admin/jobs/", &staff, body).await);
    let loaded = wait_for_job(&app.db, loaded, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(loaded.state, "succeeded", "{loaded:#?}");
    let version = loaded.result.as_ref().unwrap()["catalog"]["version"]
        .as_str()
        .unwrap()
        .to_owned();

    let catalog = || async {
        let list = app
            .get(
                "/api/marketplace-software-catalogs/?source=spack",
                Some(&staff),
            )
            .await;
        assert_eq!(list.body["count"], 1, "{}", list.body);
        list.body["results"][0].clone()
    };
    let shown = catalog().await;
    assert_eq!(shown["version"], version.as_str());
    assert!(shown["last_update_attempt"].is_string(), "{shown}");
    assert!(shown["last_successful_update"].is_string(), "{shown}");
    assert!(shown["update_errors"].is_null(), "{shown}");
    for (field, table) in [
        ("package_count", "software_packages p"),
        (
            "version_count",
            "software_versions v JOIN software_packages p ON p.id = v.package_id",
        ),
        (
            "target_count",
            "software_targets t JOIN software_versions v ON v.id = t.version_id \
             JOIN software_packages p ON p.id = v.package_id",
        ),
    ] {
        let counted = app.db.count(&format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(shown[field], counted, "{field}");
    }

    // A failed load of the same catalog version is its update error, and
    // leaves the last success where it was.
    let body = json!({
        "kind": "load", "source": "spack", "url": unreachable_url(),
        "catalog_version": version, "update_existing": true,
    });
    let failed = job_id(&post(&app, "/api/admin/jobs/", &staff, body).await);
    let failed = wait_for_job(&app.db, failed, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(failed.state, "failed", "{failed:#?}");
    let after = catalog().await;
    assert_eq!(after["update_errors"].as_str(), failed.error.as_deref());
    assert_eq!(
        after["last_successful_update"],
        shown["last_successful_update"]
    );
    assert!(after["last_update_attempt"].as_str() > shown["last_update_attempt"].as_str());
}

#[tokio::test]
async fn catalog_actions_discover_import_and_update_through_jobs() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let user = app.token("user", false).await;
    let (_spack_dir, server) = spack_server().await;
    let eessi_dir = TempDir::new();
    eessi_dir.write(
        "eessi_api_metadata_software.json",
        std::fs::read(data_file("eessi/published-sample_software.json")).expect("sample"),
    );
    let settings = app
        .send(
            poem::http::Method::PATCH,
            "/api/admin/settings/",
            Some(&staff),
            Some(json!({
                "SOFTWARE_CATALOG_EESSI_API_URL": eessi_dir.path(),
                "SOFTWARE_CATALOG_SPACK_DATA_URL": format!("{}/repology.json", server.base_url),
            })),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);

    // Only staff start or read these.
    let discover = "/api/marketplace-software-catalogs/discover/";
    assert_eq!(
        app.get(discover, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(discover, Some(&user)).await.status,
        StatusCode::FORBIDDEN
    );
    let import = "/api/marketplace-software-catalogs/import_catalog/";
    let refused = post(&app, import, &user, json!({"name": "Spack"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Every EESSI stack the file lists, and the Spack snapshot, none loaded.
    let sample: Value = serde_json::from_slice(
        &std::fs::read(data_file("eessi/published-sample_software.json")).unwrap(),
    )
    .unwrap();
    let mut stacks: Vec<String> = sample["architectures_map"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    stacks.sort();
    let offered = app.get(discover, Some(&staff)).await;
    assert_eq!(offered.status, StatusCode::OK, "{}", offered.body);
    let versions = |answer: &Value, source: &str| -> Vec<(String, bool)> {
        answer
            .as_array()
            .unwrap()
            .iter()
            .find(|offer| offer["source"] == source)
            .unwrap()["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_str().unwrap().to_owned(),
                    v["loaded"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let expected: Vec<(String, bool)> = stacks.iter().map(|s| (s.clone(), false)).collect();
    assert_eq!(versions(&offered.body, "eessi"), expected);
    assert_eq!(
        versions(&offered.body, "spack"),
        [(SPACK_SAMPLE_VERSION.to_owned(), false)]
    );

    // Import the Spack catalog through a worker; then it shows as loaded.
    let unknown = post(&app, import, &staff, json!({"name": "Conda"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["field"], "name");
    let worker = RoleProcess::spawn("worker", &app.db, &app.queue, &[]);
    let imported = job_id(&post(&app, import, &staff, json!({"name": "Spack"})).await);
    let imported = wait_for_job(
        &app.db,
        imported,
        Duration::from_secs(60),
        &[&worker],
        ended,
    )
    .await;
    assert_eq!(imported.state, "succeeded", "{imported:#?}");
    assert_eq!(imported.parameters["update_existing"], false);
    let offered = app.get(discover, Some(&staff)).await;
    assert_eq!(
        versions(&offered.body, "spack"),
        [(SPACK_SAMPLE_VERSION.to_owned(), true)]
    );
    let again = post(
        &app,
        import,
        &staff,
        json!({"name": "Spack", "version": SPACK_SAMPLE_VERSION}),
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["field"], "version");

    // update_catalog loads the stored version again, updating it.
    let spack = app
        .get(
            "/api/marketplace-software-catalogs/?source=spack",
            Some(&staff),
        )
        .await;
    let uuid = spack.body["results"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = format!("/api/marketplace-software-catalogs/{uuid}/update_catalog/");
    let updated = job_id(&post(&app, &update, &staff, json!({})).await);
    let updated = wait_for_job(&app.db, updated, Duration::from_secs(60), &[&worker], ended).await;
    assert_eq!(updated.state, "unchanged", "{updated:#?}");
    assert_eq!(updated.parameters["update_existing"], true);
    assert_eq!(updated.parameters["catalog_version"], SPACK_SAMPLE_VERSION);

    // A catalog created by hand has no source to update from.
    let by_hand = app
        .send(
            poem::http::Method::POST,
            "/api/marketplace-software-catalogs/",
            Some(&staff),
            Some(json!({"name": "Local", "version": "1", "catalog_type": "environment_module"})),
        )
        .await;
    assert_eq!(by_hand.status, StatusCode::CREATED, "{}", by_hand.body);
    let path = format!(
        "/api/marketplace-software-catalogs/{}/update_catalog/",
        by_hand.body["uuid"].as_str().unwrap()
    );
    let refused = post(&app, &path, &staff, json!({})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
}

#[tokio::test]
async fn a_refresh_updates_every_stored_eessi_stack_whose_updates_are_on() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let eessi_dir = TempDir::new();
    eessi_dir.write(
        "eessi_api_metadata_software.json",
        std::fs::read(data_file("eessi/published-sample_software.json")).expect("sample"),
    );
    let (_spack_dir, server) = spack_server().await;
    let settings = app
        .send(
            poem::http::Method::PATCH,
            "/api/admin/settings/",
            Some(&staff),
            Some(json!({
                "SOFTWARE_CATALOG_EESSI_API_URL": eessi_dir.path(),
                "SOFTWARE_CATALOG_SPACK_DATA_URL": format!("{}/repology.json", server.base_url),
            })),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    // Both stacks stored, and an older catalog of another name that the
    // refresh leaves alone; then one stack's updates are switched off.
    for version in ["2023.06", "2025.06"] {
        let mut source = eessi_source(eessi_dir.path());
        source.catalog_version = Some(version.into());
        app.db.load_eessi(&source, UPDATE).await.expect("load");
    }
    let mut other = eessi_source(eessi_dir.path());
    other.catalog_name = "EESSI-test".into();
    other.catalog_version = Some("2023.06".into());
    app.db.load_eessi(&other, UPDATE).await.expect("load");

    let worker = RoleProcess::spawn(
        "worker",
        &app.db,
        &app.queue,
        &[("SOFTCAT_JOBS__MAX_ATTEMPTS", "1")],
    );
    let refresh = async || {
        let id = job_id(
            &post(
                &app,
                "/api/admin/software-catalogs/refresh/",
                &staff,
                json!({}),
            )
            .await,
        );
        let refresh = wait_for_job(&app.db, id, Duration::from_secs(60), &[&worker], ended).await;
        assert_eq!(refresh.state, "succeeded", "{refresh:#?}");
        let result = refresh.result.expect("result");
        let stored: Vec<(String, Uuid)> = result["eessi"]["stored_versions"]
            .as_array()
            .expect("stored versions")
            .iter()
            .map(|entry| {
                (
                    entry["version"].as_str().unwrap().to_owned(),
                    entry["job_id"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        for (_, id) in &stored {
            let load = wait_for_job(&app.db, *id, Duration::from_secs(60), &[&worker], ended).await;
            assert_eq!(load.state, "unchanged", "{load:#?}");
        }
        let newest: Uuid = result["eessi"]["job_id"].as_str().unwrap().parse().unwrap();
        let newest =
            wait_for_job(&app.db, newest, Duration::from_secs(60), &[&worker], ended).await;
        assert_eq!(newest.state, "unchanged", "{newest:#?}");
        assert_eq!(
            newest.result.as_ref().unwrap()["catalog"]["version"],
            "2025.06"
        );
        stored
            .into_iter()
            .map(|(version, _)| version)
            .collect::<Vec<_>>()
    };
    // The newest is the refresh's own load (once); the older stack is
    // loaded beside it.
    assert_eq!(refresh().await, ["2023.06"]);

    let old = app
        .get(
            "/api/marketplace-software-catalogs/?name_exact=EESSI&version=2023.06",
            Some(&staff),
        )
        .await;
    let uuid = old.body["results"][0]["uuid"].as_str().unwrap().to_owned();
    let switched = app
        .send(
            poem::http::Method::PATCH,
            &format!("/api/marketplace-software-catalogs/{uuid}/"),
            Some(&staff),
            Some(json!({"auto_update_enabled": false})),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    assert_eq!(switched.body["auto_update_enabled"], false);
    assert!(refresh().await.is_empty());
}

#[tokio::test]
async fn a_redis_blip_lets_the_running_load_finish_and_requeues_lost_messages() {
    let mut redis = PrivateRedis::start();
    let db = TestDb::new().await;
    let queue = TestQueue::on(&redis.url());
    let mut load = HeldLoad::new(&db).await;
    let worker = RoleProcess::spawn("worker", &db, &queue, &[]);
    let running = load.start(&db, &queue, &[&worker]).await;
    // Queued behind the load (one job at a time): its message is in Redis.
    let waiting = jobs::enqueue(
        &db.conn,
        &queue.client(),
        &JobSpec::probe(),
        "test",
        None,
        3,
    )
    .await
    .unwrap()
    .job;

    // Redis goes away mid-load, longer than the heartbeats allow, and
    // comes back empty.
    redis.stop();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let still = jobs::get(&db.conn, running.id).await.unwrap();
    assert_eq!(
        (still.state.as_str(), still.attempts),
        ("running", 1),
        "the load is not handed back while Redis is away: {still:#?}\n{}",
        worker.log_text()
    );
    redis.resume();
    let back = Instant::now();
    load.release().await;

    let done = wait_for_job(&db, running.id, Duration::from_secs(60), &[&worker], ended).await;
    let load_done = back.elapsed();
    assert_eq!(done.state, "succeeded", "{done:#?}");
    assert_eq!(done.attempts, 1, "the attempt went on: {done:#?}");
    assert_eq!(done.worker, running.worker);
    assert_eq!(db.catalog_size("Spack", SPACK_SAMPLE_VERSION).await.0, 8);

    // The probe's message died with Redis; it is queued again from its
    // record well within a minute of Redis answering.
    let probe = wait_for_job(&db, waiting.id, Duration::from_secs(60), &[&worker], ended).await;
    let probe_done = back.elapsed();
    assert_eq!(probe.state, "succeeded", "{probe:#?}");
    assert!(
        probe_done < Duration::from_secs(30),
        "the lost message was queued again after {probe_done:?}"
    );
    eprintln!("redis back → load done {load_done:?}, lost probe done {probe_done:?}");
    drop(worker);
}

/// Makes the first row written to `software_packages` take two minutes,
/// inside the writing load's transaction and its catalog lock, as a long
/// statement does. Later loads write at full speed (a sequence counts
/// outside transactions).
async fn slow_first_package_write(db: &TestDb) {
    db.conn
        .execute_unprepared(
            "CREATE SEQUENCE slow_once; \
             CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF nextval('slow_once') = 1 THEN PERFORM pg_sleep(120); END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER slow_once BEFORE INSERT ON software_packages \
             FOR EACH ROW EXECUTE FUNCTION slow_once();",
        )
        .await
        .unwrap();
}

/// Backends of the test database sleeping in [`slow_first_package_write`].
async fn sleeping_writers(db: &TestDb) -> u64 {
    db.count(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event = 'PgSleep'",
    )
    .await
}

/// A worker stops dead (`signal`) in the middle of a load's write, its
/// Postgres session busy in a statement that holds the catalog's lock; a
/// successor takes the load over once the lease has expired and finishes
/// it without waiting for that session. Returns the time from the signal
/// to the load's end.
async fn takeover_after(signal: &str) -> Duration {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    slow_first_package_write(&db).await;
    let (_dir, server) = spack_server().await;
    let doomed = RoleProcess::spawn("worker", &db, &queue, &[]);
    let job = jobs::enqueue(
        &db.conn,
        &queue.client(),
        &spack_load(format!("{}/repology.json", server.base_url)),
        "test",
        None,
        3,
    )
    .await
    .unwrap()
    .job;
    let deadline = Instant::now() + Duration::from_secs(30);
    // The write sleeps, and the worker has recorded the session it runs in
    // (which it does beside the load, not before it).
    let recorded = format!(
        "SELECT count(*) FROM jobs WHERE id = '{}' AND backend_pid IS NOT NULL",
        job.id
    );
    while sleeping_writers(&db).await == 0 || db.count(&recorded).await == 0 {
        assert!(Instant::now() < deadline, "{}", doomed.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = jobs::get(&db.conn, job.id).await.unwrap();

    doomed.signal(signal);
    let stopped = Instant::now();
    let successor = RoleProcess::spawn("worker", &db, &queue, &[]);
    let done = wait_for_job(
        &db,
        job.id,
        Duration::from_secs(60),
        &[&successor, &doomed],
        ended,
    )
    .await;
    let took = stopped.elapsed();
    assert_eq!(done.state, "succeeded", "{done:#?}");
    assert_eq!(done.attempts, 2, "{done:#?}");
    assert_ne!(done.worker, first.worker);
    // The lease is 3 s (heartbeat 1 s × 3); the dead session's statement
    // would hold the lock for two minutes.
    assert!(
        took < Duration::from_secs(12),
        "the successor waited {took:?} for the dead session\n{}",
        successor.log_text()
    );
    assert_eq!(sleeping_writers(&db).await, 0, "the dead session is gone");
    assert_eq!(db.catalog_size("Spack", SPACK_SAMPLE_VERSION).await.0, 8);
    drop(doomed);
    took
}

#[tokio::test]
async fn a_killed_workers_transaction_does_not_hold_up_the_takeover() {
    let took = takeover_after("KILL").await;
    eprintln!("kill -9 → load done by the successor in {took:?}");
}

#[tokio::test]
async fn a_frozen_workers_transaction_is_ended_once_its_lease_expires() {
    // SIGSTOP: the process and its sockets live on, so only the lease
    // tells that the worker is gone.
    let took = takeover_after("STOP").await;
    eprintln!("SIGSTOP → load done by the successor in {took:?}");
}

#[tokio::test]
async fn a_load_jobs_url_is_checked_like_the_settings_urls() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    for url in [
        "ftp://example.org/repology.json",
        "relative/repology.json",
        "mailto:x@example.org",
    ] {
        let answer = post(
            &app,
            "/api/admin/jobs/",
            &staff,
            json!({"kind": "load", "source": "spack", "url": url}),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{url}: {}",
            answer.body
        );
        assert_eq!(answer.body["field"], "url", "{url}");
    }
    assert_eq!(app.db.count("SELECT count(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn discover_names_a_source_it_cannot_read_and_lists_the_others() {
    let app = TestApp::spawn(false).await;
    let staff = app.token("admin", true).await;
    let (_dir, server) = spack_server().await;
    let settings = app
        .send(
            poem::http::Method::PATCH,
            "/api/admin/settings/",
            Some(&staff),
            Some(json!({
                "SOFTWARE_CATALOG_EESSI_API_URL": unreachable_url().replace("repology.json", ""),
                "SOFTWARE_CATALOG_SPACK_DATA_URL": format!("{}/repology.json", server.base_url),
            })),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    let offered = app
        .get("/api/marketplace-software-catalogs/discover/", Some(&staff))
        .await;
    assert_eq!(offered.status, StatusCode::OK, "{}", offered.body);
    let by_source = |source: &str| {
        offered
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|offer| offer["source"] == source)
            .unwrap()
            .clone()
    };
    let eessi = by_source("eessi");
    assert!(
        eessi["error"].as_str().unwrap().contains("127.0.0.1"),
        "{eessi}"
    );
    assert_eq!(eessi["versions"], json!([]));
    let spack = by_source("spack");
    assert!(spack["error"].is_null(), "{spack}");
    assert_eq!(spack["versions"][0]["version"], SPACK_SAMPLE_VERSION);
}
