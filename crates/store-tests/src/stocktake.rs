//! Contract tests of stock counts: differences become one batch of
//! adjustments, and a count is refused when its items moved after it.

use crate::helpers::*;

fn count(location: &str, as_of_seq: i64, lines: Vec<(Uuid, i64)>) -> StockCount {
    StockCount {
        location: Some(location.to_owned()),
        as_of_seq,
        reference: Some("SHEET-1".into()),
        lines,
    }
}

async fn head(store: &S) -> i64 {
    let page = store
        .list_movements(&MovementQuery {
            order: SeqOrder::Desc,
            limit: 1,
            ..MovementQuery::default()
        })
        .await
        .unwrap();
    page.rows.first().map_or(0, |m| m.seq)
}

pub async fn a_count_posts_only_its_differences(store: S) {
    let actor = new_actor(&store, "counter").await;
    let (a, b, c) = (
        new_item(&store, "CNT-A").await,
        new_item(&store, "CNT-B").await,
        new_item(&store, "CNT-C").await,
    );
    new_location(&store, "BACK").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 10, MAIN_LOCATION),
            receive(b.id, 5, MAIN_LOCATION),
            receive(b.id, 7, "BACK"),
        ],
    )
    .await;
    let seq = head(&store).await;
    let result = store
        .post_stock_count(
            count(MAIN_LOCATION, seq, vec![(a.id, 10), (b.id, 3), (c.id, 2)]),
            &actor,
        )
        .await
        .unwrap();
    let lines: Vec<(&str, i64, i64, i64)> = result
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.counted, l.expected, l.difference))
        .collect();
    assert_eq!(
        lines,
        [
            ("CNT-A", 10, 10, 0),
            ("CNT-B", 3, 5, -2),
            ("CNT-C", 2, 0, 2)
        ]
    );
    let posted: Vec<(Uuid, i64)> = result
        .adjustments
        .iter()
        .map(|r| (r.movement.item_id, r.movement.quantity))
        .collect();
    assert_eq!(
        posted,
        [(b.id, -2), (c.id, 2)],
        "none where the count matches"
    );
    for r in &result.adjustments {
        assert_eq!(r.movement.kind, MovementKind::Adjust);
        assert_eq!(r.movement.reason.as_deref(), Some("stock count"));
        assert_eq!(r.movement.reference.as_deref(), Some("SHEET-1"));
        assert_eq!(r.movement.location.as_deref(), Some(MAIN_LOCATION));
    }
    // Only the counted location changed: BACK keeps its 7.
    assert_eq!(assert_consistent(&store, b.id).await, 10);
    assert_eq!(assert_consistent(&store, c.id).await, 2);
    assert_eq!(assert_consistent(&store, a.id).await, 10);

    // A count that matches everywhere posts nothing and succeeds; one that
    // names no location counts the default one.
    let mut at_default = count(MAIN_LOCATION, head(&store).await, vec![(b.id, 3)]);
    at_default.location = None;
    let again = store.post_stock_count(at_default, &actor).await.unwrap();
    assert!(again.adjustments.is_empty());
    assert_eq!(again.location, MAIN_LOCATION);
    assert_eq!(again.lines[0].expected, 3);
}

