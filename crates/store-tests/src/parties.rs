//! Parties: create, read, edit, archive, list.

use crate::helpers::*;
use inventory_core::parties::{CreateParty, Party, PartyKind, PartyPatch, PartyQuery};

pub(crate) fn party_spec(name: &str, kind: PartyKind, code: Option<&str>) -> Party {
    CreateParty {
        name: name.to_owned(),
        kind,
        code: code.map(str::to_owned),
        email: Some(format!(
            "{}@example.com",
            name.to_lowercase().replace(' ', ".")
        )),
        phone: None,
        address: None,
        notes: None,
    }
    .validate(inventory_core::now())
    .expect("valid party")
}

pub(crate) async fn new_party(store: &S, name: &str, kind: PartyKind) -> Party {
    created(
        store.create_party(party_spec(name, kind, None), None).await,
        "create_party",
    )
}

fn party_patch(v: Value) -> PartyPatch {
    serde_json::from_value(v).expect("valid party patch")
}

pub async fn party_round_trip_and_unique_code(store: S) {
    let spec = party_spec("Acme Supplies", PartyKind::Supplier, Some("acme"));
    let party = created(store.create_party(spec.clone(), None).await, "create");
    assert_eq!(party.code.as_deref(), Some("ACME"));
    assert_eq!(store.get_party(party.id).await.unwrap(), spec);
    assert_conflict(
        store
            .create_party(party_spec("Other", PartyKind::Both, Some("ACME")), None)
            .await,
        ConflictKind::DuplicatePartyCode,
    );
    // Parties without a code do not collide.
    new_party(&store, "No code 1", PartyKind::Customer).await;
    new_party(&store, "No code 2", PartyKind::Customer).await;
    let updated = store
        .update_party(
            party.id,
            party_patch(json!({"phone": "+1 555", "kind": "both"})),
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!((updated.version, updated.kind), (2, PartyKind::Both));
    assert_eq!(store.get_party(party.id).await.unwrap(), updated);
    assert!(matches!(
        store
            .update_party(party.id, party_patch(json!({"name": "X"})), Some(1))
            .await,
        Err(Error::PreconditionFailed)
    ));
    let other = new_party(&store, "Second", PartyKind::Supplier).await;
    assert_conflict(
        store
            .update_party(other.id, party_patch(json!({"code": "acme"})), None)
            .await,
        ConflictKind::DuplicatePartyCode,
    );
    assert_not_found(store.get_party(Uuid::now_v7()).await);
    // Archived and back; events for each change.
    let archived = store
        .update_party(party.id, party_patch(json!({"archived": true})), None)
        .await
        .unwrap();
    assert!(archived.archived);
    let events = store.events_after(0, 100).await.unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e.entity_id == party.id)
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["party.created", "party.updated", "party.updated"]);
}

pub async fn parties_list_filters_and_paging(store: S) {
    for i in 0..5 {
        let kind = if i % 2 == 0 {
            PartyKind::Supplier
        } else {
            PartyKind::Customer
        };
        created(
            store
                .create_party(
                    party_spec(&format!("Zoë Trading {i}"), kind, Some(&format!("ZT-{i}"))),
                    None,
                )
                .await,
            "create",
        );
    }
    let gone = new_party(&store, "Gone Ltd", PartyKind::Supplier).await;
    store
        .update_party(gone.id, party_patch(json!({"archived": true})), None)
        .await
        .unwrap();
    let query = |q: PartyQuery| {
        let store = store.clone();
        async move { store.list_parties(&q).await.unwrap() }
    };
    let all = query(PartyQuery {
        limit: 50,
        ..PartyQuery::default()
    })
    .await;
    assert_eq!(all.rows.len(), 5, "archived ones are left out");
    let suppliers = query(PartyQuery {
        kind: Some(PartyKind::Supplier),
        limit: 50,
        ..PartyQuery::default()
    })
    .await;
    assert_eq!(suppliers.rows.len(), 3);
    let by_name = query(PartyQuery {
        q: Some("ZOË TRADING 3".into()),
        limit: 50,
        ..PartyQuery::default()
    })
    .await;
    assert_eq!(by_name.rows.len(), 1, "the name without regard to case");
    let by_code = query(PartyQuery {
        q: Some("zt-4".into()),
        limit: 50,
        ..PartyQuery::default()
    })
    .await;
    assert_eq!(by_code.rows[0].code.as_deref(), Some("ZT-4"));
    let archived = query(PartyQuery {
        archived: Some(true),
        limit: 50,
        ..PartyQuery::default()
    })
    .await;
    assert_eq!(archived.rows, vec![store.get_party(gone.id).await.unwrap()]);
    // Keyset paging by id: every row once, in creation order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = query(PartyQuery {
            limit: 2,
            after,
            ..PartyQuery::default()
        })
        .await;
        seen.extend(page.rows.iter().map(|p| p.id));
        match page.next_cursor {
            Some(c) => after = Some(c.parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, all.rows.iter().map(|p| p.id).collect::<Vec<_>>());
}
