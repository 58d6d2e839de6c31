//! Users (profiles, search, guest upgrade, deletion), sessions, refresh tokens and revocation
//! listing; and durability across a reopen.

use crate::harness::Fixture;
use crate::{T0, id, send, user};
use natter_proto::repo::{
    CreateSessionRequest, CreateUserRequest, DeleteUserRequest, GetOrCreateDirectRequest,
    ListRevokedSessionsRequest, RotateOutcome, RotateRefreshTokenRequest,
    RotateRefreshTokenResponse, SearchUsersRequest, SyncMessagesRequest, UpdateUserRequest,
    UpgradeGuestRequest,
};
use natter_repo::store::{StoreError, prelude::*};
use std::sync::Arc;

fn new_user(nickname: &str, email: Option<&str>) -> CreateUserRequest {
    CreateUserRequest {
        user_id: id(),
        email: email.map(str::to_owned),
        password_hash: "$argon2id$x".into(),
        nickname: nickname.into(),
        is_guest: email.is_none(),
        created_at: T0,
    }
}

pub async fn users_are_unique_by_email_and_nickname(store: Arc<dyn Store>) {
    let alice = store
        .create_user(new_user("alice", Some("Alice@Example.com")))
        .await
        .unwrap();
    assert_eq!(
        alice.email.as_deref(),
        Some("alice@example.com"),
        "stored lower-cased"
    );
    assert_eq!(alice.nickname, "alice");
    assert!(!alice.deleted);

    let same_email = store
        .create_user(new_user("alice2", Some("ALICE@example.COM")))
        .await;
    assert!(
        matches!(same_email, Err(StoreError::AlreadyExists("email"))),
        "{same_email:?}"
    );
    let same_nickname = store
        .create_user(new_user("alice", Some("other@example.com")))
        .await;
    assert!(
        matches!(same_nickname, Err(StoreError::AlreadyExists("nickname"))),
        "{same_nickname:?}"
    );
    let mut same_id = new_user("carol", Some("carol@example.com"));
    same_id.user_id = alice.user_id.clone();
    let same_id = store.create_user(same_id).await;
    assert!(
        matches!(same_id, Err(StoreError::AlreadyExists("user"))),
        "{same_id:?}"
    );

    // Guests have no email; any number of them may exist.
    let g1 = store.create_user(new_user("guest-1", None)).await.unwrap();
    let g2 = store.create_user(new_user("guest-2", None)).await.unwrap();
    assert!(g1.is_guest && g2.is_guest && g1.email.is_none());
}

pub async fn get_user_by_email_returns_the_hash_get_users_does_not(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;

    let found = store.get_user_by_email("ALICE@example.com").await.unwrap();
    assert_eq!(found.user_id, alice);
    assert_eq!(found.password_hash, "$argon2id$hash-of-alice");
    assert_eq!(found.created_at, T0);
    let missing = store.get_user_by_email("nobody@example.com").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    let mut users = store
        .get_users(&[bob.clone(), id(), alice.clone(), alice.clone()])
        .await
        .unwrap();
    users.sort_by(|a, b| a.nickname.cmp(&b.nickname));
    let ids: Vec<_> = users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(
        ids,
        [alice.as_str(), bob.as_str()],
        "unknown ids left out, no repeats"
    );
    assert!(users.iter().all(|u| u.password_hash.is_empty()));
    assert!(store.get_users(&[]).await.unwrap().is_empty());
}

async fn session(store: &dyn Store, user_id: &str, hash: &str, expires_at: i64) -> String {
    let session_id = id();
    store
        .create_session(CreateSessionRequest {
            session_id: session_id.clone(),
            user_id: user_id.to_owned(),
            device_id: "laptop".into(),
            refresh_token_hash: hash.to_owned(),
            created_at: T0,
            refresh_expires_at: expires_at,
        })
        .await
        .unwrap();
    session_id
}

async fn rotate(store: &dyn Store, old: &str, new: &str, now: i64) -> RotateRefreshTokenResponse {
    store
        .rotate_refresh_token(RotateRefreshTokenRequest {
            old_hash: old.into(),
            new_hash: new.into(),
            now,
            new_expires_at: now + 1_000_000,
        })
        .await
        .unwrap()
}

fn outcome(r: &RotateRefreshTokenResponse) -> RotateOutcome {
    RotateOutcome::try_from(r.outcome).unwrap()
}

