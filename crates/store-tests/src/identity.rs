//! Contract tests of users and sessions.

use crate::helpers::*;
use inventory_core::identity::{SessionClient, UserPatch, UserQuery};

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
        .create_session("tok-a", alice.id, expires, &client())
        .await
        .unwrap();
    let found = store
        .find_session("tok-a")
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(found.user, alice);
    assert_eq!(
        found.expires_at.timestamp_micros(),
        expires.timestamp_micros()
    );
    assert_eq!(found.last_used_at, None);
    assert!(store.find_session("tok-unknown").await.unwrap().is_none());

    store
        .create_session("tok-b", alice.id, expires, &client())
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
        .create_session(
            "tok-old",
            alice.id,
            Utc::now() - Duration::seconds(1),
            &client(),
        )
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
        .create_session(
            "live",
            actor.user_id,
            Utc::now() + Duration::hours(1),
            &client(),
        )
        .await
        .unwrap();
    store
        .create_session(
            "dead",
            actor.user_id,
            Utc::now() - Duration::seconds(5),
            &client(),
        )
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

fn client() -> SessionClient {
    SessionClient::new(Some("192.0.2.7".into()), Some("contract-tests/1".into()))
}

fn page_of(after: Option<String>, limit: u32) -> UserQuery {
    UserQuery {
        after,
        limit,
        ..UserQuery::default()
    }
}

async fn set_role(store: &S, id: Uuid, role: Role) -> Result<User> {
    store.update_user(id, &UserPatch::role(role), None).await
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
    let first = store.list_users(&page_of(None, 2)).await.unwrap();
    let names: Vec<&str> = first.rows.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["ann", "bob"]);
    let cursor = first.next_cursor.expect("a second page");
    let second = store.list_users(&page_of(Some(cursor), 2)).await.unwrap();
    assert_eq!(second.rows[0].username, "cid");
    assert!(second.next_cursor.is_none());

    let promoted = set_role(&store, bob.id, Role::Admin).await.unwrap();
    assert_eq!((promoted.role, promoted.id), (Role::Admin, bob.id));
    assert_eq!(
        store.find_user("bob").await.unwrap().unwrap().user.role,
        Role::Admin
    );
    // With two admins one may step down; the last one may not.
    set_role(&store, ann.id, Role::Manager).await.unwrap();
    match set_role(&store, bob.id, Role::Clerk).await {
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
    assert_not_found(set_role(&store, Uuid::now_v7(), Role::Viewer).await);
}

/// Two admins demoting each other at the same moment: one of them stays.
pub async fn concurrent_demotions_leave_an_admin(store: S) {
    for round in 0..10 {
        let a = add_user(&store, &format!("a{round}"), Role::Admin).await;
        let b = add_user(&store, &format!("b{round}"), Role::Admin).await;
        // Only these two are admins this round.
        let page = store.list_users(&page_of(None, 500)).await.unwrap();
        for u in page.rows.iter().filter(|u| u.role == Role::Admin) {
            if u.id != a.id && u.id != b.id {
                set_role(&store, u.id, Role::Viewer).await.unwrap();
            }
        }
        let (s1, s2) = (store.clone(), store.clone());
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { set_role(&s1, a.id, Role::Viewer).await }),
            tokio::spawn(async move { set_role(&s2, b.id, Role::Viewer).await }),
        );
        let ok = [r1.unwrap().is_ok(), r2.unwrap().is_ok()];
        assert_eq!(
            ok.iter().filter(|o| **o).count(),
            1,
            "round {round}: {ok:?}"
        );
        let admins = store
            .list_users(&page_of(None, 500))
            .await
            .unwrap()
            .rows
            .into_iter()
            .filter(|u| u.role == Role::Admin)
            .count();
        assert_eq!(admins, 1);
    }
}

fn patch(value: Value) -> UserPatch {
    serde_json::from_value(value).expect("a user patch")
}

