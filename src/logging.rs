//! Log output on stderr: human-readable lines (coloured only on a terminal)
//! or, with `SOFTCAT_LOG_FORMAT=json`, one JSON object per line carrying the
//! fields of the enclosing spans (a job's id and catalog). Filtered by
//! `SOFTCAT_LOG` (or `RUST_LOG`), `info` by default.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The progress bar on stderr, if one is showing: log lines are written
/// with the bar suspended, so that they appear above it instead of tearing it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Shows log lines above `bar` from now on (`None`: no bar any more).
pub fn show_above(bar: Option<ProgressBar>) {
    if let Ok(mut current) = BAR.lock() {
        *current = bar;
    }
}

/// Writes to stderr, around the progress bar when one is showing.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // fmt writes each event in one call: one line, written whole.
        let bar = BAR.lock().ok().and_then(|bar| bar.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

/// Installs the global subscriber; call once at start-up. Fails with a
/// readable message on an unknown `SOFTCAT_LOG_FORMAT`.
pub fn init() -> Result<(), String> {
    let filter = std::env::var("SOFTCAT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm_migration=warn".to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr);
    match std::env::var("SOFTCAT_LOG_FORMAT").as_deref() {
        Ok("json") => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Ok("text") | Err(_) => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        Ok(other) => {
            return Err(format!(
                "SOFTCAT_LOG_FORMAT: {other:?} is not a log format (json or text)"
            ));
        }
    }
    Ok(())
}
