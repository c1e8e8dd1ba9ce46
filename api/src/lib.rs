//! softcat's HTTP face: the catalog REST API (poem + poem-openapi), its
//! OpenAPI document and docs page, health checks, request logging and
//! graceful shutdown. Handlers are thin: they parse, check who is calling,
//! and call `softcat_shared::browse`.

mod auth;
mod cache;
mod client_slots;
mod error;
mod filters;
mod listing;
mod middleware;
mod registry;
mod route_label;
mod routes;
mod state;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use poem::http::uri::Scheme;
use poem::middleware::{NormalizePath, TrailingSlash};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;
use sea_orm::DatabaseConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use softcat_shared::config::Config;
use softcat_shared::jobs::JobQueue;

pub use state::AppState;

use routes::catalogs::CatalogsApi;
use routes::health::HealthApi;
use routes::jobs::JobsApi;
use routes::offerings::{LinksApi, OfferingsApi};
use routes::packages::PackagesApi;
use routes::partitions::PartitionsApi;
use routes::settings::SettingsApi;
use routes::targets::TargetsApi;
use routes::versions::VersionsApi;

use route_label::RouteLabels;

/// The API's OpenAPI service: every operation, documented.
fn service(state: &AppState) -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    let apis = (
        HealthApi {
            state: state.clone(),
        },
        CatalogsApi {
            state: state.clone(),
        },
        PackagesApi {
            state: state.clone(),
        },
        VersionsApi {
            state: state.clone(),
        },
        TargetsApi {
            state: state.clone(),
        },
        OfferingsApi {
            state: state.clone(),
        },
        LinksApi {
            state: state.clone(),
        },
        PartitionsApi {
            state: state.clone(),
        },
        JobsApi {
            state: state.clone(),
        },
        SettingsApi {
            state: state.clone(),
        },
    );
    OpenApiService::new(apis, "softcat", env!("CARGO_PKG_VERSION")).description(
        "Scientific software catalogs (EESSI, Spack): catalogs → packages → versions → \
         targets, and which offering provides which catalog for which CPUs. \
         Authenticate with `Authorization: Token <key>`.",
    )
}

/// The whole application as one endpoint: routes, docs, errors as JSON and
/// one log line per request.
pub fn app(state: AppState) -> impl Endpoint {
    let service = service(&state);
    let labels = Arc::new(RouteLabels::from_spec(&service.spec()));
    Route::new()
        .at("/metrics", poem::get(metrics))
        .at(
            "/api/schemas/custom-catalog.json",
            poem::get(custom_catalog_schema),
        )
        .at("/api/openapi.json", service.spec_endpoint())
        .at("/api/openapi.yaml", service.spec_endpoint_yaml())
        .nest("/api/docs", service.swagger_ui())
        .nest("/", service)
        .around(cache::around)
        .around(error::reject_nul_parameters)
        // The caller of a write, and the body's size, before anything else.
        .around(middleware::guard)
        .data(state)
        .catch_all_error(error::to_json)
        .around(move |endpoint, request| log_request(endpoint, request, labels.clone()))
        // `/api/…/` (the marketplace's style) and `/api/…` both route.
        .with(NormalizePath::new(TrailingSlash::Trim))
}

async fn log_request<E: Endpoint>(
    endpoint: E,
    request: Request,
    labels: Arc<RouteLabels>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = endpoint.call(request).await?.into_response();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        %method,
        path,
        status,
        latency_ms = elapsed.as_secs_f64() * 1e3,
        "request"
    );
    // Labels from fixed sets only: an unknown path or method is one value.
    softcat_shared::metrics::http_request(
        route_label::method(&method),
        labels.route(&path),
        status,
        elapsed,
    );
    Ok(response)
}

/// `GET /metrics`: the process's metrics in Prometheus' text format.
#[poem::handler]
async fn metrics(state: poem::web::Data<&AppState>) -> String {
    softcat_shared::metrics::render(&state.db, state.queue.as_ref()).await
}

/// The JSON Schema of custom catalog files (`softcat load custom`), for
/// editors and validators.
#[poem::handler]
fn custom_catalog_schema() -> poem::Response {
    poem::Response::builder()
        .content_type("application/schema+json")
        .body(softcat_shared::sources::custom::SCHEMA)
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address is taken or invalid.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The configured address.
        address: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// `api.public_url` is not an absolute URL.
    #[error("api.public_url: {0:?} is not an absolute URL such as https://softcat.example.org")]
    PublicUrl(String),
}

/// A bound, not yet serving API: tests read its port before running it.
pub struct ApiServer {
    listener: TcpListener,
    state: AppState,
    grace: Duration,
    header_read_timeout: Duration,
    max_connections: usize,
    max_connections_per_client: usize,
}

