//! Contract tests of reservations: the guard, exact expiry, the sweeper's
//! lease, and the figures under concurrency.

use crate::helpers::*;
use inventory_core::reservations::{
    CreateReservation, NewReservation, Reservation, ReservationPatch, ReservationQuery,
    ReservationStatus,
};

fn request(item_id: Uuid, quantity: i64, expires_at: Option<DateTime<Utc>>) -> NewReservation {
    CreateReservation {
        item_id: Some(item_id),
        quantity: Some(quantity),
        expires_at,
        reference: Some("cart-1".into()),
        ..CreateReservation::default()
    }
    .validate(inventory_core::now())
    .expect("valid reservation")
}

async fn reserve(store: &S, actor: &Actor, new: NewReservation) -> Result<Reservation> {
    match store.create_reservation(new, actor, None).await {
        Ok(Created::New(r)) => Ok(r),
        Ok(Created::Replay(r)) => panic!("replayed without a key: {r:?}"),
        Err(e) => Err(e),
    }
}

/// Waits (polling the clock, no fixed sleep) until `instant` has passed.
async fn until_past(instant: DateTime<Utc>) {
    while inventory_core::now() <= instant {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn assert_insufficient(result: Result<Reservation>, available: i64, requested: i64) {
    match result {
        Err(Error::InsufficientStock {
            available: a,
            requested: r,
            ..
        }) => assert_eq!((a, r), (available, requested)),
        other => panic!("expected InsufficientStock, got {other:?}"),
    }
}

async fn figures(store: &S, item_id: Uuid) -> (i64, i64, i64) {
    let item = store.get_item(item_id).await.expect("get_item");
    (item.on_hand, item.reserved, item.available)
}

pub async fn reservations_hold_available_stock_and_give_it_back(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-1").await;
    apply_ok(&store, &actor, vec![receive(item.id, 10, MAIN_LOCATION)]).await;

    let held = reserve(&store, &actor, request(item.id, 4, None))
        .await
        .expect("reserve");
    assert_eq!(
        (held.status, held.location.as_str(), held.quantity),
        (ReservationStatus::Active, MAIN_LOCATION, 4)
    );
    assert_eq!(held.created_by, "clerk");
    assert_eq!(store.get_reservation(held.id).await.unwrap(), held);
    assert_eq!(figures(&store, item.id).await, (10, 4, 6));
    let report = store.item_stock(item.id, None).await.unwrap();
    assert_eq!((report.reserved, report.available), (4, 6));

    // Only what is available can be issued or reserved; a refusal writes nothing.
    let (_, cause) = at_index(
        apply(&store, &actor, vec![issue(item.id, 7, MAIN_LOCATION)])
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(
            cause,
            Error::InsufficientStock {
                available: 6,
                requested: 7,
                ..
            }
        ),
        "{cause:?}"
    );
    assert_insufficient(
        reserve(&store, &actor, request(item.id, 7, None)).await,
        6,
        7,
    );
    assert_eq!(figures(&store, item.id).await, (10, 4, 6));

    let lowered = store
        .update_reservation(
            held.id,
            ReservationPatch {
                quantity: Some(3),
                expires_at: None,
            },
        )
        .await
        .expect("lower");
    assert_eq!(lowered.quantity, 3);
    assert_eq!(figures(&store, item.id).await, (10, 3, 7));

    let released = store.release_reservation(held.id).await.expect("release");
    assert_eq!(released.status, ReservationStatus::Released);
    assert!(released.ended_at.is_some());
    assert_eq!(figures(&store, item.id).await, (10, 0, 10));
    match store.release_reservation(held.id).await {
        Err(Error::InvalidTransition { status, .. }) => assert_eq!(status, "released"),
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    assert_not_found(store.release_reservation(Uuid::now_v7()).await);
    assert_insufficient(
        reserve(&store, &actor, request(item.id, 11, None)).await,
        10,
        11,
    );
    let kinds: Vec<String> = store
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("reservation."))
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "reservation.created",
            "reservation.updated",
            "reservation.released"
        ]
    );
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn a_reservation_needs_an_item_a_location_and_an_active_item(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-2").await;
    assert!(matches!(
        reserve(&store, &actor, request(Uuid::now_v7(), 1, None)).await,
        Err(Error::Validation(_))
    ));
    let mut elsewhere = request(item.id, 1, None);
    elsewhere.location = Some("NOWHERE".into());
    assert!(matches!(
        reserve(&store, &actor, elsewhere).await,
        Err(Error::UnknownLocation { .. })
    ));
    // Nothing on the shelf: nothing to reserve, and no balance row appears.
    assert_insufficient(
        reserve(&store, &actor, request(item.id, 1, None)).await,
        0,
        1,
    );
    assert!(store.archive_item(item.id, None).await.unwrap());
    assert_conflict(
        reserve(&store, &actor, request(item.id, 1, None)).await,
        ConflictKind::ItemArchived,
    );
}

pub async fn an_item_holding_reservations_is_not_archived(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-3").await;
    apply_ok(&store, &actor, vec![receive(item.id, 2, MAIN_LOCATION)]).await;
    reserve(&store, &actor, request(item.id, 2, None))
        .await
        .expect("reserve");
    // Reserved stock cannot leave, so the item keeps its stock and stays.
    let (_, cause) = at_index(
        apply(&store, &actor, vec![issue(item.id, 1, MAIN_LOCATION)])
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(cause, Error::InsufficientStock { .. }),
        "{cause:?}"
    );
    assert_conflict(
        store.archive_item(item.id, None).await,
        ConflictKind::ItemHasStock,
    );
}

pub async fn an_expired_reservation_blocks_nobody_even_unswept(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-4").await;
    apply_ok(&store, &actor, vec![receive(item.id, 5, MAIN_LOCATION)]).await;
    let expires_at = inventory_core::now() + Duration::milliseconds(300);
    let hold = reserve(&store, &actor, request(item.id, 5, Some(expires_at)))
        .await
        .expect("reserve");
    assert_insufficient(
        reserve(&store, &actor, request(item.id, 1, None)).await,
        0,
        1,
    );
    until_past(expires_at).await;
    // Nothing ended it yet, but the stock report no longer counts it.
    let report = store.item_stock(item.id, None).await.unwrap();
    assert_eq!((report.reserved, report.available), (0, 5));

    // No sweeper ran: the movement's own transaction ends the hold first.
    let issued = apply_ok(&store, &actor, vec![issue(item.id, 5, MAIN_LOCATION)]).await;
    assert_eq!(
        (issued[0].balances.on_hand, issued[0].balances.reserved),
        (0, 0)
    );
    let ended = store.get_reservation(hold.id).await.unwrap();
    assert_eq!(ended.status, ReservationStatus::Expired);
    assert_eq!(ended.ended_at, ended.expires_at);
    let events = store.events_after(0, 100).await.unwrap();
    let expired = events
        .iter()
        .position(|e| e.kind == "reservation.expired" && e.entity_id == hold.id)
        .expect("a reservation.expired event");
    let issue_event = events
        .iter()
        .rposition(|e| e.kind == "movement.created")
        .expect("the issue's event");
    assert!(expired < issue_event, "the hold ended before the issue");
    // Changing or releasing it now is refused, naming its status.
    match store.release_reservation(hold.id).await {
        Err(Error::InvalidTransition { status, .. }) => assert_eq!(status, "expired"),
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn a_reservation_past_its_expiry_cannot_be_changed(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-5").await;
    apply_ok(&store, &actor, vec![receive(item.id, 5, MAIN_LOCATION)]).await;
    let expires_at = inventory_core::now() + Duration::milliseconds(300);
    let hold = reserve(&store, &actor, request(item.id, 2, Some(expires_at)))
        .await
        .expect("reserve");
    let extended = store
        .update_reservation(
            hold.id,
            ReservationPatch {
                quantity: None,
                expires_at: Some(Some(expires_at + Duration::milliseconds(50))),
            },
        )
        .await
        .expect("extend");
    assert!(extended.expires_at > hold.expires_at);
    until_past(extended.expires_at.unwrap()).await;
    match store
        .update_reservation(
            hold.id,
            ReservationPatch {
                quantity: Some(1),
                expires_at: None,
            },
        )
        .await
    {
        Err(Error::InvalidTransition { status, .. }) => assert_eq!(status, "expired"),
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    // The lapsed hold blocks nobody: all five units can be held again.
    reserve(&store, &actor, request(item.id, 5, None))
        .await
        .expect("the lapsed units are available");
    assert_eq!(figures(&store, item.id).await, (5, 5, 0));
    assert_eq!(
        store.get_reservation(hold.id).await.unwrap().status,
        ReservationStatus::Expired
    );
}

pub async fn the_sweeper_ends_due_reservations_under_one_lease(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-6").await;
    apply_ok(&store, &actor, vec![receive(item.id, 9, MAIN_LOCATION)]).await;
    let soon = inventory_core::now() + Duration::milliseconds(300);
    let short = reserve(&store, &actor, request(item.id, 2, Some(soon)))
        .await
        .unwrap();
    let firm = reserve(&store, &actor, request(item.id, 3, None))
        .await
        .unwrap();
    let (one, two) = (Uuid::now_v7(), Uuid::now_v7());
    let lease = std::time::Duration::from_secs(1);
    assert_eq!(
        store
            .sweep_expired_reservations(one, lease, 100)
            .await
            .unwrap(),
        Some(Vec::new()),
        "nothing is due yet"
    );
    assert_eq!(
        store
            .sweep_expired_reservations(two, lease, 100)
            .await
            .unwrap(),
        None,
        "the other holder's lease has not lapsed"
    );
    until_past(soon).await;
    let renewed = inventory_core::now();
    let swept = store
        .sweep_expired_reservations(one, lease, 100)
        .await
        .unwrap()
        .expect("the holder renews its lease");
    assert_eq!(swept.len(), 1);
    assert_eq!(
        (swept[0].id, swept[0].status),
        (short.id, ReservationStatus::Expired)
    );
    assert_eq!(figures(&store, item.id).await, (9, 3, 6));
    assert_eq!(
        store.get_reservation(firm.id).await.unwrap().status,
        ReservationStatus::Active
    );
    // A lapsed lease passes to another holder.
    until_past(renewed + Duration::milliseconds(1010)).await;
    assert_eq!(
        store
            .sweep_expired_reservations(two, lease, 100)
            .await
            .unwrap(),
        Some(Vec::new())
    );
    assert_eq!(
        store
            .sweep_expired_reservations(one, lease, 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}

pub async fn reservations_are_listed_by_filter_and_page(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let a = new_item(&store, "RES-7A").await;
    let b = new_item(&store, "RES-7B").await;
    new_location(&store, "SHELF").await;
    apply_ok(
        &store,
        &actor,
        vec![receive(a.id, 10, MAIN_LOCATION), receive(b.id, 10, "SHELF")],
    )
    .await;
    let soon = inventory_core::now() + Duration::milliseconds(500);
    let mut made = Vec::new();
    for quantity in 1..=3 {
        made.push(
            reserve(&store, &actor, request(a.id, quantity, None))
                .await
                .unwrap(),
        );
    }
    let mut on_shelf = request(b.id, 1, Some(soon));
    on_shelf.location = Some("SHELF".into());
    on_shelf.reference = Some("order-9".into());
    let lapsing = reserve(&store, &actor, on_shelf).await.unwrap();
    store.release_reservation(made[0].id).await.unwrap();
    until_past(soon).await;

    let now = inventory_core::now();
    let ids = |page: Page<Reservation>| page.rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let list = |query: ReservationQuery| {
        let store = store.clone();
        async move { store.list_reservations(&query, now).await.unwrap() }
    };
    assert_eq!(
        ids(list(ReservationQuery::default()).await),
        [made[0].id, made[1].id, made[2].id, lapsing.id]
    );
    let of_a = ReservationQuery {
        item_id: Some(a.id),
        ..ReservationQuery::default()
    };
    assert_eq!(ids(list(of_a.clone()).await).len(), 3);
    // An active reservation past its expiry lists as expired at `now`.
    let active = ReservationQuery {
        status: Some(ReservationStatus::Active),
        ..ReservationQuery::default()
    };
    assert_eq!(ids(list(active).await), [made[1].id, made[2].id]);
    let expired = ReservationQuery {
        status: Some(ReservationStatus::Expired),
        ..ReservationQuery::default()
    };
    assert_eq!(ids(list(expired).await), [lapsing.id]);
    let released = ReservationQuery {
        status: Some(ReservationStatus::Released),
        ..ReservationQuery::default()
    };
    assert_eq!(ids(list(released).await), [made[0].id]);
    let by_place = ReservationQuery {
        location: Some("SHELF".into()),
        reference: Some("order-9".into()),
        ..ReservationQuery::default()
    };
    assert_eq!(ids(list(by_place).await), [lapsing.id]);

    let first = list(ReservationQuery {
        limit: 2,
        ..of_a.clone()
    })
    .await;
    assert_eq!(ids(first.clone()), [made[0].id, made[1].id]);
    let after = Uuid::parse_str(&first.next_cursor.expect("a next page")).unwrap();
    let second = list(ReservationQuery {
        limit: 2,
        after: Some(after),
        ..of_a
    })
    .await;
    assert_eq!(second.next_cursor, None);
    assert_eq!(ids(second), [made[2].id]);
}

pub async fn idempotent_reservation(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-8").await;
    apply_ok(&store, &actor, vec![receive(item.id, 5, MAIN_LOCATION)]).await;
    let render: Render<Reservation> = Arc::new(|r: &Reservation| serde_json::to_string(r).unwrap());
    let key = || Some(idem(actor.user_id, "res-key", "hash-1", render.clone()));
    let first = created(
        store
            .create_reservation(request(item.id, 2, None), &actor, key())
            .await,
        "first",
    );
    match store
        .create_reservation(request(item.id, 2, None), &actor, key())
        .await
    {
        Ok(Created::Replay(stored)) => {
            assert_eq!(stored.body, serde_json::to_string(&first).unwrap())
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(figures(&store, item.id).await, (5, 2, 3), "applied once");
    let other = Some(idem(actor.user_id, "res-key", "hash-2", render.clone()));
    assert!(matches!(
        store
            .create_reservation(request(item.id, 1, None), &actor, other)
            .await,
        Err(Error::IdempotencyMismatch)
    ));
}

pub async fn concurrent_reservations_and_issues_never_oversell(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RES-9").await;
    apply_ok(&store, &actor, vec![receive(item.id, 30, MAIN_LOCATION)]).await;
    let lapse = inventory_core::now() + Duration::milliseconds(100);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..90 {
        let (store, actor) = (store.clone(), actor.clone());
        let id = item.id;
        tasks.spawn(async move {
            match n % 3 {
                // Holds that lapse during the race give their units back.
                0 => reserve(&store, &actor, request(id, 1, Some(lapse)))
                    .await
                    .map(|_| ("hold", 1)),
                1 => reserve(&store, &actor, request(id, 1, None))
                    .await
                    .map(|_| ("reserve", 1)),
                _ => apply(&store, &actor, vec![issue(id, 1, MAIN_LOCATION)])
                    .await
                    .map(|_| ("issue", 1))
                    .map_err(|e| at_index(e).1),
            }
        });
    }
    let (mut reserved, mut issued) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(("reserve", n)) => reserved += n,
            Ok(("issue", n)) => issued += n,
            Ok(_) => {}
            Err(Error::InsufficientStock { .. }) => {}
            // A hold asked for after its own expiry (late in the race).
            Err(Error::Validation(fields)) if fields[0].field == "expires_at" => {}
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }
    until_past(lapse).await;
    store
        .sweep_expired_reservations(Uuid::now_v7(), std::time::Duration::from_secs(1), 1000)
        .await
        .unwrap()
        .expect("the only sweeper");
    let (on_hand, now_reserved, available) = figures(&store, item.id).await;
    assert_eq!(
        on_hand,
        30 - issued,
        "every acknowledged issue applied once"
    );
    assert_eq!(
        now_reserved, reserved,
        "the firm reservations, and only those"
    );
    assert!(available >= 0);
    assert!(issued + reserved <= 30, "never oversold");
    assert_eq!(store.check_invariants().await.unwrap(), Vec::new());
}
