//! Contract tests of users and sessions.

use crate::helpers::*;

// ================================================================ users and sessions

pub async fn users_create_find_duplicate(store: S) {
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    let alice = created(
        store
            .create_user(user_spec("alice", Role::Manager), hash, None)
            .await,
        "create_user",
    );
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.role, Role::Manager);
    assert_eq!(store.count_users().await.unwrap(), 1);

    let found = store
        .find_user("alice")
        .await
        .unwrap()
        .expect("alice exists");
    assert_eq!(found.user, alice);
    assert_eq!(found.password_hash, hash);
    assert!(store.find_user("bob").await.unwrap().is_none());

    assert_conflict(
        store
            .create_user(user_spec("alice", Role::Admin), "other", None)
            .await,
        ConflictKind::DuplicateUsername,
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
    let still = store.find_user("alice").await.unwrap().unwrap();
    assert_eq!(
        still.user.role,
        Role::Manager,
        "the duplicate changed nothing"
    );
    assert_eq!(still.password_hash, hash);

    for (name, role) in [("v", Role::Viewer), ("c", Role::Clerk), ("a", Role::Admin)] {
        let u = created(
            store.create_user(user_spec(name, role), "h", None).await,
            "create_user",
        );
        assert_ne!(u.id, alice.id);
        assert_eq!(
            store.find_user(name).await.unwrap().unwrap().user.role,
            role
        );
    }
    assert_eq!(store.count_users().await.unwrap(), 4);
}

pub async fn sessions_lifecycle(store: S) {
    let alice = created(
        store
            .create_user(user_spec("alice", Role::Clerk), "h", None)
            .await,
        "create_user",
    );
    let expires = Utc::now() + Duration::hours(1);
    store
        .create_session("tok-a", alice.id, expires)
        .await
        .unwrap();
    let (user, at) = store
        .find_session("tok-a")
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(user, alice);
    assert_eq!(at.timestamp_micros(), expires.timestamp_micros());
    assert!(store.find_session("tok-unknown").await.unwrap().is_none());

    store
        .create_session("tok-b", alice.id, expires)
        .await
        .unwrap();
    store.delete_session("tok-a").await.unwrap();
    assert!(
        store.find_session("tok-a").await.unwrap().is_none(),
        "deleted"
    );
    assert!(
        store.find_session("tok-b").await.unwrap().is_some(),
        "only that session went"
    );
    store.delete_session("tok-a").await.unwrap();

    store
        .create_session("tok-old", alice.id, Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    assert!(
        store.find_session("tok-old").await.unwrap().is_none(),
        "expired sessions are not found"
    );
}

pub async fn purge_expired_removes_old_keys_and_sessions(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = created(
        store
            .create_item(
                item_spec("PURGE-1", "Purge", None, 0),
                Some(idem(actor.user_id, "old-key", "h", render_item())),
            )
            .await,
        "create_item",
    );
    store
        .create_session("live", actor.user_id, Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    store
        .create_session("dead", actor.user_id, Utc::now() - Duration::seconds(5))
        .await
        .unwrap();

    // Keys newer than the cut stay; expired sessions go.
    let removed = store
        .purge_expired(Utc::now() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(removed, 1, "only the expired session");
    assert!(store
        .find_idempotent(actor.user_id, "old-key")
        .await
        .unwrap()
        .is_some());
    assert!(store.find_session("live").await.unwrap().is_some());

    pause().await;
    let removed = store
        .purge_expired(Utc::now() + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(removed, 1, "the old key");
    assert!(store
        .find_idempotent(actor.user_id, "old-key")
        .await
        .unwrap()
        .is_none());
    assert!(
        store.find_session("live").await.unwrap().is_some(),
        "live sessions stay"
    );
    assert_eq!(
        store.get_item(item.id).await.unwrap(),
        item,
        "purging keeps the data"
    );

    // With its key forgotten, the same key is a new request again.
    created(
        store
            .create_item(
                item_spec("PURGE-2", "Purge again", None, 0),
                Some(idem(actor.user_id, "old-key", "h", render_item())),
            )
            .await,
        "create after purge",
    );
    assert_eq!(store.count_items().await.unwrap(), 2);
}

async fn add_user(store: &S, username: &str, role: Role) -> User {
    created(
        store
            .create_user(user_spec(username, role), "hash", None)
            .await,
        "create_user",
    )
}

pub async fn users_are_listed_and_change_role_but_one_admin_stays(store: S) {
    let ann = add_user(&store, "ann", Role::Admin).await;
    let bob = add_user(&store, "bob", Role::Viewer).await;
    add_user(&store, "cid", Role::Clerk).await;
    let first = store.list_users(None, 2).await.unwrap();
    let names: Vec<&str> = first.rows.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["ann", "bob"]);
    let cursor = first.next_cursor.expect("a second page");
    let second = store.list_users(Some(&cursor), 2).await.unwrap();
    assert_eq!(second.rows[0].username, "cid");
    assert!(second.next_cursor.is_none());

    let promoted = store.set_user_role(bob.id, Role::Admin).await.unwrap();
    assert_eq!((promoted.role, promoted.id), (Role::Admin, bob.id));
    assert_eq!(
        store.find_user("bob").await.unwrap().unwrap().user.role,
        Role::Admin
    );
    // With two admins one may step down; the last one may not.
    store.set_user_role(ann.id, Role::Manager).await.unwrap();
    match store.set_user_role(bob.id, Role::Clerk).await {
        Err(Error::Conflict {
            kind: ConflictKind::LastAdmin,
            detail,
        }) => assert!(detail.contains("bob"), "{detail}"),
        other => panic!("expected last-admin, got {other:?}"),
    }
    assert_eq!(
        store.find_user("bob").await.unwrap().unwrap().user.role,
        Role::Admin
    );
    assert_not_found(store.set_user_role(Uuid::now_v7(), Role::Viewer).await);
}

/// Two admins demoting each other at the same moment: one of them stays.
pub async fn concurrent_demotions_leave_an_admin(store: S) {
    for round in 0..10 {
        let a = add_user(&store, &format!("a{round}"), Role::Admin).await;
        let b = add_user(&store, &format!("b{round}"), Role::Admin).await;
        // Only these two are admins this round.
        let page = store.list_users(None, 500).await.unwrap();
        for u in page.rows.iter().filter(|u| u.role == Role::Admin) {
            if u.id != a.id && u.id != b.id {
                store.set_user_role(u.id, Role::Viewer).await.unwrap();
            }
        }
        let (s1, s2) = (store.clone(), store.clone());
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { s1.set_user_role(a.id, Role::Viewer).await }),
            tokio::spawn(async move { s2.set_user_role(b.id, Role::Viewer).await }),
        );
        let ok = [r1.unwrap().is_ok(), r2.unwrap().is_ok()];
        assert_eq!(
            ok.iter().filter(|o| **o).count(),
            1,
            "round {round}: {ok:?}"
        );
        let admins = store
            .list_users(None, 500)
            .await
            .unwrap()
            .rows
            .into_iter()
            .filter(|u| u.role == Role::Admin)
            .count();
        assert_eq!(admins, 1);
    }
}
