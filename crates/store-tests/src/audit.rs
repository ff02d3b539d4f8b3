//! Contract tests of the audit trail: an entry in the transaction of every
//! change, with who acted, from where and what changed; none for a refused
//! change; never a secret; filters, pages and the retention prune.

use crate::helpers::*;
use inventory_core::audit::{AuditActor, AuditContext, AuditEntry, AuditQuery, NewAuditEntry, Via};
use inventory_core::identity::{NewApiToken, Scope, SessionClient, UserPatch};

fn everything() -> AuditQuery {
    AuditQuery {
        limit: 500,
        ..AuditQuery::default()
    }
}

async fn entries(store: &S, query: AuditQuery) -> Vec<AuditEntry> {
    store.list_audit(&query).await.unwrap().rows
}

fn one<'a>(entries: &'a [AuditEntry], action: &str, target_id: &str) -> &'a AuditEntry {
    let found: Vec<_> = entries
        .iter()
        .filter(|e| e.action == action && e.target_id == target_id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {action} of {target_id} in {entries:#?}"
    );
    found[0]
}

fn token_context() -> (AuditContext, AuditActor) {
    let actor = AuditActor::user(
        Uuid::from_u128(0xa11ce),
        "ann",
        Via::Token,
        Some(Uuid::from_u128(0x70c3)),
    );
    let context = AuditContext {
        actor: Some(actor.clone()),
        request_id: Some("req-audit-1".into()),
        client_addr: Some("192.0.2.7".into()),
    };
    (context, actor)
}

pub async fn every_change_is_audited_with_its_actor_and_fields(store: S) {
    let (context, actor) = token_context();
    let (item, location, clerk) = context
        .scope(async {
            let clerk = new_actor(&store, "audit-clerk").await;
            let item = new_item(&store, "AUD-1").await;
            store
                .update_item(item.id, patch(json!({"name": "Audited bolt"})), None)
                .await
                .unwrap();
            apply_ok(&store, &clerk, vec![receive(item.id, 5, "MAIN")]).await;
            let location = new_location(&store, "AUDLOC").await;
            let patch = LocationPatch {
                code: None,
                name: Some(Some("Back room".into())),
                default: None,
            };
            store.update_location(location.id, patch).await.unwrap();
            (item, location, clerk)
        })
        .await;
    let all = entries(&store, everything()).await;
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "newest first: {all:#?}"
    );

    let created = one(&all, "item.created", &item.id.to_string());
    assert_eq!(created.target_type, "item");
    assert_eq!(created.actor, actor);
    assert_eq!(created.request_id.as_deref(), Some("req-audit-1"));
    assert_eq!(created.client_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(created.changes["before"], Value::Null);
    assert_eq!(created.changes["after"]["sku"], json!("AUD-1"));

    let updated = one(&all, "item.updated", &item.id.to_string());
    assert_eq!(updated.changes["before"]["name"], json!(item.name));
    assert_eq!(updated.changes["after"]["name"], json!("Audited bolt"));
    assert!(
        updated.changes["after"].get("sku").is_none(),
        "only the fields that changed: {}",
        updated.changes
    );

    let movement = all
        .iter()
        .find(|e| e.action == "movement.created")
        .expect("the receipt's entry");
    assert_eq!(movement.target_type, "movement");
    assert_eq!(movement.actor, actor);
    assert_eq!(movement.changes["after"]["movement"]["quantity"], json!(5));

    let renamed = one(&all, "location.updated", &location.id.to_string());
    assert_eq!(renamed.changes["before"]["name"], json!(location.name));
    assert_eq!(renamed.changes["after"]["name"], json!("Back room"));
    one(&all, "location.created", &location.id.to_string());

    // Filters: the target, the actor by id and by name, the action.
    let of_item = entries(
        &store,
        AuditQuery {
            target_type: Some("item".into()),
            target_id: Some(item.id.to_string()),
            ..everything()
        },
    )
    .await;
    let actions: Vec<&str> = of_item.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["item.updated", "item.created"]);
    for who in [actor.user_id.unwrap().to_string(), "ann".to_owned()] {
        let by = entries(
            &store,
            AuditQuery {
                actor: Some(who.clone()),
                ..everything()
            },
        )
        .await;
        assert_eq!(by.len(), all.len(), "every entry is ann's ({who})");
    }
    let by_nobody = AuditQuery {
        actor: Some("bob".into()),
        ..everything()
    };
    assert!(entries(&store, by_nobody).await.is_empty());
    let movements = AuditQuery {
        action: Some("movement.created".into()),
        ..everything()
    };
    assert_eq!(entries(&store, movements).await.len(), 1);

    // Outside any context, the system acted.
    apply_ok(&store, &clerk, vec![issue(item.id, 1, "MAIN")]).await;
    let newest = &entries(&store, everything()).await[0];
    assert_eq!(newest.action, "movement.created");
    assert_eq!(newest.actor, AuditActor::system());
    assert_eq!(newest.request_id, None);
}