pub async fn a_count_after_which_an_item_moved_is_refused(store: S) {
    let actor = new_actor(&store, "counter").await;
    let (a, b) = (
        new_item(&store, "OLD-A").await,
        new_item(&store, "OLD-B").await,
    );
    new_location(&store, "BACK").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 4, MAIN_LOCATION),
            receive(b.id, 4, MAIN_LOCATION),
        ],
    )
    .await;
    let sheet = head(&store).await;
    // B leaves MAIN after the sheet was opened; A moves only elsewhere.
    apply_ok(
        &store,
        &actor,
        vec![transfer(b.id, 1, MAIN_LOCATION, "BACK")],
    )
    .await;
    apply_ok(&store, &actor, vec![receive(a.id, 1, "BACK")]).await;
    let before = head(&store).await;
    let refused = store
        .post_stock_count(
            count(MAIN_LOCATION, sheet, vec![(a.id, 1), (b.id, 1)]),
            &actor,
        )
        .await;
    match refused {
        Err(Error::CountOutdated {
            as_of_seq, moved, ..
        }) => {
            assert_eq!(as_of_seq, sheet);
            assert_eq!(
                moved,
                [MovedItem {
                    item_id: b.id,
                    sku: "OLD-B".into()
                }]
            );
        }
        other => panic!("expected CountOutdated, got {other:?}"),
    }
    assert_eq!(head(&store).await, before, "a refused count writes nothing");
    assert_eq!(assert_consistent(&store, a.id).await, 5);

    // Beyond the ledger, an unknown item, one item twice: refused too.
    let beyond = store
        .post_stock_count(count(MAIN_LOCATION, before + 1, vec![(a.id, 1)]), &actor)
        .await;
    assert!(matches!(beyond, Err(Error::Validation(f)) if f[0].field == "as_of_seq"));
    let ghost = store
        .post_stock_count(
            count(MAIN_LOCATION, before, vec![(Uuid::now_v7(), 1)]),
            &actor,
        )
        .await;
    assert!(matches!(ghost, Err(Error::Validation(f)) if f[0].field == "lines[0].item_id"));
    let twice = store
        .post_stock_count(
            count(MAIN_LOCATION, before, vec![(a.id, 1), (a.id, 2)]),
            &actor,
        )
        .await;
    assert!(matches!(twice, Err(Error::Validation(f)) if f[0].field == "lines[1]"));
    assert_eq!(head(&store).await, before);

    // Counted again from the new position, it posts.
    let posted = store
        .post_stock_count(count(MAIN_LOCATION, before, vec![(b.id, 1)]), &actor)
        .await
        .unwrap();
    assert_eq!(posted.adjustments[0].movement.quantity, -2);
}

/// A count racing a movement of a counted item: either the count commits
/// first (and the movement applies on top of the counted figure) or the
/// movement does (and the count is refused). Never a count computed
/// against books that the movement had already changed.
pub async fn a_count_racing_a_movement_is_never_stale(store: S) {
    let actor = new_actor(&store, "counter").await;
    for round in 0..20 {
        let item = new_item(&store, &format!("RACE-CNT-{round}")).await;
        apply_ok(&store, &actor, vec![receive(item.id, 10, MAIN_LOCATION)]).await;
        let sheet = head(&store).await;
        let counting = {
            let (store, actor) = (store.clone(), actor.clone());
            tokio::spawn(async move {
                store
                    .post_stock_count(count(MAIN_LOCATION, sheet, vec![(item.id, 7)]), &actor)
                    .await
            })
        };
        let issuing = {
            let (store, actor) = (store.clone(), actor.clone());
            tokio::spawn(async move {
                apply(&store, &actor, vec![issue(item.id, 1, MAIN_LOCATION)]).await
            })
        };
        let counted = counting.await.unwrap();
        issuing
            .await
            .unwrap()
            .expect("the issue applies either way");
        let on_hand = assert_consistent(&store, item.id).await;
        match counted {
            Ok(result) => {
                assert_eq!(result.lines[0].expected, 10);
                assert_eq!(on_hand, 6, "counted 7, then one issued");
            }
            Err(Error::CountOutdated { .. }) => assert_eq!(on_hand, 9, "nothing counted"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

pub async fn on_hand_at_reads_the_books_of_many_items_at_once(store: S) {
    let actor = new_actor(&store, "books").await;
    new_location(&store, "BOOKS-B").await;
    let a = new_item(&store, "BOOKS-1").await;
    let b = new_item(&store, "BOOKS-2").await;
    let c = new_item(&store, "BOOKS-3").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 5, "MAIN"),
            receive(a.id, 3, "BOOKS-B"),
            receive(b.id, 2, "BOOKS-B"),
        ],
    )
    .await;
    let ids = vec![a.id, b.id, c.id];
    let main = store.on_hand_at("MAIN", ids.clone()).await.unwrap();
    assert_eq!(main, [(a.id, 5)].into_iter().collect());
    let shelf = store.on_hand_at("BOOKS-B", ids.clone()).await.unwrap();
    assert_eq!(shelf, [(a.id, 3), (b.id, 2)].into_iter().collect());
    assert!(store.on_hand_at("NOWHERE", ids).await.unwrap().is_empty());
    assert!(store
        .on_hand_at("MAIN", Vec::new())
        .await
        .unwrap()
        .is_empty());
}
