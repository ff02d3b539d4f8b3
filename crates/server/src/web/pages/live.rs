//! `GET /live`: the change feed for pages that update themselves (the
//! dashboard, an item's page). The browser's `EventSource` sends the
//! session cookie, so the stream is the signed-in visitor's, with the same
//! permission as the API's feed. Each event only says that something
//! changed; the page then fetches itself again and swaps its live region,
//! so what it shows is always what the page renders (no second template).
//! A stream ends at the first change after its session has ended.

use crate::web::page::WebError;
use crate::web::session::{session_token, Visitor};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::future::ready;
use futures_util::stream::{Stream, StreamExt};
use inventory_app::feed::Start;
use inventory_app::{App, UseCase};
use inventory_core::events::Event;
use inventory_core::Error;
use serde::Deserialize;
use std::convert::Infallible;
use uuid::Uuid;

#[derive(Deserialize)]
pub struct LiveParams {
    /// Only changes of this item (an item's page).
    item: Option<String>,
    /// The feed position the page was rendered after: changes from there on.
    after: Option<String>,
}

/// Whether `event` changes what a page about `item` shows.
fn concerns(event: &Event, item: Uuid) -> bool {
    event.entity_id == item
        || event.data["movement"]["item_id"].as_str() == Some(item.to_string().as_str())
}

pub async fn stream(
    State(app): State<App>,
    visitor: Visitor,
    Query(p): Query<LiveParams>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, WebError> {
    let item = match p.item.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => {
            Some(Uuid::parse_str(text).map_err(|_| Error::invalid("item", "must be an item id"))?)
        }
        None => None,
    };
    // A reconnecting EventSource says where it got to; that wins.
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let start = match resumed
        .as_deref()
        .or(p.after.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(text) => Start::After(
            text.parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| Error::invalid("after", "must be an event id"))?,
        ),
        None => Start::Now,
    };
    let token = session_token(&headers).unwrap_or_default().to_owned();
    let checker = app.clone();
    let events = app
        .follow_events(&visitor.principal, start)
        .await?
        .filter(move |event| ready(item.is_none_or(|id| concerns(event, id))))
        // The session is checked again before each event (from the session
        // cache): after a sign-out, expiry or a lost role the stream ends.
        .then(move |event| {
            let (app, token) = (checker.clone(), token.clone());
            async move {
                let allowed = app
                    .authenticate(&token)
                    .await
                    .is_ok_and(|p| p.require(UseCase::FollowEvents).is_ok());
                allowed.then_some(event)
            }
        })
        .take_while(|event| ready(event.is_some()))
        .filter_map(ready)
        .map(|event| {
            Ok(SseEvent::default()
                .id(event.id.to_string())
                .event("change")
                .data(serde_json::to_string(&event.kind).unwrap_or_default()))
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_page_follows_its_item_and_its_movements_only() {
        let item = Uuid::now_v7();
        let event = |entity_id: Uuid, data: serde_json::Value| Event {
            id: 1,
            kind: "movement.created".into(),
            entity_id,
            data,
            created_at: inventory_core::now(),
        };
        assert!(concerns(&event(item, serde_json::json!({})), item));
        let moved = serde_json::json!({"movement": {"item_id": item.to_string()}});
        assert!(concerns(&event(Uuid::now_v7(), moved), item));
        let other = serde_json::json!({"movement": {"item_id": Uuid::now_v7().to_string()}});
        assert!(!concerns(&event(Uuid::now_v7(), other), item));
    }
}
