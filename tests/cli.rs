//! The `softcat` binary as an operator uses it: exit codes, the summary
//! table, and one readable line on failure.

mod support;

use std::process::{Command, Output};

use support::*;

const SAMPLE: &str = "spack/published-sample_repology.json";

fn softcat(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .expect("run softcat")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Collapses runs of spaces so table rows compare without column widths.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn load_prints_the_table_and_is_safe_to_repeat() {
    let db = TestDb::new().await;
    let data = data_file(SAMPLE);

    let dry = softcat(
        &db.url,
        &["load", "spack", "--data-url", &data, "--dry-run"],
    );
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("dry run: nothing written"));
    assert!(squeeze(&stdout(&dry)).contains("packages 8 0 0 0 0"));
    assert!(db.dump().await.is_empty());

    let first = softcat(&db.url, &["load", "spack", "--data-url", &data]);
    assert!(first.status.success(), "{}", stderr(&first));
    let table = squeeze(&stdout(&first));
    assert!(
        table.contains("spack catalog Spack 2025-03-20: created"),
        "{table}"
    );
    assert!(
        table.contains("created updated unchanged deleted skipped"),
        "{table}"
    );
    assert!(table.contains("packages 8 0 0 0 0"), "{table}");
    assert!(table.contains("versions 22 0 0 0 0"), "{table}");
    assert!(table.contains("targets 24 0 0 0 0"), "{table}");
    assert!(table.contains("time:"), "{table}");

    let second = softcat(&db.url, &["load", "spack", "--data-url", &data]);
    assert!(second.status.success());
    assert!(stdout(&second).contains("exists already and was left as it is"));

    let third = softcat(
        &db.url,
        &["load", "spack", "--data-url", &data, "--update-existing"],
    );
    assert!(third.status.success());
    let table = squeeze(&stdout(&third));
    assert!(
        table.contains("unchanged: already in line with the source"),
        "{table}"
    );
    assert!(table.contains("packages 0 0 8 0 0"), "{table}");
}

