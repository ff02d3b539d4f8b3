//! Responses for creates: the new resource, or the response recorded under
//! the same `Idempotency-Key`, byte for byte; and CSV downloads, streamed.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use inventory_app::Outcome;
use inventory_core::StoredResponse;
use serde::Serialize;

/// Answers with a recorded response, byte for byte.
pub fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// A 201 with the new resource (and its `Location` and `ETag`, when given),
/// or the recorded response of an earlier request with the same key.
pub fn created<T: Serialize>(
    outcome: Outcome<T>,
    location: impl FnOnce(&T) -> Option<String>,
    etag: impl FnOnce(&T) -> Option<String>,
) -> Response {
    match outcome {
        Outcome::New(value) => {
            let mut response = (StatusCode::CREATED, axum::Json(&value)).into_response();
            let headers = response.headers_mut();
            if let Some(v) = location(&value).and_then(|l| HeaderValue::from_str(&l).ok()) {
                headers.insert(header::LOCATION, v);
            }
            if let Some(v) = etag(&value).and_then(|e| HeaderValue::from_str(&e).ok()) {
                headers.insert(header::ETAG, v);
            }
            response
        }
        Outcome::Replay(stored) => replay(stored),
    }
}

/// A CSV download, streamed as the use case pages through the store. An
/// error after the first byte can no longer change the status: it is logged
/// and the response is cut short (the chunked body never ends properly, so
/// no client takes a truncated file for a whole one).
pub fn csv_download(stream: inventory_app::spreadsheets::CsvStream, filename: &str) -> Response {
    use futures_util::StreamExt;
    let body = axum::body::Body::from_stream(stream.map(|chunk| {
        chunk.map(axum::body::Bytes::from).map_err(|e| {
            tracing::error!(error = %e, "a CSV export failed part way");
            std::io::Error::other(e.to_string())
        })
    }));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    response
}
