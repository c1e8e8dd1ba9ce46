//! The one softcat binary: parses arguments, reads configuration, runs the
//! chosen role or command. Failures end in one readable line and exit 1.

mod cli;
mod load;
mod logging;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use softcat_shared::config::Config;
use softcat_shared::db;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
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
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Migrate => {
            db::ensure_database(&config.database_url).await?;
            let connection = db::connect(&config.database_url).await?;
            db::migrate(&connection)
                .await
                .context("applying migrations")?;
            println!("database schema is up to date");
            Ok(())
        }
        Command::Load(command) => load::run(&config, command).await,
    }
}
