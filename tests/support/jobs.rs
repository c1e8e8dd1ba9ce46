//! Job-system harness: a Redis queue namespace of one test (its keys deleted
//! when the test ends), `softcat worker` / `softcat scheduler` processes
//! over a test database and queue, and waiting for a job to end.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use softcat_shared::config::{Config, JobsConfig};
use softcat_shared::jobs::{self, JobRecord};
use softcat_worker::RedisQueue;
use uuid::Uuid;

use super::TestDb;

/// Settings every test process uses: quick heartbeats so that a killed
/// worker's job moves on within seconds, short retry waits.
pub const TEST_ENV: [(&str, &str); 5] = [
    ("SOFTCAT_JOBS__HEARTBEAT_SECS", "1"),
    ("SOFTCAT_JOBS__MISSED_HEARTBEATS", "3"),
    ("SOFTCAT_JOBS__RETRY_BACKOFF_SECS", "1"),
    ("SOFTCAT_JOBS__SHUTDOWN_GRACE_SECS", "5"),
    ("SOFTCAT_FETCH__RETRIES", "0"),
];

/// A queue namespace of its own for one test.
pub struct TestQueue {
    pub redis_url: String,
    pub name: String,
}

impl TestQueue {
    pub fn new() -> Self {
        Self::on(super::servers::redis_url())
    }

    /// A namespace on another Redis (a test's own server).
    pub fn on(redis_url: &str) -> Self {
        Self {
            redis_url: redis_url.to_owned(),
            name: format!("softcat-test:{}", Uuid::new_v4().simple()),
        }
    }

    /// The jobs configuration test processes use, on this namespace.
    pub fn jobs_config(&self) -> JobsConfig {
        JobsConfig {
            queue: self.name.clone(),
            heartbeat_secs: 1,
            missed_heartbeats: 3,
            retry_backoff_secs: 1,
            shutdown_grace_secs: 5,
            ..Config::default().jobs
        }
    }

    /// A client of this namespace, as the API and `softcat enqueue` use it.
    pub fn client(&self) -> RedisQueue {
        RedisQueue::new(&self.redis_url, &self.jobs_config()).expect("redis URL")
    }

    /// Members of one of apalis' sets of this queue (`dead`, `done`).
    pub fn set_size(&self, set: &str) -> u64 {
        let mut connection = redis::Client::open(self.redis_url.as_str())
            .and_then(|client| client.get_connection())
            .expect("connect to redis");
        redis::cmd("SCARD")
            .arg(format!("{}:{set}", self.name))
            .query(&mut connection)
            .expect("SCARD")
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let Ok(mut connection) =
            redis::Client::open(self.redis_url.as_str()).and_then(|client| client.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.name))
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
        let _: redis::RedisResult<()> = redis::cmd("ZREM")
            .arg("core:apalis:queues:list")
            .arg(format!("{}:workers", self.name))
            .query(&mut connection);
    }
}

/// A `softcat <role>` process over a test database and queue, killed when
/// dropped. Its log goes to a file that failures print.
pub struct RoleProcess {
    pub child: Child,
    pub log: PathBuf,
}

impl RoleProcess {
    /// Starts `softcat <command line>`, e.g. `worker` or
    /// `standalone --load-sample`.
    pub fn spawn(command_line: &str, db: &TestDb, queue: &TestQueue, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("softcat-test-{}.log", Uuid::new_v4()));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_softcat"));
        command
            .args(command_line.split_whitespace())
            .env("DATABASE_URL", &db.url)
            .env("REDIS_URL", &queue.redis_url)
            .env("SOFTCAT_CONFIG", "/nonexistent/softcat.toml")
            .env("SOFTCAT_LOG", "info")
            .env("SOFTCAT_JOBS__QUEUE", &queue.name)
            .envs(TEST_ENV)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file);
        let child = command.spawn().expect("start softcat");
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`KILL`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Waits until `condition` holds for the job, or fails with the job and
/// the logs of `processes`.
pub async fn wait_for_job(
    db: &TestDb,
    id: Uuid,
    within: Duration,
    processes: &[&RoleProcess],
    condition: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    let deadline = Instant::now() + within;
    loop {
        let job = jobs::get(&db.conn, id).await.expect("job record");
        if condition(&job) {
            return job;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = processes.iter().map(|p| p.log_text()).collect();
            panic!(
                "job did not get there: {job:#?}\nlogs:\n{}",
                logs.join("\n---\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Enqueues a probe job labelled `label` and waits until it has ended.
pub async fn run_probe(
    db: &TestDb,
    queue: &TestQueue,
    label: &str,
    processes: &[&RoleProcess],
) -> JobRecord {
    let spec = softcat_shared::jobs::JobSpec::Probe {
        label: label.into(),
    };
    let job = jobs::enqueue(&db.conn, &queue.client(), &spec, "test", None, 3)
        .await
        .expect("enqueue a probe");
    wait_for_job(db, job.job.id, Duration::from_secs(90), processes, ended).await
}

/// Whether a job has ended.
pub fn ended(job: &JobRecord) -> bool {
    matches!(
        job.state.as_str(),
        "succeeded" | "unchanged" | "failed" | "cancelled"
    )
}

/// A configuration of a test database and queue (for in-process parts).
pub fn test_config(db: &TestDb, queue: &TestQueue) -> Arc<Config> {
    let mut config = Config {
        database_url: db.url.clone(),
        redis_url: queue.redis_url.clone(),
        jobs: queue.jobs_config(),
        ..Config::default()
    };
    config.fetch.retries = 0;
    Arc::new(config)
}

/// A redis-server of one test on a free port, without persistence (a
/// restart loses every key, as a Redis without a volume does), killed when
/// dropped. The shared Redis is never stopped.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): its keys are gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty; returns once it
    /// answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
