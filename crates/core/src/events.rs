//! The change feed: one event per committed change, written by the store in
//! the change's own transaction. What each event carries is decided here.

use crate::catalogue::Item;
use crate::ledger::MovementResult;
use crate::parties::Party;
use crate::purchasing::PurchaseOrder;
use crate::reservations::Reservation;
use crate::sales::SalesOrder;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A committed change, as the change feed (`GET /api/v1/events`) sends it.
/// Ids increase strictly in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    pub id: i64,
    /// One of [`event_kind`].
    pub kind: String,
    pub entity_id: Uuid,
    /// The item, the movement with the balances after it, the party or the
    /// purchase order.
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// Kinds of [`Event`].
pub mod event_kind {
    pub const ITEM_CREATED: &str = "item.created";
    pub const ITEM_UPDATED: &str = "item.updated";
    pub const ITEM_ARCHIVED: &str = "item.archived";
    pub const ITEM_RESTORED: &str = "item.restored";
    pub const MOVEMENT_CREATED: &str = "movement.created";
    pub const RESERVATION_CREATED: &str = "reservation.created";
    pub const RESERVATION_UPDATED: &str = "reservation.updated";
    pub const RESERVATION_RELEASED: &str = "reservation.released";
    pub const RESERVATION_CONSUMED: &str = "reservation.consumed";
    pub const RESERVATION_EXPIRED: &str = "reservation.expired";
    pub const SALES_ORDER_CREATED: &str = "sales_order.created";
    pub const SALES_ORDER_UPDATED: &str = "sales_order.updated";
    pub const SALES_ORDER_HELD: &str = "sales_order.held";
    pub const SALES_ORDER_CONFIRMED: &str = "sales_order.confirmed";
    pub const SALES_ORDER_SHIPPED: &str = "sales_order.shipped";
    pub const SALES_ORDER_CANCELLED: &str = "sales_order.cancelled";
    pub const PURCHASE_ORDER_CREATED: &str = "purchase_order.created";
    pub const PURCHASE_ORDER_UPDATED: &str = "purchase_order.updated";
    pub const PURCHASE_ORDER_SUBMITTED: &str = "purchase_order.submitted";
    pub const PURCHASE_ORDER_RECEIVED: &str = "purchase_order.received";
    pub const PURCHASE_ORDER_CANCELLED: &str = "purchase_order.cancelled";
    pub const PARTY_CREATED: &str = "party.created";
    pub const PARTY_UPDATED: &str = "party.updated";
}

/// An event to record: its kind, entity and JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: &'static str,
    pub entity_id: Uuid,
    pub data: String,
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

impl NewEvent {
    /// `kind` is one of the `item.*` kinds; the data is the item after it.
    pub fn item(kind: &'static str, item: &Item) -> Self {
        Self {
            kind,
            entity_id: item.id,
            data: json(item),
        }
    }

    /// `kind` is one of the `reservation.*` kinds; the data is the
    /// reservation after it.
    pub fn reservation(kind: &'static str, reservation: &Reservation) -> Self {
        Self {
            kind,
            entity_id: reservation.id,
            data: json(reservation),
        }
    }

    /// `kind` is one of the `sales_order.*` kinds; the data is the order after it.
    pub fn sales_order(kind: &'static str, order: &SalesOrder) -> Self {
        Self {
            kind,
            entity_id: order.id,
            data: json(order),
        }
    }

    /// `kind` is `party.created` or `party.updated`; the data is the party after it.
    pub fn party(kind: &'static str, party: &Party) -> Self {
        Self {
            kind,
            entity_id: party.id,
            data: json(party),
        }
    }

    /// `kind` is one of the `purchase_order.*` kinds; the data is the order after it.
    pub fn purchase_order(kind: &'static str, order: &PurchaseOrder) -> Self {
        Self {
            kind,
            entity_id: order.id,
            data: json(order),
        }
    }

    pub fn movement(result: &MovementResult) -> Self {
        Self {
            kind: event_kind::MOVEMENT_CREATED,
            entity_id: result.movement.id,
            data: json(result),
        }
    }
}
