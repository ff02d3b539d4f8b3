//! Contract tests of the catalogue: items, archiving, locations, item lists.

use crate::helpers::*;

// ================================================================ items

pub async fn item_round_trip(store: S) {
    let mut attributes = Map::new();
    attributes.insert("color".into(), json!("blue"));
    attributes.insert("dims".into(), json!({"w": 10, "h": 2.5, "unit": "cm"}));
    attributes.insert("tags".into(), json!(["a", "b", "ü"]));
    attributes.insert("fragile".into(), json!(true));
    attributes.insert("note".into(), Value::Null);
    let spec = CreateItem {
        sku: "RT-1".into(),
        name: "Round trip ✓".into(),
        description: Some("Two\nlines".into()),
        category: Some("tools".into()),
        barcode: Some("4006381333931".into()),
        unit: Some("box".into()),
        reorder_point: Some(7),
        unit_cost: Some("1234567.8901".into()),
        attributes: Some(attributes.clone()),
    }
    .validate(inventory_core::now())
    .unwrap();
    assert_eq!(spec.unit_cost, 12_345_678_901);
    let before = Utc::now() - Duration::seconds(1);
    let item = add_item(&store, spec.clone()).await;
    let after = Utc::now() + Duration::seconds(1);

    assert_eq!(item.sku, "RT-1");
    assert_eq!(item.name, "Round trip ✓");
    assert_eq!(item.description.as_deref(), Some("Two\nlines"));
    assert_eq!(item.category.as_deref(), Some("tools"));
    assert_eq!(item.unit, "box");
    assert_eq!(item.reorder_point, 7);
    assert_eq!(item.unit_cost, 12_345_678_901);
    assert_eq!(item.attributes, attributes);
    assert!(!item.archived);
    assert_eq!((item.on_hand, item.reserved, item.available), (0, 0, 0));
    assert_eq!(item.version, 1);
    assert_eq!(item.created_at, item.updated_at);
    assert!(
        item.created_at > before && item.created_at < after,
        "created_at is now"
    );

    let got = store.get_item(item.id).await.unwrap();
    assert_eq!(
        got, item,
        "get_item returns exactly what create_item returned"
    );
    assert_eq!(format_unit_cost(got.unit_cost), "1234567.8901");

    // Defaults and the smallest cost survive too.
    let plain = CreateItem {
        sku: "RT-2".into(),
        name: "Plain".into(),
        description: None,
        category: None,
        barcode: None,
        unit: None,
        reorder_point: None,
        unit_cost: Some("0.0001".into()),
        attributes: None,
    }
    .validate(inventory_core::now())
    .unwrap();
    let plain = add_item(&store, plain).await;
    let got = store.get_item(plain.id).await.unwrap();
    assert_eq!(got, plain);
    assert_eq!(got.unit, "pcs");
    assert_eq!(got.unit_cost, 1);
    assert_eq!(got.description, None);
    assert_eq!(got.category, None);
    assert!(got.attributes.is_empty());
    assert_ne!(got.id, item.id);
    assert_eq!(store.count_items().await.unwrap(), 2);
}

pub async fn duplicate_sku_conflicts(store: S) {
    let first = new_item(&store, "DUP-1").await;
    let again = store
        .create_item(item_spec("DUP-1", "Another name", Some("x"), 3), None)
        .await;
    assert_conflict(again, ConflictKind::DuplicateSku);
    assert_eq!(store.count_items().await.unwrap(), 1);
    assert_eq!(
        store.get_item(first.id).await.unwrap(),
        first,
        "the first item is untouched"
    );
    // The sku stays taken after archiving: it is the item's identity.
    store.archive_item(first.id, None).await.unwrap();
    let again = store
        .create_item(item_spec("DUP-1", "Third", None, 0), None)
        .await;
    assert_conflict(again, ConflictKind::DuplicateSku);
}

pub async fn barcodes_are_unique_when_set_and_found_exactly(store: S) {
    let with_code = |sku: &str, code: Option<&str>| {
        let mut item = item_spec(sku, &format!("Item {sku}"), None, 0);
        item.barcode = code.map(str::to_owned);
        item
    };
    let a = add_item(&store, with_code("BC-A", Some("4006381333931"))).await;
    // Any number of items may have no barcode.
    add_item(&store, with_code("BC-B", None)).await;
    let c = add_item(&store, with_code("BC-C", None)).await;
    let again = store
        .create_item(with_code("BC-D", Some("4006381333931")), None)
        .await;
    match again {
        Err(Error::Conflict {
            kind: ConflictKind::DuplicateBarcode,
            detail,
        }) => assert!(detail.contains("4006381333931"), "{detail}"),
        other => panic!("expected a duplicate barcode, got {other:?}"),
    }
    let patch: ItemPatch = serde_json::from_value(json!({"barcode": "4006381333931"})).unwrap();
    assert_conflict(
        store.update_item(c.id, patch, None).await,
        ConflictKind::DuplicateBarcode,
    );
    assert_eq!(
        store.get_item(c.id).await.unwrap(),
        c,
        "a refused edit changes nothing"
    );
    assert_eq!(store.count_items().await.unwrap(), 3);

    let find = |query: ItemQuery| {
        let store = store.clone();
        async move {
            let page = store.list_items(&query).await.unwrap();
            page.rows.into_iter().map(|i| i.sku).collect::<Vec<_>>()
        }
    };
    let by_barcode = |code: &str| ItemQuery {
        barcode: Some(code.to_owned()),
        ..ItemQuery::default()
    };
    assert_eq!(find(by_barcode("4006381333931")).await, ["BC-A"]);
    assert!(
        find(by_barcode("400638133393")).await.is_empty(),
        "exact, not a prefix"
    );
    let q = |text: &str| ItemQuery {
        q: Some(text.to_owned()),
        ..ItemQuery::default()
    };
    assert_eq!(
        find(q("4006381333931")).await,
        ["BC-A"],
        "search finds a barcode"
    );
    assert_eq!(find(q("BC-")).await, ["BC-A", "BC-B", "BC-C"]);

    // A barcode is removed by null, and then free for another item.
    let clear: ItemPatch = serde_json::from_value(json!({"barcode": null})).unwrap();
    let cleared = store.update_item(a.id, clear, None).await.unwrap();
    assert_eq!(cleared.barcode, None);
    let take: ItemPatch = serde_json::from_value(json!({"barcode": "4006381333931"})).unwrap();
    let taken = store.update_item(c.id, take, None).await.unwrap();
    assert_eq!(taken.barcode.as_deref(), Some("4006381333931"));
    assert_eq!(store.get_item(c.id).await.unwrap().barcode, taken.barcode);
}

