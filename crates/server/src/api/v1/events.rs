//! The change feed as Server-Sent Events: each committed change
//! (`item.created`, `item.updated`, `item.archived`, `item.restored`,
//! `movement.created`) with its feed id, resumable with `Last-Event-ID` on
//! any replica (see `inventory_app::feed`).

use crate::http::error::ApiResult;
use crate::http::extract::{ApiQuery, Caller};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{Stream, StreamExt};
use inventory_app::feed::Start;
use inventory_app::App;
use inventory_core::Error;
use serde::Deserialize;
use std::convert::Infallible;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Start after this event id (`0` for the whole history). The
    /// `Last-Event-ID` header wins; with neither, only new changes are sent.
    after: Option<String>,
}

fn parse_id(field: &str, value: &str) -> Result<i64, Error> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| Error::invalid(field, "must be an event id (a whole number)"))
}

/// Streams committed changes as Server-Sent Events; each event's `id` is
/// its feed id and its `data` the event as JSON.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])),
    params(EventParams, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this id")),
    responses((status = 200, description = "text/event-stream of events", content_type = "text/event-stream")))]
pub async fn stream_events(
    State(app): State<App>,
    Caller(caller): Caller,
    ApiQuery(p): ApiQuery<EventParams>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let resume = headers
        .get("last-event-id")
        .map(|v| parse_id("Last-Event-ID", v.to_str().unwrap_or("x")))
        .transpose()?;
    let start = match (resume, p.after.as_deref().filter(|a| !a.is_empty())) {
        (Some(id), _) => Start::After(id),
        (None, Some(a)) => Start::After(parse_id("after", a)?),
        (None, None) => Start::Now,
    };
    let events = app.follow_events(&caller, start).await?.map(|event| {
        Ok(SseEvent::default()
            .id(event.id.to_string())
            .event(event.kind.clone())
            .data(serde_json::to_string(&event).unwrap_or_default()))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
