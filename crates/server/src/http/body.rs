//! Reads each request body to its end before a handler answers.
//!
//! A handler may answer before it reads the body (401 before auth, 415 for
//! the wrong content type...). hyper then closes the connection, because
//! the unread rest of the body would be taken for the next request; but the
//! response did not say `Connection: close`, so a client that pooled the
//! connection sends its next request into a closing socket and gets no
//! answer at all. Reading the body first (it is capped at 1 MiB anyway,
//! 32 MiB for a CSV import: [`body_limit`])
//! keeps every connection reusable; a body over the cap is answered 413
//! with `Connection: close`, so the client knows not to reuse it.

use crate::http::error::HttpError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use inventory_core::csvfile::MAX_IMPORT_BYTES;

/// The most a request body may carry.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The routes that take a CSV file, and how much each takes: the API's
/// import takes the file itself; the UI's import page takes it as an upload,
/// and its confirmation carries it back base64-encoded (4/3 of its size).
pub const IMPORT_API_PATH: &str = "/api/v1/items/import";
pub const IMPORT_PAGE_PATH: &str = "/items/import";
pub const MAX_IMPORT_PAGE_BYTES: usize = MAX_IMPORT_BYTES / 3 * 4 + MAX_BODY_BYTES;

/// The most a request to `path` may carry.
pub fn body_limit(path: &str) -> usize {
    match path {
        IMPORT_API_PATH => MAX_IMPORT_BYTES,
        IMPORT_PAGE_PATH => MAX_IMPORT_PAGE_BYTES,
        _ => MAX_BODY_BYTES,
    }
}

pub async fn read_whole_body(request: Request, next: Next) -> Response {
    if request.body().size_hint().exact() == Some(0) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = body_limit(parts.uri.path());
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return closing(HttpError::PayloadTooLarge(limit));
    }
    match read_capped(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => closing(error),
    }
}

async fn read_capped(body: Body, limit: usize) -> Result<Bytes, HttpError> {
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut read = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| HttpError::BadRequest("the body could not be read".into()))?;
        read += chunk.len();
        if read > limit {
            return Err(HttpError::PayloadTooLarge(limit));
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