#[tokio::test]
async fn json_output_carries_the_report() {
    let db = TestDb::new().await;
    let eessi = data_dir().join("eessi");
    let output = softcat(
        &db.url,
        &[
            "load",
            "eessi",
            "--api-url",
            &eessi.to_string_lossy(),
            "--no-extensions",
            "--catalog-version",
            "2023.06",
            "--json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(report["outcome"], "created");
    assert_eq!(report["catalog"]["version"], "2023.06");
    assert_eq!(report["kind"], "eessi");
    let packages = report["packages"]["created"].as_u64().unwrap();
    assert_eq!(db.catalog_size("EESSI", "2023.06").await.0, packages);
}

#[tokio::test]
async fn failures_exit_non_zero_with_one_readable_line() {
    let db = TestDb::new().await;
    let cases: [(&[&str], &str); 3] = [
        (
            &["load", "spack", "--data-url", "/nonexistent/repology.json"],
            "/nonexistent/repology.json: not found",
        ),
        (
            &["load", "eessi", "--api-url", "ftp://example.org/"],
            "not an http(s) URL",
        ),
        (
            &["load", "spack", "--data-url", SAMPLE, "--catalog-name", " "],
            "--catalog-name must not be empty",
        ),
    ];
    for (args, expected) in cases {
        let output = softcat(&db.url, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{args:?}: {message}");
        assert!(message.starts_with("error: "), "{message}");
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    assert!(db.dump().await.is_empty());
}

#[tokio::test]
async fn a_bad_setting_or_an_unmigrated_database_is_named() {
    let db = TestDb::new().await;
    let output = Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(["load", "spack"])
        .env("DATABASE_URL", &db.url)
        .env("SOFTCAT_FETCH__RETRIES", "many")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .expect("run softcat");
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.to_lowercase().contains("fetch.retries"),
        "{message}"
    );

    let empty = TestDb::new().await;
    db::drop_schema(&empty).await;
    let output = softcat(
        &empty.url,
        &["load", "spack", "--data-url", &data_file(SAMPLE)],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: the database has no softcat schema: run softcat migrate first\n"
    );

    let migrate = softcat(&empty.url, &["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let load = softcat(
        &empty.url,
        &["load", "spack", "--data-url", &data_file(SAMPLE)],
    );
    assert!(load.status.success(), "{}", stderr(&load));
}

mod db {
    use sea_orm::ConnectionTrait;

    /// Empties a test database's schema, as on a machine never migrated.
    pub async fn drop_schema(db: &super::TestDb) {
        db.conn
            .execute_unprepared("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            .await
            .expect("drop schema");
    }
}

#[tokio::test]
async fn the_api_role_serves_tokens_made_by_the_commands_and_stops_on_sigterm() {
    let db = TestDb::new().await;
    let load = softcat(
        &db.url,
        &["load", "spack", "--data-url", &data_file(SAMPLE)],
    );
    assert!(load.status.success(), "{}", stderr(&load));
    let user = softcat(&db.url, &["users", "create", "ops", "--staff"]);
    assert!(user.status.success(), "{}", stderr(&user));
    assert!(
        stdout(&user).starts_with("created staff ops"),
        "{}",
        stdout(&user)
    );
    let again = softcat(&db.url, &["users", "create", "ops"]);
    assert!(!again.status.success());
    assert_eq!(stderr(&again).trim(), "error: user \"ops\" already exists");
    let token = softcat(&db.url, &["tokens", "create", "ops"]);
    assert!(token.status.success(), "{}", stderr(&token));
    let token = stdout(&token).trim().to_owned();
    assert_eq!(token.len(), 64);
    let unknown = softcat(&db.url, &["tokens", "create", "nobody"]);
    assert_eq!(stderr(&unknown).trim(), "error: no user \"nobody\"");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut api = Command::new(env!("CARGO_BIN_EXE_softcat"))
        .arg("api")
        .env("DATABASE_URL", &db.url)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_API__LISTEN", format!("127.0.0.1:{port}"))
        .env("SOFTCAT_LOG", "warn")
        .spawn()
        .expect("start softcat api");
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/marketplace-software-catalogs/");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(response) = client
            .get(&url)
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
        {
            answer = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let answer = answer.expect("the API answered");
    assert_eq!(answer.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(body["results"][0]["name"], "Spack");

    let killed = Command::new("kill")
        .args(["-TERM", &api.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(status) = api.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_api_refuses_a_bad_public_url_in_one_line() {
    let db = TestDb::new().await;
    let output = Command::new(env!("CARGO_BIN_EXE_softcat"))
        .arg("api")
        .env("DATABASE_URL", &db.url)
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_API__LISTEN", "127.0.0.1:0")
        .env("SOFTCAT_API__PUBLIC_URL", "softcat.example.org")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .expect("run softcat api");
    assert!(!output.status.success());
    let error = stderr(&output);
    assert_eq!(error.trim().lines().count(), 1, "{error}");
    assert!(error.contains("api.public_url"), "{error}");
}

#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_softcat"))
        .arg("config")
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run softcat");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(!errors.contains("panicked"), "{errors}");
}

#[tokio::test]
async fn every_role_refuses_a_schema_that_is_not_migrated() {
    let url = format!(
        "{}/softcat_test_{}",
        servers::postgres_url(),
        uuid::Uuid::new_v4().simple()
    );
    softcat_shared::db::ensure_database(&url).await.unwrap();
    // Dropped with the database at the end, also when an assertion fails.
    let _db = TestDb {
        conn: softcat_shared::db::connect(&url).await.unwrap(),
        url: url.clone(),
    };
    for args in [
        &["api"][..],
        &["worker"],
        &["scheduler"],
        &["jobs", "list"],
        &["users", "create", "someone"],
    ] {
        let output = softcat(&url, args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert_eq!(
            message, "error: the database has no softcat schema: run softcat migrate first\n",
            "{args:?}"
        );
    }
}

#[test]
fn a_missing_database_is_one_line_with_the_fix() {
    let name = format!("softcat_test_missing_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", servers::postgres_url());
    for args in [&["catalogs", "list"][..], &["jobs", "list"], &["worker"]] {
        let output = softcat(&url, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&output),
            format!("error: database \"{name}\" does not exist: run softcat migrate first\n"),
            "{args:?}"
        );
    }
}

#[test]
fn an_empty_database_url_is_the_default_not_an_empty_one() {
    let output = softcat("", &["config"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let config: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        config["database_url"],
        "postgres://postgres@127.0.0.1:5432/softcat"
    );
}

#[test]
fn an_unknown_key_or_a_bad_timetable_is_one_line_naming_it() {
    let run = |variable: &str, value: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_softcat"))
            .args(args)
            .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
            .env("SOFTCAT_LOG", "warn")
            .env(variable, value)
            .output()
            .expect("run softcat")
    };
    let output = run("SOFTCAT_FETCH__MAX_BYTE", "3", &["config"]);
    assert_eq!(
        stderr(&output),
        "error: configuration: fetch.max_byte: unknown key; did you mean fetch.max_bytes?\n"
    );
    for args in [&["config"][..], &["api"], &["worker"], &["scheduler"]] {
        let output = run("SOFTCAT_SCHEDULER__TIMEZONE", "Mars/Olympus", args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&output),
            "error: configuration: scheduler.timezone: \"Mars/Olympus\" is not a time zone; \
             expected an IANA name such as \"UTC\" or \"Europe/Amsterdam\"\n",
            "{args:?}"
        );
    }
    let output = run("SOFTCAT_SCHEDULER__REFRESH_CRON", "0 3 * *", &["config"]);
    assert_eq!(
        stderr(&output),
        "error: configuration: scheduler.refresh_cron: \"0 3 * *\" is not a cron expression \
         (4 fields); expected five fields (minute hour day-of-month month day-of-week, e.g. \
         \"0 3 * * *\" for daily at 03:00) or six with seconds first (\"0 0 3 * * *\")\n"
    );
    let output = run("SOFTCAT_SCHEDULER__REFRESH_CRON", "0 3 * * *", &["config"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test]
async fn load_eessi_says_which_versions_the_source_has_and_loads_all_on_request() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let sample = std::fs::read(data_file("eessi/published-sample_software.json")).unwrap();
    dir.write("eessi_api_metadata_software.json", sample);
    let api_url = dir.path();
    let base = ["load", "eessi", "--api-url", &api_url, "--no-extensions"];

    let newest = softcat(&db.url, &base);
    assert!(newest.status.success(), "{}", stderr(&newest));
    assert_eq!(
        stdout(&newest).lines().last(),
        Some(
            "the source has 2023.06, 2025.06; loaded 2025.06 (--catalog-version VERSION \
             loads another, --catalog-version all loads each)"
        )
    );

    let all = softcat(
        &db.url,
        &[&base[..], &["--catalog-version", "all", "--json"]].concat(),
    );
    assert!(all.status.success(), "{}", stderr(&all));
    let reports: serde_json::Value = serde_json::from_slice(&all.stdout).expect("JSON");
    let loaded: Vec<&str> = reports
        .as_array()
        .expect("one report per stack")
        .iter()
        .map(|report| report["catalog"]["version"].as_str().unwrap())
        .collect();
    assert_eq!(loaded, ["2023.06", "2025.06"]);
    assert_eq!(reports[0]["outcome"], "created");

    let spack = softcat(
        &db.url,
        &[
            "load",
            "spack",
            "--data-url",
            &data_file(SAMPLE),
            "--catalog-version",
            "all",
        ],
    );
    assert_eq!(
        stderr(&spack),
        "error: --catalog-version all: spack sources hold one version; give one or none\n"
    );
}