pub async fn refresh_token_rotates_once_and_a_reuse_revokes_the_session(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let sid = session(&*store, &alice, "h1", T0 + 1_000_000).await;
    let s = store.get_session(&sid).await.unwrap();
    assert_eq!(
        (s.user_id.as_str(), s.device_id.as_str()),
        (alice.as_str(), "laptop")
    );
    assert!(!s.revoked);

    let r = rotate(&*store, "h1", "h2", T0 + 10).await;
    assert_eq!(outcome(&r), RotateOutcome::Rotated);
    assert_eq!(
        (r.session_id.as_str(), r.user_id.as_str()),
        (sid.as_str(), alice.as_str())
    );
    assert_eq!(
        outcome(&rotate(&*store, "h2", "h3", T0 + 20).await),
        RotateOutcome::Rotated
    );

    // h1 again: someone holds a copy. The whole session ends.
    let r = rotate(&*store, "h1", "h9", T0 + 30).await;
    assert_eq!(outcome(&r), RotateOutcome::Reused);
    assert_eq!(r.session_id, sid);
    assert!(store.get_session(&sid).await.unwrap().revoked);
    assert_eq!(
        outcome(&rotate(&*store, "h3", "h4", T0 + 40).await),
        RotateOutcome::Revoked
    );
    assert_eq!(
        outcome(&rotate(&*store, "h9", "h5", T0 + 50).await),
        RotateOutcome::Unknown
    );
}

pub async fn expired_unknown_and_revoked_tokens_do_not_rotate(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let unknown = rotate(&*store, "nope", "x", T0).await;
    assert_eq!(outcome(&unknown), RotateOutcome::Unknown);
    assert!(unknown.session_id.is_empty());

    let sid = session(&*store, &alice, "e1", T0 + 100).await;
    let r = rotate(&*store, "e1", "e2", T0 + 100).await;
    assert_eq!(outcome(&r), RotateOutcome::Expired);
    assert!(
        !store.get_session(&sid).await.unwrap().revoked,
        "expiry revokes nothing"
    );

    let sid = session(&*store, &alice, "r1", T0 + 1_000).await;
    store.revoke_session(&sid).await.unwrap();
    store.revoke_session(&sid).await.unwrap();
    store.revoke_session("no-such-session").await.unwrap();
    assert_eq!(
        outcome(&rotate(&*store, "r1", "r2", T0).await),
        RotateOutcome::Revoked
    );
    assert!(matches!(
        store.get_session(&id()).await,
        Err(StoreError::NotFound(_))
    ));

    let orphan = store
        .create_session(CreateSessionRequest {
            session_id: id(),
            user_id: id(),
            device_id: "d".into(),
            refresh_token_hash: "o1".into(),
            created_at: T0,
            refresh_expires_at: T0 + 1,
        })
        .await;
    assert!(
        matches!(orphan, Err(StoreError::NotFound("user"))),
        "{orphan:?}"
    );
}

pub async fn concurrent_rotations_of_one_token_one_wins(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let sid = session(&*store, &alice, "c1", T0 + 1_000_000).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { rotate(&*store, "c1", &format!("c2-{i}"), T0 + 1).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(outcome(&t.await.unwrap()));
    }
    let rotated = outcomes
        .iter()
        .filter(|o| **o == RotateOutcome::Rotated)
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    // The first loser presented a used token: reuse detection ended the session, so the
    // later ones find it revoked.
    let reused = outcomes
        .iter()
        .filter(|o| **o == RotateOutcome::Reused)
        .count();
    assert!(reused >= 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            RotateOutcome::Rotated | RotateOutcome::Reused | RotateOutcome::Revoked
        )),
        "{outcomes:?}"
    );
    assert!(store.get_session(&sid).await.unwrap().revoked);
}

