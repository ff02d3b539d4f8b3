//! Contract tests of sales orders: numbers and totals, holds, confirm,
//! shipments in parts, cancel, and the figures under concurrency.

use crate::helpers::*;
use inventory_core::reservations::ReservationQuery;
use inventory_core::sales::{
    CreateSalesLine, CreateSalesOrder, SalesOrder, SalesOrderPatch, SalesOrderQuery,
    SalesOrderStatus, ShipLine, ShipRequest,
};

fn draft(
    lines: &[(Uuid, i64, &str)],
    hold: Option<DateTime<Utc>>,
) -> inventory_core::sales::NewSalesOrder {
    let mut new = CreateSalesOrder {
        reference: Some("web-1".into()),
        lines: Some(
            lines
                .iter()
                .map(|(item, quantity, price)| CreateSalesLine {
                    item_id: Some(*item),
                    quantity: Some(*quantity),
                    unit_price: Some((*price).to_owned()),
                })
                .collect(),
        ),
        ..CreateSalesOrder::default()
    }
    .validate(inventory_core::now())
    .expect("valid order");
    new.hold_until = hold;
    new
}

async fn create(store: &S, actor: &Actor, lines: &[(Uuid, i64, &str)]) -> SalesOrder {
    created(
        store
            .create_sales_order(draft(lines, None), actor, None)
            .await,
        "create_sales_order",
    )
}

async fn confirm(store: &S, actor: &Actor, id: Uuid) -> Result<SalesOrder> {
    match store.confirm_sales_order(id, actor, None).await {
        Ok(Created::New(o)) => Ok(o),
        Ok(Created::Replay(r)) => panic!("replayed without a key: {r:?}"),
        Err(e) => Err(e),
    }
}

async fn ship(store: &S, actor: &Actor, id: Uuid, lines: &[(Uuid, i64)]) -> Result<SalesOrder> {
    let request = ShipRequest {
        lines: (!lines.is_empty()).then(|| {
            lines
                .iter()
                .map(|(line_id, quantity)| ShipLine {
                    line_id: Some(*line_id),
                    quantity: Some(*quantity),
                })
                .collect()
        }),
    };
    match store.ship_sales_order(id, request, actor, None).await {
        Ok(Created::New(o)) => Ok(o),
        Ok(Created::Replay(r)) => panic!("replayed without a key: {r:?}"),
        Err(e) => Err(e),
    }
}

async fn reserved(store: &S, item: Uuid) -> (i64, i64) {
    let item = store.get_item(item).await.expect("get_item");
    (item.on_hand, item.reserved)
}

fn assert_short_line(result: Result<SalesOrder>, line: usize, available: i64, requested: i64) {
    match result {
        Err(Error::AtLine { index, source, .. }) => {
            assert_eq!(index, line);
            match *source {
                Error::InsufficientStock {
                    available: a,
                    requested: r,
                    ..
                } => assert_eq!((a, r), (available, requested)),
                other => panic!("expected InsufficientStock, got {other:?}"),
            }
        }
        other => panic!("expected a short line, got {other:?}"),
    }
}

