//! Contract tests of operating the store: ping, idempotency records.

use crate::helpers::*;

// ================================================================ basics

pub async fn ping_answers(store: S) {
    store.ping().await.expect("ping");
    assert!(!store.backend().is_empty());
    assert_eq!(
        store.count_users().await.unwrap(),
        0,
        "a fresh store has no users"
    );
    assert_eq!(
        store.count_items().await.unwrap(),
        0,
        "a fresh store has no items"
    );
}

// ================================================================ idempotency

pub async fn idempotent_movements(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "IDEM-1").await;
    let id = item.id;

    let first = created(
        store
            .apply_movements(
                vec![receive(id, 10, MAIN_LOCATION)],
                &actor,
                Some(idem(actor.user_id, "k1", "h1", render_results())),
            )
            .await,
        "first apply",
    );
    let stored = store
        .find_idempotent(actor.user_id, "k1")
        .await
        .unwrap()
        .expect("the response was recorded");
    assert_eq!(
        stored,
        StoredResponse {
            request_hash: "h1".into(),
            status: 201,
            body: serde_json::to_string(&first).unwrap(),
        }
    );

    match store
        .apply_movements(
            vec![receive(id, 10, MAIN_LOCATION)],
            &actor,
            Some(idem(actor.user_id, "k1", "h1", render_results())),
        )
        .await
    {
        Ok(Created::Replay(replayed)) => assert_eq!(replayed, stored),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(
        assert_consistent(&store, id).await,
        10,
        "a replay applies nothing"
    );
    assert_eq!(movements_of(&store, id).await.len(), 1);

    let mismatch = store
        .apply_movements(
            vec![receive(id, 99, MAIN_LOCATION)],
            &actor,
            Some(idem(actor.user_id, "k1", "h2", render_results())),
        )
        .await;
    assert!(
        matches!(mismatch, Err(Error::IdempotencyMismatch)),
        "got {mismatch:?}"
    );
    assert_eq!(assert_consistent(&store, id).await, 10);
    assert_eq!(
        store.find_idempotent(actor.user_id, "k1").await.unwrap(),
        Some(stored.clone())
    );

    // Keys belong to a user: another user's "k1" is a new request.
    let other = new_actor(&store, "other").await;
    created(
        store
            .apply_movements(
                vec![receive(id, 1, MAIN_LOCATION)],
                &other,
                Some(idem(other.user_id, "k1", "h9", render_results())),
            )
            .await,
        "another user's key",
    );
    assert_eq!(assert_consistent(&store, id).await, 11);

    // A failed request records nothing, so its key stays usable.
    let failed = store
        .apply_movements(
            vec![issue(id, 1000, MAIN_LOCATION)],
            &actor,
            Some(idem(actor.user_id, "k2", "h3", render_results())),
        )
        .await;
    assert!(
        matches!(failed, Err(Error::AtIndex { .. })),
        "got {failed:?}"
    );
    assert_eq!(
        store.find_idempotent(actor.user_id, "k2").await.unwrap(),
        None
    );
    let retried = created(
        store
            .apply_movements(
                vec![issue(id, 1, MAIN_LOCATION)],
                &actor,
                Some(idem(actor.user_id, "k2", "h3", render_results())),
            )
            .await,
        "retry after failure",
    );
    assert_eq!(retried[0].balances.on_hand, 10);
    assert_eq!(
        store
            .find_idempotent(actor.user_id, "never-used")
            .await
            .unwrap(),
        None
    );
    assert_eq!(assert_consistent(&store, id).await, 10);
}

pub async fn idempotent_movements_concurrent_same_key(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "IDEM-RACE").await;
    let id = item.id;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, actor) = (store.clone(), actor.clone());
        tasks.spawn(async move {
            store
                .apply_movements(
                    vec![receive(id, 5, MAIN_LOCATION)],
                    &actor,
                    Some(idem(actor.user_id, "same", "hash", render_results())),
                )
                .await
        });
    }
    let (mut new, mut replays, mut in_flight) = (Vec::new(), Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(Created::New(v)) => new.push(v),
            Ok(Created::Replay(s)) => replays.push(s),
            Err(Error::Conflict {
                kind: ConflictKind::IdempotencyInFlight,
                ..
            }) => in_flight += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(new.len(), 1, "exactly one request applies the change");
    assert_eq!(new.len() + replays.len() + in_flight, 16);
    let body = serde_json::to_string(&new[0]).unwrap();
    for r in &replays {
        assert_eq!(r.body, body, "replays return the winner's response");
        assert_eq!(r.status, 201);
    }
    assert_eq!(assert_consistent(&store, id).await, 5);
    assert_eq!(movements_of(&store, id).await.len(), 1);
}

