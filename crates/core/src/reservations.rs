//! Reservations: stock held for someone at a location, the primitive every
//! sales order uses. A reservation counts against `available` while it is
//! `active` and its `expires_at` (if any) has not passed; from that instant
//! it holds nothing, whether or not the sweeper has marked it `expired` yet
//! (every write that reads availability first ends the due ones itself).

use crate::error::{Error, FieldError, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest a reference or a note may be.
const MAX_TEXT: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    /// Holds stock (until `expires_at`, when set).
    Active,
    /// Given back before it was used (`DELETE`, or its order cancelled).
    Released,
    /// Used up by a shipment.
    Consumed,
    /// Its `expires_at` passed.
    Expired,
}

impl ReservationStatus {
    pub const ALL: [Self; 4] = [Self::Active, Self::Released, Self::Consumed, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Consumed => "consumed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    format!("unknown status '{s}': one of active, released, consumed, expired"),
                )
            })
    }
}

/// A reservation as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reservation {
    pub id: Uuid,
    pub item_id: Uuid,
    /// The location's code.
    pub location: String,
    pub quantity: i64,
    pub status: ReservationStatus,
    /// When it stops holding stock; none: until released or consumed.
    pub expires_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    pub note: Option<String>,
    /// The username of whoever made it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// When it stopped holding stock (for an expired one, its `expires_at`).
    pub ended_at: Option<DateTime<Utc>>,
}

impl Reservation {
    /// Its status at `now`: an active one whose expiry has passed is
    /// expired, even before the sweeper records it.
    pub fn status_at(&self, now: DateTime<Utc>) -> ReservationStatus {
        match (self.status, self.expires_at) {
            (ReservationStatus::Active, Some(at)) if at <= now => ReservationStatus::Expired,
            (status, _) => status,
        }
    }

    /// As a reader at `now` should see it (see [`Self::status_at`]).
    pub fn seen_at(mut self, now: DateTime<Utc>) -> Self {
        if self.status_at(now) != self.status {
            self.status = ReservationStatus::Expired;
            self.ended_at = self.expires_at;
        }
        self
    }

    /// The refusal of `action` on a reservation that no longer holds stock
    /// at `now`.
    pub fn ended_error(&self, action: &'static str, now: DateTime<Utc>) -> Error {
        Error::InvalidTransition {
            entity: "reservation",
            status: self.status_at(now).as_str().to_owned(),
            action,
        }
    }

    /// Applies a change: a later expiry (or none) and a lower quantity, on
    /// an active reservation only. Returns how much it stops holding.
    pub fn apply(&mut self, patch: &ReservationPatch, now: DateTime<Utc>) -> Result<i64> {
        if self.status_at(now) != ReservationStatus::Active {
            return Err(self.ended_error("change", now));
        }
        let mut errors = Vec::new();
        let mut freed = 0;
        if let Some(quantity) = patch.quantity {
            if quantity <= 0 {
                errors.push(FieldError::new(
                    "quantity",
                    "must be a positive whole number; release the reservation to give all of it back",
                ));
            } else if quantity > self.quantity {
                errors.push(FieldError::new(
                    "quantity",
                    format!(
                        "can only be lowered (it is {}); make another reservation for more",
                        self.quantity
                    ),
                ));
            } else {
                freed = self.quantity - quantity;
                self.quantity = quantity;
            }
        }
        if let Some(expires_at) = patch.expires_at {
            match (expires_at, self.expires_at) {
                (Some(new), _) if new <= now => {
                    errors.push(FieldError::new("expires_at", "must be in the future"))
                }
                (Some(new), Some(old)) if new < old => errors.push(FieldError::new(
                    "expires_at",
                    format!("can only be extended (it is {})", old.to_rfc3339()),
                )),
                (Some(_), None) => errors.push(FieldError::new(
                    "expires_at",
                    "the reservation does not expire; it can only be released",
                )),
                (new, _) => self.expires_at = new,
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(freed)
    }
}

/// `POST /api/v1/reservations` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    pub item_id: Option<Uuid>,
    /// A location code; the default location when absent.
    pub location: Option<String>,
    pub quantity: Option<i64>,
    /// RFC 3339; none: it holds until released or consumed.
    pub expires_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    pub note: Option<String>,
}

/// A checked reservation request, for a store to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReservation {
    pub id: Uuid,
    pub item_id: Uuid,
    pub location: Option<String>,
    pub quantity: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The sales-order line it holds stock for, if any.
    pub order_line_id: Option<Uuid>,
}

