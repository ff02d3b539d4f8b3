//! Contract tests of the ledger: movements, the guard, concurrency, stock reports, movement lists.

use crate::helpers::*;

// ================================================================ movements

pub async fn movement_arithmetic_per_location(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "MOV-1").await;
    let id = item.id;

    let check = |r: &MovementResult, on_hand: i64, touched: &[(&str, i64)]| {
        assert_eq!(r.balances.item_id, id);
        assert_eq!(r.balances.sku, "MOV-1");
        assert_eq!(
            r.balances.on_hand, on_hand,
            "total after {:?}",
            r.movement.kind
        );
        assert_eq!(r.balances.reserved, 0);
        assert_eq!(r.balances.available, on_hand);
        let mut got: Vec<(String, i64)> = r
            .balances
            .locations
            .iter()
            .map(|l| (l.location.clone(), l.on_hand))
            .collect();
        got.sort();
        let mut want: Vec<(String, i64)> =
            touched.iter().map(|(c, q)| ((*c).to_owned(), *q)).collect();
        want.sort();
        assert_eq!(got, want, "balances of the touched locations");
        assert_eq!(r.movement.item_id, id);
        assert_eq!(r.movement.created_by, "clerk");
    };

    let mut returned = Vec::new();
    let r = apply_ok(&store, &actor, vec![receive(id, 100, MAIN_LOCATION)]).await;
    assert_eq!(r.len(), 1);
    check(&r[0], 100, &[("MAIN", 100)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.kind, MovementKind::Receive);
    assert_eq!(r[0].movement.quantity, 100);
    assert_eq!(r[0].movement.location.as_deref(), Some("MAIN"));
    assert_eq!(assert_consistent(&store, id).await, 100);

    let r = apply_ok(&store, &actor, vec![receive(id, 30, "wh")]).await;
    check(&r[0], 130, &[("WH", 30)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.location.as_deref(), Some("WH"));
    assert_eq!(assert_consistent(&store, id).await, 130);

    let r = apply_ok(&store, &actor, vec![issue(id, 20, MAIN_LOCATION)]).await;
    check(&r[0], 110, &[("MAIN", 80)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.kind, MovementKind::Issue);
    assert_eq!(
        r[0].movement.quantity, 20,
        "issue quantities are stored positive"
    );
    assert_eq!(assert_consistent(&store, id).await, 110);

    let r = apply_ok(&store, &actor, vec![transfer(id, 25, MAIN_LOCATION, "WH")]).await;
    check(&r[0], 110, &[("MAIN", 55), ("WH", 55)]);
    returned.push(r[0].movement.clone());
    let m = &r[0].movement;
    assert_eq!(m.kind, MovementKind::Transfer);
    assert_eq!(m.location, None);
    assert_eq!(m.from_location.as_deref(), Some("MAIN"));
    assert_eq!(m.to_location.as_deref(), Some("WH"));
    assert_eq!(assert_consistent(&store, id).await, 110);

    let r = apply_ok(&store, &actor, vec![adjust(id, -5, "WH")]).await;
    check(&r[0], 105, &[("WH", 50)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.quantity, -5, "adjustments keep their sign");
    assert_eq!(r[0].movement.reason.as_deref(), Some("stock count"));
    assert_eq!(assert_consistent(&store, id).await, 105);

    let mut with_ref = adjust(id, 3, MAIN_LOCATION);
    with_ref.reference = Some("PO-42".into());
    let r = apply_ok(&store, &actor, vec![with_ref]).await;
    check(&r[0], 108, &[("MAIN", 58)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.reference.as_deref(), Some("PO-42"));
    assert_eq!(assert_consistent(&store, id).await, 108);

    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(report.item_id, id);
    assert_eq!(report.sku, "MOV-1");
    assert_eq!(report.as_of, None);
    assert_eq!(location_balance(&report.locations, "MAIN"), 58);
    assert_eq!(location_balance(&report.locations, "WH"), 50);
    assert_eq!(
        (report.on_hand, report.reserved, report.available),
        (108, 0, 108)
    );
    let item = store.get_item(id).await.unwrap();
    assert_eq!((item.on_hand, item.available), (108, 108));
    assert_eq!(
        item.version, 1,
        "stock changes do not touch the editable version"
    );

    // The ledger lists exactly what was returned, in order.
    assert_eq!(movements_of(&store, id).await, returned);
}

pub async fn movement_batch_results_are_cumulative(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "BATCH-1").await;
    let id = item.id;
    let results = apply_ok(
        &store,
        &actor,
        vec![
            receive(id, 100, MAIN_LOCATION),
            receive(id, 30, "WH"),
            issue(id, 20, MAIN_LOCATION),
            transfer(id, 25, MAIN_LOCATION, "WH"),
            adjust(id, -5, "WH"),
            adjust(id, 3, MAIN_LOCATION),
        ],
    )
    .await;
    assert_eq!(results.len(), 6, "one result per entry, in order");
    let totals: Vec<i64> = results.iter().map(|r| r.balances.on_hand).collect();
    assert_eq!(totals, [100, 130, 110, 110, 105, 108]);
    let kinds: Vec<MovementKind> = results.iter().map(|r| r.movement.kind).collect();
    assert_eq!(
        kinds,
        [
            MovementKind::Receive,
            MovementKind::Receive,
            MovementKind::Issue,
            MovementKind::Transfer,
            MovementKind::Adjust,
            MovementKind::Adjust
        ]
    );
    assert_eq!(location_balance(&results[3].balances.locations, "MAIN"), 55);
    assert_eq!(location_balance(&results[3].balances.locations, "WH"), 55);
    for pair in results.windows(2) {
        assert!(
            pair[0].movement.seq < pair[1].movement.seq,
            "seq follows batch order"
        );
    }
    assert_eq!(assert_consistent(&store, id).await, 108);
    let listed = movements_of(&store, id).await;
    let returned: Vec<Movement> = results.iter().map(|r| r.movement.clone()).collect();
    assert_eq!(
        listed, returned,
        "list_movements returns the movements as recorded"
    );
}

pub async fn issue_beyond_available_writes_nothing(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "SHORT-1").await;
    let id = item.id;
    apply_ok(&store, &actor, vec![receive(id, 10, MAIN_LOCATION)]).await;

    let expect_short = |e: Error, location: &str, available: i64, requested: i64| {
        let (index, cause) = at_index(e);
        assert_eq!(index, 0);
        match cause {
            Error::InsufficientStock {
                location: l,
                available: a,
                requested: r,
                ..
            } => {
                assert_eq!(l, location);
                assert_eq!(a, available, "available");
                assert_eq!(r, requested, "requested");
            }
            other => panic!("expected InsufficientStock, got {other:?}"),
        }
    };
    let e = apply(&store, &actor, vec![issue(id, 11, MAIN_LOCATION)])
        .await
        .unwrap_err();
    expect_short(e, "MAIN", 10, 11);
    let e = apply(&store, &actor, vec![issue(id, 1, "WH")])
        .await
        .unwrap_err();
    expect_short(e, "WH", 0, 1);
    let e = apply(&store, &actor, vec![transfer(id, 11, MAIN_LOCATION, "WH")])
        .await
        .unwrap_err();
    expect_short(e, "MAIN", 10, 11);
    let e = apply(&store, &actor, vec![adjust(id, -11, MAIN_LOCATION)])
        .await
        .unwrap_err();
    expect_short(e, "MAIN", 10, 11);

    assert_eq!(
        store.ledger_sum(id).await.unwrap(),
        10,
        "nothing was written"
    );
    assert_eq!(assert_consistent(&store, id).await, 10);
    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(location_balance(&report.locations, "MAIN"), 10);
    assert_eq!(location_balance(&report.locations, "WH"), 0);
    assert_eq!(movements_of(&store, id).await.len(), 1);

    // Exactly what is available may go.
    let r = apply_ok(&store, &actor, vec![issue(id, 10, MAIN_LOCATION)]).await;
    assert_eq!(r[0].balances.on_hand, 0);
    assert_eq!(assert_consistent(&store, id).await, 0);
}

pub async fn batch_is_all_or_none(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "ATOM-1").await;
    let other = new_item(&store, "ATOM-2").await;
    let id = item.id;

    let e = apply(
        &store,
        &actor,
        vec![
            receive(id, 10, MAIN_LOCATION),
            transfer(id, 4, MAIN_LOCATION, "WH"),
            issue(id, 5, "WH"),
        ],
    )
    .await
    .unwrap_err();
    let (index, cause) = at_index(e);
    assert_eq!(index, 2, "the error names the failing entry");
    match cause {
        Error::InsufficientStock {
            location,
            available,
            requested,
            ..
        } => {
            assert_eq!(location, "WH");
            assert_eq!(requested, 5);
            assert!(available < 5, "available {available}");
        }
        other => panic!("expected InsufficientStock, got {other:?}"),
    }
    assert_eq!(
        store.ledger_sum(id).await.unwrap(),
        0,
        "no trace of entries 0 and 1"
    );
    assert_eq!(assert_consistent(&store, id).await, 0);
    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(location_balance(&report.locations, "MAIN"), 0);
    assert_eq!(location_balance(&report.locations, "WH"), 0);
    assert!(movements_of(&store, id).await.is_empty());

    // A failure over several items rolls them all back.
    let e = apply(
        &store,
        &actor,
        vec![
            receive(other.id, 7, MAIN_LOCATION),
            receive(id, 3, MAIN_LOCATION),
            issue(other.id, 8, MAIN_LOCATION),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(at_index(e).0, 2);
    assert_eq!(assert_consistent(&store, other.id).await, 0);
    assert_eq!(assert_consistent(&store, id).await, 0);
    assert!(movements_of(&store, other.id).await.is_empty());

    // A batch that fails validation in the store mid-way also leaves nothing.
    let e = apply(
        &store,
        &actor,
        vec![receive(id, 10, MAIN_LOCATION), receive(id, 5, "NOWHERE")],
    )
    .await
    .unwrap_err();
    let (index, cause) = at_index(e);
    assert_eq!(index, 1);
    assert!(
        matches!(cause, Error::UnknownLocation { ref code, .. } if code == "NOWHERE"),
        "got {cause:?}"
    );
    assert_eq!(assert_consistent(&store, id).await, 0);

    // And the same batch, fixed, goes through whole.
    let ok = apply_ok(
        &store,
        &actor,
        vec![
            receive(id, 10, MAIN_LOCATION),
            transfer(id, 4, MAIN_LOCATION, "WH"),
            issue(id, 4, "WH"),
        ],
    )
    .await;
    assert_eq!(ok.len(), 3);
    assert_eq!(assert_consistent(&store, id).await, 6);
    assert_eq!(movements_of(&store, id).await.len(), 3);
}

pub async fn unknown_location_or_item_is_rejected(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "UNK-1").await;
    let id = item.id;
    let validation_field = |e: Error| -> String {
        let (index, cause) = at_index(e);
        assert_eq!(index, 0);
        match cause.field_errors() {
            Some(fields) => {
                assert!(!fields.is_empty());
                fields[0].field.clone()
            }
            None => panic!("expected a validation error, got {cause:?}"),
        }
    };
    let e = apply(&store, &actor, vec![receive(id, 1, "NOWHERE")])
        .await
        .unwrap_err();
    assert!(validation_field(e).ends_with("location"));
    apply_ok(&store, &actor, vec![receive(id, 5, MAIN_LOCATION)]).await;
    let e = apply(
        &store,
        &actor,
        vec![transfer(id, 1, MAIN_LOCATION, "NOWHERE")],
    )
    .await
    .unwrap_err();
    assert!(validation_field(e).ends_with("to_location"));
    let e = apply(
        &store,
        &actor,
        vec![transfer(id, 1, "NOWHERE", MAIN_LOCATION)],
    )
    .await
    .unwrap_err();
    assert!(validation_field(e).ends_with("from_location"));
    assert_eq!(assert_consistent(&store, id).await, 5);
    assert_eq!(movements_of(&store, id).await.len(), 1);

    // A movement for an item that does not exist is refused, naming entry 0.
    let e = apply(
        &store,
        &actor,
        vec![receive(Uuid::now_v7(), 1, MAIN_LOCATION)],
    )
    .await
    .unwrap_err();
    let (index, cause) = at_index(e);
    assert_eq!(index, 0);
    assert!(
        matches!(cause, Error::Validation(_) | Error::NotFound(_)),
        "got {cause:?}"
    );
}

pub async fn seq_is_strictly_increasing(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let a = new_item(&store, "SEQ-A").await;
    let b = new_item(&store, "SEQ-B").await;
    let mut seqs = Vec::new();
    for i in 0..4 {
        let item = if i % 2 == 0 { a.id } else { b.id };
        let r = apply_ok(&store, &actor, vec![receive(item, 1, MAIN_LOCATION)]).await;
        seqs.push(r[0].movement.seq);
    }
    let r = apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 1, MAIN_LOCATION),
            receive(b.id, 1, MAIN_LOCATION),
            issue(a.id, 1, MAIN_LOCATION),
        ],
    )
    .await;
    seqs.extend(r.iter().map(|r| r.movement.seq));
    for pair in seqs.windows(2) {
        assert!(pair[0] < pair[1], "seq must increase: {seqs:?}");
    }

    // Concurrent writers: every seq is distinct and the ledger reads in order.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (store, actor) = (store.clone(), actor.clone());
        let item = if i % 2 == 0 { a.id } else { b.id };
        tasks.spawn(async move {
            apply_ok(&store, &actor, vec![receive(item, 1, MAIN_LOCATION)]).await[0]
                .movement
                .seq
        });
    }
    let mut concurrent = HashSet::new();
    while let Some(seq) = tasks.join_next().await {
        assert!(concurrent.insert(seq.unwrap()), "duplicate seq");
    }
    assert!(concurrent.iter().all(|s| s > seqs.last().unwrap()));
    let listed = store
        .list_movements(&MovementQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .rows;
    assert_eq!(listed.len(), 31);
    for pair in listed.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "ascending list is in seq order");
    }
    // a: 2 single receipts + 1 - 1 in the batch + 12 concurrent; b: 2 + 1 + 12.
    assert_eq!(assert_consistent(&store, a.id).await, 14);
    assert_eq!(assert_consistent(&store, b.id).await, 15);
}