pub async fn idempotent_create_item(store: S) {
    let user = new_actor(&store, "clerk").await.user_id;
    let spec = item_spec("IDEM-ITEM", "Once only", Some("x"), 2);
    let item = created(
        store
            .create_item(
                spec.clone(),
                Some(idem(user, "create-1", "hash-a", render_item())),
            )
            .await,
        "first create",
    );
    let stored = store
        .find_idempotent(user, "create-1")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(stored.request_hash, "hash-a");
    assert_eq!(stored.status, 201);
    assert_eq!(stored.body, serde_json::to_string(&item).unwrap());

    match store
        .create_item(
            spec.clone(),
            Some(idem(user, "create-1", "hash-a", render_item())),
        )
        .await
    {
        Ok(Created::Replay(r)) => assert_eq!(r, stored),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(
        store.count_items().await.unwrap(),
        1,
        "a replay creates nothing"
    );

    let other_spec = item_spec("IDEM-OTHER", "Different", None, 0);
    let mismatch = store
        .create_item(
            other_spec.clone(),
            Some(idem(user, "create-1", "hash-b", render_item())),
        )
        .await;
    assert!(
        matches!(mismatch, Err(Error::IdempotencyMismatch)),
        "got {mismatch:?}"
    );
    assert_eq!(store.count_items().await.unwrap(), 1);

    // A create refused as a duplicate leaves its key unrecorded.
    let dup = store
        .create_item(
            // A new item (its own id) with the same SKU, as a new request makes.
            item_spec("IDEM-ITEM", "Once only", Some("x"), 2),
            Some(idem(user, "create-2", "hash-c", render_item())),
        )
        .await;
    assert_conflict(dup, ConflictKind::DuplicateSku);
    assert_eq!(store.find_idempotent(user, "create-2").await.unwrap(), None);
    created(
        store
            .create_item(
                other_spec,
                Some(idem(user, "create-2", "hash-d", render_item())),
            )
            .await,
        "the key is free after a failure",
    );
    assert_eq!(store.count_items().await.unwrap(), 2);
}

pub async fn idempotent_create_location_and_user(store: S) {
    let user = new_actor(&store, "admin").await.user_id;
    let render_loc: Render<Location> = Arc::new(|l: &Location| format!("loc:{}", l.code));
    let spec = CreateLocation {
        code: "IDL".into(),
        name: "Idempotent".into(),
        default: None,
    }
    .validate(inventory_core::now())
    .unwrap();
    created(
        store
            .create_location(
                spec.clone(),
                Some(idem(user, "loc", "h", render_loc.clone())),
            )
            .await,
        "create_location",
    );
    match store
        .create_location(spec, Some(idem(user, "loc", "h", render_loc)))
        .await
    {
        Ok(Created::Replay(r)) => assert_eq!(r.body, "loc:IDL", "the body is what render produced"),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(store.list_locations(None, 10).await.unwrap().rows.len(), 2);

    let render_user: Render<User> = Arc::new(|u: &User| format!("user:{}", u.username));
    created(
        store
            .create_user(
                user_spec("dave", Role::Viewer),
                "hash",
                Some(idem(user, "usr", "h", render_user.clone())),
            )
            .await,
        "create_user",
    );
    match store
        .create_user(
            user_spec("dave", Role::Viewer),
            "hash",
            Some(idem(user, "usr", "h", render_user.clone())),
        )
        .await
    {
        Ok(Created::Replay(r)) => assert_eq!(r.body, "user:dave"),
        other => panic!("expected a replay, got {other:?}"),
    }
    let mismatch = store
        .create_user(
            user_spec("erin", Role::Viewer),
            "hash",
            Some(idem(user, "usr", "other", render_user)),
        )
        .await;
    assert!(
        matches!(mismatch, Err(Error::IdempotencyMismatch)),
        "got {mismatch:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 2);
    assert!(store.find_user("erin").await.unwrap().is_none());
}
