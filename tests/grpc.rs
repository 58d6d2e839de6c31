//! Backend services call logic over gRPC: health, reflection-described services, and the same
//! rules as REST, authenticated by the end user's access token in metadata.

mod common;

use common::{Backend, Stack};
use natter_proto::logic::{
    CreateDirectRequest, RegisterRequest, SendMessageRequest, SyncMessagesRequest,
    auth_service_client::AuthServiceClient, conversation_service_client::ConversationServiceClient,
    message_service_client::MessageServiceClient,
};
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
