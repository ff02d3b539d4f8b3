//! Purchase orders: drafts, submission, receipts into stock, cancelling,
//! `incoming`, and the rules the invariants check holds them to.

use crate::helpers::*;
use crate::parties::new_party;
use inventory_core::parties::{PartyKind, PartyPatch};
use inventory_core::purchasing::{
    CreatePurchaseOrder, NewPurchaseOrder, PoQuery, PoStatus, PurchaseOrder, PurchaseOrderPatch,
    ReceiptResult, ReceivePurchaseOrder,
};

pub(crate) fn new_order(supplier: Uuid, lines: &[(Uuid, i64, &str)]) -> NewPurchaseOrder {
    serde_json::from_value::<CreatePurchaseOrder>(json!({
        "supplier_id": supplier,
        "reference": "Quote 77",
        "lines": lines.iter().map(|(item, q, cost)| json!({"item_id": item, "quantity": q, "unit_cost": cost})).collect::<Vec<_>>(),
    }))
    .expect("order body")
    .validate(inventory_core::now())
    .expect("valid order")
}

async fn create(store: &S, actor: &Actor, order: NewPurchaseOrder) -> PurchaseOrder {
    created(
        store.create_purchase_order(order, actor, None).await,
        "create_purchase_order",
    )
}

async fn submit(store: &S, id: Uuid) -> PurchaseOrder {
    created(store.submit_purchase_order(id, None).await, "submit")
}

pub(crate) fn receipt(lines: &[(Uuid, i64)], allow: bool) -> ReceivePurchaseOrder {
    serde_json::from_value(json!({
        "lines": lines.iter().map(|(l, q)| json!({"line_id": l, "quantity": q})).collect::<Vec<_>>(),
        "allow_over_receipt": allow,
    }))
    .expect("receipt body")
}

async fn receive(
    store: &S,
    actor: &Actor,
    id: Uuid,
    lines: &[(Uuid, i64)],
    allow: bool,
) -> Result<ReceiptResult> {
    match store
        .receive_purchase_order(id, receipt(lines, allow), actor, None)
        .await
    {
        Ok(Created::New(r)) => Ok(r),
        Ok(Created::Replay(r)) => panic!("replayed without a key: {r:?}"),
        Err(e) => Err(e),
    }
}

async fn incoming(store: &S, item: Uuid) -> i64 {
    let a = store.get_item(item).await.unwrap().incoming;
    let b = store.item_stock(item, None).await.unwrap().incoming;
    assert_eq!(a, b, "the item and its stock report agree");
    a
}

async fn setup(store: &S) -> (Actor, Uuid, Item, Item) {
    let actor = new_actor(store, "buyer").await;
    let supplier = new_party(store, "Acme", PartyKind::Supplier).await;
    let a = new_item(store, "PO-A").await;
    let b = new_item(store, "PO-B").await;
    (actor, supplier.id, a, b)
}

fn assert_transition<T: Debug>(result: Result<T>, status: &str) {
    match result {
        Err(Error::InvalidTransition { status: s, .. }) if s == status => {}
        other => panic!("expected an invalid transition from {status}, got {other:?}"),
    }
}

