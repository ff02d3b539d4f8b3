//! Reads each request body to its end before a handler answers.
//!
//! A handler may answer before it reads the body (401 before auth, 415 for
//! the wrong content type...). hyper then closes the connection, because
//! the unread rest of the body would be taken for the next request; but the
//! response did not say `Connection: close`, so a client that pooled the
//! connection sends its next request into a closing socket and gets no
//! answer at all. Reading the body first (it is capped at 1 MiB anyway)
//! keeps every connection reusable; a body over the cap is answered 413
//! with `Connection: close`, so the client knows not to reuse it.

use crate::http::error::HttpError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// The most a request body may carry.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub async fn read_whole_body(request: Request, next: Next) -> Response {
    if request.body().size_hint().exact() == Some(0) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return closing(HttpError::PayloadTooLarge);
    }
    match read_capped(body).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => closing(error),
    }
}

async fn read_capped(body: Body) -> Result<Bytes, HttpError> {
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut read = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| HttpError::BadRequest("the body could not be read".into()))?;
        read += chunk.len();
        if read > MAX_BODY_BYTES {
            return Err(HttpError::PayloadTooLarge);
        }
        chunks.push(chunk);
    }
    // Most bodies arrive in one chunk: that one is kept without a copy.
    Ok(match chunks.len() {
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

/// An error answered before the body was read to its end: the connection
/// cannot carry another request.
fn closing(error: HttpError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