// ================================================================ concurrency

pub async fn concurrent_issues_never_oversell(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RACE-1").await;
    apply_ok(&store, &actor, vec![receive(item.id, 20, MAIN_LOCATION)]).await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (store, actor) = (store.clone(), actor.clone());
        let id = item.id;
        tasks.spawn(async move { apply(&store, &actor, vec![issue(id, 1, MAIN_LOCATION)]).await });
    }
    let (mut ok, mut short) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(r) => {
                ok += 1;
                assert!(r[0].balances.on_hand >= 0);
                assert!(r[0].balances.locations.iter().all(|l| l.on_hand >= 0));
            }
            Err(e) => {
                let (index, cause) = at_index(e);
                assert_eq!(index, 0);
                match cause {
                    Error::InsufficientStock {
                        available,
                        requested,
                        ..
                    } => {
                        assert_eq!(requested, 1);
                        assert_eq!(available, 0, "only an empty shelf refuses one unit");
                        short += 1;
                    }
                    other => panic!("expected InsufficientStock, got {other:?}"),
                }
            }
        }
    }
    assert_eq!((ok, short), (20, 30));
    let after = store.get_item(item.id).await.unwrap();
    assert_eq!(after.on_hand, 0);
    assert_eq!(store.ledger_sum(item.id).await.unwrap(), 0);
    assert_eq!(assert_consistent(&store, item.id).await, 0);
    assert_eq!(movements_of(&store, item.id).await.len(), 21);
}