pub async fn unknown_item_is_not_found(store: S) {
    let ghost = Uuid::now_v7();
    assert_not_found(store.get_item(ghost).await);
    assert_not_found(
        store
            .update_item(ghost, patch(json!({"name": "x"})), None)
            .await,
    );
    assert_not_found(store.archive_item(ghost, None).await);
    assert_not_found(store.item_stock(ghost, None).await);
    assert_not_found(store.get_location(ghost).await);
}

pub async fn update_item_merge_patch_bumps_version(store: S) {
    let spec = CreateItem {
        sku: "UP-1".into(),
        name: "Original".into(),
        description: Some("to be cleared".into()),
        category: Some("cat".into()),
        barcode: None,
        unit: Some("kg".into()),
        reorder_point: Some(4),
        unit_cost: Some("9.99".into()),
        attributes: Some(
            json!({"color": "blue", "size": "L", "nested": {"a": 1, "b": 2}})
                .as_object()
                .unwrap()
                .clone(),
        ),
    }
    .validate(inventory_core::now())
    .unwrap();
    let item = add_item(&store, spec).await;

    let updated = store
        .update_item(
            item.id,
            patch(json!({
                "name": "Renamed",
                "description": null,
                "unit_cost": "2.5",
                "attributes": {"color": "red", "size": null, "nested": {"b": null, "c": 3}}
            })),
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2, "an update bumps the version");
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.description, None, "null clears a field");
    assert_eq!(
        updated.category.as_deref(),
        Some("cat"),
        "absent fields stay"
    );
    assert_eq!(updated.unit, "kg");
    assert_eq!(updated.reorder_point, 4);
    assert_eq!(updated.unit_cost, 25_000);
    assert_eq!(
        Value::Object(updated.attributes.clone()),
        json!({"color": "red", "nested": {"a": 1, "c": 3}}),
        "attributes merge as RFC 7396 says"
    );
    assert_eq!(updated.sku, item.sku);
    assert_eq!(updated.created_at, item.created_at);
    assert!(updated.updated_at >= item.updated_at);
    assert_eq!(
        store.get_item(item.id).await.unwrap(),
        updated,
        "the update was stored"
    );

    // With the current version the update goes through.
    let again = store
        .update_item(item.id, patch(json!({"reorder_point": 12})), Some(2))
        .await
        .unwrap();
    assert_eq!(again.version, 3);
    assert_eq!(again.reorder_point, 12);
    assert_eq!(again.name, "Renamed");
    assert_eq!(store.get_item(item.id).await.unwrap(), again);
}

pub async fn update_item_stale_version_changes_nothing(store: S) {
    let item = new_item(&store, "STALE-1").await;
    let v2 = store
        .update_item(item.id, patch(json!({"name": "Second"})), Some(1))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let stale = store
        .update_item(
            item.id,
            patch(json!({"name": "Lost update", "reorder_point": 99})),
            Some(1),
        )
        .await;
    assert!(
        matches!(stale, Err(Error::PreconditionFailed)),
        "a stale if_version must fail, got {stale:?}"
    );
    assert_eq!(
        store.get_item(item.id).await.unwrap(),
        v2,
        "nothing changed"
    );

    let stale_archive = store.archive_item(item.id, Some(1)).await;
    assert!(
        matches!(stale_archive, Err(Error::PreconditionFailed)),
        "archive with a stale if_version must fail, got {stale_archive:?}"
    );
    assert!(!store.get_item(item.id).await.unwrap().archived);

    // An invalid patch changes nothing either.
    let invalid = store
        .update_item(item.id, patch(json!({"name": null})), None)
        .await;
    assert!(
        matches!(invalid, Err(Error::Validation(_))),
        "got {invalid:?}"
    );
    assert_eq!(store.get_item(item.id).await.unwrap(), v2);
}

// ================================================================ archive

