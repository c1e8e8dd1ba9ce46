//! What every request goes through before a handler sees it: writes are
//! answered 401 before their body is read when the caller is not a user,
//! and no body larger than its route's limit is read.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use poem::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use poem::http::{Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest request body of a route that is not listed in [`ROUTE_BODY_LIMITS`].
/// The largest body the API takes today (a settings change, a catalog
/// with a long description) is a few KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Routes that take larger bodies: `(path prefix, bytes)`. The first
/// matching prefix wins.
const ROUTE_BODY_LIMITS: &[(&str, usize)] = &[(
    "/api/marketplace-software-catalogs/upload/",
    UPLOAD_BODY_LIMIT,
)];

/// Largest custom catalog document accepted by upload: a centre's own
/// software is thousands of entries, not millions.
pub const UPLOAD_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The body limit of a request path.
pub fn body_limit(path: &str) -> usize {
    ROUTE_BODY_LIMITS
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(DEFAULT_BODY_LIMIT, |(_, limit)| *limit)
}

/// Whether a method only reads: such requests need no user up front.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A body larger than its route accepts: 413.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body is larger than the {limit} bytes this route accepts")]
pub struct BodyTooLarge {
    /// The route's limit, in bytes.
    pub limit: usize,
}

impl poem::error::ResponseError for BodyTooLarge {
    fn status(&self) -> StatusCode {
        StatusCode::PAYLOAD_TOO_LARGE
    }
}

/// Middleware: the caller of a write is resolved before anything else, so
/// that a write by no one, or with a token that is not valid, is a 401
/// whatever its body holds and without reading it; the resolved caller is
/// handed on to the handler, which applies its own permission. Then the
/// body is bounded: a declared length above the route's limit is a 413 at
/// once, and a body without a declared length stops being read at the limit.
pub async fn guard<E: Endpoint>(endpoint: E, mut request: Request) -> poem::Result<Response> {
    if !is_safe(request.method()) {
        let state = request.data::<AppState>().ok_or(ApiError::Internal)?;
        let caller = auth::resolve(state, request.headers()).await?;
        caller.require_user()?;
        request.set_data(caller);
    }
    let limit = body_limit(request.uri().path());
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => return Err(BodyTooLarge { limit }.into()),
        // hyper stops the body at the declared length.
        Some(_) => {}
        None if request.headers().contains_key(TRANSFER_ENCODING) => {
            let body = request.take_body();
            request.set_body(limited(body, limit));
        }
        None => {}
    }
    endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response)
}

/// `body`, failing with [`BodyTooLarge`] once more than `limit` bytes came.
fn limited(body: Body, limit: usize) -> Body {
    let inner: BoxBody<Bytes, std::io::Error> = body.into();
    LimitedBody {
        inner: Some(inner),
        limit,
        seen: 0,
    }
    .boxed()
    .into()
}

/// How long, and how much, the rest of a body over its limit is read and
/// discarded after the 413 is answered.
const DRAIN_TIME: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// A body of unknown length cut at its limit. The rest is not dropped at
/// once: a connection closed while its client is still sending is reset,
/// and a client busy sending (curl) then reports a broken pipe instead of
/// the 413. The rest is read and discarded for a while, bounded in time
/// and bytes, so that the client sees the answer and stops.
struct LimitedBody {
    inner: Option<BoxBody<Bytes, std::io::Error>>,
    limit: usize,
    seen: usize,
}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(Pin::new(inner).poll_frame(cx));
        if let Some(Ok(data)) = &frame
            && let Some(data) = data.data_ref()
        {
            self.seen += data.len();
            if self.seen > self.limit {
                if let Some(rest) = self.inner.take() {
                    tokio::spawn(drain(rest));
                }
                let limit = self.limit;
                return Poll::Ready(Some(Err(std::io::Error::other(BodyTooLarge { limit }))));
            }
        }
        Poll::Ready(frame)
    }
}

/// Reads and discards what is left of a body, within [`DRAIN_TIME`] and
/// [`DRAIN_BYTES`].
async fn drain(mut rest: BoxBody<Bytes, std::io::Error>) {
    let discard = async {
        let mut read = 0;
        while let Some(Ok(frame)) = rest.frame().await {
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// Finds a [`BodyTooLarge`] among the io errors wrapped around a failed
/// body read.
pub fn body_too_large(error: &std::io::Error) -> Option<BodyTooLarge> {
    let mut inner = error.get_ref()?;
    loop {
        if let Some(found) = inner.downcast_ref::<BodyTooLarge>() {
            return Some(*found);
        }
        inner = inner.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_have_the_default_limit_unless_listed() {
        assert_eq!(
            body_limit("/api/marketplace-software-catalogs"),
            DEFAULT_BODY_LIMIT
        );
        assert_eq!(
            body_limit("/api/marketplace-software-catalogs/upload/"),
            UPLOAD_BODY_LIMIT
        );
    }

    #[tokio::test]
    async fn an_undeclared_body_stops_at_the_limit() {
        let body = limited(Body::from_vec(vec![b'x'; 100]), 10);
        let error = match body.into_bytes().await {
            Err(poem::error::ReadBodyError::Io(error)) => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(body_too_large(&error).map(|found| found.limit), Some(10));
        let body = limited(Body::from_vec(vec![b'x'; 10]), 10);
        assert_eq!(body.into_bytes().await.unwrap().len(), 10);
    }
}