fn invalid_transition(result: Result<impl Debug>) -> String {
    match result {
        Err(Error::InvalidTransition { status, .. }) => status,
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
}

pub async fn a_sales_order_is_confirmed_and_shipped_in_parts(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-A").await;
    let b = new_item(&store, "SO-B").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 10, MAIN_LOCATION),
            receive(b.id, 5, MAIN_LOCATION),
        ],
    )
    .await;
    let order = create(&store, &actor, &[(a.id, 3, "4.50"), (b.id, 2, "1.25")]).await;
    assert_eq!(
        (order.number.as_str(), order.status),
        ("SO-000001", SalesOrderStatus::Draft)
    );
    assert_eq!(order.ship_from, MAIN_LOCATION);
    assert_eq!(order.created_by, "seller");
    let totals: Vec<&str> = order.lines.iter().map(|l| l.line_total.as_str()).collect();
    assert_eq!(
        (totals, order.total.as_str()),
        (vec!["13.50", "2.50"], "16.00")
    );
    assert_eq!(
        reserved(&store, a.id).await,
        (10, 0),
        "a draft holds nothing"
    );
    let second = create(&store, &actor, &[(a.id, 1, "4.50")]).await;
    assert_eq!(second.number, "SO-000002");

    let confirmed = confirm(&store, &actor, order.id).await.expect("confirm");
    assert_eq!(confirmed.status, SalesOrderStatus::Confirmed);
    assert_eq!(
        confirmed
            .lines
            .iter()
            .map(|l| l.reserved)
            .collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!(reserved(&store, a.id).await, (10, 3));
    assert_eq!(
        invalid_transition(confirm(&store, &actor, order.id).await),
        "confirmed"
    );

    let (line_a, line_b) = (order.lines[0].line_id, order.lines[1].line_id);
    match ship(&store, &actor, order.id, &[(line_a, 4)]).await {
        Err(Error::Validation(errors)) => assert_eq!(errors[0].field, "lines[0].quantity"),
        other => panic!("shipping more than ordered: {other:?}"),
    }
    let part = ship(&store, &actor, order.id, &[(line_a, 1)])
        .await
        .expect("ship");
    assert_eq!(part.status, SalesOrderStatus::PartiallyShipped);
    assert_eq!((part.lines[0].shipped, part.lines[0].reserved), (1, 2));
    assert_eq!(reserved(&store, a.id).await, (9, 2));
    let rest = ship(&store, &actor, order.id, &[])
        .await
        .expect("ship the rest");
    assert_eq!(rest.status, SalesOrderStatus::Shipped);
    assert!(rest
        .lines
        .iter()
        .all(|l| l.shipped == l.quantity && l.reserved == 0));
    assert_eq!(reserved(&store, a.id).await, (7, 0));
    assert_eq!(reserved(&store, b.id).await, (3, 0));
    let issues: Vec<(i64, Option<String>)> = movements_of(&store, a.id)
        .await
        .into_iter()
        .filter(|m| m.kind == MovementKind::Issue)
        .map(|m| (m.quantity, m.reference))
        .collect();
    assert_eq!(
        issues,
        [(1, Some("SO-000001".into())), (2, Some("SO-000001".into()))]
    );
    assert_eq!(
        invalid_transition(ship(&store, &actor, order.id, &[]).await),
        "shipped"
    );
    assert_eq!(
        invalid_transition(store.cancel_sales_order(order.id, &actor, None).await),
        "shipped"
    );
    let _ = line_b;
    assert_eq!(store.get_sales_order(order.id).await.unwrap(), rest);
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn a_confirm_short_of_stock_names_the_line_and_reserves_nothing(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-C").await;
    let b = new_item(&store, "SO-D").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 2, MAIN_LOCATION),
            receive(b.id, 3, MAIN_LOCATION),
        ],
    )
    .await;
    let order = create(&store, &actor, &[(a.id, 1, "1"), (b.id, 5, "1")]).await;
    assert_short_line(confirm(&store, &actor, order.id).await, 1, 3, 5);
    assert_eq!(reserved(&store, a.id).await, (2, 0), "all or none");
    let after = store.get_sales_order(order.id).await.unwrap();
    assert_eq!(after.status, SalesOrderStatus::Draft);
    // An unknown item or location is refused when the order is made.
    let mut elsewhere = draft(&[(a.id, 1, "1")], None);
    elsewhere.ship_from = Some("NOWHERE".into());
    assert!(matches!(
        store.create_sales_order(elsewhere, &actor, None).await,
        Err(Error::UnknownLocation { .. })
    ));
    assert!(matches!(
        store
            .create_sales_order(draft(&[(Uuid::now_v7(), 1, "1")], None), &actor, None)
            .await,
        Err(Error::AtLine { index: 0, .. })
    ));
}