pub async fn concurrent_transfers_conserve_stock(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "SWAP-1").await;
    let id = item.id;
    apply_ok(
        &store,
        &actor,
        vec![receive(id, 60, MAIN_LOCATION), receive(id, 60, "WH")],
    )
    .await;

    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut looks = 0u32;
            while !done.load(Ordering::Relaxed) || looks == 0 {
                let report = store.item_stock(id, None).await.expect("item_stock");
                assert_eq!(report.on_hand, 120, "the total never changes: {report:?}");
                let sum: i64 = report.locations.iter().map(|l| l.on_hand).sum();
                assert_eq!(sum, 120, "a consistent snapshot adds up: {report:?}");
                assert!(
                    report.locations.iter().all(|l| l.on_hand >= 0),
                    "{report:?}"
                );
                looks += 1;
                tokio::task::yield_now().await;
            }
            looks
        })
    };

    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..32i64 {
        let (store, actor) = (store.clone(), actor.clone());
        tasks.spawn(async move {
            let mut net_to_wh = 0i64;
            let mut refused = 0u32;
            for j in 0..10i64 {
                let qty = 1 + (t * 7 + j * 13) % 30;
                let to_wh = (t + j) % 2 == 0;
                let m = if to_wh {
                    transfer(id, qty, MAIN_LOCATION, "WH")
                } else {
                    transfer(id, qty, "WH", MAIN_LOCATION)
                };
                match apply(&store, &actor, vec![m]).await {
                    Ok(r) => {
                        assert_eq!(r[0].balances.on_hand, 120);
                        assert!(r[0].balances.locations.iter().all(|l| l.on_hand >= 0));
                        net_to_wh += if to_wh { qty } else { -qty };
                    }
                    Err(e) => {
                        let (index, cause) = at_index(e);
                        assert_eq!(index, 0);
                        match cause {
                            Error::InsufficientStock {
                                available,
                                requested,
                                ..
                            } => {
                                assert_eq!(requested, qty);
                                assert!(available < qty);
                            }
                            other => panic!("expected InsufficientStock, got {other:?}"),
                        }
                        refused += 1;
                    }
                }
            }
            (net_to_wh, refused)
        });
    }
    let mut net = 0;
    while let Some(r) = tasks.join_next().await {
        net += r.expect("transfer task").0;
    }
    done.store(true, Ordering::Relaxed);
    assert!(observer.await.expect("observer") > 0);

    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(report.on_hand, 120);
    assert_eq!(
        location_balance(&report.locations, "WH"),
        60 + net,
        "no lost update at WH"
    );
    assert_eq!(
        location_balance(&report.locations, MAIN_LOCATION),
        60 - net,
        "no lost update at MAIN"
    );
    assert_eq!(assert_consistent(&store, id).await, 120);
}

