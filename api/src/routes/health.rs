//! `GET /health` (the process answers) and `GET /ready` (and its database).

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use sea_orm::ConnectionTrait;

use super::Tag;
use crate::state::AppState;

/// A health answer.
#[derive(Debug, Object)]
pub struct Status {
    /// `ok`, or what is wrong.
    pub status: String,
}

/// Readiness: 200 when the database answers, 503 otherwise.
#[derive(ApiResponse)]
pub enum Readiness {
    /// Ready to serve.
    #[oai(status = 200)]
    Ready(Json<Status>),
    /// The database does not answer.
    #[oai(status = 503)]
    Unavailable(Json<Status>),
}

/// The health endpoints.
pub struct HealthApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(tag = "Tag::Health")]
impl HealthApi {
    /// Liveness
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Status> {
        Json(Status {
            status: "ok".into(),
        })
    }

    /// Readiness: the database answers
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> Readiness {
        match self.state.db.execute_unprepared("SELECT 1").await {
            Ok(_) => Readiness::Ready(Json(Status {
                status: "ok".into(),
            })),
            Err(error) => {
                tracing::warn!(%error, "database not ready");
                Readiness::Unavailable(Json(Status {
                    status: "database unavailable".into(),
                }))
            }
        }
    }
}
