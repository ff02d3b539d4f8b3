//! The audit trail: who changed what, when and from where. Stores write an
//! entry in the transaction of every change (beside its change-feed event,
//! or explicitly for users, sessions, tokens and locations, which have
//! none); entries are never edited, and only the retention prune deletes
//! them.
//!
//! Who and from where travel with the work instead of through every store
//! method: the HTTP layer opens an [`AuditContext`] per request (its id and
//! client address), the application adds the caller for each use case, and
//! a store reads [`AuditContext::current`] when it records the entry. Work
//! outside any context (the reservation sweeper, the CLI) is recorded as
//! the system's.

use crate::events::NewEvent;
use crate::paging::Page;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::future::Future;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long entries are kept when `AUDIT_RETENTION_DAYS` is not set.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// How the actor acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A sign-in session (the web UI, or the API with a session token).
    Session,
    /// An API token (`token_id` says which).
    Token,
    /// The command line on the server (`inventory import`, user recovery).
    Cli,
    /// The service itself (the reservation sweeper).
    System,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Session => "session",
            Via::Token => "token",
            Via::Cli => "cli",
            Via::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Via::Session, Via::Token, Via::Cli, Via::System]
            .into_iter()
            .find(|v| v.as_str() == text)
    }
}

/// Who acted: a user by session or by one of their tokens, or the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
    pub via: Via,
    /// The API token, when `via` is `token`.
    pub token_id: Option<Uuid>,
}

impl AuditActor {
    pub fn system() -> Self {
        Self::nobody(Via::System)
    }

    /// No user: the system, or the CLI.
    pub fn nobody(via: Via) -> Self {
        Self {
            user_id: None,
            username: None,
            via,
            token_id: None,
        }
    }

    pub fn user(user_id: Uuid, username: &str, via: Via, token_id: Option<Uuid>) -> Self {
        Self {
            user_id: Some(user_id),
            username: Some(username.to_owned()),
            via,
            token_id,
        }
    }
}

/// Who is acting and where the request came from, for the entries written
/// while it is current.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditContext {
    /// `None`: the system (see [`AuditActor::system`]).
    pub actor: Option<AuditActor>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

tokio::task_local! {
    static CONTEXT: AuditContext;
}

impl AuditContext {
    /// The context of the work running now (empty outside any).
    pub fn current() -> Self {
        CONTEXT.try_with(Clone::clone).unwrap_or_default()
    }

    /// Runs `work` with this context current.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CONTEXT.scope(self, work).await
    }

    /// Runs `work` with this context current, on this thread (a store's
    /// writer thread runs each job in the context of the task that sent it).
    pub fn sync_scope<R>(self, work: impl FnOnce() -> R) -> R {
        CONTEXT.sync_scope(self, work)
    }

    /// The current context with `actor` acting.
    pub fn current_as(actor: AuditActor) -> Self {
        Self {
            actor: Some(actor),
            ..Self::current()
        }
    }
}

/// An entry of the audit trail (`GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Increasing with time; the newest entries come first in lists.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    /// What was done: a change-feed kind such as `item.updated`, or one of
    /// [`action`].
    pub action: String,
    /// The kind of thing changed: `item`, `movement`, `user`, `token`...
    pub target_type: String,
    pub target_id: String,
    /// `{"before": {...}, "after": {...}}` with the fields that changed
    /// (`before` is null for what was created, `after` for what was
    /// deleted). Never a password, a hash or a token.
    #[schema(value_type = Object)]
    pub changes: Value,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

/// Actions that are not change-feed kinds.
pub mod action {
    pub const LOCATION_CREATED: &str = "location.created";
    pub const LOCATION_UPDATED: &str = "location.updated";
    pub const USER_CREATED: &str = "user.created";
    pub const USER_UPDATED: &str = "user.updated";
    pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
    pub const USER_PASSWORD_RESET: &str = "user.password_reset";
    pub const USER_SIGNED_IN: &str = "user.signed_in";
    pub const USER_SIGN_IN_FAILED: &str = "user.sign_in_failed";
    pub const SESSION_ENDED: &str = "session.ended";
    pub const TOKEN_CREATED: &str = "token.created";
    pub const TOKEN_REVOKED: &str = "token.revoked";
    pub const DATABASE_IMPORTED: &str = "database.imported";
}