// ================================================================ item_stock

pub async fn item_stock_as_of(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "ASOF-1").await;
    let id = item.id;

    let t0 = instant_between().await;
    apply_ok(&store, &actor, vec![receive(id, 10, MAIN_LOCATION)]).await;
    let t1 = instant_between().await;
    apply_ok(&store, &actor, vec![transfer(id, 4, MAIN_LOCATION, "WH")]).await;
    let t2 = instant_between().await;
    apply_ok(
        &store,
        &actor,
        vec![issue(id, 3, "WH"), adjust(id, 2, MAIN_LOCATION)],
    )
    .await;
    let t3 = instant_between().await;
    apply_ok(&store, &actor, vec![adjust(id, -1, "WH")]).await;

    let at = |report: &StockReport| {
        (
            location_balance(&report.locations, MAIN_LOCATION),
            location_balance(&report.locations, "WH"),
            report.on_hand,
        )
    };
    let r0 = store.item_stock(id, Some(t0)).await.unwrap();
    assert_eq!(at(&r0), (0, 0, 0), "before any movement");
    let r1 = store.item_stock(id, Some(t1)).await.unwrap();
    assert_eq!(at(&r1), (10, 0, 10), "after the receipt");
    let r2 = store.item_stock(id, Some(t2)).await.unwrap();
    assert_eq!(at(&r2), (6, 4, 10), "after the transfer");
    let r3 = store.item_stock(id, Some(t3)).await.unwrap();
    assert_eq!(at(&r3), (8, 1, 9), "after the issue and the adjustment");
    assert_eq!(
        r3.as_of.map(|t| t.timestamp_micros()),
        Some(t3.timestamp_micros())
    );
    assert_eq!(r3.sku, "ASOF-1");
    assert_eq!(r3.available, r3.on_hand - r3.reserved);

    // as_of is inclusive: at a movement's own instant, it has happened.
    let last = movements_of(&store, id).await.pop().unwrap();
    let at_last = store.item_stock(id, Some(last.created_at)).await.unwrap();
    assert_eq!(
        at(&at_last),
        (8, 0, 8),
        "as_of at a movement's created_at includes it"
    );

    let now = store.item_stock(id, None).await.unwrap();
    assert_eq!(at(&now), (8, 0, 8));
    assert_eq!(now.as_of, None);
    let later = store
        .item_stock(id, Some(Utc::now() + Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(
        at(&later),
        (8, 0, 8),
        "as_of in the future equals the current balances"
    );
    assert_eq!(assert_consistent(&store, id).await, 8);
}

// ================================================================ list_movements

pub async fn list_movements_filters(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let one = new_item(&store, "LM-1").await;
    let two = new_item(&store, "LM-2").await;

    let t0 = instant_between().await;
    apply_ok(&store, &actor, vec![receive(one.id, 10, MAIN_LOCATION)]).await;
    apply_ok(
        &store,
        &actor,
        vec![transfer(one.id, 3, MAIN_LOCATION, "WH")],
    )
    .await;
    apply_ok(&store, &actor, vec![receive(two.id, 5, "WH")]).await;
    let mid = instant_between().await;
    apply_ok(&store, &actor, vec![issue(one.id, 2, MAIN_LOCATION)]).await;
    apply_ok(&store, &actor, vec![adjust(two.id, 1, "WH")]).await;
    let end = instant_between().await;

    let list = |q: MovementQuery| {
        let store = store.clone();
        async move {
            store
                .list_movements(&q)
                .await
                .unwrap()
                .rows
                .into_iter()
                .map(|m| (m.item_id, m.kind, m.quantity))
                .collect::<Vec<_>>()
        }
    };
    use MovementKind::*;
    let all = list(MovementQuery::default()).await;
    assert_eq!(
        all,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (two.id, Receive, 5),
            (one.id, Issue, 2),
            (two.id, Adjust, 1)
        ]
    );
    let by_item = list(MovementQuery {
        item_id: Some(one.id),
        ..Default::default()
    })
    .await;
    assert_eq!(
        by_item,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (one.id, Issue, 2)
        ]
    );
    let at_wh = list(MovementQuery {
        location: Some("WH".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        at_wh,
        [
            (one.id, Transfer, 3),
            (two.id, Receive, 5),
            (two.id, Adjust, 1)
        ],
        "location matches location, from_location or to_location"
    );
    let at_main = list(MovementQuery {
        location: Some(MAIN_LOCATION.into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        at_main,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (one.id, Issue, 2)
        ]
    );
    let receipts = list(MovementQuery {
        kind: Some(Receive),
        ..Default::default()
    })
    .await;
    assert_eq!(receipts, [(one.id, Receive, 10), (two.id, Receive, 5)]);
    let since = list(MovementQuery {
        since: Some(mid),
        ..Default::default()
    })
    .await;
    assert_eq!(since, [(one.id, Issue, 2), (two.id, Adjust, 1)]);
    let until = list(MovementQuery {
        until: Some(mid),
        ..Default::default()
    })
    .await;
    assert_eq!(
        until,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (two.id, Receive, 5)
        ]
    );
    let window = list(MovementQuery {
        since: Some(t0),
        until: Some(end),
        item_id: Some(two.id),
        ..Default::default()
    })
    .await;
    assert_eq!(window, [(two.id, Receive, 5), (two.id, Adjust, 1)]);
    let none = list(MovementQuery {
        since: Some(end),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    let combined = list(MovementQuery {
        item_id: Some(one.id),
        location: Some("WH".into()),
        kind: Some(Transfer),
        ..Default::default()
    })
    .await;
    assert_eq!(combined, [(one.id, Transfer, 3)]);
    let nowhere = list(MovementQuery {
        location: Some("NOWHERE".into()),
        ..Default::default()
    })
    .await;
    assert!(nowhere.is_empty());

    // since is inclusive and until exclusive, to the microsecond.
    let issued = store
        .list_movements(&MovementQuery {
            kind: Some(Issue),
            ..Default::default()
        })
        .await
        .unwrap()
        .rows
        .remove(0);
    let from_issue = list(MovementQuery {
        since: Some(issued.created_at),
        ..Default::default()
    })
    .await;
    assert_eq!(
        from_issue,
        [(one.id, Issue, 2), (two.id, Adjust, 1)],
        "since is inclusive"
    );
    let before_issue = list(MovementQuery {
        since: Some(mid),
        until: Some(issued.created_at),
        ..Default::default()
    })
    .await;
    assert!(
        before_issue.is_empty(),
        "until is exclusive: {before_issue:?}"
    );
}

pub async fn list_movements_order_and_paging(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "LMP-1").await;
    let mut batch = Vec::new();
    for q in 1..=11 {
        batch.push(receive(item.id, q, MAIN_LOCATION));
    }
    let results = apply_ok(&store, &actor, batch).await;
    let asc: Vec<i64> = results.iter().map(|r| r.movement.seq).collect();
    let desc: Vec<i64> = asc.iter().rev().copied().collect();

    for (order, expected) in [(SeqOrder::Asc, asc.clone()), (SeqOrder::Desc, desc.clone())] {
        let whole = store
            .list_movements(&MovementQuery {
                order,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            whole.rows.iter().map(|m| m.seq).collect::<Vec<_>>(),
            expected,
            "{order:?}"
        );
        assert!(whole.next_cursor.is_none());

        let mut seen = Vec::new();
        let mut after = None;
        let mut sizes = Vec::new();
        loop {
            let page = store
                .list_movements(&MovementQuery {
                    order,
                    limit: 4,
                    after_seq: after,
                    ..Default::default()
                })
                .await
                .unwrap();
            sizes.push(page.rows.len());
            seen.extend(page.rows.iter().map(|m| m.seq));
            match page.next_cursor {
                Some(c) => {
                    let seq: i64 = c.parse().expect("a movement cursor is the last seq");
                    assert_eq!(Some(seq), page.rows.last().map(|m| m.seq));
                    after = Some(seq);
                }
                None => break,
            }
            assert!(sizes.len() < 20);
        }
        assert_eq!(sizes, [4, 4, 3], "{order:?} page sizes");
        assert_eq!(
            seen, expected,
            "{order:?} pages concatenate to the whole ledger"
        );
    }

    let after_middle = store
        .list_movements(&MovementQuery {
            after_seq: Some(asc[5]),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        after_middle.rows.iter().map(|m| m.seq).collect::<Vec<_>>(),
        &asc[6..8]
    );
    let before_middle = store
        .list_movements(&MovementQuery {
            after_seq: Some(asc[5]),
            order: SeqOrder::Desc,
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        before_middle.rows.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [asc[4], asc[3]]
    );
}

// ================================================================ reversals and the guard's model

pub async fn a_movement_is_read_by_id(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "GET-1").await;
    let r = apply_ok(&store, &actor, vec![receive(item.id, 4, MAIN_LOCATION)]).await;
    let read = store.get_movement(r[0].movement.id).await.unwrap();
    assert_eq!(read, r[0].movement);
    assert_eq!(read.sku, "GET-1");
    assert_not_found(store.get_movement(Uuid::now_v7()).await);
}

pub async fn a_reversal_applies_the_opposite_once(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "FLOOR").await;
    let item = new_item(&store, "REV-1").await;
    let received = apply_ok(&store, &actor, vec![receive(item.id, 10, MAIN_LOCATION)]).await;
    let moved = apply_ok(
        &store,
        &actor,
        vec![transfer(item.id, 4, MAIN_LOCATION, "FLOOR")],
    )
    .await;

    let why = || ReverseMovement {
        reason: "wrong shelf".into(),
    };
    let reversal = moved[0].movement.reversal(why()).unwrap();
    let undone = apply_ok(&store, &actor, vec![reversal.clone()]).await;
    let undo = &undone[0].movement;
    assert_eq!(undo.reverses, Some(moved[0].movement.id));
    assert_eq!(undo.from_location.as_deref(), Some("FLOOR"));
    assert_eq!(undo.to_location.as_deref(), Some(MAIN_LOCATION));
    let stock = store.item_stock(item.id, None).await.unwrap();
    assert_eq!(location_balance(&stock.locations, MAIN_LOCATION), 10);
    assert_eq!(location_balance(&stock.locations, "FLOOR"), 0);
    let original = store.get_movement(moved[0].movement.id).await.unwrap();
    assert_eq!(original.reversed_by, Some(undo.id));
    assert_eq!(assert_consistent(&store, item.id).await, 10);

    // The store's unique key refuses a second reversal, even one that got
    // past the rule in core (two at once), and it writes nothing (the stock
    // it would move is there).
    apply_ok(&store, &actor, vec![receive(item.id, 4, "FLOOR")]).await;
    let e = apply(&store, &actor, vec![reversal]).await.unwrap_err();
    let (_, cause) = at_index(e);
    assert!(
        matches!(
            cause,
            Error::Conflict {
                kind: ConflictKind::AlreadyReversed,
                ..
            }
        ),
        "got {cause:?}"
    );
    assert_eq!(movements_of(&store, item.id).await.len(), 4);
    assert_eq!(assert_consistent(&store, item.id).await, 14);
    assert!(matches!(
        original.reversal(why()),
        Err(Error::Conflict {
            kind: ConflictKind::AlreadyReversed,
            ..
        })
    ));

    // A reversal is refused like any movement when the stock has gone.
    apply_ok(
        &store,
        &actor,
        vec![
            issue(item.id, 10, MAIN_LOCATION),
            issue(item.id, 4, "FLOOR"),
        ],
    )
    .await;
    let e = apply(
        &store,
        &actor,
        vec![received[0].movement.reversal(why()).unwrap()],
    )
    .await
    .unwrap_err();
    let (_, cause) = at_index(e);
    assert!(
        matches!(
            cause,
            Error::InsufficientStock {
                available: 0,
                requested: 10,
                ..
            }
        ),
        "got {cause:?}"
    );
    assert_eq!(assert_consistent(&store, item.id).await, 0);
    assert!(store
        .get_movement(received[0].movement.id)
        .await
        .unwrap()
        .reversed_by
        .is_none());
}

/// A small deterministic generator (no randomness the suite cannot repeat).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The store against the guard's specification in core: the same
/// movements applied one by one to the store and to a model made of
/// `Balance::after` must be accepted or refused alike, leave the same
/// balances, and a refusal must report what the model had available.
pub async fn movements_follow_the_guard_model(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let codes = [MAIN_LOCATION, "A", "B"];
    for code in &codes[1..] {
        new_location(&store, code).await;
    }
    let items = [
        new_item(&store, "M-1").await.id,
        new_item(&store, "M-2").await.id,
    ];
    let mut model: BTreeMap<(Uuid, &str), Balance> = BTreeMap::new();
    let mut rng = Lcg(42);
    for step in 0..200 {
        let item = items[rng.below(2) as usize];
        let at = codes[rng.below(3) as usize];
        let other =
            codes[(codes.iter().position(|c| *c == at).unwrap() + 1 + rng.below(2) as usize) % 3];
        let quantity = 1 + rng.below(8) as i64;
        let m = match rng.below(4) {
            0 => receive(item, quantity, at),
            1 => issue(item, quantity, at),
            2 => transfer(item, quantity, at, other),
            _ => adjust(
                item,
                if rng.below(2) == 0 {
                    quantity
                } else {
                    -quantity
                },
                at,
            ),
        };
        // The model: each delta through the guard, in the store's order.
        let mut next = model.clone();
        let mut refused = None;
        for delta in m.deltas() {
            let code = codes.iter().find(|c| Some(**c) == delta.code).unwrap();
            let balance = next.entry((item, *code)).or_default();
            match balance.after(delta.quantity) {
                Ok(after) => *balance = after,
                Err(available) => {
                    refused = Some((*code, available));
                    break;
                }
            }
        }
        match (apply(&store, &actor, vec![m]).await, refused) {
            (Ok(_), None) => model = next,
            (Err(e), Some((code, available))) => {
                let (_, cause) = at_index(e);
                match cause {
                    Error::InsufficientStock {
                        location,
                        available: a,
                        ..
                    } => assert_eq!((location.as_str(), a), (code, available), "step {step}"),
                    other => panic!("step {step}: expected insufficient stock, got {other:?}"),
                }
            }
            (got, expected) => panic!("step {step}: store {got:?}, model refusal {expected:?}"),
        }
    }
    for item in items {
        let stock = store.item_stock(item, None).await.unwrap();
        for code in codes {
            let expected = model.get(&(item, code)).copied().unwrap_or_default();
            assert_eq!(
                location_balance(&stock.locations, code),
                expected.on_hand,
                "{code}"
            );
        }
        assert_consistent(&store, item).await;
    }
}

pub async fn invariants_hold_after_every_kind_of_movement(store: S) {
    let actor = new_actor(&store, "checker").await;
    let a = new_item(&store, "INV-A").await;
    let b = new_item(&store, "INV-B").await;
    new_location(&store, "SHELF").await;
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
    let applied = apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 10, MAIN_LOCATION),
            receive(b.id, 4, "SHELF"),
            transfer(a.id, 3, MAIN_LOCATION, "SHELF"),
            issue(a.id, 2, "SHELF"),
            adjust(b.id, -1, "SHELF"),
        ],
    )
    .await;
    let mut reversal = issue(a.id, 10, MAIN_LOCATION);
    reversal.reason = Some("received twice".into());
    reversal.reverses = Some(applied[0].movement.id);
    apply_ok(
        &store,
        &actor,
        vec![receive(a.id, 7, MAIN_LOCATION), reversal],
    )
    .await;
    assert_eq!(
        store.check_invariants().await.unwrap(),
        Vec::new(),
        "every figure is the ledger's"
    );
}

/// For each backend's own tests: `corrupt` adds 2 to every stock balance
/// behind the ledger's back (plain SQL); the check then names the item
/// under both rules it breaks.
pub async fn a_balance_changed_behind_the_ledger_is_reported<F, Fut>(store: S, corrupt: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let actor = new_actor(&store, "checker").await;
    let a = new_item(&store, "BROKEN-A").await;
    apply_ok(&store, &actor, vec![receive(a.id, 5, MAIN_LOCATION)]).await;
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
    corrupt().await;
    let found = store.check_invariants().await.unwrap();
    let rules: Vec<(&str, &str, i64, i64)> = found
        .iter()
        .map(|v| (v.rule.as_str(), v.sku.as_str(), v.expected, v.actual))
        .collect();
    assert_eq!(
        rules,
        [
            ("stock-equals-ledger", "BROKEN-A", 5, 7),
            ("item-equals-locations", "BROKEN-A", 7, 5)
        ],
        "{found:?}"
    );
    assert_eq!(found[0].location.as_deref(), Some(MAIN_LOCATION));
}
