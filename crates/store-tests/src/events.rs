//! Contract tests of the change feed.

use crate::helpers::*;

// ================================================================ the change feed

pub async fn events_follow_every_committed_change(store: S) {
    let actor = new_actor(&store, "feeder").await;
    assert!(store.events_after(0, 100).await.unwrap().is_empty());
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    let item = new_item(&store, "EV-1").await;
    store
        .update_item(item.id, patch(json!({"name": "Renamed"})), None)
        .await
        .unwrap();
    let moved = apply_ok(&store, &actor, vec![receive(item.id, 3, MAIN_LOCATION)]).await;
    // A refused write records nothing.
    assert!(
        apply(&store, &actor, vec![issue(item.id, 99, MAIN_LOCATION)])
            .await
            .is_err()
    );
    apply_ok(&store, &actor, vec![issue(item.id, 3, MAIN_LOCATION)]).await;
    assert!(store.archive_item(item.id, None).await.unwrap());

    let events = store.events_after(0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            event_kind::ITEM_CREATED,
            event_kind::ITEM_UPDATED,
            event_kind::MOVEMENT_CREATED,
            event_kind::MOVEMENT_CREATED,
            event_kind::ITEM_ARCHIVED
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert_eq!(store.last_event_id().await.unwrap(), events[4].id);
    assert_eq!(events[0].entity_id, item.id);
    assert_eq!(events[1].data["name"], "Renamed");
    assert_eq!(events[2].entity_id, moved[0].movement.id);
    assert_eq!(events[2].data["balances"]["on_hand"], 3);
    assert_eq!(events[4].data["archived"], true);

    // Resuming after any id gives exactly the rest, in order.
    for (i, e) in events.iter().enumerate() {
        let rest = store.events_after(e.id, 100).await.unwrap();
        assert_eq!(rest, events[i + 1..].to_vec());
    }
    assert_eq!(
        store.events_after(0, 2).await.unwrap(),
        events[..2].to_vec()
    );
}