pub async fn data_survives_reopening_the_store(fixture: Arc<Fixture>) {
    let opened = fixture.open().await;
    let store = opened.store.clone();
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let direct = store
        .get_or_create_direct(GetOrCreateDirectRequest {
            conversation_id: id(),
            user_id: alice.clone(),
            other_user_id: bob.clone(),
            now: T0,
        })
        .await
        .unwrap()
        .conversation
        .unwrap();
    let sent = send(
        &*store,
        &direct.conversation_id,
        &alice,
        "still here?",
        None,
        5,
    )
    .await
    .unwrap();
    drop(store);
    opened.close().await;

    let reopened = fixture.open().await;
    let store = reopened.store.clone();
    assert_eq!(
        store
            .get_user_by_email("bob@example.com")
            .await
            .unwrap()
            .user_id,
        bob
    );
    let conv = store
        .get_conversation(&direct.conversation_id, Some(&bob))
        .await
        .unwrap();
    assert_eq!(conv.last_seq, 1);
    assert_eq!(conv.last_message, sent.message);
    let synced = store
        .sync_messages(SyncMessagesRequest {
            conversation_id: direct.conversation_id.clone(),
            after_seq: 0,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(synced.messages.len(), 1);
    // Seqs continue where they were.
    let next = send(&*store, &direct.conversation_id, &bob, "yes", None, 6)
        .await
        .unwrap();
    assert_eq!(next.message.unwrap().seq, 2);
    drop(store);
    reopened.close().await;
}

fn update(user_id: &str) -> UpdateUserRequest {
    UpdateUserRequest {
        user_id: user_id.to_owned(),
        ..Default::default()
    }
}

pub async fn update_user_sets_only_the_given_fields(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    user(&*store, "bob").await;
    let updated = store
        .update_user(UpdateUserRequest {
            bio: Some("hi".into()),
            avatar_url: Some("https://example.com/a.png".into()),
            ..update(&alice)
        })
        .await
        .unwrap();
    assert_eq!(
        (updated.nickname.as_str(), updated.bio.as_str()),
        ("alice", "hi")
    );
    assert_eq!(updated.avatar_url, "https://example.com/a.png");
    assert!(updated.password_hash.is_empty(), "never handed out");
    let renamed = store
        .update_user(UpdateUserRequest {
            nickname: Some("alicia".into()),
            ..update(&alice)
        })
        .await
        .unwrap();
    assert_eq!(
        (renamed.nickname.as_str(), renamed.bio.as_str()),
        ("alicia", "hi")
    );

    let taken = store
        .update_user(UpdateUserRequest {
            nickname: Some("bob".into()),
            ..update(&alice)
        })
        .await;
    assert!(
        matches!(taken, Err(StoreError::AlreadyExists("nickname"))),
        "{taken:?}"
    );
    let unknown = store.update_user(update(&id())).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("user"))),
        "{unknown:?}"
    );
}

async fn search(store: &dyn Store, prefix: &str, after: Option<&str>, limit: i32) -> Vec<String> {
    store
        .search_users(SearchUsersRequest {
            prefix: prefix.into(),
            limit,
            after_nickname: after.map(str::to_owned),
        })
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.nickname)
        .collect()
}

pub async fn search_users_matches_a_prefix_in_nickname_order_and_pages(store: Arc<dyn Store>) {
    for nick in ["ann_3", "ann_1", "anna", "bob", "an", "ann_2", "annz"] {
        user(&*store, nick).await;
    }
    assert_eq!(
        search(&*store, "ann", None, 10).await,
        ["ann_1", "ann_2", "ann_3", "anna", "annz"]
    );
    assert_eq!(search(&*store, "ann", None, 2).await, ["ann_1", "ann_2"]);
    assert_eq!(
        search(&*store, "ann", Some("ann_2"), 2).await,
        ["ann_3", "anna"]
    );
    assert_eq!(
        search(&*store, "ann", Some("annz"), 2).await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(&*store, "ann_", None, 10).await,
        ["ann_1", "ann_2", "ann_3"]
    );
    assert_eq!(search(&*store, "b", None, 10).await, ["bob"]);
    assert!(search(&*store, "c", None, 10).await.is_empty());
}

pub async fn a_guest_upgrades_once_to_a_free_email(store: Arc<dyn Store>) {
    user(&*store, "alice").await;
    let guest = store.create_user(new_user("guest_1", None)).await.unwrap();
    let upgrade = |email: &str, user_id: &str| UpgradeGuestRequest {
        user_id: user_id.to_owned(),
        email: email.to_owned(),
        password_hash: "$argon2id$new".into(),
    };
    let taken = store
        .upgrade_guest(upgrade("alice@example.com", &guest.user_id))
        .await;
    assert!(
        matches!(taken, Err(StoreError::AlreadyExists("email"))),
        "{taken:?}"
    );
    let full = store
        .upgrade_guest(upgrade("Guest@Example.com", &guest.user_id))
        .await
        .unwrap();
    assert!(!full.is_guest);
    assert_eq!(full.email.as_deref(), Some("guest@example.com"));
    assert_eq!(full.nickname, "guest_1");
    let login = store.get_user_by_email("guest@example.com").await.unwrap();
    assert_eq!(login.password_hash, "$argon2id$new");

    let again = store
        .upgrade_guest(upgrade("g2@example.com", &guest.user_id))
        .await;
    assert!(
        matches!(again, Err(StoreError::FailedPrecondition(_))),
        "{again:?}"
    );
    let unknown = store.upgrade_guest(upgrade("g3@example.com", &id())).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("user"))),
        "{unknown:?}"
    );
}

