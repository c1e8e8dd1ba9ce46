//! Every error the API answers is JSON: `{"detail": "...", "field": "..."}`,
//! with `field` naming the parameter or body field at fault when there is one.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::error::{ParseParamError, ParsePathError, ParseRequestPayloadError};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use softcat_shared::browse::{BadParameter, BrowseError};
use softcat_shared::jobs::JobError;

/// An error answered to the caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// No token, or a token that is not valid: 401.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A valid caller that may not do this: 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Nothing at this address: 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A parameter or field that cannot be used: 400.
    #[error(transparent)]
    Invalid(#[from] BadParameter),
    /// The object is not in a state that allows this: 409.
    #[error("{0}")]
    Conflict(String),
    /// A service we depend on (the job queue) is unreachable: 503.
    #[error("{0}")]
    Unavailable(String),
    /// Our fault: 500, details only in the log.
    #[error("internal error")]
    Internal,
}

impl From<BrowseError> for ApiError {
    fn from(error: BrowseError) -> Self {
        match error {
            BrowseError::Invalid(bad) => Self::Invalid(bad),
            BrowseError::NotFound(what) => Self::NotFound(what),
            BrowseError::Conflict(why) => Self::Conflict(why),
            BrowseError::Db(error) => {
                tracing::error!(%error, "database error");
                Self::Internal
            }
        }
    }
}

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::Invalid(bad) => Self::Invalid(bad),
            JobError::NotFound => Self::NotFound("job"),
            JobError::NotCancellable(_) => Self::Conflict(error.to_string()),
            JobError::Queue(error) => {
                tracing::error!(%error, "job queue unreachable");
                Self::Unavailable("the job queue is unreachable; the job was not queued".into())
            }
            JobError::Db(error) => error.into(),
        }
    }
}

impl From<JobError> for ErrorResponse {
    fn from(error: JobError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        BrowseError::Db(error).into()
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        ErrorResponse::from(self.clone()).into_response()
    }
}

/// The body of every error answer.
#[derive(Debug, Object)]
pub struct ErrorBody {
    /// What went wrong.
    pub detail: String,
    /// The parameter or body field at fault, when there is one.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

/// The error answers of an operation, as the OpenAPI document lists them.
#[derive(Debug, ApiResponse)]
pub enum ErrorResponse {
    /// A parameter or body field cannot be used; `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No token, or a token that is not valid.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The caller may not do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Nothing at this address.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The object is not in a state that allows this.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The job queue is unreachable; try again.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// A fault of the service; details are in its log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl From<ApiError> for ErrorResponse {
    fn from(error: ApiError) -> Self {
        let body = |field: Option<String>| {
            Json(ErrorBody {
                detail: error.to_string(),
                field,
            })
        };
        match &error {
            ApiError::Invalid(bad) => Self::BadRequest(body(Some(bad.parameter.clone()))),
            ApiError::Unauthorized(_) => Self::Unauthorized(body(None)),
            ApiError::Forbidden(_) => Self::Forbidden(body(None)),
            ApiError::NotFound(_) => Self::NotFound(body(None)),
            ApiError::Conflict(_) => Self::Conflict(body(None)),
            ApiError::Unavailable(_) => Self::Unavailable(body(None)),
            ApiError::Internal => Self::Internal(body(None)),
        }
    }
}

impl From<BrowseError> for ErrorResponse {
    fn from(error: BrowseError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<sea_orm::DbErr> for ErrorResponse {
    fn from(error: sea_orm::DbErr) -> Self {
        ApiError::from(error).into()
    }
}

/// The result of a handler: its answer, or a documented error answer.
pub type ApiResult<T> = Result<T, ErrorResponse>;

/// Turns any error escaping an endpoint, ours or poem's, into a JSON answer.
pub async fn to_json(error: poem::Error) -> Response {
    if error.is_from_response() {
        return error.into_response();
    }
    if let Some(error) = error.downcast_ref::<ApiError>() {
        return poem::error::ResponseError::as_response(error);
    }
    let status = error.status();
    if let Some(param) = error.downcast_ref::<ParseParamError>() {
        return json_error(status, &error.to_string(), Some(param.name));
    }
    if error.is::<ParsePathError>() {
        // A malformed UUID in a path addresses nothing.
        return json_error(StatusCode::NOT_FOUND, "not found", None);
    }
    if error.is::<ParseRequestPayloadError>() {
        return json_error(status, &error.to_string(), Some("body"));
    }
    if status.is_server_error() {
        tracing::error!(%error, "request failed");
        return json_error(status, "internal error", None);
    }
    json_error(status, &error.to_string(), None)
}

fn json_error(status: StatusCode, detail: &str, field: Option<&str>) -> Response {
    let mut body = serde_json::json!({ "detail": detail });
    if let Some(field) = field {
        body["field"] = field.into();
    }
    poem::web::Json(body).with_status(status).into_response()
}

/// Middleware: a query parameter holding a NUL character (which Postgres
/// text cannot store) is a 400 naming it, before any handler runs.
pub async fn reject_nul_parameters<E: poem::Endpoint>(
    endpoint: E,
    request: poem::Request,
) -> poem::Result<Response> {
    let query = request.uri().query().unwrap_or_default();
    if let Some((name, _)) = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        return Err(ApiError::Invalid(BadParameter::new(
            name.replace('\0', ""),
            "may not contain NUL characters",
        ))
        .into());
    }
    endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response)
}
