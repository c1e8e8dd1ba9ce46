//! What every handler shares: the database and the request-independent
//! settings, plus how absolute URLs are made.

use poem::Request;
use sea_orm::DatabaseConnection;

/// Shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The catalog database.
    pub db: DatabaseConnection,
    /// Whether catalog data may be read without a token.
    pub anonymous_reads: bool,
    /// Base URL for links; from the Host header when unset.
    pub public_url: Option<String>,
}

impl AppState {
    /// `https://host` for this request: the configured public URL, or the
    /// scheme and host the request came to.
    pub fn base_url(&self, request: &Request) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = request
            .headers()
            .get(poem::http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}
