//! The one softcat binary: parses arguments, reads configuration, runs the
//! chosen role or command. Failures end in one readable line and exit 1.

mod cli;
mod database;
mod embedded;
mod enqueue;
mod load;
mod logging;
mod ops;
mod standalone;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use softcat_shared::config::Config;
use softcat_worker::{RedisQueue, WorkerQueue};

use cli::{Cli, Command};

/// Loads build and drop snapshots of some 100k rows of small allocations,
/// and the API serialises many small values: mimalloc does both in about
/// half the time of the system allocator (Spack's transform: 100 → 41 ms).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    if let Err(error) = logging::init() {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, leaving out a cause whose text the
/// line holds already (database drivers repeat their message at each layer).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Command::Api {
        listen: Some(listen),
    }
    | Command::Standalone {
        listen: Some(listen),
        ..
    } = &cli.command
    {
        config.api.listen = listen.clone();
    }
    if matches!(
        cli.command,
        Command::Config
            | Command::Api { .. }
            | Command::Worker
            | Command::Scheduler
            | Command::Standalone { .. }
    ) {
        // Every role, and `softcat config`, refuses a timetable that the
        // scheduler could not run, before it does anything else.
        softcat_scheduler::timetable(&config)?;
    }
    match cli.command {
        Command::Migrate => {
            database::migrate(&config).await?;
            println!("database schema is up to date");
            Ok(())
        }
        Command::Config => {
            println!("{}", serde_json::to_string_pretty(&masked(&config)?)?);
            Ok(())
        }
        Command::Load(command) => load::run(&config, command).await,
        Command::Api { .. } => serve_api(config).await,
        Command::Worker => run_worker(config).await,
        Command::Scheduler => run_scheduler(config).await,
        Command::Standalone {
            load_sample,
            data_dir,
            ..
        } => {
            let embedded = standalone::Embedded {
                database: !Config::is_given(cli.config.as_deref(), "database_url")?,
                queue: !Config::is_given(cli.config.as_deref(), "redis_url")?,
                data_dir,
            };
            standalone::run(config, embedded, load_sample, shutdown_signal()).await
        }
        Command::Enqueue(args) => enqueue::run(&config, args).await,
        Command::Jobs(command) => ops::jobs(&config, command).await,
        Command::Catalogs(command) => ops::catalogs(&config, command).await,
        Command::Settings(command) => ops::settings(&config, command).await,
        Command::Users(command) => ops::users(&config, command).await,
        Command::Tokens(command) => ops::tokens(&config, command).await,
    }
}

/// Ends the process quietly, as Unix tools do, when the reader of its output
/// goes away (`softcat jobs list | head -3`), instead of panicking in a
/// print. Rust ignores SIGPIPE by default.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists;
    // it only resets one signal's disposition to the system default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The configuration as JSON with the passwords of its URLs masked.
fn masked(config: &Config) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(config)?;
    for key in ["database_url", "redis_url"] {
        if let Some(text) = value[key].as_str()
            && let Ok(mut url) = url::Url::parse(text)
            && url.password().is_some()
            && url.set_password(Some("***")).is_ok()
        {
            value[key] = url.to_string().into();
        }
    }
    Ok(value)
}

/// Serves the API until SIGTERM or Ctrl-C.
async fn serve_api(config: Config) -> anyhow::Result<()> {
    let connection = database::open(&config).await?;
    let queue = RedisQueue::new(&config.redis_url, &config.jobs)?;
    let server =
        softcat_api::ApiServer::bind(Arc::new(config), connection, Arc::new(queue)).await?;
    server.run_until(shutdown_signal()).await?;
    tracing::info!("API stopped");
    Ok(())
}

/// Runs jobs until SIGTERM or Ctrl-C, then lets running ones finish within
/// the grace period.
async fn run_worker(config: Config) -> anyhow::Result<()> {
    let connection = database::open(&config).await?;
    let queue = WorkerQueue::Redis(Box::new(RedisQueue::new(&config.redis_url, &config.jobs)?));
    softcat_worker::run(Arc::new(config), connection, queue, shutdown_signal()).await?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Runs the timetable until SIGTERM or Ctrl-C.
async fn run_scheduler(config: Config) -> anyhow::Result<()> {
    softcat_scheduler::timetable(&config)?;
    let connection = database::open(&config).await?;
    let queue = RedisQueue::new(&config.redis_url, &config.jobs)?;
    softcat_scheduler::run(
        Arc::new(config),
        connection,
        Arc::new(queue),
        shutdown_signal(),
    )
    .await?;
    tracing::info!("scheduler stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
