//! The web UI (server-rendered pages; a later issue builds them). What is
//! here now is its error renderer: the same [`Problem`] the API sends as
//! problem+json, as an HTML page with the same meaning (messages beside
//! their fields, a way back, a request id on a 5xx and nothing internal).

use crate::http::error::Problem;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML renderer of a problem: a page with its title and detail, each
/// field error beside its field's name, a link back, and for a server error
/// the request id (so that the log line can be found).
pub fn error_page(problem: &Problem, request_id: Option<&str>, back: &str) -> Response {
    let mut body = String::new();
    body.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    body.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    body.push_str(&format!(
        "<title>{} – Inventory Manager</title></head><body><main>",
        escape(problem.title)
    ));
    body.push_str(&format!(
        "<h1>{}</h1><p>{}</p>",
        escape(problem.title),
        escape(&problem.detail)
    ));
    if !problem.errors.is_empty() {
        body.push_str("<ul class=\"field-errors\">");
        for e in &problem.errors {
            body.push_str(&format!(
                "<li><strong>{}</strong>: {}</li>",
                escape(&e.field),
                escape(&e.message)
            ));
        }
        body.push_str("</ul>");
    }
    if problem.status.is_server_error() {
        if let Some(id) = request_id {
            body.push_str(&format!("<p>Request id: <code>{}</code></p>", escape(id)));
        }
    }
    body.push_str(&format!(
        "<p><a href=\"{}\">Go back</a></p></main></body></html>\n",
        escape(back)
    ));
    let mut response = (problem.status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    problem.add_headers(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::HttpError;
    use inventory_core::Error;

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_validation_error_shows_each_message_beside_its_field() {
        let problem = HttpError::Domain(Error::invalid("sku", "must be <64> characters")).problem();
        let response = error_page(&problem, Some("r-1"), "/items");
        assert_eq!(response.status(), 422);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let html = text(response).await;
        assert!(
            html.contains("<strong>sku</strong>: must be &lt;64&gt; characters"),
            "{html}"
        );
        assert!(html.contains("href=\"/items\""));
        assert!(!html.contains("r-1"), "a request id only on a server error");
    }

    #[tokio::test]
    async fn a_server_error_shows_the_request_id_and_nothing_internal() {
        let problem = HttpError::Domain(Error::internal("secret table broke")).problem();
        let html = text(error_page(&problem, Some("req-42"), "/")).await;
        assert!(html.contains("req-42"));
        assert!(!html.contains("secret table"), "{html}");
    }
}
