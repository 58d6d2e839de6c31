//! Users, sessions and refresh tokens; and durability across a reopen.

use crate::harness::Fixture;
use crate::{T0, id, send, user};
use natter_proto::repo::{
    CreateSessionRequest, CreateUserRequest, GetOrCreateDirectRequest, RotateOutcome,
    RotateRefreshTokenRequest, RotateRefreshTokenResponse, SyncMessagesRequest,
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
