//! Every error the API answers is JSON: `{"detail": "...", "field": "..."}`,
//! with `field` naming the parameter or body field at fault when there is one.

use poem::error::ReadBodyError;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::error::{ParseParamError, ParsePathError, ParseRequestPayloadError};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use softcat_shared::browse::{BadParameter, BrowseError};
use softcat_shared::jobs::JobError;

use crate::middleware::{BodyTooLarge, body_too_large};

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
    /// A page past the last page of a listing: 404 naming `page`.
    #[error("page: invalid page; the last page is {last}")]
    PageNotFound {
        /// The last page (1 when there are no rows).
        last: u64,
    },
    /// A body larger than its route accepts: 413.
    #[error(transparent)]
    TooLarge(#[from] BodyTooLarge),
    /// A body that is not JSON: 415.
    #[error("the body must be JSON, sent with Content-Type: application/json")]
    UnsupportedMediaType,
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
            Self::NotFound(_) | Self::PageNotFound { .. } => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
    /// Nothing at this address, or a page past the last (`field`: `page`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request body is larger than the route accepts.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The request body is not JSON (`Content-Type: application/json`).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
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
                detail: excerpt(&error.to_string()),
                field: field.map(|field| excerpt(&field)),
            })
        };
        match &error {
            ApiError::Invalid(bad) => Self::BadRequest(body(Some(bad.parameter.clone()))),
            ApiError::Unauthorized(_) => Self::Unauthorized(body(None)),
            ApiError::Forbidden(_) => Self::Forbidden(body(None)),
            ApiError::NotFound(_) => Self::NotFound(body(None)),
            ApiError::UnsupportedMediaType => Self::UnsupportedMediaType(body(None)),
            ApiError::PageNotFound { .. } => Self::NotFound(body(Some("page".into()))),
            ApiError::TooLarge(_) => Self::PayloadTooLarge(body(Some("body".into()))),
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
        return json_error(status, &parameter_message(param), Some(param.name));
    }
    if error.is::<ParsePathError>() {
        // A malformed UUID in a path addresses nothing.
        return json_error(StatusCode::NOT_FOUND, "not found", None);
    }
    if let Some(payload) = error.downcast_ref::<ParseRequestPayloadError>() {
        let (field, detail) = payload_problem(&payload.reason);
        return json_error(status, &detail, Some(&field));
    }
    if let Some(too_large) = error.downcast_ref::<BodyTooLarge>() {
        return poem::error::ResponseError::as_response(&ApiError::TooLarge(*too_large));
    }
    if let Some(ReadBodyError::Io(io)) = error.downcast_ref::<ReadBodyError>()
        && let Some(too_large) = body_too_large(io)
    {
        return poem::error::ResponseError::as_response(&ApiError::TooLarge(too_large));
    }
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return poem::error::ResponseError::as_response(&ApiError::UnsupportedMediaType);
    }
    if status.is_server_error() {
        tracing::error!(%error, "request failed");
        return json_error(status, "internal error", None);
    }
    json_error(status, &error.to_string(), None)
}

/// Longest `detail` answered; longer ones (which echo the caller's input)
/// keep their start.
pub const MAX_DETAIL_CHARS: usize = 200;

/// `detail` cut to [`MAX_DETAIL_CHARS`] characters, marked where it was cut.
pub fn excerpt(detail: &str) -> String {
    match detail.char_indices().nth(MAX_DETAIL_CHARS) {
        None => detail.to_owned(),
        Some((end, _)) => format!("{}… (cut)", &detail[..end]),
    }
}

/// The pattern every single-line text field of a body matches: no control
/// characters (NUL included).
pub const SINGLE_LINE: &str = "^[^\\x00-\\x1F\\x7F]*$";
/// The pattern of free-text fields: tabs and line breaks, no other control
/// characters.
pub const MULTI_LINE: &str = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]*$";

/// The field at fault and a readable detail, from poem-openapi's message for
/// a body that does not parse or validate (`field `name` verification
/// failed. maxLength(255)`); `body` when no field is named.
fn payload_problem(reason: &str) -> (String, String) {
    let field = reason
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field.to_owned());
    let Some(field) = field else {
        return ("body".to_owned(), excerpt(&format!("body: {reason}")));
    };
    let check = reason
        .split_once("verification failed. ")
        .map_or("", |(_, check)| check);
    let bound = |name: &str| {
        check
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::to_owned)
    };
    let detail = if let Some(n) = bound("maxLength") {
        format!("{field}: at most {n} characters")
    } else if let Some(n) = bound("maxItems") {
        format!("{field}: at most {n} items")
    } else if check == format!("pattern(\"{SINGLE_LINE}\")")
        || check == format!("pattern(\"{MULTI_LINE}\")")
    {
        format!("{field}: may not contain control characters")
    } else {
        format!("{field}: {reason}")
    };
    (field, excerpt(&detail))
}

/// What a parameter that did not parse needed, in a person's words: the
/// parser's reason names the type it expected (`"integer(uint64)"`).
fn parameter_message(param: &ParseParamError) -> String {
    let reason = param.reason.as_str();
    // A documented minimum: `verification failed. minimum(1, exclusive: false)`.
    if let Some(least) = reason
        .strip_prefix("verification failed. minimum(")
        .and_then(|rest| rest.split_once(','))
        .map(|(least, _)| least)
    {
        return format!("{}: must be at least {least}", param.name);
    }
    let needed = if reason.contains("\"integer(uint") {
        "a positive integer is required"
    } else if reason.contains("\"integer(") {
        "an integer is required"
    } else if reason.contains("\"boolean\"") {
        "true or false is required"
    } else if reason.contains("\"string_uuid\"") {
        "a UUID such as 0193a0f4-41a4-4d47-a4a4-6a4bdf1b8b55 is required"
    } else if reason.contains("\"string_naive-date\"") {
        "a date such as 2026-06-30 is required"
    } else if reason.contains("enumeration value") {
        "one of the values the API documents for it is required (see /api/docs/)"
    } else {
        "the value cannot be used"
    };
    format!("{}: {needed}", param.name)
}

fn json_error(status: StatusCode, detail: &str, field: Option<&str>) -> Response {
    let detail = excerpt(detail);
    let mut body = serde_json::json!({ "detail": detail });
    if let Some(field) = field {
        body["field"] = excerpt(field).into();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_cut() {
        let long = "x".repeat(10_000);
        let cut = excerpt(&long);
        assert!(cut.chars().count() < MAX_DETAIL_CHARS + 10, "{cut}");
        assert_eq!(excerpt("short"), "short");
        assert!(excerpt(&"é".repeat(300)).starts_with("éé"));
    }

    #[test]
    fn validation_failures_name_their_field() {
        let (field, detail) = payload_problem(
            "failed to parse \"CatalogCreate\": field `name` verification failed. maxLength(255)",
        );
        assert_eq!(
            (field.as_str(), detail.as_str()),
            ("name", "name: at most 255 characters")
        );
        let (field, detail) = payload_problem(&format!(
            "field `managers` verification failed. pattern(\"{SINGLE_LINE}\")"
        ));
        assert_eq!(field, "managers");
        assert_eq!(detail, "managers: may not contain control characters");
        assert_eq!(payload_problem("expected value at line 1").0, "body");
    }
}
