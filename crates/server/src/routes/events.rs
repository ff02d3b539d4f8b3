//! The change feed as Server-Sent Events. The durable `events` table is the
//! source of truth: a stream reads it after the last id it sent, so a client
//! resuming with `Last-Event-ID` on any replica gets exactly what it missed.
//! Commits in this process wake the stream at once; a one-second poll picks
//! up what other replicas committed.

use super::bad_query;
use crate::error::ApiResult;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use inventory_core::model::Event;
use inventory_core::Error;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::watch;
use utoipa::IntoParams;

/// Events fetched from the store per read.
const PAGE: u32 = 200;
/// How often a quiet stream looks for changes committed by other replicas.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize, IntoParams)]
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

struct Feed {
    state: AppState,
    last: i64,
    pending: VecDeque<Event>,
    ticks: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
}

/// Streams committed changes (`item.created`, `item.updated`,
/// `item.archived`, `movement.created`) as Server-Sent Events; each
/// event's `id` is its feed id and its `data` the event as JSON.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])),
    params(EventParams, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this id")),
    responses((status = 200, description = "text/event-stream of events", content_type = "text/event-stream")))]
pub async fn stream_events(
    State(state): State<AppState>,
    _caller: AuthUser,
    headers: HeaderMap,
    params: Result<Query<EventParams>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let Query(p) = params.map_err(bad_query)?;
    let resume = headers
        .get("last-event-id")
        .map(|v| parse_id("Last-Event-ID", v.to_str().unwrap_or("x")))
        .transpose()?;
    let after = match (resume, p.after.as_deref().filter(|a| !a.is_empty())) {
        (Some(id), _) => id,
        (None, Some(a)) => parse_id("after", a)?,
        (None, None) => state.store.last_event_id().await?,
    };
    let feed = Feed {
        ticks: state.events_ticks(),
        shutdown: state.shutdown_signal(),
        state,
        last: after,
        pending: VecDeque::new(),
    };
    let events = stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(event) = feed.pending.pop_front() {
                feed.last = event.id;
                let sse = SseEvent::default()
                    .id(event.id.to_string())
                    .event(event.kind.clone())
                    .data(serde_json::to_string(&event).unwrap_or_default());
                return Some((Ok(sse), feed));
            }
            if *feed.shutdown.borrow() {
                return None;
            }
            // Mark wake-ups seen before reading, so none is lost in between.
            feed.ticks.borrow_and_update();
            match feed.state.store.events_after(feed.last, PAGE).await {
                Ok(events) if !events.is_empty() => {
                    feed.pending.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "change feed read failed; retrying"),
            }
            tokio::select! {
                changed = feed.ticks.changed() => if changed.is_err() { return None },
                _ = feed.shutdown.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
