//! The servers the tests need, found or started once per test process:
//! Postgres at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 when they answer;
//! otherwise a private Postgres from the machine's binaries (run as
//! `nobody` when the tests run as root, since Postgres refuses root) and a
//! private `redis-server`, each on a free port. A private server lives as
//! long as the test process: `setpriv --pdeathsig` ends it with the thread
//! that started it, which waits on it until the process exits. A server
//! that can be neither found nor started fails the test at once with one
//! line saying what to install. `SOFTCAT_TEST_SERVERS=private` starts the
//! private ones even when the shared ones answer.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The Postgres server (without a database name) the tests run against.
pub fn postgres_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if !private_wanted() && answers(5432) {
            return "postgres://postgres@127.0.0.1:5432".to_owned();
        }
        start_postgres().unwrap_or_else(|reason| panic!("{reason}"))
    })
}

/// The Redis server the tests run against.
pub fn redis_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if !private_wanted() && answers(6379) {
            return "redis://127.0.0.1:6379".to_owned();
        }
        start_redis().unwrap_or_else(|reason| panic!("{reason}"))
    })
}

fn private_wanted() -> bool {
    std::env::var("SOFTCAT_TEST_SERVERS").is_ok_and(|value| value == "private")
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    )
    .is_ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `setpriv` arguments that end the program with the thread that started
/// it and, as root, run it as `nobody`.
fn unprivileged() -> Vec<&'static str> {
    let mut args = vec!["--pdeathsig=TERM"];
    if running_as_root() {
        args.extend(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
    }
    args.push("--");
    args
}

/// Runs `program` on a thread of its own that waits on it for the life of
/// the process, and returns once `port` answers.
fn serve(program: String, args: Vec<String>, port: u16, what: &str) -> Result<(), String> {
    let (started, spawned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let child = Command::new("setpriv")
            .args(unprivileged())
            .arg(&program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(mut child) => {
                let _ = started.send(Ok(()));
                let _ = child.wait();
            }
            Err(error) => {
                let _ = started.send(Err(format!("{program}: {error}")));
            }
        }
    });
    spawned
        .recv()
        .map_err(|_| format!("{what} did not start"))??;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers(port) {
        if Instant::now() > deadline {
            return Err(format!("{what} did not answer on port {port} within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The machine's Postgres programs: `initdb` on the PATH, or the newest of
/// Debian's `/usr/lib/postgresql/*/bin`.
fn postgres_binaries() -> Option<PathBuf> {
    let has_tools = |bin: &Path| bin.join("initdb").is_file() && bin.join("postgres").is_file();
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|bin| has_tools(bin)));
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
            .filter(|bin| has_tools(bin))
            .collect();
        versions.sort();
        versions.pop()
    })
}

/// The directories of private Postgres servers, named by the test
/// process's pid.
const PRIVATE_POSTGRES_PREFIX: &str = "softcat-test-postgres-";

/// Removes the directories that test processes which have ended left.
fn remove_stale_postgres_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PRIVATE_POSTGRES_PREFIX) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn start_postgres() -> Result<String, String> {
    let missing = "the tests need Postgres: nothing answers at 127.0.0.1:5432 and this \
                   machine has no Postgres programs to start one (apt install postgresql)";
    let bin = postgres_binaries().ok_or(missing)?;
    remove_stale_postgres_dirs();
    let dir = std::env::temp_dir().join(format!("{PRIVATE_POSTGRES_PREFIX}{}", std::process::id()));
    let data = dir.join("data");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    if running_as_root() {
        let chown = Command::new("chown")
            .args(["nobody:nogroup", &dir.display().to_string()])
            .status();
        if !chown.is_ok_and(|status| status.success()) {
            return Err(format!("could not give {} to nobody", dir.display()));
        }
    }
    let initdb = Command::new("setpriv")
        .args(unprivileged())
        .arg(bin.join("initdb"))
        .args([
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ])
        .arg("-D")
        .arg(&data)
        .stdout(Stdio::null())
        .output()
        .map_err(|error| format!("initdb: {error}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr).trim()
        ));
    }
    let port = free_port();
    let args = [
        "-D".to_owned(),
        data.display().to_string(),
        "-p".to_owned(),
        port.to_string(),
        "-k".to_owned(),
        dir.display().to_string(),
        "-c".to_owned(),
        "listen_addresses=127.0.0.1".to_owned(),
        "-c".to_owned(),
        "fsync=off".to_owned(),
        "-c".to_owned(),
        "max_connections=300".to_owned(),
    ];
    serve(
        bin.join("postgres").display().to_string(),
        args.to_vec(),
        port,
        "the tests' private Postgres",
    )?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}"))
}

fn start_redis() -> Result<String, String> {
    let port = free_port();
    let args = [
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .map(str::to_owned)
    .to_vec();
    serve(
        "redis-server".to_owned(),
        args,
        port,
        "the tests' private redis-server",
    )
    .map_err(|reason| {
        format!(
            "the tests need Redis: nothing answers at 127.0.0.1:6379 and no redis-server \
                 could be started ({reason}); apt install redis-server"
        )
    })?;
    Ok(format!("redis://127.0.0.1:{port}"))
}