pub async fn a_held_cart_turns_firm_on_confirm_without_a_release(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-E").await;
    apply_ok(&store, &actor, vec![receive(a.id, 4, MAIN_LOCATION)]).await;
    let until = inventory_core::now() + Duration::minutes(10);
    let cart = created(
        store
            .create_sales_order(draft(&[(a.id, 4, "2")], Some(until)), &actor, None)
            .await,
        "create held",
    );
    assert_eq!(cart.lines[0].reserved, 4);
    assert_eq!(reserved(&store, a.id).await, (4, 4));
    let holds = store
        .list_reservations(
            &ReservationQuery {
                reference: Some(cart.number.clone()),
                ..ReservationQuery::default()
            },
            inventory_core::now(),
        )
        .await
        .unwrap()
        .rows;
    assert_eq!(holds.len(), 1);
    assert!(holds[0].expires_at.is_some());
    // Nobody else can take the held units.
    let other = create(&store, &actor, &[(a.id, 1, "2")]).await;
    assert_short_line(confirm(&store, &actor, other.id).await, 0, 0, 1);

    // A renewal extends the same reservation.
    let later = until + Duration::minutes(5);
    let renewed = created(
        store.hold_sales_order(cart.id, later, &actor, None).await,
        "hold",
    );
    assert!(renewed.hold_expires_at.unwrap() > until);
    let confirmed = confirm(&store, &actor, cart.id).await.expect("confirm");
    assert_eq!(confirmed.hold_expires_at, None);
    let firm = store.get_reservation(holds[0].id).await.unwrap();
    assert_eq!(
        (firm.expires_at, firm.quantity),
        (None, 4),
        "the hold itself became firm"
    );
    let released = store
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "reservation.released")
        .count();
    assert_eq!(released, 0, "the units were never released in between");
    assert_eq!(reserved(&store, a.id).await, (4, 4));
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn a_lapsed_hold_is_reserved_again_or_refused_when_taken(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-F").await;
    apply_ok(&store, &actor, vec![receive(a.id, 5, MAIN_LOCATION)]).await;
    let until = inventory_core::now() + Duration::milliseconds(300);
    let lapsing = created(
        store
            .create_sales_order(draft(&[(a.id, 3, "1")], Some(until)), &actor, None)
            .await,
        "create held",
    );
    let again = created(
        store
            .create_sales_order(draft(&[(a.id, 2, "1")], Some(until)), &actor, None)
            .await,
        "create held",
    );
    while inventory_core::now() <= until {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Another customer takes 3 of the 5 once the holds lapsed.
    let rival = create(&store, &actor, &[(a.id, 3, "1")]).await;
    confirm(&store, &actor, rival.id)
        .await
        .expect("the lapsed holds block nobody");
    assert_short_line(confirm(&store, &actor, lapsing.id).await, 0, 2, 3);
    let confirmed = confirm(&store, &actor, again.id)
        .await
        .expect("what is left is reserved again");
    assert_eq!(confirmed.lines[0].reserved, 2);
    assert_eq!(reserved(&store, a.id).await, (5, 5));
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn cancel_releases_what_is_reserved_and_keeps_what_shipped(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-G").await;
    apply_ok(&store, &actor, vec![receive(a.id, 6, MAIN_LOCATION)]).await;
    let order = create(&store, &actor, &[(a.id, 5, "3")]).await;
    confirm(&store, &actor, order.id).await.expect("confirm");
    ship(&store, &actor, order.id, &[(order.lines[0].line_id, 2)])
        .await
        .expect("ship");
    let cancelled = created(
        store.cancel_sales_order(order.id, &actor, None).await,
        "cancel",
    );
    assert_eq!(cancelled.status, SalesOrderStatus::Cancelled);
    assert_eq!(
        (cancelled.lines[0].shipped, cancelled.lines[0].reserved),
        (2, 0)
    );
    assert_eq!(reserved(&store, a.id).await, (4, 0));
    assert_eq!(
        invalid_transition(store.cancel_sales_order(order.id, &actor, None).await),
        "cancelled"
    );
    assert_eq!(
        invalid_transition(ship(&store, &actor, order.id, &[]).await),
        "cancelled"
    );
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn a_draft_is_edited_by_line_and_its_holds_follow(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-H").await;
    let b = new_item(&store, "SO-I").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 9, MAIN_LOCATION),
            receive(b.id, 9, MAIN_LOCATION),
        ],
    )
    .await;
    let until = inventory_core::now() + Duration::minutes(10);
    let cart = created(
        store
            .create_sales_order(
                draft(&[(a.id, 2, "1"), (b.id, 1, "1")], Some(until)),
                &actor,
                None,
            )
            .await,
        "create held",
    );
    let patch: SalesOrderPatch = serde_json::from_value(json!({
        "reference": "phone order",
        "lines": [
            {"line_id": cart.lines[0].line_id, "quantity": 5, "unit_price": "1.10"},
            {"line_id": cart.lines[1].line_id, "remove": true},
            {"item_id": b.id, "quantity": 3, "unit_price": "2"}
        ]
    }))
    .unwrap();
    let edited = store
        .update_sales_order(cart.id, patch, &actor)
        .await
        .expect("update");
    assert_eq!(edited.reference.as_deref(), Some("phone order"));
    let lines: Vec<(Uuid, i64, i64)> = edited
        .lines
        .iter()
        .map(|l| (l.item_id, l.quantity, l.reserved))
        .collect();
    assert_eq!(lines, [(a.id, 5, 5), (b.id, 3, 3)]);
    assert_eq!(edited.total, "11.50");
    assert_eq!(reserved(&store, a.id).await, (9, 5));
    assert_eq!(reserved(&store, b.id).await, (9, 3));
    // More than there is: refused, and nothing changes.
    let greedy: SalesOrderPatch = serde_json::from_value(json!({
        "lines": [{"line_id": edited.lines[0].line_id, "quantity": 10}]
    }))
    .unwrap();
    assert!(matches!(
        store.update_sales_order(cart.id, greedy, &actor).await,
        Err(Error::AtLine { .. })
    ));
    assert_eq!(
        store.get_sales_order(cart.id).await.unwrap().lines,
        edited.lines
    );
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn sales_orders_are_listed_by_status_and_search(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-J").await;
    apply_ok(&store, &actor, vec![receive(a.id, 9, MAIN_LOCATION)]).await;
    let first = create(&store, &actor, &[(a.id, 1, "1")]).await;
    let second = create(&store, &actor, &[(a.id, 1, "1")]).await;
    confirm(&store, &actor, second.id).await.unwrap();
    let ids = |page: Page<SalesOrder>| page.rows.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let all = store
        .list_sales_orders(&SalesOrderQuery::default())
        .await
        .unwrap();
    assert_eq!(ids(all), [first.id, second.id]);
    let confirmed = SalesOrderQuery {
        status: Some(SalesOrderStatus::Confirmed),
        ..SalesOrderQuery::default()
    };
    assert_eq!(
        ids(store.list_sales_orders(&confirmed).await.unwrap()),
        [second.id]
    );
    let by_number = SalesOrderQuery {
        q: Some("so-000002".into()),
        ..SalesOrderQuery::default()
    };
    assert_eq!(
        ids(store.list_sales_orders(&by_number).await.unwrap()),
        [second.id]
    );
    let page = store
        .list_sales_orders(&SalesOrderQuery {
            limit: 1,
            ..SalesOrderQuery::default()
        })
        .await
        .unwrap();
    let after = Uuid::parse_str(page.next_cursor.as_deref().expect("a next page")).unwrap();
    let next = store
        .list_sales_orders(&SalesOrderQuery {
            limit: 1,
            after: Some(after),
            ..SalesOrderQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(next), [second.id]);
}

pub async fn concurrent_confirms_on_one_hot_item_never_oversell(store: S) {
    let actor = new_actor(&store, "seller").await;
    let hot = new_item(&store, "SO-HOT").await;
    apply_ok(&store, &actor, vec![receive(hot.id, 10, MAIN_LOCATION)]).await;
    let mut orders = Vec::new();
    for _ in 0..30 {
        orders.push(create(&store, &actor, &[(hot.id, 1, "9.99")]).await.id);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for id in orders {
        let (store, actor) = (store.clone(), actor.clone());
        tasks.spawn(async move {
            match confirm(&store, &actor, id).await {
                Ok(_) => match ship(&store, &actor, id, &[]).await {
                    Ok(o) => Ok(o.status),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        });
    }
    let (mut shipped, mut short) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(status) => {
                assert_eq!(status, SalesOrderStatus::Shipped);
                shipped += 1;
            }
            Err(Error::AtLine { source, .. })
                if matches!(*source, Error::InsufficientStock { .. }) =>
            {
                short += 1
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (shipped, short),
        (10, 20),
        "exactly the units that exist are sold"
    );
    assert_eq!(reserved(&store, hot.id).await, (0, 0));
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

/// For each backend's own tests: `corrupt` adds 1 to every sales-order
/// line's `shipped` and 1 to every balance's `reserved` behind the orders'
/// back (plain SQL); the check names the shipped line and the reservation
/// figure.
pub async fn sales_figures_changed_behind_the_orders_are_reported<F, Fut>(store: S, corrupt: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-BROKEN").await;
    apply_ok(&store, &actor, vec![receive(a.id, 5, MAIN_LOCATION)]).await;
    let order = create(&store, &actor, &[(a.id, 3, "1")]).await;
    confirm(&store, &actor, order.id).await.unwrap();
    ship(&store, &actor, order.id, &[(order.lines[0].line_id, 1)])
        .await
        .unwrap();
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
    corrupt().await;
    let found = store.check_invariants().await.unwrap();
    let rules: Vec<(&str, &str, i64, i64)> = found
        .iter()
        .map(|v| (v.rule.as_str(), v.figure.as_str(), v.expected, v.actual))
        .collect();
    assert_eq!(
        rules,
        [
            // The balance says 3, the item's total still 2.
            ("item-equals-locations", "reserved", 3, 2),
            // 2 of 3 still reserved, but the balance says 3.
            ("reserved-equals-reservations", "reserved", 2, 3),
            // one issue of 1 was posted against the line, which says 2.
            ("shipped-equals-shipments", "shipped", 1, 2),
        ],
        "{found:?}"
    );
    let place = found
        .iter()
        .find(|v| v.rule == "shipped-equals-shipments")
        .and_then(|v| v.location.clone())
        .unwrap();
    assert!(place.starts_with("SO-000001 line "), "{place}");
}

pub async fn a_sales_order_names_a_customer_who_then_stays(store: S) {
    let actor = new_actor(&store, "seller").await;
    let a = new_item(&store, "SO-CUST").await;
    apply_ok(&store, &actor, vec![receive(a.id, 5, MAIN_LOCATION)]).await;
    let party = |name: &str, kind| {
        let store = store.clone();
        let spec = crate::parties::party_spec(name, kind, None);
        async move { created(store.create_party(spec, None).await, "party") }
    };
    use inventory_core::parties::PartyKind;
    let supplier = party("Only a supplier", PartyKind::Supplier).await;
    let customer = party("A customer", PartyKind::Customer).await;
    let mut wrong = draft(&[(a.id, 1, "1")], None);
    wrong.customer_id = Some(supplier.id);
    match store.create_sales_order(wrong, &actor, None).await {
        Err(Error::Validation(errors)) => assert_eq!(errors[0].field, "customer_id"),
        other => panic!("a supplier as customer: {other:?}"),
    }
    let mut right = draft(&[(a.id, 1, "1")], None);
    right.customer_id = Some(customer.id);
    let order = created(store.create_sales_order(right, &actor, None).await, "order");
    assert_eq!(order.customer_id, Some(customer.id));
    let by_customer = SalesOrderQuery {
        customer_id: Some(customer.id),
        ..SalesOrderQuery::default()
    };
    assert_eq!(
        store
            .list_sales_orders(&by_customer)
            .await
            .unwrap()
            .rows
            .len(),
        1
    );
    // A customer with an open order is not archived.
    let archive: inventory_core::parties::PartyPatch =
        serde_json::from_value(json!({"archived": true})).unwrap();
    assert_conflict(
        store.update_party(customer.id, archive.clone(), None).await,
        ConflictKind::PartyHasOpenOrders,
    );
    created(
        store.cancel_sales_order(order.id, &actor, None).await,
        "cancel",
    );
    assert!(
        store
            .update_party(customer.id, archive, None)
            .await
            .unwrap()
            .archived
    );
}
