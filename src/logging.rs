//! Log output on stderr: human-readable lines (coloured only on a terminal)
//! or, with `SOFTCAT_LOG_FORMAT=json`, one JSON object per line carrying the
//! fields of the enclosing spans (a job's id and catalog). Filtered by
//! `SOFTCAT_LOG` (or `RUST_LOG`), `info` by default.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once at start-up. Fails with a
/// readable message on an unknown `SOFTCAT_LOG_FORMAT`.
pub fn init() -> Result<(), String> {
    let filter = std::env::var("SOFTCAT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm_migration=warn".to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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
