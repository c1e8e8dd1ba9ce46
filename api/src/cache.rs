//! Answers to catalog reads, cached in memory by URL and kept while the
//! catalog data generation (see `softcat_shared::browse::generation`) has
//! not moved. Catalog data changes when a load commits, a few times a day,
//! while it is read all the time: a hit costs no database work at all.
//!
//! The generation is polled every [`POLL_INTERVAL`], so a load committed by
//! a worker shows after at most that long; a write through this API moves
//! it at once. Entries also expire after [`MAX_AGE`], bounding what a missed
//! generation advance could cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use poem::http::header::{CONTENT_TYPE, HeaderName};
use poem::http::{HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use quick_cache::Weighter;
use softcat_shared::browse::generation;

use crate::auth;
use crate::state::AppState;

/// How often the data generation is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Longest time an entry is served.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// Bytes of response bodies kept.
const CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
/// Paths whose GET answers are cached.
const CACHED_PREFIX: &str = "/api/marketplace-";
const RESULT_COUNT: HeaderName = HeaderName::from_static("x-result-count");

/// One cached answer.
#[derive(Debug)]
struct Entry {
    generation: i64,
    stored: Instant,
    content_type: Option<HeaderValue>,
    result_count: Option<HeaderValue>,
    body: Bytes,
}

#[derive(Debug, Clone)]
struct BodySize;

impl Weighter<String, Arc<Entry>> for BodySize {
    fn weight(&self, key: &String, entry: &Arc<Entry>) -> u64 {
        (key.len() + entry.body.len()) as u64
    }
}

/// The cache and the generation it is valid for.
pub struct ResponseCache {
    entries: quick_cache::sync::Cache<String, Arc<Entry>, BodySize>,
    generation: AtomicI64,
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self {
            entries: quick_cache::sync::Cache::with_weighter(10_000, CAPACITY_BYTES, BodySize),
            generation: AtomicI64::new(i64::MIN),
        }
    }
}

impl ResponseCache {
    /// Records a generation read from the database; never moves backwards.
    pub fn observe(&self, generation: i64) {
        self.generation.fetch_max(generation, Ordering::Relaxed);
    }

    fn current(&self) -> i64 {
        self.generation.load(Ordering::Relaxed)
    }

    fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let generation = self.current();
        self.entries
            .get(key)
            .filter(|entry| entry.generation == generation && entry.stored.elapsed() < MAX_AGE)
    }
}

/// Follows the data generation (for this cache) and the account generation
/// (for the cache of verified tokens, [`crate::auth::TokenCache`]) until
/// the task is dropped: one query every [`POLL_INTERVAL`].
pub async fn follow_generation(state: AppState) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        interval.tick().await;
        match generation::current_both(&state.db).await {
            Ok(value) => {
                if failing {
                    tracing::info!("reading the data generation again");
                }
                failing = false;
                state.cache.observe(value.data);
                state.tokens.observe(value.accounts);
            }
            // Once per outage, not every tick.
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot read the data generation; cached answers age out");
            }
            Err(_) => {}
        }
    }
}

/// Middleware: serves catalog reads from the cache, fills it, and moves
/// the generation after successful writes.
pub async fn around<E: Endpoint>(endpoint: E, request: Request) -> poem::Result<Response> {
    let Some(state) = request.data::<AppState>().cloned() else {
        return endpoint
            .call(request)
            .await
            .map(IntoResponse::into_response);
    };
    let method = request.method().clone();
    if method == Method::GET || method == Method::HEAD {
        if !request.uri().path().starts_with(CACHED_PREFIX)
            || !may_read(&state, &request).await
            || state.cache.current() == i64::MIN
        {
            return endpoint
                .call(request)
                .await
                .map(IntoResponse::into_response);
        }
        let key = format!("{}{}", state.base_url(&request), request.uri());
        if let Some(entry) = state.cache.get(&key) {
            return Ok(respond(&entry, method == Method::HEAD));
        }
        let generation = state.cache.current();
        let response = endpoint.call(request).await?.into_response();
        if method == Method::HEAD || response.status() != StatusCode::OK {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let body = body.into_bytes().await?;
        let entry = Arc::new(Entry {
            generation,
            stored: Instant::now(),
            content_type: parts.headers.get(CONTENT_TYPE).cloned(),
            result_count: parts.headers.get(&RESULT_COUNT).cloned(),
            body: body.clone(),
        });
        state.cache.entries.insert(key, entry);
        return Ok(Response::from_parts(parts, Body::from_bytes(body)));
    }
    let changes_catalog_data = request.uri().path().starts_with(CACHED_PREFIX);
    let response = endpoint.call(request).await?.into_response();
    if changes_catalog_data && response.status().is_success() {
        match generation::advance(&state.db).await {
            Ok(value) => state.cache.observe(value),
            Err(error) => tracing::warn!(%error, "cannot advance the data generation"),
        }
    }
    Ok(response)
}

/// Whether the caller may read catalog data; other callers go through to
/// the endpoint, which answers them with the right error.
async fn may_read(state: &AppState, request: &Request) -> bool {
    match auth::resolve(state, request.headers()).await {
        Ok(caller) => caller.require_reader(state).is_ok(),
        Err(_) => false,
    }
}

fn respond(entry: &Entry, head: bool) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(value) = &entry.content_type {
        headers.insert(CONTENT_TYPE, value.clone());
    }
    if let Some(value) = &entry.result_count {
        headers.insert(RESULT_COUNT, value.clone());
    }
    let mut response = if head {
        Response::default()
    } else {
        Response::from(Body::from_bytes(entry.body.clone()))
    };
    response.headers_mut().extend(headers);
    response
}
