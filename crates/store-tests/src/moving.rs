//! Contract tests of moving a database between backends: export and import.

use crate::helpers::*;

// ================================================================ export and import

/// An in-memory `Write` sink that the test keeps a handle on.
#[derive(Clone, Default)]
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn export_text(store: &S) -> (ExportCounts, String) {
    export_text_with(store, ExportOptions::default()).await
}

async fn export_text_with(store: &S, options: ExportOptions) -> (ExportCounts, String) {
    let buf = SharedBuf::default();
    let counts = store
        .export(Box::new(buf.clone()), options)
        .await
        .expect("export");
    let bytes = buf.0.lock().unwrap().clone();
    (counts, String::from_utf8(bytes).expect("UTF-8"))
}

/// Everything after the header line (which names the backend and the time).
fn rows_of(text: &str) -> &str {
    text.split_once('\n').expect("a header line").1
}

/// The rows before the end line (whose counts differ once an import added
/// its own audit entry).
fn rows_without_end(rows: &str) -> &str {
    let body = rows.trim_end_matches('\n');
    &body[..body.rfind('\n').map_or(0, |n| n + 1)]
}

/// The rows before the end line without the last one (an audit entry, of
/// the import), and that last row.
fn rows_without_last_audit(rows: &str) -> (&str, &str) {
    let body = rows_without_end(rows).trim_end_matches('\n');
    let cut = body.rfind('\n').map_or(0, |n| n + 1);
    (&body[..cut], &body[cut..])
}