/// Fields never copied into an entry, at any depth.
const SECRET_FIELDS: [&str; 6] = [
    "password",
    "password_hash",
    "token",
    "token_hash",
    "secret",
    "access_token",
];

/// An entry to record, built in the change's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// JSON text of [`AuditEntry::changes`].
    pub changes: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

impl NewAuditEntry {
    /// An entry in the current context ([`AuditContext::current`]).
    pub fn new(action: &str, target_type: &str, target_id: impl ToString, changes: Value) -> Self {
        let context = AuditContext::current();
        Self {
            at: crate::validation::now(),
            actor: context.actor.unwrap_or_else(AuditActor::system),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_string(),
            changes: changes.to_string(),
            request_id: context.request_id,
            client_addr: context.client_addr,
        }
    }

    /// The entry of a change to a `target_type` from `before` to `after`
    /// (`None` for what did not exist before or does not after).
    pub fn change<T: Serialize>(
        action: &str,
        target_type: &str,
        target_id: impl ToString,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Self {
        let json = |v: Option<&T>| v.and_then(|v| serde_json::to_value(v).ok());
        Self::new(
            action,
            target_type,
            target_id,
            changes(json(before).as_ref(), json(after).as_ref()),
        )
    }

    /// A sign-in: a new session of `user_id` (the session's id and expiry
    /// and the client's user agent are its changes).
    pub fn signed_in(
        user_id: Uuid,
        session_id: Uuid,
        expires_at: DateTime<Utc>,
        user_agent: Option<&str>,
    ) -> Self {
        let after = serde_json::json!({
            "session_id": session_id,
            "expires_at": expires_at,
            "user_agent": user_agent,
        });
        Self::new(
            action::USER_SIGNED_IN,
            "user",
            user_id,
            changes(None, Some(&after)),
        )
    }

    /// A session (`kind` "session") or API token (`kind` "token") of
    /// `user_id` ended: signed out, ended by its owner or an admin, revoked.
    pub fn session_ended(kind: &str, id: Uuid, user_id: Uuid) -> Self {
        let action = match kind {
            "token" => action::TOKEN_REVOKED,
            _ => action::SESSION_ENDED,
        };
        let before = serde_json::json!({ "user_id": user_id });
        Self::new(action, kind, id, changes(Some(&before), None))
    }

    /// The entry of a change-feed event: its kind is the action, the part
    /// before the dot the target type, and the changes are the fields of
    /// its data that differ from `before` (the data of the entity's
    /// previous event, `None` for a creation: then all of it). Event data
    /// holds no secret (it is what the change feed shows every reader), so
    /// nothing is redacted, and a creation's data is copied as it is
    /// rather than parsed and written again: this runs beside every write.
    pub fn for_event(event: &NewEvent, before: Option<&str>) -> Self {
        let target_type = event.kind.split('.').next().unwrap_or(event.kind);
        let changes = match before {
            None => format!(r#"{{"before":null,"after":{}}}"#, event.data),
            Some(before) => {
                let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
                differences(Some(&parse(before)), Some(&parse(&event.data))).to_string()
            }
        };
        Self {
            changes,
            ..Self::new(event.kind, target_type, event.entity_id, Value::Null)
        }
    }
}

/// Whether an event of `kind` creates its entity (it has no previous event
/// to compare with).
pub fn creates(kind: &str) -> bool {
    kind.ends_with(".created")
}

/// `{"before": ..., "after": ...}` with the top-level fields that differ
/// between the two objects (all of them when one side is missing), secret
/// fields removed at any depth.
pub fn changes(before: Option<&Value>, after: Option<&Value>) -> Value {
    let mut out = differences(before, after);
    redact(&mut out);
    out
}

/// [`changes`] without the redaction.
fn differences(before: Option<&Value>, after: Option<&Value>) -> Value {
    let object = |v: Option<&Value>| -> Option<Map<String, Value>> {
        match v {
            Some(Value::Object(map)) => Some(map.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(Map::from_iter([("value".to_owned(), other.clone())])),
        }
    };
    let (mut before, mut after) = (object(before), object(after));
    if let (Some(b), Some(a)) = (&mut before, &mut after) {
        let same: Vec<String> = a
            .iter()
            .filter(|(k, v)| b.get(*k) == Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        for key in same {
            a.remove(&key);
            b.remove(&key);
        }
        for key in b.keys().cloned().collect::<Vec<_>>() {
            a.entry(key).or_insert(Value::Null);
        }
        for key in a.keys().cloned().collect::<Vec<_>>() {
            b.entry(key).or_insert(Value::Null);
        }
    }
    serde_json::json!({
        "before": before.map(Value::Object).unwrap_or(Value::Null),
        "after": after.map(Value::Object).unwrap_or(Value::Null),
    })
}

/// Removes [`SECRET_FIELDS`] at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !SECRET_FIELDS.contains(&k.as_str()));
            map.values_mut().for_each(redact);
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Filters of an audit list (`GET /api/v1/audit`), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// A user id, or a username.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
    /// Entries with a smaller id than this (the cursor).
    pub before_id: Option<i64>,
}

impl AuditQuery {
    /// The page of `rows` (read with `limit + 1`), its cursor the last id.
    pub fn page(&self, rows: Vec<AuditEntry>) -> Page<AuditEntry> {
        Page::keyset(rows, self.limit, |e| e.id.to_string())
    }

    /// The actor filter as a user id, when it is one.
    pub fn actor_id(&self) -> Option<Uuid> {
        self.actor.as_deref().and_then(|a| Uuid::parse_str(a).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_keep_only_the_fields_that_differ() {
        let before = json!({"name": "Bolt", "unit_cost": "0.10", "version": 1});
        let after = json!({"name": "Bolt", "unit_cost": "0.12", "version": 2, "barcode": "1"});
        assert_eq!(
            changes(Some(&before), Some(&after)),
            json!({
                "before": {"unit_cost": "0.10", "version": 1, "barcode": null},
                "after": {"unit_cost": "0.12", "version": 2, "barcode": "1"},
            })
        );
    }

    #[test]
    fn a_creation_has_no_before_and_secrets_never_appear() {
        let after = json!({"username": "ann", "password_hash": "$argon2id$x", "nested": {"token": "inv_pat_x"}});
        assert_eq!(
            changes(None, Some(&after)),
            json!({"before": null, "after": {"username": "ann", "nested": {}}})
        );
    }

    #[test]
    fn an_event_entry_names_its_target_and_the_system_outside_a_context() {
        let id = Uuid::from_u128(7);
        let event = NewEvent {
            kind: "reservation.expired",
            entity_id: id,
            data: json!({"status": "expired"}).to_string(),
        };
        let entry = NewAuditEntry::for_event(&event, Some(r#"{"status":"active"}"#));
        assert_eq!(entry.target_type, "reservation");
        assert_eq!(entry.target_id, id.to_string());
        assert_eq!(entry.actor, AuditActor::system());
        assert_eq!(
            serde_json::from_str::<Value>(&entry.changes).unwrap(),
            json!({"before": {"status": "active"}, "after": {"status": "expired"}})
        );
    }

    #[test]
    fn the_context_travels_with_the_work() {
        let actor = AuditActor::user(Uuid::nil(), "ann", Via::Token, Some(Uuid::nil()));
        let context = AuditContext {
            actor: Some(actor.clone()),
            request_id: Some("r1".into()),
            client_addr: Some("127.0.0.1".into()),
        };
        let entry = context.sync_scope(|| NewAuditEntry::new("x.y", "x", 1, Value::Null));
        assert_eq!(entry.actor, actor);
        assert_eq!(entry.request_id.as_deref(), Some("r1"));
        assert_eq!(AuditContext::current(), AuditContext::default());
    }
}
