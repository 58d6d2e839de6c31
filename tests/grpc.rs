//! Backend services call logic over gRPC: health, reflection-described services, and the same
//! rules as REST, authenticated by the end user's access token in metadata.

mod common;

use common::{Backend, Stack};
use natter_proto::logic::{
    CreateDirectRequest, RegisterRequest, SendAs, SendMessageRequest, SendMessagesRequest,
    SyncMessagesRequest, auth_service_client::AuthServiceClient,
    conversation_service_client::ConversationServiceClient,
    message_service_client::MessageServiceClient, send_outcome::Outcome,
};
use natter_testkit::Socket;
use reqwest::{Method, StatusCode};
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

on_both_backends!(
    the_logic_tier_reports_serving_on_the_health_service,
    a_backend_service_registers_and_sends_a_message_over_grpc,
);

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

async fn the_logic_tier_reports_serving_on_the_health_service(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let mut health = HealthClient::new(channel(&stack).await);
    let res = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.status(), ServingStatus::Serving);
    // A comet node answers the same check on its HTTP port.
    let comet = stack.api(0).base.clone();
    let channel = Channel::from_shared(comet)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let res = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(res.status(), ServingStatus::Serving);
}

async fn a_backend_service_registers_and_sends_a_message_over_grpc(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let ch = channel(&stack).await;
    let mut auth = AuthServiceClient::new(ch.clone());
    let register = |email: &str, nick: &str| RegisterRequest {
        email: email.into(),
        password: "long enough".into(),
        nickname: Some(nick.into()),
        device_id: None,
    };
    let a = auth
        .register(register("ga@example.org", "gina"))
        .await
        .unwrap()
        .into_inner();
    let b = auth
        .register(register("gb@example.org", "gabe"))
        .await
        .unwrap()
        .into_inner();
    let err = auth
        .register(register("ga@example.org", "gina2"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    let mut convs = ConversationServiceClient::new(ch.clone());
    let req = CreateDirectRequest {
        participant_id: b.user_id.clone(),
    };
    let err = convs
        .create_direct(Request::new(req.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "no token, no call");
    let err = convs
        .create_direct(as_user(req.clone(), "forged"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let chat = convs
        .create_direct(as_user(req, &a.access_token))
        .await
        .unwrap()
        .into_inner();
    let chat_id = chat.conversation.unwrap().conversation_id;

    let mut messages = MessageServiceClient::new(ch);
    let send = SendMessageRequest {
        conversation_id: chat_id.clone(),
        content: "over gRPC".into(),
        client_msg_id: Some("g-1".into()),
        ..Default::default()
    };
    let sent = messages
        .send_message(as_user(send, &a.access_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.message.as_ref().unwrap().seq, 1);
    let sync = SyncMessagesRequest {
        conversation_id: chat_id,
        after_seq: 0,
        limit: 0,
    };
    let page = messages
        .sync_messages(as_user(sync, &b.access_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].content, "over gRPC");
}

/// Comet nodes send their sockets' messages in shared `SendMessages` calls (distributed form,
/// where the service credential is known): each send is answered exactly as that user's own
/// `SendMessage` call would have been, in order, and only the service credential may call it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_messages_answers_each_users_send_as_their_own_call_would() {
    let stack = Stack::start(Backend::Postgres, 1).await;
    let api = stack.api(0);
    let (a, b, c, d) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let session_of = |token: String| {
        let ws = stack.ws(0);
        async move {
            let (_socket, auth) = Socket::open(&ws, &token, "grpc-test").await.unwrap();
            auth["session_id"].as_str().unwrap().to_owned()
        }
    };
    let (a_session, b_session, c_session, d_session) = (
        session_of(a.access_token.clone()).await,
        session_of(b.access_token.clone()).await,
        session_of(c.access_token.clone()).await,
        session_of(d.access_token.clone()).await,
    );
    let (status, _) = api
        .call(Method::POST, "/v1/logout", Some(&d.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);

    let send = |text: &str, client_msg_id: Option<&str>| SendMessageRequest {
        conversation_id: chat.clone(),
        content: text.into(),
        client_msg_id: client_msg_id.map(Into::into),
        ..Default::default()
    };
    let send_as = |user: &str, session: &str, req: SendMessageRequest| SendAs {
        user_id: user.into(),
        session_id: session.into(),
        connection_id: String::new(),
        send: Some(req),
    };
    let sends = vec![
        send_as(&a.user_id, &a_session, send("one", Some("k-1"))),
        send_as(&c.user_id, &c_session, send("not a member", None)),
        send_as(&b.user_id, &b_session, send("two", None)),
        send_as(&a.user_id, &a_session, send("one again", Some("k-1"))),
        send_as(&d.user_id, &d_session, send("logged out", None)),
        send_as("", "", send("nobody", None)),
        send_as(&a.user_id, &a_session, send("", None)),
    ];
    let ch = channel(&stack).await;
    let mut messages = MessageServiceClient::new(ch);
    let mut req = Request::new(SendMessagesRequest {
        sends: sends.clone(),
    });
    let bearer = stack.service_bearer().expect("distributed stack");
    req.metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    let outcomes = messages
        .send_messages(req)
        .await
        .unwrap()
        .into_inner()
        .outcomes;
    assert_eq!(outcomes.len(), sends.len());
    let sent = |i: usize| match &outcomes[i].outcome {
        Some(Outcome::Sent(sent)) => sent.clone(),
        other => panic!("send {i} was not sent: {other:?}"),
    };
    let failed = |i: usize| match &outcomes[i].outcome {
        Some(Outcome::Failed(failed)) => (Code::from(failed.code), failed.message.clone()),
        other => panic!("send {i} did not fail: {other:?}"),
    };
    let (one, two, again) = (sent(0), sent(2), sent(3));
    let seq = |s: &natter_proto::logic::SendMessageResponse| s.message.as_ref().unwrap().seq;
    assert_eq!((seq(&one), seq(&two), seq(&again)), (1, 2, 1));
    assert!(!one.duplicate && !two.duplicate && again.duplicate);
    assert_eq!(
        failed(4),
        (Code::Unauthenticated, "session was revoked".into())
    );
    assert_eq!(failed(5).0, Code::Unauthenticated);
    // The same refusals as the users' own calls, code and message.
    for (i, token) in [(1, &c.access_token), (6, &a.access_token)] {
        let own = messages
            .send_message(as_user(sends[i].send.clone().unwrap(), token))
            .await
            .unwrap_err();
        assert_eq!(
            failed(i),
            (own.code(), own.message().to_owned()),
            "send {i}"
        );
        assert_ne!(own.code(), Code::Ok);
    }
    let page = messages
        .sync_messages(as_user(
            SyncMessagesRequest {
                conversation_id: chat.clone(),
                after_seq: 0,
                limit: 0,
            },
            &b.access_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let stored: Vec<_> = page
        .messages
        .iter()
        .map(|m| (m.seq, m.sender_id.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(
        stored,
        [
            (1, a.user_id.as_str(), "one"),
            (2, b.user_id.as_str(), "two")
        ]
    );

    // An end user may not speak for others, and a call is bounded.
    let err = messages
        .send_messages(as_user(
            SendMessagesRequest {
                sends: sends.clone(),
            },
            &a.access_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut req = Request::new(SendMessagesRequest {
        sends: vec![sends[0].clone(); 257],
    });
    req.metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    let err = messages.send_messages(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("at most 256"), "{}", err.message());
}
