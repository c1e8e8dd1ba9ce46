//! `softcat load eessi|spack`: the operator's way to load a catalog, with a
//! progress display on a terminal and a summary table at the end.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::DatabaseConnection;
use softcat_migrations::{Migrator, MigratorTrait};
use softcat_shared::config::Config;
use softcat_shared::db;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{self, LoadOptions, LoadOutcome, LoadReport, Phase, Progress};
use softcat_shared::snapshot::Level;
use softcat_shared::sources::eessi::EessiSource;
use softcat_shared::sources::spack::SpackSource;

use crate::cli::{CommonLoadArgs, LoadCommand};

/// Skipped entries listed by name in the table output; the rest are counted.
const SKIPPED_SHOWN: usize = 20;

/// Runs one load command.
pub async fn run(config: &Config, command: LoadCommand) -> anyhow::Result<()> {
    let database = db::connect(&config.database_url)
        .await
        .context("connecting to the database")?;
    ensure_schema(&database).await?;
    let fetcher = Fetcher::new(&config.fetch)?;
    let progress = Display::new();
    let (report, common) = match command {
        LoadCommand::Eessi(args) => {
            let source = EessiSource {
                api_url: args
                    .api_url
                    .clone()
                    .unwrap_or_else(|| config.eessi.api_url.clone()),
                catalog_name: catalog_name(&args.common, &config.eessi.catalog_name)?,
                catalog_version: args.common.catalog_version.clone(),
                include_extensions: args
                    .include_extensions()
                    .unwrap_or(config.eessi.include_extensions),
            };
            let options = options(&args.common);
            let report =
                loader::load_source(&database, &source, &fetcher, options, &progress).await;
            (report, args.common)
        }
        LoadCommand::Spack(args) => {
            let source = SpackSource {
                data_url: args
                    .data_url
                    .clone()
                    .unwrap_or_else(|| config.spack.data_url.clone()),
                catalog_name: catalog_name(&args.common, &config.spack.catalog_name)?,
                catalog_version: args.common.catalog_version.clone(),
            };
            let options = options(&args.common);
            let report =
                loader::load_source(&database, &source, &fetcher, options, &progress).await;
            (report, args.common)
        }
    };
    progress.finish();
    let report = report?;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn options(args: &CommonLoadArgs) -> LoadOptions {
    LoadOptions {
        update_existing: args.update_existing,
        dry_run: args.dry_run,
    }
}

fn catalog_name(args: &CommonLoadArgs, default: &str) -> anyhow::Result<String> {
    let name = args.catalog_name.as_deref().unwrap_or(default).trim();
    if name.is_empty() {
        bail!("--catalog-name must not be empty");
    }
    Ok(name.to_owned())
}

async fn ensure_schema(database: &DatabaseConnection) -> anyhow::Result<()> {
    let pending = Migrator::get_pending_migrations(database)
        .await
        .context("reading the schema version")?;
    if !pending.is_empty() {
        bail!(
            "the database schema is not up to date ({} pending migrations): run `softcat migrate`",
            pending.len()
        );
    }
    Ok(())
}

/// A progress bar on a terminal, one log line per phase otherwise.
struct Display {
    bar: Option<ProgressBar>,
    phase: Mutex<Option<Phase>>,
}

impl Display {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            phase: Mutex::new(None),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Display {
    fn phase(&self, phase: Phase, total: Option<u64>) {
        if let Ok(mut current) = self.phase.lock() {
            *current = Some(phase);
        }
        match &self.bar {
            Some(bar) => {
                bar.set_position(0);
                bar.set_length(total.unwrap_or(0));
                let template = if total.is_some() {
                    "{spinner} {msg:<9} [{bar:40}] {pos}/{len} rows"
                } else {
                    "{spinner} {msg:<9} {elapsed}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(phase.name());
            }
            None => tracing::info!(phase = phase.name(), total, "load phase"),
        }
    }

    fn advance(&self, units: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(units);
        }
    }
}

/// The summary a person reads: outcome, counts per level, skipped entries.
fn render(report: &LoadReport) -> String {
    let mut out = String::new();
    let outcome = match report.outcome {
        LoadOutcome::Created => "created",
        LoadOutcome::Updated => "updated",
        LoadOutcome::Unchanged => "unchanged: already in line with the source, nothing written",
        LoadOutcome::LeftExisting => {
            "exists already and was left as it is (use --update-existing to bring it in line)"
        }
        LoadOutcome::DryRun => "dry run: nothing written; the counts say what a load would do",
    };
    out.push_str(&format!(
        "{} catalog {}: {outcome}\n\n",
        report.kind, report.catalog
    ));
    out.push_str(&format!(
        "{:<10}{:>10}{:>10}{:>11}{:>10}{:>10}\n",
        "", "created", "updated", "unchanged", "deleted", "skipped"
    ));
    for (label, level) in [
        ("packages", Level::Package),
        ("versions", Level::Version),
        ("targets", Level::Target),
    ] {
        let counts = report.level(level);
        out.push_str(&format!(
            "{label:<10}{:>10}{:>10}{:>11}{:>10}{:>10}\n",
            counts.created, counts.updated, counts.unchanged, counts.deleted, counts.skipped
        ));
    }
    if !report.skipped.is_empty() {
        out.push_str("\nskipped entries:\n");
        for entry in report.skipped.iter().take(SKIPPED_SHOWN) {
            out.push_str(&format!(
                "  {} {}: {}\n",
                entry.level, entry.entry, entry.reason
            ));
        }
        if report.skipped.len() > SKIPPED_SHOWN {
            out.push_str(&format!(
                "  … and {} more (--json lists them all)\n",
                report.skipped.len() - SKIPPED_SHOWN
            ));
        }
    }
    out.push_str(&format!("\ntime: {:.2} s\n", report.elapsed.as_secs_f64()));
    out
}
