//! `softcat load <source>`: the operator's way to load a catalog, with a
//! progress display on a terminal and a summary table at the end.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use softcat_shared::config::Config;
use softcat_shared::fetch::Fetcher;
use softcat_shared::loader::{
    LoadDefaults, LoadLimits, LoadOutcome, LoadReport, LoadRequest, Phase, Progress, retry_text,
};
use softcat_shared::snapshot::Level;

use crate::cli::{LoadCommand, field_flag};

/// Skipped entries listed by name in the table output; the rest are counted.
const SKIPPED_SHOWN: usize = 20;

/// `--catalog-version` of a source holding several versions (EESSI) that
/// loads every one the source has.
pub const ALL_VERSIONS: &str = "all";

/// Runs one load command: for a source holding several versions (EESSI),
/// says which the source has and which was loaded; `--catalog-version all`
/// loads each of them, one report each.
pub async fn run(config: &Config, command: LoadCommand) -> anyhow::Result<()> {
    let defaults = LoadDefaults::from_config(config, command.kind);
    let (request, json) = load_request(command, defaults)?;
    let database = crate::database::open(config).await?;
    let fetcher = Fetcher::new(&config.fetch)?;
    let all = request.catalog_version.as_deref() == Some(ALL_VERSIONS);
    let several = request.source.definition().holds_several_versions;
    if all && !several {
        anyhow::bail!(
            "--catalog-version all: {} sources hold one version; give one or none",
            request.source
        );
    }
    let offered = if several {
        Some(request.offered_versions(&fetcher).await?)
    } else {
        None
    };
    let requests = match &offered {
        Some(versions) if all => versions
            .iter()
            .map(|version| LoadRequest {
                catalog_version: Some(version.clone()),
                ..request.clone()
            })
            .collect(),
        _ => vec![request],
    };
    let limits = LoadLimits::from_config(config, requests[0].source);
    let mut reports = Vec::new();
    for request in &requests {
        let progress = Display::new();
        let report = request.run(&database, &fetcher, limits, &progress).await;
        progress.finish();
        reports.push(report?);
    }
    // Closing waits for the tidy that a large load leaves running, so that
    // its log line comes before the reports.
    if let Err(error) = database.close().await {
        tracing::warn!(%error, "closing the database connections");
    }
    if json {
        if all {
            println!("{}", serde_json::to_string_pretty(&reports)?);
        } else {
            println!("{}", serde_json::to_string_pretty(&reports[0])?);
        }
        return Ok(());
    }
    for (index, report) in reports.iter().enumerate() {
        if index > 0 {
            println!();
        }
        print!("{}", render(report));
    }
    if let Some(versions) = &offered {
        let loaded: Vec<&str> = reports.iter().map(|r| r.catalog.version.as_str()).collect();
        println!("{}", versions_line(versions, &loaded));
    }
    Ok(())
}

/// Which versions an EESSI source has and which were loaded, with the way
/// to load the others.
fn versions_line(offered: &[String], loaded: &[&str]) -> String {
    let others = offered
        .iter()
        .filter(|version| !loaded.contains(&version.as_str()))
        .count();
    let mut line = format!(
        "the source has {}; loaded {}",
        offered.join(", "),
        loaded.join(", ")
    );
    if others > 0 {
        line.push_str(
            " (--catalog-version VERSION loads another, --catalog-version all loads each)",
        );
    }
    line
}

/// The load a command line asks for, with `defaults` filling what it
/// leaves open, and whether the report is wanted as JSON.
pub fn load_request(
    command: LoadCommand,
    defaults: LoadDefaults,
) -> anyhow::Result<(LoadRequest, bool)> {
    let kind = command.kind;
    let request = command.draft.resolve(kind, defaults).map_err(|error| {
        anyhow::anyhow!("--{} {}", field_flag(kind, &error.field), error.reason)
    })?;
    Ok((request, command.json))
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
            // Log lines are written above the bar, not through it.
            crate::logging::show_above(Some(bar.clone()));
            bar
        });
        Self {
            bar,
            phase: Mutex::new(None),
        }
    }

    /// Clears the bar, whatever the load's outcome (an unchanged load
    /// included), and sends log lines straight to stderr again.
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            crate::logging::show_above(None);
            bar.finish_and_clear();
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.finish();
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
            // The entry names its level (`package "zlib"`, `package "zlib"
            // version entry #3`).
            out.push_str(&format!("  {}: {}\n", entry.entry, entry.reason));
        }
        let total = report.skipped_count();
        let listed = report.skipped.len() as u64;
        let shown = listed.min(SKIPPED_SHOWN as u64);
        if total > listed {
            out.push_str(&format!(
                "  … and {} more (--json lists the first {listed})\n",
                total - shown
            ));
        } else if total > shown {
            out.push_str(&format!(
                "  … and {} more (--json lists them all)\n",
                total - shown
            ));
        }
    }
    out.push_str(&format!("\ntime: {:.2} s\n", report.elapsed.as_secs_f64()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_line_says_what_the_source_has_and_what_was_loaded() {
        let offered = ["2023.06".to_owned(), "2025.06".to_owned()];
        assert_eq!(
            versions_line(&offered, &["2025.06"]),
            "the source has 2023.06, 2025.06; loaded 2025.06 \
             (--catalog-version VERSION loads another, --catalog-version all loads each)"
        );
        assert_eq!(
            versions_line(&offered, &["2023.06", "2025.06"]),
            "the source has 2023.06, 2025.06; loaded 2023.06, 2025.06"
        );
    }

    #[test]
    fn skipped_entries_beyond_the_listed_ones_are_counted() {
        let entry = |n: usize| softcat_shared::snapshot::SkippedEntry {
            level: softcat_shared::snapshot::Level::Version,
            entry: format!("package \"p\" version entry #{n}"),
            reason: "bad".into(),
        };
        let key = softcat_shared::catalog::CatalogKey::new("Spack", "1");
        let kind = softcat_shared::sources::spack::KIND;
        let all = LoadReport::new(key.clone(), kind, (0..30).map(entry).collect());
        let text = render(&all);
        assert!(
            text.contains("\n  package \"p\" version entry #0: bad\n"),
            "{text}"
        );
        assert!(text.contains("  … and 10 more (--json lists them all)\n"));

        // A reload of unchanged documents lists what the catalog kept.
        let mut kept = LoadReport::new(key, kind, (0..25).map(entry).collect());
        kept.versions.skipped = 1_500;
        assert!(render(&kept).contains("  … and 1480 more (--json lists the first 25)\n"));
    }
}