/// The answer to a connection over [`ApiConfig::max_connections`](softcat_shared::config::ApiConfig).
const TOO_MANY_CONNECTIONS: &str = "{\"detail\": \"too many connections; try again shortly\"}";
/// The answer to a connection over
/// [`ApiConfig::max_connections_per_client`](softcat_shared::config::ApiConfig).
const TOO_MANY_FROM_CLIENT: &str =
    "{\"detail\": \"too many connections from this address; close some and try again\"}";

impl ApiServer {
    /// Binds the configured address (port 0 picks a free one).
    pub async fn bind(
        config: Arc<Config>,
        db: DatabaseConnection,
        queue: Arc<dyn JobQueue>,
    ) -> Result<Self, ServeError> {
        softcat_shared::metrics::install();
        let api = &config.api;
        if let Some(url) = &api.public_url
            && !url::Url::parse(url).is_ok_and(|url| url.has_host())
        {
            return Err(ServeError::PublicUrl(url.clone()));
        }
        let listener = TcpListener::bind(api.listen.as_str())
            .await
            .map_err(|source| ServeError::Listen {
                address: api.listen.clone(),
                source,
            })?;
        Ok(Self {
            listener,
            grace: Duration::from_secs(api.shutdown_grace_secs),
            header_read_timeout: api.header_read_timeout(),
            max_connections: api.max_connections,
            max_connections_per_client: api.max_connections_per_client,
            state: AppState::new(db, config, queue),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` completes, then lets running requests finish
    /// within the grace period.
    ///
    /// hyper serves each connection (HTTP/1.1, or HTTP/2 with prior
    /// knowledge) with its header-read timeout: a connection that sends
    /// nothing, or does not finish a request's headers, within
    /// `api.header_read_timeout_secs` is closed. At most
    /// `api.max_connections` connections are served at once, and at most
    /// `api.max_connections_per_client` from one client
    /// ([`client_slots`]); one more is answered 503 and closed.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let Self {
            listener,
            state,
            grace,
            header_read_timeout,
            max_connections,
            max_connections_per_client,
        } = self;
        let local_addr = listener.local_addr()?;
        tracing::info!(
            address = %local_addr,
            max_connections,
            max_connections_per_client,
            "API listening"
        );
        let follower = tokio::spawn(cache::follow_generation(state.clone()));
        let endpoint = Arc::new(app(state));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let permits = Arc::new(Semaphore::new(max_connections));
        let client_slots = client_slots::ClientSlots::new(max_connections_per_client);
        let saturated = AtomicBool::new(false);
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let (stream, remote_addr) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors, most likely: let some close.
                            tracing::warn!(%error, "cannot accept a connection");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Some(client_slot) = client_slots.acquire(remote_addr.ip()) else {
                        tracing::debug!(%remote_addr, "client connection limit reached");
                        refuse(&stream, TOO_MANY_FROM_CLIENT);
                        continue;
                    };
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        if !saturated.swap(true, Ordering::Relaxed) {
                            tracing::warn!(max_connections, "connection limit reached; refusing connections");
                        }
                        refuse(&stream, TOO_MANY_CONNECTIONS);
                        continue;
                    };
                    saturated.store(false, Ordering::Relaxed);
                    let builder = builder.clone();
                    let endpoint = endpoint.clone();
                    let watcher = graceful.watcher();
                    connections.spawn(async move {
                        let _held = (permit, client_slot);
                        // hyper's header timer starts once the protocol is known,
                        // from the first byte: wait for that byte as long.
                        let mut first = [0u8; 1];
                        match tokio::time::timeout(header_read_timeout, stream.peek(&mut first)).await {
                            Ok(Ok(1..)) => {}
                            _ => return,
                        }
                        let service = hyper::service::service_fn(move |request| {
                            let endpoint = endpoint.clone();
                            async move { answer(&*endpoint, request, local_addr, remote_addr).await }
                        });
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        if let Err(error) = watcher.watch(connection).await {
                            tracing::debug!(%error, %remote_addr, "connection ended");
                        }
                    });
                }
            }
        }
        drop(listener);
        tracing::info!(
            grace_secs = grace.as_secs(),
            "API stopping; finishing requests"
        );
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the grace period are closed");
        }
        connections.shutdown().await;
        follower.abort();
        Ok(())
    }
}

/// The hyper service of one connection: each request through the app.
type HyperResponse =
    hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>>;

async fn answer<E: Endpoint>(
    endpoint: &E,
    request: hyper::Request<hyper::body::Incoming>,
    local_addr: SocketAddr,
    remote_addr: SocketAddr,
) -> Result<HyperResponse, Infallible> {
    let request = Request::from((
        request,
        LocalAddr(Addr::SocketAddr(local_addr)),
        RemoteAddr(Addr::SocketAddr(remote_addr)),
        Scheme::HTTP,
    ));
    Ok(endpoint.get_response(request).await.into())
}

/// Answers a connection over the limit with a 503, as far as the socket
/// takes it without waiting, and closes it.
fn refuse(stream: &TcpStream, detail: &str) {
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{detail}",
        detail.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}
