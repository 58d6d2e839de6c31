//! `StreamMessages`, as a backend service sees it over gRPC: the stored messages of a
//! conversation from a seq (or a time) on, then the live ones, each exactly once and in seq
//! order, however sends and the switch-over interleave.

mod common;

use common::{Backend, Stack};
use natter_proto::logic::{
    Message, StreamMessagesRequest, message_service_client::MessageServiceClient,
    stream_messages_request::From,
};
use std::time::Duration;
use tonic::{Code, Request, Streaming, transport::Channel};

on_both_backends!(
    a_stream_replays_from_after_seq_then_delivers_live_messages_without_gap_or_duplicate,
    a_stream_opened_while_messages_are_being_sent_misses_none_and_repeats_none,
    a_stream_from_a_time_starts_at_the_first_message_sent_at_or_after_it,
    a_stream_refuses_a_conversation_the_caller_is_not_in_and_bad_requests,
);

async fn client(stack: &Stack) -> MessageServiceClient<Channel> {
    let addr = stack.logic_addr.expect("logic address");
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    MessageServiceClient::new(channel)
}

fn as_user<T>(msg: T, token: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn request(conversation_id: &str, from: Option<From>) -> StreamMessagesRequest {
    StreamMessagesRequest {
        conversation_id: conversation_id.to_owned(),
        from,
    }
}

async fn next(stream: &mut Streaming<Message>) -> Message {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a streamed message within 5 s")
        .expect("the stream stays healthy")
        .expect("the stream stays open")
}

/// Asserts nothing more arrives for a while.
async fn quiet(stream: &mut Streaming<Message>) {
    let more = tokio::time::timeout(Duration::from_millis(300), stream.message()).await;
    assert!(more.is_err(), "nothing more was expected: {more:?}");
}

async fn a_stream_replays_from_after_seq_then_delivers_live_messages_without_gap_or_duplicate(
    backend: Backend,
) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    for i in 1..=5 {
        api.send(&a.access_token, &chat, &format!("before {i}"))
            .await
            .unwrap();
    }
    // A deleted message replays as its tombstone.
    let (_, history) = api
        .call(
            reqwest::Method::GET,
            &format!("/v1/chats/{chat}/messages?limit=1"),
            Some(&a.access_token),
            None,
        )
        .await
        .unwrap();
    let fifth = history["messages"][0]["message_id"].as_str().unwrap();
    let path = format!("/v1/chats/{chat}/messages/{fifth}");
    let (code, _) = api
        .call(reqwest::Method::DELETE, &path, Some(&a.access_token), None)
        .await
        .unwrap();
    assert!(code.is_success());

    let mut grpc = client(&stack).await;
    let req = request(&chat, Some(From::AfterSeq(2)));
    let mut stream = grpc
        .stream_messages(as_user(req, &b.access_token))
        .await
        .unwrap()
        .into_inner();
    for seq in 3..=5 {
        let m = next(&mut stream).await;
        assert_eq!((m.seq, m.conversation_id.as_str()), (seq, chat.as_str()));
        assert_eq!(m.deleted, seq == 5, "seq {seq}");
    }
    // Live ones, from both members, follow on from the replay.
    for (i, who) in [&a, &b, &a, &b].into_iter().enumerate() {
        api.send(&who.access_token, &chat, &format!("live {i}"))
            .await
            .unwrap();
    }
    for (i, seq) in (6..=9).enumerate() {
        let m = next(&mut stream).await;
        assert_eq!((m.seq, m.content), (seq, format!("live {i}")));
    }
    quiet(&mut stream).await;
}