pub async fn a_purchase_order_is_received_into_stock(store: S) {
    let (actor, supplier, a, b) = setup(&store).await;
    let order = create(
        &store,
        &actor,
        new_order(supplier, &[(a.id, 10, "2.50"), (b.id, 3, "0.3333")]),
    )
    .await;
    assert_eq!(order.number, "PO-000001");
    assert_eq!(order.status, PoStatus::Draft);
    assert_eq!(order.receive_to, MAIN_LOCATION);
    assert_eq!(order.lines[0].line_total, "25.00");
    assert_eq!(order.lines[1].line_total, "0.9999");
    assert_eq!(order.total, "25.9999");
    assert_eq!(order.created_by, "buyer");
    assert_eq!(store.get_purchase_order(order.id).await.unwrap(), order);
    let second = create(&store, &actor, new_order(supplier, &[(a.id, 1, "1")])).await;
    assert_eq!(second.number, "PO-000002");
    assert_eq!(incoming(&store, a.id).await, 0, "a draft is not incoming");

    let submitted = submit(&store, order.id).await;
    assert_eq!(submitted.status, PoStatus::Submitted);
    assert_eq!(incoming(&store, a.id).await, 10);
    assert_eq!(incoming(&store, b.id).await, 3);

    let (la, lb) = (order.lines[0].line_id, order.lines[1].line_id);
    let first = receive(&store, &actor, order.id, &[(la, 4)], false)
        .await
        .unwrap();
    assert_eq!(first.order.status, PoStatus::PartiallyReceived);
    assert_eq!(first.order.lines[0].received, 4);
    let m = &first.movements[0].movement;
    assert_eq!(
        (
            m.kind,
            m.quantity,
            m.reference.as_deref(),
            m.location.as_deref()
        ),
        (
            MovementKind::Receive,
            4,
            Some("PO-000001"),
            Some(MAIN_LOCATION)
        )
    );
    assert!(m.reason.as_deref().unwrap().contains("2.50"), "{m:?}");
    assert_eq!(first.movements[0].balances.on_hand, 4);
    assert_eq!(incoming(&store, a.id).await, 6);

    new_location(&store, "DOCK").await;
    let mut rest = receipt(&[(la, 6), (lb, 3)], false);
    rest.lines[1].location = Some("dock".into());
    let done = match store
        .receive_purchase_order(order.id, rest, &actor, None)
        .await
        .unwrap()
    {
        Created::New(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(done.order.status, PoStatus::Received);
    assert_eq!(done.movements[1].movement.location.as_deref(), Some("DOCK"));
    assert_eq!(
        (incoming(&store, a.id).await, incoming(&store, b.id).await),
        (0, 0)
    );
    assert_eq!(store.get_item(a.id).await.unwrap().on_hand, 10);
    assert_eq!(store.ledger_sum(b.id).await.unwrap(), 3);
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());

    let events = store.events_after(0, 1000).await.unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e.entity_id == order.id || e.kind == "movement.created")
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "purchase_order.created",
            "purchase_order.submitted",
            "movement.created",
            "purchase_order.received",
            "movement.created",
            "movement.created",
            "purchase_order.received"
        ]
    );
}

pub async fn purchase_order_transitions_name_the_status(store: S) {
    let (actor, supplier, a, _) = setup(&store).await;
    let empty = create(&store, &actor, new_order(supplier, &[])).await;
    assert!(matches!(
        store.submit_purchase_order(empty.id, None).await,
        Err(Error::Validation(f)) if f[0].field == "lines"
    ));
    let order = create(&store, &actor, new_order(supplier, &[(a.id, 2, "1")])).await;
    let line = order.lines[0].line_id;
    assert_transition(
        receive(&store, &actor, order.id, &[(line, 1)], false).await,
        "draft",
    );
    submit(&store, order.id).await;
    assert_transition(
        store.submit_purchase_order(order.id, None).await,
        "submitted",
    );
    assert_transition(
        store
            .update_purchase_order(order.id, PurchaseOrderPatch::default())
            .await,
        "submitted",
    );
    receive(&store, &actor, order.id, &[(line, 2)], false)
        .await
        .unwrap();
    assert_transition(
        store.cancel_purchase_order(order.id, None).await,
        "received",
    );
    assert_transition(
        receive(&store, &actor, order.id, &[(line, 1)], true).await,
        "received",
    );
    assert_not_found(store.submit_purchase_order(Uuid::now_v7(), None).await);
}