fn text(field: &str, value: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if value.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    value
}

impl CreateReservation {
    pub fn validate(self, now: DateTime<Utc>) -> Result<NewReservation> {
        let mut errors = Vec::new();
        if self.item_id.is_none() {
            errors.push(FieldError::new("item_id", "is required"));
        }
        match self.quantity {
            None => errors.push(FieldError::new("quantity", "is required")),
            Some(q) if q <= 0 => errors.push(FieldError::new(
                "quantity",
                "must be a positive whole number",
            )),
            _ => {}
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        }
        let location = self
            .location
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let reference = text("reference", self.reference, &mut errors);
        let note = text("note", self.note, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewReservation {
            id: Uuid::now_v7(),
            item_id: self.item_id.unwrap_or_default(),
            location,
            quantity: self.quantity.unwrap_or_default(),
            expires_at: self.expires_at,
            reference,
            note,
            created_at: now,
            order_line_id: None,
        })
    }
}

/// `PATCH /api/v1/reservations/{id}` body: a later `expires_at` (`null`:
/// hold until released) or a lower `quantity` (see [`Reservation::apply`]).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationPatch {
    pub quantity: Option<i64>,
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

/// `GET /api/v1/reservations` filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationQuery {
    pub item_id: Option<Uuid>,
    pub location: Option<String>,
    pub status: Option<ReservationStatus>,
    pub reference: Option<String>,
    pub limit: u32,
    /// Continue after this id (ids follow creation order).
    pub after: Option<Uuid>,
}

impl Default for ReservationQuery {
    fn default() -> Self {
        Self {
            item_id: None,
            location: None,
            status: None,
            reference: None,
            limit: crate::paging::DEFAULT_LIMIT,
            after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn active(expires_at: Option<DateTime<Utc>>) -> Reservation {
        Reservation {
            id: Uuid::now_v7(),
            item_id: Uuid::now_v7(),
            location: "MAIN".into(),
            quantity: 5,
            status: ReservationStatus::Active,
            expires_at,
            reference: None,
            note: None,
            created_by: "u".into(),
            created_at: crate::now(),
            ended_at: None,
        }
    }

    #[test]
    fn a_reservation_is_expired_from_the_instant_its_expiry_passes() {
        let now = crate::now();
        let r = active(Some(now));
        assert_eq!(
            r.status_at(now - Duration::microseconds(1)),
            ReservationStatus::Active
        );
        assert_eq!(r.status_at(now), ReservationStatus::Expired);
        let seen = r.seen_at(now);
        assert_eq!(
            (seen.status, seen.ended_at),
            (ReservationStatus::Expired, Some(now))
        );
        assert_eq!(active(None).status_at(now), ReservationStatus::Active);
    }

    #[test]
    fn a_change_lowers_the_quantity_and_extends_the_expiry_only() {
        let now = crate::now();
        let mut r = active(Some(now + Duration::minutes(5)));
        let lower = ReservationPatch {
            quantity: Some(3),
            expires_at: None,
        };
        assert_eq!(r.apply(&lower, now).unwrap(), 2);
        assert_eq!(r.quantity, 3);
        let raise = ReservationPatch {
            quantity: Some(4),
            expires_at: None,
        };
        assert!(matches!(r.apply(&raise, now), Err(Error::Validation(_))));
        let shorten = ReservationPatch {
            quantity: None,
            expires_at: Some(Some(now + Duration::minutes(1))),
        };
        assert!(matches!(r.apply(&shorten, now), Err(Error::Validation(_))));
        let forever = ReservationPatch {
            quantity: None,
            expires_at: Some(None),
        };
        assert_eq!(r.apply(&forever, now).unwrap(), 0);
        assert_eq!(r.expires_at, None);
        let past = active(Some(now));
        assert!(matches!(
            past.clone().apply(&lower, now),
            Err(Error::InvalidTransition { ref status, .. }) if status == "expired"
        ));
    }

    #[test]
    fn a_request_needs_an_item_a_positive_quantity_and_a_future_expiry() {
        let now = crate::now();
        let bad = CreateReservation {
            quantity: Some(0),
            expires_at: Some(now),
            ..CreateReservation::default()
        };
        let Err(Error::Validation(errors)) = bad.validate(now) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["item_id", "quantity", "expires_at"]);
    }
}
