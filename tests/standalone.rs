//! `softcat standalone --load-sample`: the API, a worker and the scheduler
//! in one process, started the way a newcomer starts it: over the
//! configured Postgres and Redis, and with neither configured.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::jobs::*;
use support::*;

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

async fn wait_until_ready(client: &reqwest::Client, base: &str, process: &RoleProcess) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(response) = client.get(format!("{base}/ready")).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The catalogs the API lists: name, version, package count.
async fn catalogs(client: &reqwest::Client, base: &str, token: &str) -> Vec<(String, String, i64)> {
    let (status, catalogs) = get(
        client,
        &format!("{base}/api/marketplace-software-catalogs/"),
        Some(token),
    )
    .await;
    assert_eq!(status, 200, "{catalogs}");
    let mut catalogs: Vec<(String, String, i64)> = catalogs["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap().to_owned(),
                c["package_count"].as_i64().unwrap(),
            )
        })
        .collect();
    catalogs.sort();
    catalogs
}

/// The catalogs of the bundled sample, by name: the module tree's and the
/// custom catalog's package counts read from the sample files themselves.
fn sample_catalogs() -> Vec<(String, String, i64)> {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
    let stallo: Value =
        serde_json::from_slice(&std::fs::read(format!("{samples}/lmod/stallo.json")).unwrap())
            .unwrap();
    let modules = stallo
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| {
            package["versions"]
                .as_array()
                .is_some_and(|versions| !versions.is_empty())
        })
        .map(|package| package["package"].as_str().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as i64;
    let custom: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/shared/tests/fixtures/custom/example.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let repodata: Value = serde_json::from_slice(
        &std::fs::read(format!("{samples}/conda/linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    let builds: Vec<&Value> = ["packages", "packages.conda"]
        .iter()
        .filter_map(|map| repodata[*map].as_object())
        .flat_map(|map| map.values())
        .collect();
    let conda_packages = builds
        .iter()
        .map(|build| build["name"].as_str().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as i64;
    let newest = builds
        .iter()
        .filter_map(|build| build["timestamp"].as_i64())
        .map(|stamp| {
            if stamp > 253_402_300_799 {
                stamp / 1000
            } else {
                stamp
            }
        })
        .max()
        .unwrap();
    let conda_version = chrono::DateTime::from_timestamp(newest, 0)
        .unwrap()
        .date_naive()
        .to_string();
    let mut catalogs = vec![
        ("EESSI".to_owned(), "2023.06".to_owned(), 5),
        ("pytorch".to_owned(), conda_version, conda_packages),
        (
            custom["catalog"]["name"].as_str().unwrap().to_owned(),
            custom["catalog"]["version"].as_str().unwrap().to_owned(),
            custom["packages"].as_array().unwrap().len() as i64,
        ),
        ("Spack".to_owned(), "2025-03-20".to_owned(), 8),
        ("Stallo".to_owned(), "2013".to_owned(), modules),
    ];
    catalogs.sort();
    catalogs
}

/// Enqueues a job over the API; its id.
async fn enqueue(client: &reqwest::Client, base: &str, token: &str, job: Value) -> uuid::Uuid {
    let answer = client
        .post(format!("{base}/api/admin/jobs/"))
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", "application/json")
        .body(job.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 202);
    let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the API shows job `id` in `state`.
async fn wait_for_state(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: uuid::Uuid,
    state: &str,
    process: &RoleProcess,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, job) = get(client, &format!("{base}/api/admin/jobs/{id}/"), Some(token)).await;
        assert_eq!(status, 200, "{job}");
        if job["state"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "{job}\n{}", process.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn standalone_serves_the_sample_runs_jobs_and_stops_cleanly() {
    let db = TestDb::new().await;
    let queue = TestQueue::new();
    let address = free_address();
    let mut process = RoleProcess::spawn(
        "standalone --load-sample",
        &db,
        &queue,
        &[("SOFTCAT_API__LISTEN", &address)],
    );
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    wait_until_ready(&client, &base, &process).await;

    softcat_shared::accounts::create_user(&db.conn, "admin", true)
        .await
        .unwrap();
    let token = softcat_shared::accounts::create_token(&db.conn, "admin")
        .await
        .unwrap();
    assert_eq!(catalogs(&client, &base, &token).await, sample_catalogs());
    // The sample's catalogs say where the sample came from, not the
    // temporary directory it was read from.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM software_catalogs WHERE source_url IN (\
             'https://github.com/EESSI/docs/blob/main/scripts/available_software/tests/test_dir/data/eessi_api_metadata_software.json', \
             'https://packages.spack.io/data/repology.json', \
             'https://github.com/juselius/spiderman/blob/master/lmod.json', \
             'https://conda.anaconda.org/pytorch/', \
             'samples/custom/example.yaml')"
        )
        .await,
        5
    );

    // The embedded worker runs a job enqueued over the API.
    let id = enqueue(&client, &base, &token, json!({"kind": "probe"})).await;
    let job = wait_for_job(&db, id, Duration::from_secs(30), &[&process], ended).await;
    assert_eq!(job.state, "succeeded");

    process.signal("TERM");
    let status = process.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", process.log_text());
    assert!(process.log_text().contains("standalone stopped"));
}

/// A home for a standalone process without servers, run as the tests run
/// (as root, standalone runs its Postgres as `nobody`). Dropping it stops
/// a Postgres left running in it and removes it.
struct EmbeddedHome(PathBuf);

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl EmbeddedHome {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("softcat-embedded-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn data_dir(&self) -> PathBuf {
        self.0.join("data")
    }

    /// `softcat standalone <args> --data-dir …` with no database or Redis
    /// URL anywhere in its configuration.
    fn start(&self, args: &str, address: &str) -> RoleProcess {
        let log = std::env::temp_dir().join(format!("softcat-test-{}.log", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_softcat"));
        command
            .args(args.split_whitespace())
            .arg("--data-dir")
            .arg(self.data_dir())
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("SOFTCAT_DATABASE_URL")
            .env_remove("SOFTCAT_REDIS_URL")
            .env("HOME", &self.0)
            .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
            .env("SOFTCAT_LOG", "info")
            .env("SOFTCAT_API__LISTEN", address)
            .envs(TEST_ENV)
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        RoleProcess {
            child: command.spawn().unwrap(),
            log,
        }
    }

    /// `softcat <args>` as an operator runs it against the running
    /// embedded database: `DATABASE_URL=$(cat <data dir>/database_url)`.
    fn operator(&self, args: &str) -> String {
        let url = std::fs::read_to_string(self.data_dir().join("database_url")).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_softcat"))
            .args(args.split_whitespace())
            .env("DATABASE_URL", url.trim())
            .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn postmaster_pid(&self) -> Option<String> {
        let pid_file = self.data_dir().join("postgres/postmaster.pid");
        let text = std::fs::read_to_string(pid_file).ok()?;
        text.lines().next().map(str::to_owned)
    }
}

impl Drop for EmbeddedHome {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid() {
            // Immediate shutdown of a server a failed test left behind.
            let _ = Command::new("kill").args(["-QUIT", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn standalone_without_servers_embeds_its_database_and_queue() {
    let home = EmbeddedHome::new();
    let address = free_address();
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let mut process = home.start("standalone --load-sample", &address);
    wait_until_ready(&client, &base, &process).await;
    let log = process.log_text();
    assert!(log.contains("embedded Postgres started"), "{log}");
    assert!(log.contains("jobs are queued in the process"), "{log}");
    if running_as_root() {
        // softcat stays root; the server's files and processes are nobody's.
        use std::os::unix::fs::MetadataExt;
        assert!(log.contains("account=nobody"), "{log}");
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let nobody: u32 = passwd
            .lines()
            .find(|line| line.starts_with("nobody:"))
            .and_then(|line| line.split(':').nth(2))
            .unwrap()
            .parse()
            .unwrap();
        let data = std::fs::metadata(home.data_dir().join("postgres")).unwrap();
        assert_eq!(data.uid(), nobody);
        let postmaster = home.postmaster_pid().unwrap();
        let server = std::fs::metadata(format!("/proc/{postmaster}")).unwrap();
        assert_eq!(server.uid(), nobody, "the server runs as nobody");
        let softcat = std::fs::metadata(format!("/proc/{}", process.pid())).unwrap();
        assert_eq!(softcat.uid(), 0, "softcat runs as its caller");
    }

    home.operator("users create admin --staff");
    let token = home.operator("tokens create admin");
    assert_eq!(catalogs(&client, &base, &token).await, sample_catalogs());

    // A job goes through the in-process queue to the worker.
    let id = enqueue(&client, &base, &token, json!({"kind": "probe"})).await;
    wait_for_state(&client, &base, &token, id, "succeeded", &process).await;

    // A probe queued behind a long dry-run load is still queued when the
    // process stops: its in-process message is lost with the process.
    let spack = data_file("spack/repology.json");
    let load = json!({"kind": "load", "source": "spack", "url": spack, "dry_run": true});
    enqueue(&client, &base, &token, load).await;
    let waiting = enqueue(&client, &base, &token, json!({"kind": "probe"})).await;
    process.signal("TERM");
    let status = process.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", process.log_text());
    assert!(process.log_text().contains("embedded Postgres stopped"));
    assert_eq!(home.postmaster_pid(), None, "the server is still running");

    // A second start finds the data, the password and the account again,
    // and queues again the job the first one left queued.
    let mut process = home.start("standalone", &address);
    wait_until_ready(&client, &base, &process).await;
    assert_eq!(catalogs(&client, &base, &token).await, sample_catalogs());
    wait_for_state(&client, &base, &token, waiting, "succeeded", &process).await;
    assert!(
        process
            .log_text()
            .contains("re-queued jobs whose queue message may have been lost"),
        "{}",
        process.log_text()
    );
    process.signal("TERM");
    let status = process.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", process.log_text());
    assert_eq!(home.postmaster_pid(), None, "the server is still running");
}

/// Runs a shell command line as an operator in another terminal would:
/// no database or Redis URL in the environment but what the line sets,
/// another home, and (when the tests run as root) an OS user that is
/// neither standalone's nor its database's. Its stdout, or a panic with
/// its output.
fn shell(line: &str, extra: &[(&str, &str)]) -> String {
    let mut command = if running_as_root() {
        // Neither root nor `nobody`, whom standalone's database runs as.
        let mut command = Command::new("setpriv");
        command.args([
            "--reuid=daemon",
            "--regid=daemon",
            "--clear-groups",
            "--",
            "sh",
        ]);
        command
    } else {
        Command::new("sh")
    };
    let output = command
        .args(["-c", line])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("SOFTCAT_DATABASE_URL")
        .env_remove("SOFTCAT_REDIS_URL")
        .env("HOME", "/nonexistent")
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .envs(extra.iter().copied())
        .output()
        .unwrap();
    assert!(output.status.success(), "{line}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The job id at the end of "queued <kind> job <id> …".
fn queued_id(line: &str) -> uuid::Uuid {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"queued"), "{line}");
    words[3].parse().unwrap()
}

#[tokio::test]
async fn standalone_prints_next_steps_listens_where_told_and_runs_jobs_enqueued_from_a_shell() {
    let home = EmbeddedHome::new();
    // `--listen` wins over `api.listen`.
    let configured = free_address();
    let address = free_address();
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let mut process = home.start(&format!("standalone --listen {address}"), &configured);
    wait_until_ready(&client, &base, &process).await;
    assert!(
        reqwest::get(format!("http://{configured}/ready"))
            .await
            .is_err()
    );

    // The next steps, with this instance's real values.
    let log = process.log_text();
    let lines: Vec<&str> = log.lines().collect();
    let up = lines
        .iter()
        .position(|line| *line == "softcat standalone is up.")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(lines[up + 1], format!("  API:  {base}/api/"), "{log}");
    assert_eq!(lines[up + 2], format!("  docs: {base}/api/docs/"), "{log}");
    let create = lines[up + 4]
        .strip_prefix("  TOKEN=$(")
        .and_then(|line| line.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{log}"));
    let (assignment, command) = create.split_once(' ').unwrap();
    let url = assignment.strip_prefix("DATABASE_URL=").unwrap();
    assert!(url.starts_with("postgresql://"), "{create}");
    assert!(
        command.ends_with("softcat users create admin --staff --token"),
        "{create}"
    );

    // The printed command, run elsewhere, gives a token that works.
    let token = shell(create, &[]);
    assert_eq!(catalogs(&client, &base, &token).await, vec![]);

    // `softcat enqueue` records the job, pushes nothing to Redis (none is
    // reachable here), and standalone runs it from its record.
    let binary = env!("CARGO_BIN_EXE_softcat");
    let no_redis = [("REDIS_URL", "redis://127.0.0.1:1")];
    let line = shell(
        &format!("DATABASE_URL={url} {binary} enqueue probe"),
        &no_redis,
    );
    assert!(
        line.ends_with("(recorded; the standalone instance serving this database runs it)"),
        "{line}"
    );
    wait_for_state(
        &client,
        &base,
        &token,
        queued_id(&line),
        "succeeded",
        &process,
    )
    .await;

    // `softcat jobs retry` of a failed job, the same way.
    let one_attempt = [
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("SOFTCAT_JOBS__MAX_ATTEMPTS", "1"),
    ];
    let line = shell(
        &format!(
            "DATABASE_URL={url} {binary} enqueue load spack --data-url http://127.0.0.1:1/repology.json"
        ),
        &one_attempt,
    );
    let failed = queued_id(&line);
    wait_for_state(&client, &base, &token, failed, "failed", &process).await;
    let line = shell(
        &format!("DATABASE_URL={url} {binary} jobs retry {failed}"),
        &one_attempt,
    );
    assert!(line.contains(&format!("(retry of {failed})")), "{line}");
    assert!(line.ends_with("runs it)"), "{line}");
    wait_for_state(&client, &base, &token, queued_id(&line), "failed", &process).await;

    process.signal("TERM");
    let status = process.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", process.log_text());
}

#[test]
fn standalone_without_servers_names_a_data_directory_it_cannot_use() {
    let home = EmbeddedHome::new();
    std::fs::write(home.data_dir(), "a file, not a directory").unwrap();
    let mut process = home.start("standalone", &free_address());
    let status = process.wait_exit(Duration::from_secs(30));
    let log = process.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: creating ") && last.ends_with("File exists (os error 17)"),
        "{log}"
    );
}

#[test]
fn standalone_as_root_refuses_a_data_directory_its_database_account_cannot_enter() {
    if !running_as_root() {
        // Only root hands the database to another account.
        return;
    }
    let closed = std::env::temp_dir().join(format!("softcat-closed-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&closed).unwrap();
    std::fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_softcat"))
        .args(["standalone", "--data-dir"])
        .arg(closed.join("data"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
        .env("SOFTCAT_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&closed);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the embedded database runs as nobody, who cannot enter {}",
            closed.display()
        )),
        "{stderr}"
    );
}