/// Profiles are stored; the list filters by text, role and `disabled`,
/// keyset-paged by username; a user is read by id.
pub async fn users_are_filtered_read_and_patched(store: S) {
    let mut spec = user_spec("dana", Role::Clerk);
    spec.display_name = Some("Dana Scully".into());
    spec.email = Some("dana@example.test".into());
    let dana = created(store.create_user(spec, "h", None).await, "create_user");
    assert_eq!(store.get_user(dana.id).await.unwrap(), dana);
    assert_not_found(store.get_user(Uuid::now_v7()).await);
    let fox = add_user(&store, "fox", Role::Viewer).await;
    let walt = add_user(&store, "walt", Role::Admin).await;
    let names =
        |page: Page<User>| -> Vec<String> { page.rows.into_iter().map(|u| u.username).collect() };
    let query = |q: Option<&str>, role: Option<Role>, disabled: Option<bool>| UserQuery {
        q: q.map(str::to_owned),
        role,
        disabled,
        after: None,
        limit: 50,
    };
    for (q, expected) in [
        ("SCULLY", vec!["dana"]),
        ("example.test", vec!["dana"]),
        ("o", vec!["fox"]),
        ("a", vec!["dana", "walt"]),
        ("%", vec![]),
    ] {
        let found = names(store.list_users(&query(Some(q), None, None)).await.unwrap());
        assert_eq!(found, expected, "q={q}");
    }
    let admins = store
        .list_users(&query(None, Some(Role::Admin), None))
        .await
        .unwrap();
    assert_eq!(names(admins), ["walt"]);

    let changed = store
        .update_user(
            fox.id,
            &patch(
                json!({"display_name": "Fox M.", "email": "fox@example.test", "disabled": true}),
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(changed.display_name.as_deref(), Some("Fox M."));
    assert!(changed.disabled && changed.updated_at >= fox.updated_at);
    assert_eq!(store.get_user(fox.id).await.unwrap(), changed);
    let disabled = store
        .list_users(&query(None, None, Some(true)))
        .await
        .unwrap();
    assert_eq!(names(disabled), ["fox"]);
    let enabled = store
        .list_users(&query(None, None, Some(false)))
        .await
        .unwrap();
    assert_eq!(names(enabled), ["dana", "walt"]);
    let cleared = store
        .update_user(
            fox.id,
            &patch(json!({"display_name": null, "email": ""})),
            None,
        )
        .await
        .unwrap();
    assert_eq!((cleared.display_name, cleared.email), (None, None));
    assert!(matches!(
        store
            .update_user(dana.id, &patch(json!({"email": "not-an-email"})), None)
            .await,
        Err(Error::Validation(_))
    ));
    assert_not_found(
        store
            .update_user(Uuid::now_v7(), &UserPatch::role(Role::Viewer), None)
            .await,
    );
    assert_eq!(store.count_enabled_admins().await.unwrap(), 1);
    let _ = walt;

    // A change based on an old version changes nothing.
    let dana = store.get_user(dana.id).await.unwrap();
    pause().await;
    let renamed = store
        .update_user(
            dana.id,
            &patch(json!({"display_name": "Dana K."})),
            Some(dana.version()),
        )
        .await
        .unwrap();
    assert_ne!(renamed.version(), dana.version());
    match store
        .update_user(
            dana.id,
            &patch(json!({"display_name": "Stale"})),
            Some(dana.version()),
        )
        .await
    {
        Err(Error::PreconditionFailed) => {}
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
    assert_eq!(store.get_user(dana.id).await.unwrap(), renamed);
}

/// Disabling a user ends their sessions in the same transaction, and a
/// disabled user's token finds no session; the last enabled admin can be
/// neither disabled nor demoted, and a disabled admin does not count.
pub async fn disabling_ends_sessions_and_one_enabled_admin_stays(store: S) {
    let ann = add_user(&store, "ann", Role::Admin).await;
    let bob = add_user(&store, "bob", Role::Admin).await;
    let expires = Utc::now() + Duration::hours(1);
    for token in ["bob-1", "bob-2"] {
        store
            .create_session(token, bob.id, expires, &client())
            .await
            .unwrap();
    }
    store
        .create_session("ann-1", ann.id, expires, &client())
        .await
        .unwrap();
    let off = store
        .update_user(bob.id, &patch(json!({"disabled": true})), None)
        .await
        .unwrap();
    assert!(off.disabled);
    assert!(store.find_session("bob-1").await.unwrap().is_none());
    assert!(store.list_sessions(bob.id).await.unwrap().is_empty());
    assert!(store.find_session("ann-1").await.unwrap().is_some());
    assert_eq!(store.count_enabled_admins().await.unwrap(), 1);
    // Ann is the last enabled admin now: neither off nor down.
    for p in [json!({"disabled": true}), json!({"role": "manager"})] {
        match store.update_user(ann.id, &patch(p.clone()), None).await {
            Err(Error::Conflict {
                kind: ConflictKind::LastAdmin,
                detail,
            }) => assert!(detail.contains("ann"), "{detail}"),
            other => panic!("{p}: expected last-admin, got {other:?}"),
        }
    }
    // A session opened for a disabled user (in flight at the change) is not found.
    store
        .create_session("bob-3", bob.id, expires, &client())
        .await
        .unwrap();
    assert!(store.find_session("bob-3").await.unwrap().is_none());
    store
        .update_user(bob.id, &patch(json!({"disabled": false})), None)
        .await
        .unwrap();
    assert_eq!(store.count_enabled_admins().await.unwrap(), 2);
    store
        .update_user(ann.id, &patch(json!({"disabled": true})), None)
        .await
        .unwrap();
    assert!(store.find_session("ann-1").await.unwrap().is_none());
}

/// Two admins disabling each other at the same moment: one stays enabled.
pub async fn concurrent_disables_leave_an_enabled_admin(store: S) {
    for round in 0..10 {
        let a = add_user(&store, &format!("a{round}"), Role::Admin).await;
        let b = add_user(&store, &format!("b{round}"), Role::Admin).await;
        for u in store.list_users(&page_of(None, 500)).await.unwrap().rows {
            if u.is_enabled_admin() && u.id != a.id && u.id != b.id {
                set_role(&store, u.id, Role::Viewer).await.unwrap();
            }
        }
        let off = patch(json!({"disabled": true}));
        let (s1, s2, p1, p2) = (store.clone(), store.clone(), off.clone(), off);
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { s1.update_user(a.id, &p1, None).await }),
            tokio::spawn(async move { s2.update_user(b.id, &p2, None).await }),
        );
        let ok = [r1.unwrap().is_ok(), r2.unwrap().is_ok()];
        assert_eq!(
            ok.iter().filter(|o| **o).count(),
            1,
            "round {round}: {ok:?}"
        );
        assert_eq!(store.count_enabled_admins().await.unwrap(), 1);
    }
}

/// A new password hash is stored with `must_change_password`, and the
/// user's sessions end: all of them, or all but the one named.
pub async fn setting_a_password_ends_sessions(store: S) {
    let eve = created(
        store
            .create_user(user_spec("eve", Role::Viewer), "old-hash", None)
            .await,
        "create_user",
    );
    let other = add_user(&store, "other", Role::Viewer).await;
    let expires = Utc::now() + Duration::hours(1);
    for (token, id) in [
        ("e1", eve.id),
        ("e2", eve.id),
        ("e3", eve.id),
        ("o1", other.id),
    ] {
        store
            .create_session(token, id, expires, &client())
            .await
            .unwrap();
    }
    let reset = store
        .set_password(eve.id, "new-hash", true, EndSessions::AllBut("e1"))
        .await
        .unwrap();
    assert!(reset.must_change_password);
    let record = store.find_user("eve").await.unwrap().unwrap();
    assert_eq!(record.password_hash, "new-hash");
    assert!(record.user.must_change_password);
    assert!(store.find_session("e1").await.unwrap().is_some(), "kept");
    assert!(store.find_session("e2").await.unwrap().is_none());
    assert!(store.find_session("e3").await.unwrap().is_none());
    assert!(
        store.find_session("o1").await.unwrap().is_some(),
        "others' stay"
    );
    let changed = store
        .set_password(eve.id, "newer-hash", false, EndSessions::All)
        .await
        .unwrap();
    assert!(!changed.must_change_password);
    assert!(store.find_session("e1").await.unwrap().is_none());
    assert_not_found(
        store
            .set_password(Uuid::now_v7(), "h", false, EndSessions::All)
            .await,
    );
}

/// Sessions are listed with where they came from, used at most once a
/// minute, and ended one at a time by their owner's id only.
pub async fn sessions_are_listed_touched_and_ended(store: S) {
    let gus = add_user(&store, "gus", Role::Clerk).await;
    let hal = add_user(&store, "hal", Role::Clerk).await;
    let expires = Utc::now() + Duration::hours(1);
    store
        .create_session("g1", gus.id, expires, &client())
        .await
        .unwrap();
    pause().await;
    store
        .create_session("g2", gus.id, expires, &SessionClient::default())
        .await
        .unwrap();
    store
        .create_session("gone", gus.id, Utc::now() - Duration::seconds(1), &client())
        .await
        .unwrap();
    let sessions = store.list_sessions(gus.id).await.unwrap();
    assert_eq!(sessions.len(), 2, "unexpired only: {sessions:?}");
    let (newest, oldest) = (&sessions[0], &sessions[1]);
    assert_eq!(oldest.client_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(oldest.user_agent.as_deref(), Some("contract-tests/1"));
    assert_eq!(
        (newest.client_addr.clone(), newest.user_agent.clone()),
        (None, None)
    );
    assert!(newest.created_at >= oldest.created_at && !newest.current);
    let g1 = store.find_session("g1").await.unwrap().unwrap();
    assert_eq!(g1.id, oldest.id);

    let at = inventory_core::now();
    store.touch_session(g1.id, at).await.unwrap();
    let used = store.find_session("g1").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(at));
    // Within the minute: not written again.
    store
        .touch_session(g1.id, at + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_session("g1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(at)
    );
    store
        .touch_session(g1.id, at + Duration::seconds(61))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_session("g1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(at + Duration::seconds(61))
    );

    assert_not_found(store.end_session(hal.id, g1.id).await);
    assert!(store.find_session("g1").await.unwrap().is_some());
    assert_eq!(store.end_session(gus.id, g1.id).await.unwrap(), "g1");
    assert!(store.find_session("g1").await.unwrap().is_none());
    assert_not_found(store.end_session(gus.id, g1.id).await);
    assert_eq!(store.list_sessions(gus.id).await.unwrap().len(), 1);
}

/// API tokens are sessions of their own kind: found with their scopes while
/// unexpired, listed apart from sign-in sessions, revoked by their owner
/// only, kept by the owner's own password change and ended by a reset.
pub async fn api_tokens_are_found_with_scopes_until_they_expire_or_are_revoked(store: S) {
    use inventory_core::identity::{NewApiToken, Scope};
    let ivy = add_user(&store, "ivy", Role::Manager).await;
    let jon = add_user(&store, "jon", Role::Manager).await;
    let now = Utc::now();
    let token = |name: &str, expires_at| NewApiToken {
        name: name.into(),
        scopes: vec![Scope::Read, Scope::CatalogWrite],
        created_at: now,
        expires_at,
    };
    let live = store
        .create_api_token("t-live", ivy.id, &token("live", now + Duration::days(1)))
        .await
        .unwrap();
    store
        .create_api_token("t-old", ivy.id, &token("old", now - Duration::seconds(1)))
        .await
        .unwrap();
    store
        .create_session("s-ivy", ivy.id, now + Duration::hours(1), &client())
        .await
        .unwrap();

    let found = store.find_session("t-live").await.unwrap().expect("live");
    assert_eq!(found.id, live.id);
    assert_eq!(found.user.id, ivy.id);
    assert_eq!(found.scopes, Some(vec![Scope::Read, Scope::CatalogWrite]));
    assert!(
        store.find_session("t-old").await.unwrap().is_none(),
        "expired"
    );
    let session = store.find_session("s-ivy").await.unwrap().expect("session");
    assert_eq!(session.scopes, None, "a sign-in session has no scopes");

    let tokens = store.list_api_tokens(ivy.id).await.unwrap();
    assert_eq!(tokens.len(), 1, "the expired one is not listed");
    assert_eq!(tokens[0].name, "live");
    let sessions = store.list_sessions(ivy.id).await.unwrap();
    assert_eq!(sessions.len(), 1, "tokens are not among sign-in sessions");
    assert_not_found(store.end_session(ivy.id, live.id).await.map(|_| ()));

    // The owner's own change keeps tokens; a reset ends them.
    store
        .set_password(ivy.id, "h2", false, EndSessions::AllBut("s-ivy"))
        .await
        .unwrap();
    assert!(store.find_session("t-live").await.unwrap().is_some());
    assert_not_found(store.revoke_api_token(jon.id, live.id).await.map(|_| ()));
    assert_eq!(
        store.revoke_api_token(ivy.id, live.id).await.unwrap(),
        "t-live"
    );
    assert!(store.find_session("t-live").await.unwrap().is_none());
    store
        .create_api_token("t-again", ivy.id, &token("again", now + Duration::days(1)))
        .await
        .unwrap();
    store
        .set_password(ivy.id, "h3", true, EndSessions::All)
        .await
        .unwrap();
    assert!(store.find_session("t-again").await.unwrap().is_none());
}
