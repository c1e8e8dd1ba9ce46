//! What every handler shares: the database, the job queue and the
//! request-independent settings, plus how absolute URLs are made.

use std::sync::Arc;

use poem::Request;
use sea_orm::DatabaseConnection;
use softcat_shared::config::Config;
use softcat_shared::jobs::JobQueue;

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
    /// The process's configuration (defaults of the runtime settings).
    pub config: Arc<Config>,
    /// Where enqueued jobs go.
    pub queue: Arc<dyn JobQueue>,
}

impl AppState {
    /// State over a database and a job queue, with empty caches.
    pub fn new(db: DatabaseConnection, config: Arc<Config>, queue: Arc<dyn JobQueue>) -> Self {
        Self {
            db,
            anonymous_reads: config.api.anonymous_reads,
            public_url: config.api.public_url.clone(),
            cache: Arc::default(),
            tokens: Arc::new(TokenCache::new(10_000)),
            config,
            queue,
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