pub async fn over_receipt_is_refused_unless_allowed(store: S) {
    let (actor, supplier, a, _) = setup(&store).await;
    let order = create(&store, &actor, new_order(supplier, &[(a.id, 5, "1")])).await;
    submit(&store, order.id).await;
    let line = order.lines[0].line_id;
    receive(&store, &actor, order.id, &[(line, 3)], false)
        .await
        .unwrap();
    match receive(&store, &actor, order.id, &[(line, 3)], false).await {
        Err(Error::OverReceipt {
            line_id,
            outstanding: 2,
            requested: 3,
            ..
        }) if line_id == line => {}
        other => panic!("expected over-receipt, got {other:?}"),
    }
    assert_eq!(
        store.get_item(a.id).await.unwrap().on_hand,
        3,
        "nothing written"
    );
    let over = receive(&store, &actor, order.id, &[(line, 4)], true)
        .await
        .unwrap();
    assert_eq!(over.order.status, PoStatus::Received);
    assert_eq!(over.order.lines[0].received, 7);
    assert_eq!(incoming(&store, a.id).await, 0, "never below 0");
    assert_eq!(store.get_item(a.id).await.unwrap().on_hand, 7);
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn cancelling_closes_what_is_outstanding(store: S) {
    let (actor, supplier, a, b) = setup(&store).await;
    let draft = create(&store, &actor, new_order(supplier, &[(a.id, 5, "1")])).await;
    let cancelled = created(store.cancel_purchase_order(draft.id, None).await, "cancel");
    assert_eq!(cancelled.status, PoStatus::Cancelled);

    let order = create(
        &store,
        &actor,
        new_order(supplier, &[(a.id, 5, "1"), (b.id, 2, "1")]),
    )
    .await;
    submit(&store, order.id).await;
    receive(
        &store,
        &actor,
        order.id,
        &[(order.lines[0].line_id, 2)],
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (incoming(&store, a.id).await, incoming(&store, b.id).await),
        (3, 2)
    );
    let closed = created(store.cancel_purchase_order(order.id, None).await, "cancel");
    assert_eq!(closed.status, PoStatus::Closed);
    assert_eq!(
        (incoming(&store, a.id).await, incoming(&store, b.id).await),
        (0, 0)
    );
    assert_eq!(
        store.get_item(a.id).await.unwrap().on_hand,
        2,
        "received stays"
    );

    let submitted = create(&store, &actor, new_order(supplier, &[(b.id, 4, "1")])).await;
    submit(&store, submitted.id).await;
    let gone = created(
        store.cancel_purchase_order(submitted.id, None).await,
        "cancel",
    );
    assert_eq!(gone.status, PoStatus::Cancelled);
    assert_eq!(incoming(&store, b.id).await, 0);
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn a_draft_is_edited_by_merging_lines(store: S) {
    let (actor, supplier, a, b) = setup(&store).await;
    let priced = add_item(&store, {
        let mut i = item_spec("PRICED", "Priced", None, 0);
        i.unit_cost = 12_345;
        i
    })
    .await;
    let order = create(
        &store,
        &actor,
        new_order(supplier, &[(a.id, 5, "1"), (b.id, 2, "2")]),
    )
    .await;
    let patch: PurchaseOrderPatch = serde_json::from_value(json!({
        "reference": null,
        "receive_to": "main",
        "lines": [
            {"line_id": order.lines[0].line_id, "quantity": 8},
            {"line_id": order.lines[1].line_id, "remove": true},
            {"item_id": priced.id, "quantity": 2}
        ]
    }))
    .unwrap();
    let edited = store.update_purchase_order(order.id, patch).await.unwrap();
    assert_eq!(edited.reference, None);
    assert_eq!(edited.version, order.version + 1);
    assert_eq!(edited.lines.len(), 2);
    assert_eq!(edited.lines[0].line_id, order.lines[0].line_id);
    assert_eq!(edited.lines[0].quantity, 8);
    assert_eq!(edited.lines[1].sku, "PRICED");
    assert_eq!(
        edited.lines[1].unit_cost, 12_345,
        "the item's cost by default"
    );
    assert_eq!(edited.total, "10.469");
    assert_eq!(store.get_purchase_order(order.id).await.unwrap(), edited);

    let customer = new_party(&store, "Just a customer", PartyKind::Customer).await;
    let bad: PurchaseOrderPatch =
        serde_json::from_value(json!({"supplier_id": customer.id})).unwrap();
    assert!(matches!(
        store.update_purchase_order(order.id, bad).await,
        Err(Error::Validation(f)) if f[0].field == "supplier_id"
    ));
    let unknown: PurchaseOrderPatch =
        serde_json::from_value(json!({"lines": [{"item_id": Uuid::now_v7(), "quantity": 1}]}))
            .unwrap();
    assert!(matches!(
        store.update_purchase_order(order.id, unknown).await,
        Err(Error::Validation(f)) if f[0].field == "lines[2].item_id"
    ));
    assert_eq!(
        store.get_purchase_order(order.id).await.unwrap(),
        edited,
        "nothing written"
    );
}

pub async fn a_purchase_order_names_a_supplier_a_location_and_items(store: S) {
    let (actor, supplier, a, _) = setup(&store).await;
    let customer = new_party(&store, "Buyer Bob", PartyKind::Customer).await;
    let both = new_party(&store, "Both Ways", PartyKind::Both).await;
    assert!(matches!(
        store
            .create_purchase_order(new_order(customer.id, &[(a.id, 1, "1")]), &actor, None)
            .await,
        Err(Error::Validation(f)) if f[0].field == "supplier_id"
    ));
    assert!(matches!(
        store
            .create_purchase_order(new_order(Uuid::now_v7(), &[(a.id, 1, "1")]), &actor, None)
            .await,
        Err(Error::Validation(f)) if f[0].field == "supplier_id"
    ));
    create(&store, &actor, new_order(both.id, &[(a.id, 1, "1")])).await;
    let mut elsewhere = new_order(supplier, &[(a.id, 1, "1")]);
    elsewhere.receive_to = Some("NOWHERE".into());
    assert!(matches!(
        store.create_purchase_order(elsewhere, &actor, None).await,
        Err(Error::UnknownLocation { .. })
    ));
    assert!(matches!(
        store
            .create_purchase_order(new_order(supplier, &[(Uuid::now_v7(), 1, "1")]), &actor, None)
            .await,
        Err(Error::Validation(f)) if f[0].field == "lines[0].item_id"
    ));
    let listed = store
        .list_purchase_orders(&PoQuery {
            limit: 50,
            ..PoQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.rows.len(), 1, "refused orders write nothing");
    assert_eq!(listed.rows[0].number, "PO-000001");
}

pub async fn a_party_with_open_orders_cannot_be_archived(store: S) {
    let (actor, supplier, a, _) = setup(&store).await;
    let order = create(&store, &actor, new_order(supplier, &[(a.id, 1, "1")])).await;
    let archive: PartyPatch = serde_json::from_value(json!({"archived": true})).unwrap();
    assert_conflict(
        store.update_party(supplier, archive.clone(), None).await,
        ConflictKind::PartyHasOpenOrders,
    );
    assert!(!store.get_party(supplier).await.unwrap().archived);
    created(store.cancel_purchase_order(order.id, None).await, "cancel");
    assert!(
        store
            .update_party(supplier, archive, None)
            .await
            .unwrap()
            .archived
    );
    assert!(matches!(
        store
            .create_purchase_order(new_order(supplier, &[(a.id, 1, "1")]), &actor, None)
            .await,
        Err(Error::Validation(f)) if f[0].field == "supplier_id"
    ));
}

pub async fn purchase_orders_list_filters_and_paging(store: S) {
    let (actor, supplier, a, _) = setup(&store).await;
    let other = new_party(&store, "Other", PartyKind::Supplier).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut o = new_order(if i < 3 { supplier } else { other.id }, &[(a.id, 1, "1")]);
        o.reference = Some(format!("Ref Ä{i}"));
        ids.push(create(&store, &actor, o).await.id);
    }
    submit(&store, ids[1]).await;
    let list = |q: PoQuery| {
        let store = store.clone();
        async move { store.list_purchase_orders(&q).await.unwrap() }
    };
    let all = list(PoQuery {
        limit: 50,
        ..PoQuery::default()
    })
    .await;
    let numbers: Vec<&str> = all.rows.iter().map(|o| o.number.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "PO-000005",
            "PO-000004",
            "PO-000003",
            "PO-000002",
            "PO-000001"
        ],
        "newest first"
    );
    assert_eq!(all.rows[0].lines.len(), 1, "with their lines");
    let submitted = list(PoQuery {
        status: Some(PoStatus::Submitted),
        limit: 50,
        ..PoQuery::default()
    })
    .await;
    assert_eq!(
        submitted.rows.iter().map(|o| o.id).collect::<Vec<_>>(),
        [ids[1]]
    );
    let theirs = list(PoQuery {
        supplier_id: Some(other.id),
        limit: 50,
        ..PoQuery::default()
    })
    .await;
    assert_eq!(theirs.rows.len(), 2);
    let by_number = list(PoQuery {
        q: Some("po-000003".into()),
        limit: 50,
        ..PoQuery::default()
    })
    .await;
    assert_eq!(by_number.rows[0].id, ids[2]);
    let by_reference = list(PoQuery {
        q: Some("ref ä4".into()),
        limit: 50,
        ..PoQuery::default()
    })
    .await;
    assert_eq!(by_reference.rows[0].id, ids[4]);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = list(PoQuery {
            limit: 2,
            after_seq: after,
            ..PoQuery::default()
        })
        .await;
        seen.extend(page.rows.iter().map(|o| o.id));
        match page.next_cursor {
            Some(c) => after = Some(c.parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, all.rows.iter().map(|o| o.id).collect::<Vec<_>>());
}

pub async fn idempotent_purchase_order_actions(store: S) {
    let (actor, supplier, a, _) = setup(&store).await;
    let render_order: Render<PurchaseOrder> =
        Arc::new(|o: &PurchaseOrder| serde_json::to_string(o).unwrap());
    let render_receipt: Render<ReceiptResult> =
        Arc::new(|r: &ReceiptResult| serde_json::to_string(r).unwrap());
    let key = |k: &str| idem(actor.user_id, k, "h", render_order.clone());
    let order = created(
        store
            .create_purchase_order(
                new_order(supplier, &[(a.id, 5, "1")]),
                &actor,
                Some(key("c")),
            )
            .await,
        "create",
    );
    match store
        .create_purchase_order(
            new_order(supplier, &[(a.id, 5, "1")]),
            &actor,
            Some(key("c")),
        )
        .await
    {
        Ok(Created::Replay(stored)) => {
            assert_eq!(stored.body, serde_json::to_string(&order).unwrap())
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    created(
        store.submit_purchase_order(order.id, Some(key("s"))).await,
        "submit",
    );
    assert!(matches!(
        store.submit_purchase_order(order.id, Some(key("s"))).await,
        Ok(Created::Replay(_))
    ));
    let line = order.lines[0].line_id;
    let r = |k: &str| idem(actor.user_id, k, "h", render_receipt.clone());
    created(
        store
            .receive_purchase_order(order.id, receipt(&[(line, 2)], false), &actor, Some(r("r")))
            .await,
        "receive",
    );
    assert!(matches!(
        store
            .receive_purchase_order(order.id, receipt(&[(line, 2)], false), &actor, Some(r("r")))
            .await,
        Ok(Created::Replay(_))
    ));
    assert_eq!(
        store.get_item(a.id).await.unwrap().on_hand,
        2,
        "applied once"
    );
    let mismatch = idem(actor.user_id, "r", "other", render_receipt.clone());
    assert!(matches!(
        store
            .receive_purchase_order(
                order.id,
                receipt(&[(line, 1)], false),
                &actor,
                Some(mismatch)
            )
            .await,
        Err(Error::IdempotencyMismatch)
    ));
    created(
        store.cancel_purchase_order(order.id, Some(key("x"))).await,
        "cancel",
    );
    assert!(matches!(
        store.cancel_purchase_order(order.id, Some(key("x"))).await,
        Ok(Created::Replay(_))
    ));
    assert_eq!(store.get_item(a.id).await.unwrap().incoming, 0);
}

/// Two receipts race for the last outstanding units of a line: exactly one
/// wins, the other is an over-receipt, and the line never passes its quantity.
pub async fn racing_receipts_never_over_receive(store: S) {
    let (actor, supplier, a, _) = setup(&store).await;
    for round in 0..5 {
        let order = create(&store, &actor, new_order(supplier, &[(a.id, 10, "1")])).await;
        submit(&store, order.id).await;
        let line = order.lines[0].line_id;
        receive(&store, &actor, order.id, &[(line, 7)], false)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (store, actor) = (store.clone(), actor.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .receive_purchase_order(order.id, receipt(&[(line, 3)], false), &actor, None)
                    .await
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(Error::OverReceipt { .. } | Error::InvalidTransition { .. }) => {}
                Err(e) => panic!("unexpected refusal: {e:?}"),
            }
        }
        assert_eq!(
            won, 1,
            "round {round}: exactly the outstanding units are received"
        );
        let after = store.get_purchase_order(order.id).await.unwrap();
        assert_eq!(after.lines[0].received, 10);
        assert_eq!(after.status, PoStatus::Received);
    }
    assert_eq!(store.get_item(a.id).await.unwrap().on_hand, 50);
    assert_eq!(store.get_item(a.id).await.unwrap().incoming, 0);
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

/// For each backend's own tests: `corrupt` adds 2 to every item's
/// `incoming` and 1 to every purchase-order line's `received` behind the
/// orders' back (plain SQL); the check names both.
pub async fn purchase_figures_changed_behind_the_orders_are_reported<F, Fut>(store: S, corrupt: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (actor, supplier, a, _) = setup(&store).await;
    let order = create(&store, &actor, new_order(supplier, &[(a.id, 5, "1")])).await;
    submit(&store, order.id).await;
    receive(
        &store,
        &actor,
        order.id,
        &[(order.lines[0].line_id, 2)],
        false,
    )
    .await
    .unwrap();
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
    corrupt().await;
    let found = store.check_invariants().await.unwrap();
    let rules: Vec<(&str, &str, i64, i64)> = found
        .iter()
        .filter(|v| v.sku == "PO-A")
        .map(|v| (v.rule.as_str(), v.figure.as_str(), v.expected, v.actual))
        .collect();
    assert_eq!(
        rules,
        [
            // received made 3 of 5: 2 outstanding, but incoming made 3 + 2.
            ("incoming-equals-outstanding", "incoming", 2, 5),
            ("received-equals-receipts", "received", 2, 3),
        ],
        "{found:?}"
    );
    let place = found
        .iter()
        .find(|v| v.rule == "received-equals-receipts")
        .and_then(|v| v.location.clone())
        .unwrap();
    assert!(place.starts_with("PO-000001 line "), "{place}");
}