pub async fn archive_refuses_item_with_stock(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "ARC-1").await;
    apply_ok(&store, &actor, vec![receive(item.id, 5, MAIN_LOCATION)]).await;
    let before = store.get_item(item.id).await.unwrap();
    assert_conflict(
        store.archive_item(item.id, None).await,
        ConflictKind::ItemHasStock,
    );
    let after = store.get_item(item.id).await.unwrap();
    assert!(!after.archived);
    assert_eq!(after, before, "a refused archive changes nothing");

    apply_ok(&store, &actor, vec![issue(item.id, 5, MAIN_LOCATION)]).await;
    let current = store.get_item(item.id).await.unwrap();
    assert!(
        store
            .archive_item(item.id, Some(current.version))
            .await
            .unwrap(),
        "archive_item reports that this call archived the item"
    );
    assert!(store.get_item(item.id).await.unwrap().archived);
    assert!(
        !store.archive_item(item.id, None).await.unwrap(),
        "archiving an archived item again reports false"
    );
    assert!(store.get_item(item.id).await.unwrap().archived);
    assert_eq!(assert_consistent(&store, item.id).await, 0);
}

pub async fn archived_item_is_hidden_and_takes_no_movements(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let gone = new_item(&store, "HIDE-1").await;
    let kept = new_item(&store, "HIDE-2").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(gone.id, 3, MAIN_LOCATION),
            issue(gone.id, 3, MAIN_LOCATION),
        ],
    )
    .await;
    assert_eq!(store.count_items().await.unwrap(), 2);

    assert!(store.archive_item(gone.id, None).await.unwrap());
    let archived = store.get_item(gone.id).await.unwrap();
    assert!(archived.archived, "get_item still returns an archived item");
    assert_eq!(
        store.count_items().await.unwrap(),
        1,
        "count_items excludes archived items"
    );
    assert_eq!(
        store.count_all_items().await.unwrap(),
        2,
        "count_all_items includes archived items"
    );

    let listed = store.list_items(&ItemQuery::default()).await.unwrap();
    assert_eq!(skus(&listed.rows), vec!["HIDE-2".to_owned()]);
    let all = store
        .list_items(&ItemQuery {
            include_archived: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(skus(&all.rows), strings(&["HIDE-1", "HIDE-2"]));
    assert!(all.rows[0].archived && !all.rows[1].archived);
    let by_sku = store
        .list_items(&ItemQuery {
            sku: Some("HIDE-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        by_sku.rows.is_empty(),
        "an sku filter does not reveal archived items"
    );

    let ledger_before = movements_of(&store, gone.id).await.len();
    let err = apply(&store, &actor, vec![receive(gone.id, 1, MAIN_LOCATION)])
        .await
        .expect_err("an archived item takes no movement");
    let (index, cause) = at_index(err);
    assert_eq!(index, 0);
    assert!(
        matches!(
            cause,
            Error::Conflict {
                kind: ConflictKind::ItemArchived,
                ..
            }
        ),
        "got {cause:?}"
    );
    // Nor as the second entry of a batch whose first is fine.
    let err = apply(
        &store,
        &actor,
        vec![
            receive(kept.id, 1, MAIN_LOCATION),
            receive(gone.id, 1, MAIN_LOCATION),
        ],
    )
    .await
    .expect_err("an archived item takes no movement");
    let (index, cause) = at_index(err);
    assert_eq!(index, 1);
    assert!(
        matches!(
            cause,
            Error::Conflict {
                kind: ConflictKind::ItemArchived,
                ..
            }
        ),
        "got {cause:?}"
    );
    assert_eq!(movements_of(&store, gone.id).await.len(), ledger_before);
    assert_eq!(assert_consistent(&store, gone.id).await, 0);
    assert_eq!(
        assert_consistent(&store, kept.id).await,
        0,
        "the batch was rolled back"
    );
}

// ================================================================ locations

pub async fn main_location_exists(store: S) {
    let page = store.list_locations(None, 100).await.unwrap();
    assert_eq!(
        page.rows.len(),
        1,
        "a fresh store holds exactly MAIN: {:?}",
        page.rows
    );
    let main = &page.rows[0];
    assert_eq!(main.code, MAIN_LOCATION);
    assert!(page.next_cursor.is_none());
    assert_eq!(&store.get_location(main.id).await.unwrap(), main);
    assert!(main.is_default, "MAIN starts as the default location");
    // MAIN is a location like any other: its name and its code may change.
    let renamed = store
        .update_location(
            main.id,
            LocationPatch {
                code: Some(Some(" store ".into())),
                name: Some(Some("Head office".into())),
                default: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.code, "STORE");
    assert_eq!(renamed.name, "Head office");
    assert!(renamed.is_default, "renaming keeps the default");
    assert_eq!(store.get_location(main.id).await.unwrap(), renamed);
    assert_eq!(
        store.find_location("STORE").await.unwrap().as_ref(),
        Some(&renamed)
    );
    assert!(store.find_location(MAIN_LOCATION).await.unwrap().is_none());
}

pub async fn main_location_code_patch_is_normalised(store: S) {
    let main = store.list_locations(None, 10).await.unwrap().rows.remove(0);
    assert_eq!(main.code, MAIN_LOCATION);
    // "main" normalises to MAIN, so the patch keeps MAIN's code and is allowed.
    let patched = store
        .update_location(
            main.id,
            LocationPatch {
                code: Some(Some(" main ".into())),
                name: Some(Some("Main store".into())),
                default: None,
            },
        )
        .await
        .expect("a patch whose code normalises to MAIN keeps MAIN's code");
    assert_eq!(patched.code, MAIN_LOCATION);
    assert_eq!(patched.name, "Main store");
    assert_eq!(store.get_location(main.id).await.unwrap(), patched);
}

pub async fn location_create_duplicate_update(store: S) {
    let spec = CreateLocation {
        code: " wh-2 ".into(),
        name: "Warehouse 2".into(),
        default: None,
    }
    .validate(inventory_core::now())
    .unwrap();
    let loc = created(store.create_location(spec, None).await, "create_location");
    assert_eq!(loc.code, "WH-2");
    assert_eq!(loc.name, "Warehouse 2");
    assert_eq!(loc.created_at, loc.updated_at);
    assert_eq!(store.get_location(loc.id).await.unwrap(), loc);

    let dup = CreateLocation {
        code: "wh-2".into(),
        name: "Again".into(),
        default: None,
    }
    .validate(inventory_core::now())
    .unwrap();
    assert_conflict(
        store.create_location(dup, None).await,
        ConflictKind::DuplicateLocationCode,
    );
    assert_eq!(store.list_locations(None, 100).await.unwrap().rows.len(), 2);

    let renamed = store
        .update_location(
            loc.id,
            LocationPatch {
                code: None,
                name: Some(Some("Second warehouse".into())),
                default: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Second warehouse");
    assert_eq!(renamed.code, "WH-2");
    assert_eq!(renamed.created_at, loc.created_at);
    assert!(renamed.updated_at >= loc.updated_at);
    assert_eq!(store.get_location(loc.id).await.unwrap(), renamed);

    let recoded = store
        .update_location(
            loc.id,
            LocationPatch {
                code: Some(Some("wh-3".into())),
                name: None,
                default: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(recoded.code, "WH-3");
    assert_eq!(recoded.name, "Second warehouse");
    assert_eq!(store.get_location(loc.id).await.unwrap(), recoded);

    let other = new_location(&store, "X1").await;
    let clash = store
        .update_location(
            other.id,
            LocationPatch {
                code: Some(Some("WH-3".into())),
                name: None,
                default: None,
            },
        )
        .await;
    assert_conflict(clash, ConflictKind::DuplicateLocationCode);
    assert_eq!(store.get_location(other.id).await.unwrap(), other);

    assert_not_found(
        store
            .update_location(Uuid::now_v7(), LocationPatch::default())
            .await,
    );
}

pub async fn location_list_paging(store: S) {
    for code in ["L05", "L02", "L07", "L01", "L06", "L03", "L04"] {
        new_location(&store, code).await;
    }
    let expected = strings(&["L01", "L02", "L03", "L04", "L05", "L06", "L07", "MAIN"]);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list_locations(after.as_deref(), 3).await.unwrap();
        pages += 1;
        assert!(page.rows.len() <= 3);
        seen.extend(page.rows.iter().map(|l| l.code.clone()));
        match page.next_cursor {
            Some(c) => {
                assert_eq!(
                    Some(&c),
                    page.rows.last().map(|l| &l.code),
                    "cursor is the last code"
                );
                after = Some(c);
            }
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    let page = store.list_locations(Some("L03"), 2).await.unwrap();
    assert_eq!(
        page.rows
            .iter()
            .map(|l| l.code.as_str())
            .collect::<Vec<_>>(),
        ["L04", "L05"]
    );
    let page = store.list_locations(None, 8).await.unwrap();
    assert_eq!(page.rows.len(), 8);
    assert!(page.next_cursor.is_none(), "no cursor when nothing follows");
}

// ================================================================ list_items

async fn seed_catalogue(store: &S) -> BTreeMap<&'static str, Item> {
    let specs = [
        ("WIDGET-001", "Blue thing", Some("tools"), 0),
        ("WIDGET-002", "Red Widget", Some("tools"), 5),
        ("SPROCKET-1", "widget holder", Some("parts"), 3),
        ("GADGET-001", "Gizmo DELUXE", Some("toys"), 10),
        ("BOLT-10", "Hex bolt", None, 0),
    ];
    let mut out = BTreeMap::new();
    for (sku, name, category, rp) in specs {
        out.insert(
            sku,
            add_item(store, item_spec(sku, name, category, rp)).await,
        );
    }
    out
}

pub async fn list_items_filters(store: S) {
    seed_catalogue(&store).await;
    let q = |text: &str| ItemQuery {
        q: Some(text.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, q("widget")).await,
        strings(&["SPROCKET-1", "WIDGET-001", "WIDGET-002"]),
        "q matches sku or name, case-insensitively"
    );
    assert_eq!(
        list_skus(&store, q("WIDGET")).await,
        strings(&["SPROCKET-1", "WIDGET-001", "WIDGET-002"])
    );
    assert_eq!(
        list_skus(&store, q("deluxe")).await,
        strings(&["GADGET-001"])
    );
    assert_eq!(list_skus(&store, q("gad")).await, strings(&["GADGET-001"]));
    assert_eq!(
        list_skus(&store, q("t-00")).await,
        strings(&["GADGET-001", "WIDGET-001", "WIDGET-002"])
    );
    assert_eq!(
        list_skus(&store, q("_")).await,
        Vec::<String>::new(),
        "'_' is no wildcard"
    );
    assert_eq!(
        list_skus(&store, q("%")).await,
        Vec::<String>::new(),
        "'%' is no wildcard"
    );
    assert_eq!(
        list_skus(&store, q("nothing-like-this")).await,
        Vec::<String>::new()
    );

    let category = |c: &str| ItemQuery {
        category: Some(c.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, category("tools")).await,
        strings(&["WIDGET-001", "WIDGET-002"])
    );
    assert_eq!(
        list_skus(&store, category("toys")).await,
        strings(&["GADGET-001"])
    );
    assert_eq!(
        list_skus(&store, category("none")).await,
        Vec::<String>::new()
    );

    let sku = |s: &str| ItemQuery {
        sku: Some(s.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, sku("BOLT-10")).await,
        strings(&["BOLT-10"])
    );
    assert_eq!(
        list_skus(&store, sku("BOLT")).await,
        Vec::<String>::new(),
        "sku is an exact match"
    );

    let both = ItemQuery {
        q: Some("widget".into()),
        category: Some("tools".into()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, both).await,
        strings(&["WIDGET-001", "WIDGET-002"])
    );

    // Archived items drop out of filtered lists unless asked for.
    let all = store.list_items(&ItemQuery::default()).await.unwrap();
    let sprocket = all.rows.iter().find(|i| i.sku == "SPROCKET-1").unwrap();
    store.archive_item(sprocket.id, None).await.unwrap();
    assert_eq!(
        list_skus(&store, q("widget")).await,
        strings(&["WIDGET-001", "WIDGET-002"])
    );
    let with_archived = ItemQuery {
        include_archived: true,
        ..q("widget")
    };
    assert_eq!(
        list_skus(&store, with_archived).await,
        strings(&["SPROCKET-1", "WIDGET-001", "WIDGET-002"])
    );
}

pub async fn list_items_q_ignores_case_beyond_ascii(store: S) {
    add_item(&store, item_spec("OIL-1", "Ölfilter", None, 0)).await;
    add_item(&store, item_spec("ECL-1", "éclair box", None, 0)).await;
    add_item(&store, item_spec("ASCII-1", "Plain", None, 0)).await;
    let q = |text: &str| ItemQuery {
        q: Some(text.to_owned()),
        ..Default::default()
    };
    assert_eq!(list_skus(&store, q("Ölfilter")).await, strings(&["OIL-1"]));
    assert_eq!(
        list_skus(&store, q("ölfilter")).await,
        strings(&["OIL-1"]),
        "q is case-insensitive for non-ASCII letters too (ö matches Ö)"
    );
    assert_eq!(
        list_skus(&store, q("ÉCLAIR")).await,
        strings(&["ECL-1"]),
        "q is case-insensitive for non-ASCII letters too (É matches é)"
    );
}

pub async fn list_items_low_stock(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let items = seed_catalogue(&store).await;
    let low = || ItemQuery {
        low_stock: true,
        ..Default::default()
    };
    // WIDGET-002: 0 <= 5 (low); SPROCKET-1 gets 3 <= 3 (low);
    // GADGET-001 gets 20 > 10 (fine); reorder point 0 is never low.
    apply_ok(
        &store,
        &actor,
        vec![
            receive(items["SPROCKET-1"].id, 3, MAIN_LOCATION),
            receive(items["GADGET-001"].id, 20, MAIN_LOCATION),
        ],
    )
    .await;
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["SPROCKET-1", "WIDGET-002"])
    );
    assert_eq!(store.count_low_stock().await.unwrap(), 2);

    apply_ok(
        &store,
        &actor,
        vec![issue(items["GADGET-001"].id, 10, MAIN_LOCATION)],
    )
    .await;
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["GADGET-001", "SPROCKET-1", "WIDGET-002"]),
        "available == reorder_point counts as low"
    );
    assert_eq!(store.count_low_stock().await.unwrap(), 3);

    store
        .update_item(
            items["WIDGET-002"].id,
            patch(json!({"reorder_point": 0})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["GADGET-001", "SPROCKET-1"])
    );
    assert_eq!(store.count_low_stock().await.unwrap(), 2);

    let extra = add_item(&store, item_spec("LOWARCH-1", "Soon gone", None, 5)).await;
    assert_eq!(store.count_low_stock().await.unwrap(), 3);
    store.archive_item(extra.id, None).await.unwrap();
    assert_eq!(
        store.count_low_stock().await.unwrap(),
        2,
        "archived items are not low on stock"
    );
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["GADGET-001", "SPROCKET-1"])
    );

    let low_tools = ItemQuery {
        category: Some("toys".into()),
        ..low()
    };
    assert_eq!(list_skus(&store, low_tools).await, strings(&["GADGET-001"]));
}

pub async fn list_items_sorts_and_paging(store: S) {
    let order = [
        "S-05", "S-02", "S-09", "S-01", "S-07", "S-03", "S-08", "S-04", "S-06",
    ];
    let mut created = Vec::new();
    for sku in order {
        created.push(new_item(&store, sku).await);
    }
    let mut by_sku: Vec<String> = order.iter().map(|s| (*s).to_owned()).collect();
    by_sku.sort();
    let by_created: Vec<String> = order.iter().map(|s| (*s).to_owned()).collect();
    let cases = [
        (ItemSort::SkuAsc, by_sku.clone()),
        (
            ItemSort::SkuDesc,
            by_sku.iter().rev().cloned().collect::<Vec<_>>(),
        ),
        (ItemSort::CreatedAsc, by_created.clone()),
        (
            ItemSort::CreatedDesc,
            by_created.iter().rev().cloned().collect::<Vec<_>>(),
        ),
    ];
    for (sort, expected) in cases {
        let whole = store
            .list_items(&ItemQuery {
                sort,
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(skus(&whole.rows), expected, "{sort:?} order");
        assert!(whole.next_cursor.is_none());

        let exact = store
            .list_items(&ItemQuery {
                sort,
                limit: 9,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(exact.rows.len(), 9);
        assert!(
            exact.next_cursor.is_none(),
            "{sort:?}: no cursor when nothing follows"
        );

        let pages = page_all_items(
            &store,
            ItemQuery {
                sort,
                limit: 4,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            pages.iter().map(|p| p.rows.len()).collect::<Vec<_>>(),
            [4, 4, 1],
            "{sort:?} page sizes"
        );
        for page in &pages {
            if let Some(cursor) = &page.next_cursor {
                let last = page.rows.last().unwrap();
                assert_eq!(
                    cursor,
                    &item_key(sort, last),
                    "{sort:?}: cursor is the last row's key"
                );
            }
        }
        let paged: Vec<String> = pages.iter().flat_map(|p| skus(&p.rows)).collect();
        assert_eq!(
            paged, expected,
            "{sort:?} pages concatenate to the whole list"
        );
    }

    // created_at order agrees with the creation timestamps.
    let asc = store
        .list_items(&ItemQuery {
            sort: ItemSort::CreatedAsc,
            ..Default::default()
        })
        .await
        .unwrap();
    for pair in asc.rows.windows(2) {
        assert!(pair[0].created_at <= pair[1].created_at);
    }
    // Paging composes with filters.
    let filtered = page_all_items(
        &store,
        ItemQuery {
            q: Some("s-0".into()),
            sort: ItemSort::SkuDesc,
            limit: 2,
            ..Default::default()
        },
    )
    .await;
    let paged: Vec<String> = filtered.iter().flat_map(|p| skus(&p.rows)).collect();
    assert_eq!(paged, by_sku.iter().rev().cloned().collect::<Vec<_>>());
}

pub async fn list_items_paging_under_concurrent_inserts(store: S) {
    let mut initial = HashSet::new();
    for i in 0..60 {
        initial.insert(new_item(&store, &format!("P-{:03}", i * 2)).await.id);
    }
    for (round, sort) in [
        ItemSort::SkuAsc,
        ItemSort::SkuDesc,
        ItemSort::CreatedAsc,
        ItemSort::CreatedDesc,
    ]
    .into_iter()
    .enumerate()
    {
        let before: HashSet<Uuid> = page_all_items(
            &store,
            ItemQuery {
                sort,
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .iter()
        .flat_map(|p| p.rows.iter().map(|i| i.id))
        .collect();
        assert!(before.is_superset(&initial));

        let inserter = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    // Keys land between and around the existing ones.
                    let sku = format!("P-{:03}-{round}", (i * 37) % 120);
                    new_item(&store, &sku).await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut query = ItemQuery {
            sort,
            limit: 7,
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut last_key: Option<String> = None;
        loop {
            let page = store.list_items(&query).await.unwrap();
            for item in &page.rows {
                assert!(seen.insert(item.id), "{sort:?}: {} was repeated", item.sku);
                let key = item_key(sort, item);
                if let Some(prev) = &last_key {
                    let ordered = if sort.descending() {
                        &key < prev
                    } else {
                        &key > prev
                    };
                    assert!(ordered, "{sort:?}: {key} after {prev}");
                }
                last_key = Some(key);
            }
            match page.next_cursor {
                Some(key) => query.after = Some(ItemCursor { sort, key }),
                None => break,
            }
            // Also insert right beside the page boundary, deterministically.
            if let Some(last) = page.rows.last() {
                new_item(&store, &format!("{}-B{round}", last.sku)).await;
            }
            pause().await;
        }
        inserter.await.unwrap();
        let missing: Vec<&Uuid> = before.difference(&seen).collect();
        assert!(
            missing.is_empty(),
            "{sort:?}: {} items that existed were skipped",
            missing.len()
        );
    }
}

// ================================================================ defaults, SKUs, restore

pub async fn default_location_moves_and_takes_unnamed_movements(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "DEF-1").await;
    let main = store.find_location(MAIN_LOCATION).await.unwrap().unwrap();
    let floor = new_location(&store, "FLOOR").await;
    assert!(!floor.is_default);

    // Without a location, a movement goes to the default: MAIN, at first.
    let unnamed = |kind, quantity| movement(item.id, kind, quantity, None, None, None, None);
    let r = apply_ok(&store, &actor, vec![unnamed(MovementKind::Receive, 5)]).await;
    assert_eq!(r[0].movement.location.as_deref(), Some(MAIN_LOCATION));
    assert_eq!(r[0].balances.locations[0].location, MAIN_LOCATION);

    // FLOOR becomes the default; MAIN stops being it, in one change.
    let patched = store
        .update_location(
            floor.id,
            LocationPatch {
                default: Some(Some(true)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(patched.is_default);
    let all = store.list_locations(None, 10).await.unwrap().rows;
    let defaults: Vec<&str> = all
        .iter()
        .filter(|l| l.is_default)
        .map(|l| l.code.as_str())
        .collect();
    assert_eq!(defaults, ["FLOOR"], "exactly one default: {all:?}");
    assert!(!store.get_location(main.id).await.unwrap().is_default);

    let r = apply_ok(&store, &actor, vec![unnamed(MovementKind::Receive, 7)]).await;
    assert_eq!(r[0].movement.location.as_deref(), Some("FLOOR"));
    let r = apply_ok(
        &store,
        &actor,
        vec![movement(
            item.id,
            MovementKind::Transfer,
            2,
            None,
            None,
            Some(MAIN_LOCATION),
            None,
        )],
    )
    .await;
    assert_eq!(r[0].movement.from_location.as_deref(), Some("FLOOR"));
    assert_eq!(r[0].movement.to_location.as_deref(), Some(MAIN_LOCATION));
    let stock = store.item_stock(item.id, None).await.unwrap();
    assert_eq!(location_balance(&stock.locations, "FLOOR"), 5);
    assert_eq!(location_balance(&stock.locations, MAIN_LOCATION), 7);

    // A transfer from the default to itself is refused and writes nothing.
    let e = apply(
        &store,
        &actor,
        vec![movement(
            item.id,
            MovementKind::Transfer,
            1,
            None,
            None,
            Some("FLOOR"),
            None,
        )],
    )
    .await
    .unwrap_err();
    let (_, cause) = at_index(e);
    let fields = cause.field_errors().expect("a validation error");
    assert!(fields[0].field.ends_with("to_location"), "{fields:?}");
    assert_eq!(assert_consistent(&store, item.id).await, 12);

    // The default stops being it only when another one becomes it.
    let e = store
        .update_location(
            floor.id,
            LocationPatch {
                default: Some(Some(false)),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(e, Err(Error::Validation(_))), "got {e:?}");
    // A location created as the default takes the flag at once.
    let spec = CreateLocation {
        code: "YARD".into(),
        name: "Yard".into(),
        default: Some(true),
    }
    .validate(inventory_core::now())
    .unwrap();
    let yard = created(store.create_location(spec, None).await, "create_location");
    assert!(yard.is_default);
    assert!(!store.get_location(floor.id).await.unwrap().is_default);
}

pub async fn skus_are_unique_without_regard_to_case(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let bolt = new_item(&store, "BOLT-M8").await;
    assert_conflict(
        store
            .create_item(item_spec("bolt-m8", "Other", None, 0), None)
            .await,
        ConflictKind::DuplicateSku,
    );
    let found = store.find_item_by_sku("Bolt-M8").await.unwrap();
    assert_eq!(found.map(|i| i.id), Some(bolt.id));
    assert!(store.find_item_by_sku("BOLT-M9").await.unwrap().is_none());
    let query = ItemQuery {
        sku: Some("bolt-m8".into()),
        ..Default::default()
    };
    assert_eq!(list_skus(&store, query).await, strings(&["BOLT-M8"]));

    // The SKU may change; the item keeps its id, so its history follows.
    apply_ok(&store, &actor, vec![receive(bolt.id, 3, MAIN_LOCATION)]).await;
    let renamed = store
        .update_item(bolt.id, patch(json!({"sku": "BOLT-M8X20"})), None)
        .await
        .unwrap();
    assert_eq!(renamed.sku, "BOLT-M8X20");
    assert_eq!(renamed.version, bolt.version + 1);
    assert_eq!(renamed.on_hand, 3);
    assert!(store.find_item_by_sku("BOLT-M8").await.unwrap().is_none());
    let history = movements_of(&store, bolt.id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].sku, "BOLT-M8X20", "the ledger shows the SKU now");

    // Taking another item's SKU, in any case, is a conflict that changes nothing.
    let nut = new_item(&store, "NUT-M8").await;
    assert_conflict(
        store
            .update_item(nut.id, patch(json!({"sku": "bolt-m8x20"})), None)
            .await,
        ConflictKind::DuplicateSku,
    );
    assert_eq!(store.get_item(nut.id).await.unwrap(), nut);
    // Changing only the case of its own SKU is allowed.
    let recased = store
        .update_item(nut.id, patch(json!({"sku": "nut-m8"})), None)
        .await
        .unwrap();
    assert_eq!(recased.sku, "nut-m8");
}

pub async fn restore_brings_an_archived_item_back(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RST-1").await;
    assert!(store.archive_item(item.id, None).await.unwrap());
    let archived = store.get_item(item.id).await.unwrap();
    assert!(archived.archived);

    // A stale version changes nothing.
    let stale = store.restore_item(item.id, Some(item.version)).await;
    assert!(
        matches!(stale, Err(Error::PreconditionFailed)),
        "got {stale:?}"
    );
    let (restored, now) = store
        .restore_item(item.id, Some(archived.version))
        .await
        .unwrap();
    assert!(now);
    assert!(!restored.archived);
    assert_eq!(restored.version, archived.version + 1);
    assert_eq!(store.get_item(item.id).await.unwrap(), restored);
    // Restoring an active item changes nothing.
    let (again, now) = store.restore_item(item.id, None).await.unwrap();
    assert!(!now);
    assert_eq!(again, restored);
    // It takes movements again and is listed again.
    apply_ok(&store, &actor, vec![receive(item.id, 2, MAIN_LOCATION)]).await;
    assert_eq!(
        list_skus(&store, ItemQuery::default()).await,
        strings(&["RST-1"])
    );
    // While archived, its SKU can be renamed away to free it.
    let old = new_item(&store, "OLD-1").await;
    store.archive_item(old.id, None).await.unwrap();
    store
        .update_item(old.id, patch(json!({"sku": "OLD-1-RETIRED"})), None)
        .await
        .unwrap();
    let reused = new_item(&store, "old-1").await;
    assert_ne!(reused.id, old.id);
}

pub async fn item_filters_ignore_case_and_follow_locations(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let floor = new_location(&store, "FLOOR").await;
    let mut ids = BTreeMap::new();
    for (sku, category) in [
        ("A", "Tools"),
        ("B", "TOOLS"),
        ("C", "Äpfel"),
        ("D", "paint"),
    ] {
        let item = add_item(&store, item_spec(sku, sku, Some(category), 0)).await;
        ids.insert(sku, item.id);
    }
    let by_category = |c: &str| ItemQuery {
        category: Some(c.into()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, by_category("tools")).await,
        strings(&["A", "B"])
    );
    assert_eq!(
        list_skus(&store, by_category("äPFEL")).await,
        strings(&["C"])
    );

    apply_ok(
        &store,
        &actor,
        vec![
            receive(ids["A"], 2, "FLOOR"),
            receive(ids["B"], 1, MAIN_LOCATION),
            receive(ids["C"], 4, "FLOOR"),
            issue(ids["C"], 4, "FLOOR"),
        ],
    )
    .await;
    let at = |code: &str| ItemQuery {
        location: Some(code.into()),
        ..Default::default()
    };
    // C held stock at FLOOR once; only what is on hand there now counts.
    assert_eq!(list_skus(&store, at(&floor.code)).await, strings(&["A"]));
    assert_eq!(list_skus(&store, at(MAIN_LOCATION)).await, strings(&["B"]));
    let paged = page_all_items(
        &store,
        ItemQuery {
            location: Some("FLOOR".into()),
            limit: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(paged.iter().map(|p| p.rows.len()).sum::<usize>(), 1);
}

// ================================================================ imports

fn rename(name: &str) -> ItemPatch {
    serde_json::from_value(json!({ "name": name })).unwrap()
}

pub async fn import_items_applies_every_write_with_its_events(store: S) {
    let old = new_item(&store, "IMP-OLD").await;
    let mut spec = item_spec("IMP-NEW", "New", None, 0);
    spec.barcode = Some("IMP-BC-1".into());
    let last = store.last_event_id().await.unwrap();
    let written = store
        .import_items(vec![
            ItemWrite::Update {
                id: old.id,
                patch: rename("Renamed"),
                version: old.version,
            },
            ItemWrite::Create(spec.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(
        (written[0].name.as_str(), written[0].version),
        ("Renamed", 2)
    );
    assert_eq!(written[1].id, spec.id);
    assert_eq!(store.get_item(spec.id).await.unwrap(), written[1]);
    assert_eq!(store.get_item(old.id).await.unwrap().name, "Renamed");
    let events = store.events_after(last, 10).await.unwrap();
    let kinds: Vec<(&str, Uuid)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.entity_id))
        .collect();
    assert_eq!(
        kinds,
        [("item.updated", old.id), ("item.created", spec.id)],
        "the same events as single writes, in order"
    );
    // The keys an import is checked against: SKUs folded, barcodes exact.
    let mut found = store
        .find_items_by_keys(
            vec!["imp-old".into()],
            vec!["IMP-BC-1".into(), "none".into()],
        )
        .await
        .unwrap();
    found.sort_by(|a, b| a.sku.cmp(&b.sku));
    let skus: Vec<&str> = found.iter().map(|i| i.sku.as_str()).collect();
    assert_eq!(skus, ["IMP-NEW", "IMP-OLD"]);
    assert!(store
        .find_items_by_keys(Vec::new(), Vec::new())
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_failing_import_row_writes_nothing(store: S) {
    let taken = new_item(&store, "IMP-TAKEN").await;
    let other = new_item(&store, "IMP-OTHER").await;
    let last = store.last_event_id().await.unwrap();
    let items_before = store.count_all_items().await.unwrap();
    let first = item_spec("IMP-FIRST", "First", None, 0);
    // The third write takes a SKU another item has (in another case).
    let err = store
        .import_items(vec![
            ItemWrite::Update {
                id: other.id,
                patch: rename("Changed"),
                version: other.version,
            },
            ItemWrite::Create(first.clone()),
            ItemWrite::Create(item_spec("imp-taken", "Clash", None, 0)),
        ])
        .await
        .unwrap_err();
    match err {
        Error::AtIndex { index: 2, source } => assert!(
            matches!(
                *source,
                Error::Conflict {
                    kind: ConflictKind::DuplicateSku,
                    ..
                }
            ),
            "{source:?}"
        ),
        other => panic!("expected a duplicate SKU at index 2, got {other:?}"),
    }
    assert!(matches!(
        store.get_item(first.id).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(store.get_item(other.id).await.unwrap().name, other.name);
    assert_eq!(store.count_all_items().await.unwrap(), items_before);
    assert_eq!(
        store.last_event_id().await.unwrap(),
        last,
        "no event either"
    );
    // An update at a version the item has left is refused: nothing lost.
    store
        .update_item(taken.id, rename("Meanwhile"), None)
        .await
        .unwrap();
    let err = store
        .import_items(vec![
            ItemWrite::Create(item_spec("IMP-SECOND", "Second", None, 0)),
            ItemWrite::Update {
                id: taken.id,
                patch: rename("Stale"),
                version: taken.version,
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AtIndex { index: 1, source } if matches!(**source, Error::PreconditionFailed)),
        "{err:?}"
    );
    assert_eq!(store.get_item(taken.id).await.unwrap().name, "Meanwhile");
    assert!(store
        .find_item_by_sku("IMP-SECOND")
        .await
        .unwrap()
        .is_none());
}
