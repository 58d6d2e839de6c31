//! Sessions and accounts as a client sees them: logout ends one session everywhere (its access
//! token, its refresh token, its sockets on every comet node), a guest becomes a full account,
//! backend services ask whether a user may act in a conversation, and a revocation made through
//! one logic instance is honoured by another within seconds.

mod common;

use common::{Backend, Stack};
use natter_logic::{Logic, LogicConfig, SigningKeys};
use natter_proto::{
    ServiceToken, Transport, local_transport,
    logic::{
        CheckAccessRequest, Empty, GetProfileRequest, MemberRole, RegisterRequest,
        auth_service_client::AuthServiceClient, user_service_client::UserServiceClient,
    },
};
use natter_realtime::{MemoryBus, MemoryPresence};
use natter_repo::{RepoService, store};
use natter_testkit::{Socket, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tonic::{Code, Request, transport::Channel};

on_both_backends!(
    logout_ends_the_session_its_tokens_and_its_sockets_on_every_node,
    a_guest_becomes_a_full_account_once_with_a_free_email,
    check_access_tells_a_member_their_role_and_refuses_outsiders,
    logout_over_grpc_refuses_the_same_token_afterwards,
    a_revocation_through_one_logic_instance_is_refused_by_another_within_seconds,
    a_new_socket_with_a_logged_out_token_is_closed_with_4003,
);

fn assert_error(status: StatusCode, body: &Value, want: u16, code: &str) {
    assert_eq!(status.as_u16(), want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "errors say what was wrong: {body}"
    );
}

async fn login(stack: &Stack, email: &str) -> Value {
    let body = json!({ "email": email, "password": "correct horse battery" });
    let (status, v) = stack
        .api(0)
        .call(Method::POST, "/v1/login", None, Some(body))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn logout_ends_the_session_its_tokens_and_its_sockets_on_every_node(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let email = format!(
        "{}@example.org",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let user = api
        .register(&email, "correct horse battery", "leaver")
        .await
        .unwrap();
    // A second login of the same user (another device) must survive this logout.
    let other = login(&stack, &email).await;
    let other_token = other["access_token"].as_str().unwrap();
    let (mut s0, _) = Socket::open(&stack.ws(0), &user.access_token, "laptop")
        .await
        .unwrap();
    let (mut s1, _) = Socket::open(&stack.ws(1), &user.access_token, "phone")
        .await
        .unwrap();
    let (mut kept, _) = Socket::open(&stack.ws(1), other_token, "tablet")
        .await
        .unwrap();

    let (status, body) = api
        .call(Method::POST, "/v1/logout", Some(&user.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null, "204 has no body");
    assert_eq!(s0.closed().await.unwrap(), 4003);
    assert_eq!(s1.closed().await.unwrap(), 4003);

    // The same access token, on either node, is refused by every route that reaches logic.
    for node in 0..2 {
        for (method, path) in [
            (Method::GET, "/v1/profile"),
            (Method::GET, "/v1/chats"),
            (Method::POST, "/v1/logout"),
        ] {
            let (status, body) = stack
                .api(node)
                .call(method, path, Some(&user.access_token), None)
                .await
                .unwrap();
            assert_error(status, &body, 401, "UNAUTHENTICATED");
            assert_eq!(body["error"]["message"], "session was revoked");
        }
    }
    let body = json!({ "refresh_token": user.refresh_token });
    let (status, body) = api
        .call(Method::POST, "/v1/refresh", None, Some(body))
        .await
        .unwrap();
    assert_error(status, &body, 401, "UNAUTHENTICATED");

    // The other session is untouched.
    let (status, me) = api
        .call(Method::GET, "/v1/profile", Some(other_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user_id"], user.user_id.as_str());
    kept.request("ping", json!({})).await.unwrap();
    let (status, _) = api
        .call(Method::POST, "/v1/logout", None, None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "logout needs a token");
}

async fn a_guest_becomes_a_full_account_once_with_a_free_email(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let taken = api
        .register("taken@example.org", "correct horse battery", "taken_one")
        .await
        .unwrap();
    let (status, guest) = api
        .call(
            Method::POST,
            "/v1/guest",
            None,
            Some(json!({ "nickname": "visitor" })),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{guest}");
    let token = guest["access_token"].as_str().unwrap();
    let upgrade = |email: &str, password: &str| json!({ "email": email, "password": password });
    let call = |body: Value| api.call(Method::POST, "/v1/guest/upgrade", Some(token), Some(body));

    let (status, body) = call(upgrade("not-an-email", "long enough")).await.unwrap();
    assert_error(status, &body, 400, "INVALID_ARGUMENT");
    let (status, body) = call(upgrade("v@example.org", "short")).await.unwrap();
    assert_error(status, &body, 400, "INVALID_ARGUMENT");
    let (status, body) = call(json!({ "email": "v@example.org" })).await.unwrap();
    assert_error(status, &body, 400, "INVALID_ARGUMENT");
    // A registered user's email (in any case) is taken.
    let (status, body) = call(upgrade("TAKEN@example.org", "long enough"))
        .await
        .unwrap();
    assert_error(status, &body, 409, "ALREADY_EXISTS");

    let (status, profile) = call(upgrade("Visitor@Example.org", "correct horse battery"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["user_id"], guest["user_id"]);
    assert_eq!(profile["nickname"], "visitor");
    assert_eq!(profile["is_guest"], false);
    // The same session keeps working, and the new credentials log in to the same account.
    let again = login(&stack, "visitor@example.org").await;
    assert_eq!(again["user_id"], guest["user_id"]);
    let (status, body) = call(upgrade("v2@example.org", "long enough"))
        .await
        .unwrap();
    assert_error(status, &body, 412, "FAILED_PRECONDITION");
    let body = upgrade("v3@example.org", "long enough");
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/guest/upgrade",
            Some(&taken.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_error(status, &body, 412, "FAILED_PRECONDITION");
}

async fn channel(stack: &Stack) -> Channel {
    let addr = stack.logic_addr.expect("logic address");
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn as_user<T>(msg: T, token: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn check(conversation_id: &str, action: &str) -> CheckAccessRequest {
    CheckAccessRequest {
        conversation_id: conversation_id.into(),
        action: action.into(),
    }
}

async fn check_access_tells_a_member_their_role_and_refuses_outsiders(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (owner, member, outsider) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let body = json!({ "name": "team", "member_ids": [member.user_id] });
    let (status, group) = api
        .call(
            Method::POST,
            "/v1/groups",
            Some(&owner.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = group["conversation_id"].as_str().unwrap().to_owned();
    let direct = api
        .direct(&member.access_token, &outsider.user_id)
        .await
        .unwrap();
    let mut auth = AuthServiceClient::new(channel(&stack).await);

    let as_owner = auth
        .check_access(as_user(check(&group, "admin"), &owner.access_token))
        .await
        .unwrap()
        .into_inner();
    assert!(as_owner.allowed);
    assert_eq!(as_owner.role(), MemberRole::Owner);
    for (action, allowed) in [("read", true), ("write", true), ("admin", false)] {
        let answer = auth
            .check_access(as_user(check(&group, action), &member.access_token))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.allowed, allowed, "a member may {action}: {allowed}");
        assert_eq!(answer.role(), MemberRole::Member);
    }
    let in_direct = auth
        .check_access(as_user(check(&direct, "write"), &outsider.access_token))
        .await
        .unwrap()
        .into_inner();
    assert!(in_direct.allowed);

    let err = auth
        .check_access(as_user(check(&group, "read"), &outsider.access_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = auth
        .check_access(as_user(check("no-such-chat", "read"), &owner.access_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = auth
        .check_access(as_user(check(&group, "delete"), &owner.access_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = auth
        .check_access(as_user(check("", "read"), &owner.access_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = auth
        .check_access(Request::new(check(&group, "read")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

async fn logout_over_grpc_refuses_the_same_token_afterwards(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let ch = channel(&stack).await;
    let mut auth = AuthServiceClient::new(ch.clone());
    let mut users = UserServiceClient::new(ch);
    let user = stack.api(0).new_user().await.unwrap();
    let me = GetProfileRequest {
        user_id: user.user_id.clone(),
    };
    users
        .get_profile(as_user(me.clone(), &user.access_token))
        .await
        .unwrap();
    let err = auth.logout(Request::new(Empty {})).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "no token, no logout");
    auth.logout(as_user(Empty {}, &user.access_token))
        .await
        .unwrap();
    let err = users
        .get_profile(as_user(me, &user.access_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(err.message(), "session was revoked");
}

/// A logic instance over a shared repo, as `natter logic` runs one.
fn logic_instance(repo: Transport, key: &std::path::Path, token: &ServiceToken) -> Transport {
    let keys = SigningKeys::load_or_create(key).unwrap();
    let logic = Logic::new(
        LogicConfig::default(),
        keys,
        repo,
        Arc::new(MemoryBus::new()),
    );
    local_transport(natter_logic::routes(logic, token), token)
}

async fn a_revocation_through_one_logic_instance_is_refused_by_another_within_seconds(
    backend: Backend,
) {
    natter_testkit::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Embedded => None,
        Backend::Postgres => Some(TestDatabase::create().await.unwrap()),
    };
    let url = match &db {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("natter.db").display()),
    };
    let store = store::open(&url).await.unwrap();
    let presence = Arc::new(MemoryPresence::new(Duration::from_secs(60)));
    let token = ServiceToken::generate();
    let repo = local_transport(
        natter_repo::routes(RepoService::new(store, presence), &token),
        &token,
    );
    let key = dir.path().join("jwt.pem");
    let a = logic_instance(repo.clone(), &key, &token);
    let b = logic_instance(repo, &key, &token);

    let tokens = AuthServiceClient::new(a.clone())
        .register(RegisterRequest {
            email: "two@example.org".into(),
            password: "long enough".into(),
            nickname: Some("two_logics".into()),
            device_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    let me = || {
        as_user(
            GetProfileRequest {
                user_id: tokens.user_id.clone(),
            },
            &tokens.access_token,
        )
    };
    let mut on_b = UserServiceClient::new(b);
    on_b.get_profile(me()).await.unwrap();
    AuthServiceClient::new(a)
        .logout(as_user(Empty {}, &tokens.access_token))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        match on_b.get_profile(me()).await {
            Err(err) if err.code() == Code::Unauthenticated => {
                assert_eq!(err.message(), "session was revoked");
                break;
            }
            Ok(_) if started.elapsed() < Duration::from_secs(8) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("instance b still serves the revoked session: {other:?}"),
        }
    }
}

async fn a_new_socket_with_a_logged_out_token_is_closed_with_4003(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let user = stack.api(0).new_user().await.unwrap();
    let (status, _) = stack
        .api(0)
        .call(Method::POST, "/v1/logout", Some(&user.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The token still verifies (it has not expired), but its session is revoked: on either
    // node, a socket that presents it is refused instead of receiving pushes.
    for node in 0..2 {
        let mut s = Socket::connect(&stack.ws(node)).await.unwrap();
        let auth = serde_json::json!({
            "id": 1, "method": "auth", "params": { "token": user.access_token, "device_id": "x" }
        });
        s.send_text(auth.to_string()).await.unwrap();
        assert_eq!(s.closed().await.unwrap(), 4003, "node {node}");
    }
}