pub async fn a_refused_change_leaves_no_audit_entry(store: S) {
    let item = new_item(&store, "AUD-2").await;
    let before = entries(&store, everything()).await.len();
    let refused = store
        .apply_movements(
            vec![issue(item.id, 1, "MAIN")],
            &new_actor(&store, "refused").await,
            None,
        )
        .await;
    assert!(refused.is_err(), "nothing to issue: {refused:?}");
    let stale = store
        .update_item(item.id, patch(json!({"name": "x"})), Some(item.version + 7))
        .await;
    assert!(stale.is_err());
    let after = entries(&store, everything()).await;
    // new_actor created a user: that entry only.
    assert_eq!(after.len(), before + 1, "{after:#?}");
    assert_eq!(after[0].action, "user.created");
}

pub async fn user_session_and_token_changes_are_audited_without_secrets(store: S) {
    let secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0$U0VDUkVULUhBU0g";
    let zoe = created(
        store
            .create_user(user_spec("zoe", Role::Clerk), secret_hash, None)
            .await,
        "create_user",
    );
    let promote = UserPatch {
        role: Some(Some(Role::Manager)),
        ..UserPatch::default()
    };
    store.update_user(zoe.id, &promote, None).await.unwrap();
    store
        .set_password(zoe.id, "$argon2id$new-secret-hash", true, EndSessions::All)
        .await
        .unwrap();
    let client = SessionClient::new(Some("198.51.100.4".into()), Some("audit-test".into()));
    let expires = Utc::now() + Duration::hours(1);
    store
        .create_session("secret-session-hash", zoe.id, expires, &client)
        .await
        .unwrap();
    let now = inventory_core::now();
    let token = NewApiToken {
        name: "ci".into(),
        scopes: vec![Scope::Read],
        created_at: now,
        expires_at: now + Duration::days(1),
    };
    let token = store
        .create_api_token("secret-token-hash", zoe.id, &token)
        .await
        .unwrap();
    store.revoke_api_token(zoe.id, token.id).await.unwrap();
    store.delete_session("secret-session-hash").await.unwrap();

    let all = entries(&store, everything()).await;
    let zoe_id = zoe.id.to_string();
    one(&all, "user.created", &zoe_id);
    let role = one(&all, "user.updated", &zoe_id);
    assert_eq!(role.changes["before"]["role"], json!("clerk"));
    assert_eq!(role.changes["after"]["role"], json!("manager"));
    let reset = one(&all, "user.password_reset", &zoe_id);
    assert_eq!(reset.changes["after"]["must_change_password"], json!(true));
    let signed_in = one(&all, "user.signed_in", &zoe_id);
    assert_eq!(
        signed_in.changes["after"]["user_agent"],
        json!("audit-test")
    );
    let created_token = one(&all, "token.created", &token.id.to_string());
    assert_eq!(created_token.changes["after"]["name"], json!("ci"));
    one(&all, "token.revoked", &token.id.to_string());
    assert!(
        all.iter()
            .any(|e| e.action == "session.ended" && e.target_type == "session"),
        "signing out is recorded: {all:#?}"
    );
    let text = serde_json::to_string(&all).unwrap();
    for secret in [
        secret_hash,
        "new-secret-hash",
        "secret-session-hash",
        "secret-token-hash",
        "password_hash",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

fn entry_at(at: DateTime<Utc>, target_id: &str) -> NewAuditEntry {
    NewAuditEntry {
        at,
        ..NewAuditEntry::new("user.sign_in_failed", "user", target_id, json!({}))
    }
}

pub async fn audit_entries_page_filter_by_time_and_are_pruned_by_age(store: S) {
    let now = inventory_core::now();
    let ages = [400, 380, 10, 5, 1];
    for (n, days) in ages.iter().enumerate() {
        store
            .record_audit(entry_at(now - Duration::days(*days), &format!("t{n}")))
            .await
            .unwrap();
    }
    // Pages of two, newest first, each entry once.
    let mut seen = Vec::new();
    let mut query = AuditQuery {
        limit: 2,
        ..AuditQuery::default()
    };
    loop {
        let page = store.list_audit(&query).await.unwrap();
        assert!(page.rows.len() <= 2);
        seen.extend(page.rows.iter().map(|e| e.target_id.clone()));
        match page.next_cursor {
            Some(cursor) => query.before_id = Some(cursor.parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, ["t4", "t3", "t2", "t1", "t0"]);

    let recent = AuditQuery {
        since: Some(now - Duration::days(30)),
        until: Some(now - Duration::days(2)),
        ..everything()
    };
    let ids: Vec<String> = entries(&store, recent)
        .await
        .into_iter()
        .map(|e| e.target_id)
        .collect();
    assert_eq!(ids, ["t3", "t2"]);

    let pruned = store.prune_audit(now - Duration::days(365)).await.unwrap();
    assert_eq!(pruned, 2);
    let left: Vec<String> = entries(&store, everything())
        .await
        .into_iter()
        .map(|e| e.target_id)
        .collect();
    assert_eq!(left, ["t4", "t3", "t2"]);
}
