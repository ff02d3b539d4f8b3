//! Parties: the suppliers and customers that orders name. Never deleted:
//! archived (`PATCH {"archived": true}`), which a party with open orders
//! refuses (`party-has-open-orders`, decided by the store in the write's
//! transaction).

use crate::catalogue::normalize_code;
use crate::error::{ConflictKind, Error, FieldError, Result};
use crate::patch::double_option;
use crate::validation::{check_email, check_text, finish};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a party is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartyKind {
    Supplier,
    Customer,
    Both,
}

impl PartyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Supplier => "supplier",
            Self::Customer => "customer",
            Self::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Supplier, Self::Customer, Self::Both]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether purchase orders may name a party of this kind.
    pub fn supplies(self) -> bool {
        matches!(self, Self::Supplier | Self::Both)
    }

    /// Whether sales orders may name a party of this kind.
    pub fn buys(self) -> bool {
        matches!(self, Self::Customer | Self::Both)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Party {
    pub id: Uuid,
    pub name: String,
    pub kind: PartyKind,
    /// Optional short code (upper-case letters, digits, `-`, `_`, `.`), unique when set.
    pub code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Party {
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    pub fn check_version(&self, if_version: Option<i64>) -> Result<()> {
        match if_version {
            Some(v) if v != self.version => Err(Error::PreconditionFailed),
            _ => Ok(()),
        }
    }

    /// Why a party with open orders cannot be archived.
    pub fn has_open_orders_error(&self, open: i64) -> Error {
        Error::conflict(
            ConflictKind::PartyHasOpenOrders,
            format!(
                "party '{}' has {open} open order(s) (draft, submitted or partially received); \
                 receive or cancel them first",
                self.name
            ),
        )
    }

    /// The refusal of an order naming this party as supplier when it is
    /// none (or archived).
    /// A party a sales order may name: a customer, not archived.
    pub fn check_customer(&self, field: &str) -> Result<()> {
        self.check_role(field, self.kind.buys(), "customer (kind customer or both)")
    }

    /// A party a purchase order may name: a supplier, not archived.
    pub fn check_supplier(&self, field: &str) -> Result<()> {
        self.check_role(
            field,
            self.kind.supplies(),
            "supplier (kind supplier or both)",
        )
    }

    fn check_role(&self, field: &str, fits: bool, role: &str) -> Result<()> {
        if !fits {
            return Err(Error::invalid(
                field,
                format!(
                    "party '{}' is a {}, not a {role}",
                    self.name,
                    self.kind.as_str()
                ),
            ));
        }
        if self.archived {
            return Err(Error::invalid(
                field,
                format!("party '{}' is archived", self.name),
            ));
        }
        Ok(())
    }
}

/// `POST /api/v1/parties` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateParty {
    pub name: String,
    pub kind: PartyKind,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// `PATCH /api/v1/parties/{id}` body: a merge patch. `archived: true`
/// archives the party (refused while it has open orders), `false` restores it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PartyKind>)]
    pub kind: Option<Option<PartyKind>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub archived: Option<Option<bool>>,
}

/// Blank optional text means "none" (forms send empty fields).
fn blank_is_none(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

fn check_party(errors: &mut Vec<FieldError>, p: &mut Party) {
    check_text(errors, "name", &p.name, 1, 200);
    if let Some(code) = p.code.take() {
        match normalize_code("code", &code) {
            Ok(c) => p.code = Some(c),
            Err(e) => errors.push(e),
        }
    }
    if let Some(email) = &p.email {
        check_email(errors, "email", email);
    }
    if let Some(phone) = &p.phone {
        check_text(errors, "phone", phone, 1, 50);
    }
    if let Some(address) = &p.address {
        check_text(errors, "address", address, 1, 1000);
    }
    if let Some(notes) = &p.notes {
        check_text(errors, "notes", notes, 1, 4000);
    }
}

impl CreateParty {
    pub fn validate(self, now: DateTime<Utc>) -> Result<Party> {
        let mut party = Party {
            id: Uuid::now_v7(),
            name: self.name,
            kind: self.kind,
            code: blank_is_none(self.code),
            email: blank_is_none(self.email),
            phone: blank_is_none(self.phone),
            address: blank_is_none(self.address),
            notes: blank_is_none(self.notes),
            archived: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut errors = Vec::new();
        check_party(&mut errors, &mut party);
        finish(errors)?;
        Ok(party)
    }
}

impl PartyPatch {
    /// Applies the patch; on success the party is at its next version.
    /// Whether it may be archived is the store's to decide (open orders).
    pub fn apply(&self, party: &mut Party, now: DateTime<Utc>) -> Result<()> {
        let mut errors = Vec::new();
        let mut next = party.clone();
        match &self.name {
            Some(Some(name)) => next.name = name.clone(),
            Some(None) => errors.push(FieldError::new("name", "cannot be null")),
            None => {}
        }
        match self.kind {
            Some(Some(kind)) => next.kind = kind,
            Some(None) => errors.push(FieldError::new("kind", "cannot be null")),
            None => {}
        }
        match self.archived {
            Some(Some(archived)) => next.archived = archived,
            Some(None) => errors.push(FieldError::new("archived", "cannot be null")),
            None => {}
        }
        for (value, target) in [
            (&self.code, &mut next.code),
            (&self.email, &mut next.email),
            (&self.phone, &mut next.phone),
            (&self.address, &mut next.address),
            (&self.notes, &mut next.notes),
        ] {
            if let Some(value) = value {
                *target = blank_is_none(value.clone());
            }
        }
        check_party(&mut errors, &mut next);
        finish(errors)?;
        next.version += 1;
        next.updated_at = now;
        *party = next;
        Ok(())
    }
}

/// A party list: by id (creation order), after the last row's id.
#[derive(Debug, Clone, Default)]
pub struct PartyQuery {
    pub kind: Option<PartyKind>,
    /// Case-insensitive substring of the name or the code.
    pub q: Option<String>,
    /// `None`: active parties only; `Some(true)`: archived only; `Some(false)`: active only.
    pub archived: Option<bool>,
    pub limit: u32,
    pub after: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: serde_json::Value) -> Result<Party> {
        serde_json::from_value::<CreateParty>(json)
            .unwrap()
            .validate(crate::now())
    }

    #[test]
    fn a_party_is_validated_and_its_code_normalised() {
        let p = create(serde_json::json!({"name": "Acme", "kind": "supplier", "code": " acme-1 ", "email": ""}))
            .unwrap();
        assert_eq!(p.code.as_deref(), Some("ACME-1"));
        assert_eq!(p.email, None);
        assert!(p.check_supplier("supplier_id").is_ok());
        let bad = create(serde_json::json!({"name": " ", "kind": "customer", "email": "nope"}));
        assert!(matches!(bad, Err(Error::Validation(f)) if f.len() == 2));
        let customer = create(serde_json::json!({"name": "Bob", "kind": "customer"})).unwrap();
        assert!(customer.check_supplier("supplier_id").is_err());
    }

    #[test]
    fn a_patch_merges_and_bumps_the_version() {
        let mut p =
            create(serde_json::json!({"name": "Acme", "kind": "supplier", "phone": "1"})).unwrap();
        let patch: PartyPatch = serde_json::from_value(
            serde_json::json!({"kind": "both", "phone": null, "archived": true}),
        )
        .unwrap();
        patch.apply(&mut p, crate::now()).unwrap();
        assert_eq!(
            (p.kind, p.phone.clone(), p.archived, p.version),
            (PartyKind::Both, None, true, 2)
        );
        let null_name: PartyPatch =
            serde_json::from_value(serde_json::json!({"name": null})).unwrap();
        assert!(null_name.apply(&mut p, crate::now()).is_err());
    }
}
