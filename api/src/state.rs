//! What every handler shares: the database and the request-independent
//! settings, plus how absolute URLs are made.

use std::sync::Arc;

use poem::Request;
use sea_orm::DatabaseConnection;

use crate::auth::TokenCache;
use crate::cache::ResponseCache;

/// Shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The catalog database.
    pub db: DatabaseConnection,
    /// Whether catalog data may be read without a token.
    pub anonymous_reads: bool,
    /// Base URL for links; from the Host header when unset.
    pub public_url: Option<String>,
    /// Cached answers to catalog reads.
    pub cache: Arc<ResponseCache>,
    /// Recently verified tokens.
    pub tokens: Arc<TokenCache>,
}

impl AppState {
    /// State over a database, with empty caches.
    pub fn new(db: DatabaseConnection, anonymous_reads: bool, public_url: Option<String>) -> Self {
        Self {
            db,
            anonymous_reads,
            public_url,
            cache: Arc::default(),
            tokens: Arc::new(TokenCache::new(10_000)),
        }
    }

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