async fn a_stream_opened_while_messages_are_being_sent_misses_none_and_repeats_none(
    backend: Backend,
) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    for i in 0..10 {
        api.send(&a.access_token, &chat, &format!("early {i}"))
            .await
            .unwrap();
    }
    // Two senders keep going while the stream opens and replays.
    const LATE: i64 = 40;
    let senders: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|who| {
            let (api, chat) = (api.clone(), chat.clone());
            tokio::spawn(async move {
                for i in 0..LATE / 2 {
                    api.send(&who.access_token, &chat, &format!("late {i}"))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut grpc = client(&stack).await;
    let req = request(&chat, Some(From::AfterSeq(0)));
    let mut stream = grpc
        .stream_messages(as_user(req, &a.access_token))
        .await
        .unwrap()
        .into_inner();
    let mut seqs = Vec::new();
    while seqs.len() < (10 + LATE) as usize {
        seqs.push(next(&mut stream).await.seq);
    }
    for s in senders {
        s.await.unwrap();
    }
    assert_eq!(
        seqs,
        (1..=10 + LATE).collect::<Vec<_>>(),
        "every seq once, in order"
    );
    quiet(&mut stream).await;
}

async fn a_stream_from_a_time_starts_at_the_first_message_sent_at_or_after_it(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    api.send(&a.access_token, &chat, "old").await.unwrap();
    let old = api.send(&a.access_token, &chat, "old too").await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = old["created_at"].as_i64().unwrap() + 2;
    api.send(&b.access_token, &chat, "new").await.unwrap();

    let mut grpc = client(&stack).await;
    let req = request(&chat, Some(From::SinceTime(since)));
    let mut stream = grpc
        .stream_messages(as_user(req, &a.access_token))
        .await
        .unwrap()
        .into_inner();
    let m = next(&mut stream).await;
    assert_eq!((m.seq, m.content.as_str()), (3, "new"));
    api.send(&b.access_token, &chat, "live").await.unwrap();
    assert_eq!(next(&mut stream).await.seq, 4);

    // No start at all: only what is stored from now on.
    let mut live_only = grpc
        .stream_messages(as_user(request(&chat, None), &b.access_token))
        .await
        .unwrap()
        .into_inner();
    api.send(&a.access_token, &chat, "fifth").await.unwrap();
    let m = next(&mut live_only).await;
    assert_eq!((m.seq, m.content.as_str()), (5, "fifth"));
    assert_eq!(next(&mut stream).await.seq, 5);
}

async fn a_stream_refuses_a_conversation_the_caller_is_not_in_and_bad_requests(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b, eve) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let mut grpc = client(&stack).await;
    let refused = |req: StreamMessagesRequest, token: Option<&str>| {
        let mut grpc = grpc.clone();
        let req = match token {
            Some(token) => as_user(req, token),
            None => Request::new(req),
        };
        async move { grpc.stream_messages(req).await.map(|_| ()).unwrap_err() }
    };
    let from_start = Some(From::AfterSeq(0));
    let err = refused(request(&chat, from_start), Some(&eve.access_token)).await;
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(err.message(), "not a member of this conversation");
    let err = refused(request("no-such-chat", None), Some(&a.access_token)).await;
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = refused(request(&chat, None), None).await;
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = refused(request("", None), Some(&a.access_token)).await;
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "every conversation is for services"
    );
    let err = refused(
        request(&chat, Some(From::AfterSeq(-1))),
        Some(&a.access_token),
    )
    .await;
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = refused(
        request(&chat, Some(From::SinceTime(-1))),
        Some(&a.access_token),
    )
    .await;
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // A member's stream opens fine.
    grpc.stream_messages(as_user(request(&chat, None), &b.access_token))
        .await
        .unwrap();
}

/// The service credential (distributed form) may stream every conversation at once, from a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_streams_every_conversation_from_a_time() {
    let stack = Stack::start(Backend::Postgres, 1).await;
    let api = stack.api(0);
    let (a, b, c) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let ab = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let ac = api.direct(&a.access_token, &c.user_id).await.unwrap();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 1;
    api.send(&a.access_token, &ab, "before ab").await.unwrap();
    api.send(&c.access_token, &ac, "before ac").await.unwrap();

    let mut req = Request::new(request("", Some(From::SinceTime(since))));
    let bearer = stack.service_bearer().expect("distributed stack");
    req.metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    let mut stream = client(&stack)
        .await
        .stream_messages(req)
        .await
        .unwrap()
        .into_inner();
    let mut seen = vec![next(&mut stream).await, next(&mut stream).await];
    api.send(&b.access_token, &ab, "live ab").await.unwrap();
    api.send(&a.access_token, &ac, "live ac").await.unwrap();
    seen.push(next(&mut stream).await);
    seen.push(next(&mut stream).await);
    quiet(&mut stream).await;
    for chat in [&ab, &ac] {
        let of_chat: Vec<(i64, String)> = seen
            .iter()
            .filter(|m| &m.conversation_id == chat)
            .map(|m| (m.seq, m.content.clone()))
            .collect();
        assert_eq!(of_chat.len(), 2, "{of_chat:?}");
        assert_eq!(
            (of_chat[0].0, of_chat[1].0),
            (1, 2),
            "each conversation in seq order"
        );
        assert!(of_chat[0].1.starts_with("before") && of_chat[1].1.starts_with("live"));
    }
    // An end user cannot ask for every conversation.
    let req = as_user(request("", Some(From::SinceTime(since))), &a.access_token);
    let err = client(&stack).await.stream_messages(req).await.err();
    let code = match err {
        Some(status) => status.code(),
        None => Code::Ok,
    };
    assert!(
        matches!(code, Code::PermissionDenied | Code::InvalidArgument),
        "{code:?}"
    );
}
