//! `softcat load eessi|spack`: the operator's way to load a catalog, with a
//! progress display on a terminal and a summary table at the end.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use softcat_shared::catalog::CatalogKind;
use softcat_shared::config::Config;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{
    LoadDefaults, LoadOutcome, LoadReport, LoadRequest, LoadRequestDraft, Phase, Progress,
    ShrinkLimits, retry_text,
};
use softcat_shared::snapshot::Level;

use crate::cli::LoadCommand;

/// Skipped entries listed by name in the table output; the rest are counted.
const SKIPPED_SHOWN: usize = 20;

/// Runs one load command.
pub async fn run(config: &Config, command: LoadCommand) -> anyhow::Result<()> {
    let defaults = LoadDefaults::from_config(config, command.kind());
    let (request, json) = load_request(command, defaults)?;
    let database = crate::database::open(config).await?;
    let fetcher = Fetcher::new(&config.fetch)?;
    let progress = Display::new();
    let limits = ShrinkLimits::from_config(config, request.source);
    let report = request.run(&database, &fetcher, limits, &progress).await;
    progress.finish();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    // Closing waits for the tidy that a large load leaves running.
    if let Err(error) = database.close().await {
        tracing::warn!(%error, "closing the database connections");
    }
    Ok(())
}

/// The load a command line asks for, with `defaults` filling what it
/// leaves open, and whether the report is wanted as JSON.
pub fn load_request(
    command: LoadCommand,
    defaults: LoadDefaults,
) -> anyhow::Result<(LoadRequest, bool)> {
    let kind = command.kind();
    let (common, url, include_extensions) = match command {
        LoadCommand::Eessi(args) => {
            let extensions = args.include_extensions();
            (args.common, args.api_url, extensions)
        }
        LoadCommand::Spack(args) => (args.common, args.data_url, None),
    };
    let draft = LoadRequestDraft {
        catalog_name: common.catalog_name,
        catalog_version: common.catalog_version,
        url,
        include_extensions,
        update_existing: common.update_existing,
        dry_run: common.dry_run,
        allow_shrink: common.allow_shrink,
    };
    let request = draft.resolve(kind, defaults).map_err(|error| {
        let flag = match (error.field, kind) {
            ("url", CatalogKind::Eessi) => "api-url".to_owned(),
            ("url", CatalogKind::Spack) => "data-url".to_owned(),
            (field, _) => field.replace('_', "-"),
        };
        anyhow::anyhow!("--{flag} {}", error.reason)
    })?;
    Ok((request, common.json))
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

    fn retry(&self, phase: Phase, retry: u32, of: u32) {
        let text = retry_text(phase, retry, of);
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None => tracing::info!(phase = phase.name(), retry, of, "{text}"),
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
        "{} catalog {}: {outcome}\n",
        report.kind, report.catalog
    ));
    if let Some(refusal) = &report.refused {
        out.push_str(&format!("a load would be {refusal}\n"));
    }
    out.push('\n');
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