pub async fn deleting_a_user_frees_email_and_nickname_keeps_messages_and_revokes_sessions(
    store: Arc<dyn Store>,
) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let s1 = session(&*store, &alice, "d1", T0 + 1_000_000).await;
    let s2 = session(&*store, &alice, "d2", T0 + 1_000_000).await;
    let bobs = session(&*store, &bob, "d3", T0 + 1_000_000).await;
    store.revoke_session(&s2).await.unwrap();
    let (conv, _) = crate::direct(&*store, &alice, &bob).await;
    send(&*store, &conv.conversation_id, &alice, "bye", None, 1)
        .await
        .unwrap();

    let revoked = store
        .delete_user(DeleteUserRequest {
            user_id: alice.clone(),
            deleted_nickname: "deleted_a1".into(),
            now: T0 + 5,
        })
        .await
        .unwrap();
    assert_eq!(
        revoked,
        vec![s1.clone()],
        "only the live sessions, and only hers"
    );
    assert!(store.get_session(&s1).await.unwrap().revoked);
    assert!(!store.get_session(&bobs).await.unwrap().revoked);

    let gone = store.get_users(std::slice::from_ref(&alice)).await.unwrap();
    let gone = &gone[0];
    assert!(gone.deleted);
    assert_eq!(gone.nickname, "deleted_a1");
    assert!(gone.email.is_none() && gone.bio.is_empty());
    assert!(matches!(
        store.get_user_by_email("alice@example.com").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        search(&*store, "deleted", None, 10).await.is_empty(),
        "not searchable"
    );
    // Her email and nickname are free again; her message still names her.
    user(&*store, "alice").await;
    let history = store
        .sync_messages(SyncMessagesRequest {
            conversation_id: conv.conversation_id.clone(),
            after_seq: 0,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(history.messages[0].sender_id, alice);

    let twice = store
        .delete_user(DeleteUserRequest {
            user_id: alice.clone(),
            deleted_nickname: "deleted_a2".into(),
            now: T0 + 6,
        })
        .await;
    assert!(
        matches!(twice, Err(StoreError::NotFound("user"))),
        "{twice:?}"
    );
    let updated = store.update_user(update(&alice)).await;
    assert!(
        matches!(updated, Err(StoreError::NotFound("user"))),
        "{updated:?}"
    );
}

pub async fn revoked_sessions_are_listed_since_a_time_in_pages(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let a1 = session(&*store, &alice, "l1", T0 + 1_000_000).await;
    let a2 = session(&*store, &alice, "l2", T0 + 1_000_000).await;
    let live = session(&*store, &bob, "l3", T0 + 1_000_000).await;
    let list = |since: i64, after: &str, limit: i32| {
        let store = store.clone();
        let after = after.to_owned();
        async move {
            store
                .list_revoked_sessions(ListRevokedSessionsRequest {
                    since_ms: since,
                    after_session_id: after,
                    limit,
                })
                .await
                .unwrap()
        }
    };
    assert!(list(0, "", 10).await.is_empty());

    let before = natter_now();
    let mut revoked = store.revoke_user_sessions(&alice).await.unwrap();
    revoked.sort();
    let mut want = vec![a1.clone(), a2.clone()];
    want.sort();
    assert_eq!(revoked, want);
    assert!(
        store.revoke_user_sessions(&alice).await.unwrap().is_empty(),
        "idempotent"
    );

    let all = list(before, "", 10).await;
    let ids: Vec<_> = all.iter().map(|s| s.session_id.clone()).collect();
    assert_eq!(
        ids, want,
        "ordered by (revoked_at, id); the live one is absent"
    );
    assert!(all.iter().all(|s| s.revoked_at >= before));
    assert!(!ids.contains(&live));
    // Page by (revoked_at, id).
    let first = list(before, "", 1).await;
    assert_eq!(first.len(), 1);
    let rest = list(first[0].revoked_at, &first[0].session_id, 10).await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].session_id, want[1]);
    assert!(list(all[1].revoked_at + 1, "", 10).await.is_empty());
}

/// The wall clock in ms (revocations without a caller-given time use it).
fn natter_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