/// Users, locations, items (one archived, one edited), stock in several
/// locations through every kind of movement, and their events.
async fn populate(store: &S) {
    let actor = new_actor(store, "clerk-export").await;
    new_actor(store, "second-user").await;
    new_location(store, "SHELF-A").await;
    new_location(store, "SHELF-B").await;
    let mut spec = item_spec("EXP-1", "Grüne Schraube", Some("bolts"), 5);
    spec.unit_cost = 12_3456;
    spec.description = Some("line one\nline \"two\"".into());
    spec.attributes = serde_json::from_str(r#"{"z":1.50,"a":[1e3,-0.0],"ü":{"nested":null}}"#)
        .expect("attributes");
    let a = add_item(store, spec).await;
    let b = new_item(store, "EXP-2").await;
    let gone = new_item(store, "EXP-3").await;
    assert!(store.archive_item(gone.id, None).await.expect("archive"));
    store
        .update_item(
            b.id,
            patch(json!({"name": "Renamed", "category": "misc"})),
            None,
        )
        .await
        .expect("update");
    apply(
        store,
        &actor,
        vec![
            receive(a.id, 40, MAIN_LOCATION),
            transfer(a.id, 15, MAIN_LOCATION, "SHELF-A"),
            transfer(a.id, 5, "SHELF-A", "SHELF-B"),
            issue(a.id, 3, "SHELF-B"),
            adjust(a.id, -2, MAIN_LOCATION),
            receive(b.id, 7, "SHELF-B"),
        ],
    )
    .await
    .expect("movements");
    apply(store, &actor, vec![issue(b.id, 7, "SHELF-B")])
        .await
        .expect("issue all");
    // A firm reservation, one that expires, and one released.
    let hold = |quantity: i64, location: &str, expires: bool| {
        let mut r = inventory_core::reservations::CreateReservation {
            item_id: Some(a.id),
            location: Some(location.to_owned()),
            quantity: Some(quantity),
            reference: Some("cart-export".into()),
            ..Default::default()
        }
        .validate(inventory_core::now())
        .expect("valid reservation");
        if expires {
            r.expires_at = Some(inventory_core::now() + Duration::days(1));
        }
        r
    };
    for (quantity, location, expires) in [(2, MAIN_LOCATION, false), (1, "SHELF-A", true)] {
        created(
            store
                .create_reservation(hold(quantity, location, expires), &actor, None)
                .await,
            "reserve",
        );
    }
    let released = created(
        store
            .create_reservation(hold(3, "SHELF-A", false), &actor, None)
            .await,
        "reserve",
    );
    store
        .release_reservation(released.id)
        .await
        .expect("release");
    // A supplier with a partly received order, and a draft.
    let supplier = created(
        store
            .create_party(
                crate::parties::party_spec(
                    "Export supplier",
                    inventory_core::parties::PartyKind::Supplier,
                    Some("exp"),
                ),
                None,
            )
            .await,
        "party",
    );
    let mut order =
        crate::purchasing::new_order(supplier.id, &[(a.id, 5, "1.5"), (b.id, 2, "0.0001")]);
    order.expected_at = Some(DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap());
    let order = created(
        store.create_purchase_order(order, &actor, None).await,
        "purchase order",
    );
    created(store.submit_purchase_order(order.id, None).await, "submit");
    let mut part = crate::purchasing::receipt(&[(order.lines[0].line_id, 2)], false);
    part.lines[0].location = Some("SHELF-A".into());
    created(
        store
            .receive_purchase_order(order.id, part, &actor, None)
            .await,
        "receive",
    );
    created(
        store
            .create_purchase_order(
                crate::purchasing::new_order(supplier.id, &[(b.id, 1, "2")]),
                &actor,
                None,
            )
            .await,
        "draft",
    );
    // A customer's order: confirmed, one unit of two shipped.
    let customer = created(
        store
            .create_party(
                crate::parties::party_spec(
                    "Export customer",
                    inventory_core::parties::PartyKind::Customer,
                    None,
                ),
                None,
            )
            .await,
        "customer",
    );
    let mut sale = inventory_core::sales::CreateSalesOrder {
        customer_id: Some(customer.id),
        reference: Some("web-export".into()),
        lines: Some(vec![inventory_core::sales::CreateSalesLine {
            item_id: Some(a.id),
            quantity: Some(2),
            unit_price: Some("9.99".into()),
        }]),
        ..Default::default()
    }
    .validate(inventory_core::now())
    .expect("valid order");
    sale.hold_until = Some(inventory_core::now() + Duration::days(1));
    let sale = created(store.create_sales_order(sale, &actor, None).await, "sale");
    created(
        store.confirm_sales_order(sale.id, &actor, None).await,
        "confirm",
    );
    let part = inventory_core::sales::ShipRequest {
        lines: Some(vec![inventory_core::sales::ShipLine {
            line_id: Some(sale.lines[0].line_id),
            quantity: Some(1),
        }]),
    };
    created(
        store.ship_sales_order(sale.id, part, &actor, None).await,
        "ship",
    );
}

/// An export imported into an empty store of the same backend exports again
/// to the same rows, byte for byte; counters continue after the imported
/// ones; passwords, balances and the ledger come along.
pub async fn export_import_round_trip(source: S, target: S) {
    populate(&source).await;
    let (counts, text) = export_text(&source).await;
    assert_eq!(
        (
            counts.users,
            counts.locations,
            counts.items,
            counts.reservations,
            counts.movements
        ),
        (2, 3, 3, 4, 9)
    );
    assert_eq!(
        (
            counts.sales_orders,
            counts.sales_order_lines,
            counts.sales_shipments
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (
            counts.parties,
            counts.purchase_orders,
            counts.purchase_order_lines,
            counts.purchase_receipts
        ),
        (2, 2, 3, 1)
    );
    assert_eq!(counts.events as i64, source.last_event_id().await.unwrap());
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "inventory-export");
    assert_eq!(header["version"], dump::VERSION);
    assert_eq!(header["backend"], source.backend());
    let summary = dump::validate(text.as_bytes(), i64::MAX).expect("a valid export");
    assert_eq!(summary.counts, counts);

    let imported = target
        .import(dump::rows(std::io::Cursor::new(text.clone().into_bytes())))
        .await
        .expect("import");
    assert_eq!(imported, counts);
    assert!(
        counts.audit > counts.events,
        "every change's entry, and the users'"
    );
    // The copy holds every row exactly, and one audit entry more: the import.
    let (again, text2) = export_text(&target).await;
    assert_eq!(
        again,
        ExportCounts {
            audit: counts.audit + 1,
            ..counts
        }
    );
    let (copied, import_entry) = rows_without_last_audit(rows_of(&text2));
    assert_eq!(
        copied,
        rows_without_end(rows_of(&text)),
        "the rows round-trip exactly"
    );
    assert!(
        import_entry.contains(r#""action":"database.imported""#),
        "{import_entry}"
    );

    // The same users, with their password hashes.
    let user = target
        .find_user("clerk-export")
        .await
        .unwrap()
        .expect("user");
    let original = source.find_user("clerk-export").await.unwrap().unwrap();
    assert_eq!(user.password_hash, original.password_hash);
    assert_eq!(user.user, original.user);
    // The same items, balances and ledger.
    let items = ItemQuery {
        include_archived: true,
        ..ItemQuery::default()
    };
    let before = source.list_items(&items).await.unwrap().rows;
    let after = target.list_items(&items).await.unwrap().rows;
    assert_eq!(before.len(), 3);
    assert_eq!(
        before
            .iter()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect::<Vec<_>>()
    );
    for item in &after {
        assert_eq!(target.ledger_sum(item.id).await.unwrap(), item.on_hand);
        let s = source.item_stock(item.id, None).await.unwrap();
        let t = target.item_stock(item.id, None).await.unwrap();
        assert_eq!(s.locations, t.locations);
    }
    // Search still folds case (the folded columns are rebuilt).
    let found = target
        .list_items(&ItemQuery {
            q: Some("GRÜNE".into()),
            ..ItemQuery::default()
        })
        .await
        .unwrap()
        .rows;
    assert_eq!(found.len(), 1);
    // The same purchase orders, and the invariants hold on the copy.
    let orders = inventory_core::purchasing::PoQuery {
        limit: 50,
        ..Default::default()
    };
    assert_eq!(
        source.list_purchase_orders(&orders).await.unwrap().rows,
        target.list_purchase_orders(&orders).await.unwrap().rows
    );
    assert_eq!(target.check_invariants().await.unwrap(), Vec::new());

    // Counters continue after the imported seq and event ids.
    let last_seq = source
        .list_movements(&MovementQuery {
            order: SeqOrder::Desc,
            limit: 1,
            ..MovementQuery::default()
        })
        .await
        .unwrap()
        .rows[0]
        .seq;
    let last_event = target.last_event_id().await.unwrap();
    assert_eq!(last_event, source.last_event_id().await.unwrap());
    let actor = Actor {
        user_id: user.user.id,
        username: user.user.username.clone(),
        role: user.user.role,
    };
    let a = after.iter().find(|i| i.sku == "EXP-1").unwrap();
    let result = apply(&target, &actor, vec![receive(a.id, 1, "SHELF-A")])
        .await
        .expect("a movement after import");
    assert_eq!(result[0].movement.seq, last_seq + 1);
    let events = target.events_after(last_event, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, last_event + 1);
    new_item(&target, "EXP-4").await;
    assert_eq!(target.last_event_id().await.unwrap(), last_event + 2);
}

/// A file cut short, a row the database refuses, or a target that is not
/// empty: the import fails and writes nothing.
pub async fn failed_import_writes_nothing(source: S, target: S) {
    populate(&source).await;
    let (_, text) = export_text(&source).await;
    let main_before = target.list_locations(None, 10).await.unwrap().rows;
    assert_eq!(main_before.len(), 1);
    let assert_untouched = |what: &'static str| {
        let target = target.clone();
        let main_before = main_before.clone();
        async move {
            assert_eq!(target.count_users().await.unwrap(), 0, "{what}: users");
            assert_eq!(target.count_all_items().await.unwrap(), 0, "{what}: items");
            assert_eq!(target.last_event_id().await.unwrap(), 0, "{what}: events");
            let moves = target
                .list_movements(&MovementQuery::default())
                .await
                .unwrap();
            assert!(moves.rows.is_empty(), "{what}: movements");
            assert_eq!(
                target.list_locations(None, 10).await.unwrap().rows,
                main_before,
                "{what}: locations"
            );
        }
    };

    // Cut in the middle of a line: validation names the line...
    let lines: Vec<&str> = text.lines().collect();
    let cut_line = lines.len() / 2 + 1;
    let cut_at = lines[..cut_line - 1]
        .iter()
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + 10;
    let truncated = text.as_bytes()[..cut_at].to_vec();
    let err = dump::validate(&truncated[..], i64::MAX).unwrap_err();
    assert_eq!(err.line, cut_line as u64, "{err}");
    // ...and an import that is fed the rows anyway stops there, all undone.
    let result = target
        .import(dump::rows(std::io::Cursor::new(truncated)))
        .await;
    match result {
        Err(Error::Validation(errors)) => {
            assert_eq!(errors[0].field, format!("line {cut_line}"))
        }
        other => panic!("a truncated import must fail, got {other:?}"),
    }
    assert_untouched("truncated").await;

    // A row the database refuses (a duplicate sku on the last item line).
    let last_item = lines
        .iter()
        .rposition(|l| l.contains(r#""type":"item""#))
        .unwrap();
    let first_item = lines
        .iter()
        .position(|l| l.contains(r#""type":"item""#))
        .unwrap();
    let first_sku: Value = serde_json::from_str(lines[first_item]).unwrap();
    let mut row: Value = serde_json::from_str(lines[last_item]).unwrap();
    row["sku"] = first_sku["sku"].clone();
    let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    changed[last_item] = row.to_string();
    let changed = changed.join("\n") + "\n";
    match target
        .import(dump::rows(std::io::Cursor::new(changed.into_bytes())))
        .await
    {
        Err(Error::Validation(errors)) => {
            assert_eq!(errors[0].field, format!("line {}", last_item + 1))
        }
        other => panic!("a duplicate sku must fail the import, got {other:?}"),
    }
    assert_untouched("refused row").await;

    // A database that is not empty is refused.
    let refused = source
        .import(dump::rows(std::io::Cursor::new(text.clone().into_bytes())))
        .await;
    assert!(
        matches!(&refused, Err(Error::Validation(e)) if e[0].field == "database"),
        "{refused:?}"
    );

    // And the good file still imports afterwards.
    target
        .import(dump::rows(std::io::Cursor::new(text.into_bytes())))
        .await
        .expect("import after failures");
    assert_eq!(target.count_users().await.unwrap(), 2);
}

/// `--without-users`: no user row and no password hash in the file, the
/// counts say so, and the file imports (into a database without users).
pub async fn an_export_without_users_holds_no_user_and_imports(source: S, target: S) {
    populate(&source).await;
    let options = ExportOptions {
        without_users: true,
    };
    let (counts, text) = export_text_with(&source, options).await;
    assert_eq!(counts.users, 0);
    assert!(counts.movements > 0 && counts.items > 0, "{counts:?}");
    assert!(
        !text.contains("\"type\":\"user\""),
        "a user row was written"
    );
    assert!(!text.contains("argon2"), "a password hash was written");
    let rows = inventory_core::dump::rows(std::io::Cursor::new(text.into_bytes()));
    let imported = target.import(rows).await.expect("import");
    assert_eq!(imported.users, 0);
    assert_eq!(imported.movements, counts.movements);
    assert_eq!(target.count_users().await.unwrap(), 0);
}
