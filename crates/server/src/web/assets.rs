//! Static assets, embedded in the binary and served under content-hashed
//! names (`/assets/app.3f9c2a1b.css`): a changed file gets a new name, so
//! every name can be cached for a year.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

use crate::http::error::HttpError;

/// One embedded file.
pub struct Asset {
    /// The name pages link to, with the content's hash in it.
    pub path: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

fn asset(stem: &str, ext: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(bytes)[..6]);
    Asset {
        path: format!("/assets/{stem}.{hash}.{ext}"),
        content_type,
        bytes,
    }
}

pub struct Assets {
    pub css: Asset,
    pub js: Asset,
    /// htmx 2.0.11 from npm, vendored with its licence (assets/vendor/htmx).
    pub htmx: Asset,
}

pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: asset(
        "app",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    js: asset(
        "app",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    htmx: asset(
        "htmx-2.0.11",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/htmx/htmx.min.js"),
    ),
});

/// `GET /assets/{name}`: the file under its hashed name, cached for a year;
/// 404 for any other name (an old hash included: pages always link the
/// current one).
pub async fn serve(Path(name): Path<String>) -> Result<Response, HttpError> {
    let wanted = format!("/assets/{name}");
    let assets = &*ASSETS;
    let found = [&assets.css, &assets.js, &assets.htmx]
        .into_iter()
        .find(|a| a.path == wanted)
        .ok_or(HttpError::RouteNotFound)?;
    let mut response = found.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(found.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
