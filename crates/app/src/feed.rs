//! The change feed, followed: every committed event after a given id, as
//! a stream that waits for new ones. The durable `events` table is the
//! source of truth: a follower reads it after the last id it delivered, so
//! resuming after id N on any replica gets exactly what was missed. Commits
//! in this process wake followers at once (and, with Redis, those of the
//! other replicas); a one-second poll picks up other replicas' commits
//! otherwise. Streams end when shutdown begins.

use crate::application::App;
use crate::principal::{Principal, UseCase};
use futures_util::stream::{self, Stream};
use inventory_core::events::Event;
use inventory_core::Result;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::watch;

/// Events fetched from the store per read.
const PAGE: u32 = 200;
/// How often a quiet stream looks for changes committed by other replicas.
const POLL: Duration = Duration::from_secs(1);

/// Where a follower starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After this event id (0: the whole history).
    After(i64),
    /// With the next change (nothing already committed).
    Now,
}

struct Follower {
    app: App,
    last: i64,
    pending: VecDeque<Event>,
    ticks: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
}

impl App {
    /// The id of the newest event: a page rendered after reading it follows
    /// the feed from there, so no change in between is missed.
    pub async fn feed_position(&self, caller: &Principal) -> Result<i64> {
        self.run(caller, UseCase::FollowEvents, self.store.last_event_id())
            .await
    }

    /// Every event after `start`, oldest first, then each new one as it is
    /// committed; the stream ends when shutdown begins.
    pub async fn follow_events(
        &self,
        caller: &Principal,
        start: Start,
    ) -> Result<impl Stream<Item = Event> + Send + 'static> {
        self.run(caller, UseCase::FollowEvents, async {
            let last = match start {
                Start::After(id) => id,
                Start::Now => self.store.last_event_id().await?,
            };
            let follower = Follower {
                ticks: self.events_ticks(),
                shutdown: self.shutdown_signal(),
                app: self.clone(),
                last,
                pending: VecDeque::new(),
            };
            Ok(stream::unfold(follower, |mut f| async move {
                loop {
                    if let Some(event) = f.pending.pop_front() {
                        f.last = event.id;
                        return Some((event, f));
                    }
                    if *f.shutdown.borrow() {
                        return None;
                    }
                    // Mark wake-ups seen before reading, so none is lost in between.
                    f.ticks.borrow_and_update();
                    match f.app.store.events_after(f.last, PAGE).await {
                        Ok(events) if !events.is_empty() => {
                            f.pending.extend(events);
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "change feed read failed; retrying"),
                    }
                    tokio::select! {
                        changed = f.ticks.changed() => if changed.is_err() { return None },
                        _ = f.shutdown.changed() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
            }))
        })
        .await
    }
}
