//! softcat's HTTP face: the catalog REST API (poem + poem-openapi), its
//! OpenAPI document and docs page, health checks, request logging and
//! graceful shutdown. Handlers are thin: they parse, check who is calling,
//! and call `softcat_shared::browse`.

mod auth;
mod cache;
mod error;
mod filters;
mod listing;
mod routes;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::{NormalizePath, TrailingSlash};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server};
use poem_openapi::OpenApiService;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

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
    Route::new()
        .at("/metrics", poem::get(metrics))
        .at("/api/openapi.json", service.spec_endpoint())
        .at("/api/openapi.yaml", service.spec_endpoint_yaml())
        .nest("/api/docs", service.swagger_ui())
        .nest("/", service)
        .around(cache::around)
        .around(error::reject_nul_parameters)
        .data(state)
        .catch_all_error(error::to_json)
        .around(log_request)
        // `/api/…/` (the marketplace's style) and `/api/…` both route.
        .with(NormalizePath::new(TrailingSlash::Trim))
}

async fn log_request<E: Endpoint>(endpoint: E, request: Request) -> poem::Result<Response> {
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
    softcat_shared::metrics::http_request(
        method.as_str(),
        &softcat_shared::metrics::route_of(&path),
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
    acceptor: TcpAcceptor,
    state: AppState,
    grace: Duration,
}

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
        let acceptor = TcpListener::bind(api.listen.clone())
            .into_acceptor()
            .await
            .map_err(|source| ServeError::Listen {
                address: api.listen.clone(),
                source,
            })?;
        let grace = Duration::from_secs(api.shutdown_grace_secs);
        Ok(Self {
            acceptor,
            state: AppState::new(db, config, queue),
            grace,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.acceptor
            .local_addr()
            .into_iter()
            .find_map(|addr| addr.as_socket_addr().copied())
    }

    /// Serves until `shutdown` completes, then lets running requests finish
    /// within the grace period.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        tracing::info!(address = ?self.local_addr(), "API listening");
        let follower = tokio::spawn(cache::follow_generation(self.state.clone()));
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app(self.state), shutdown, Some(self.grace))
            .await;
        follower.abort();
        result
    }
}
