use super::{RepoService, reply, status};
use natter_proto::repo::{
    AppendMessageRequest, AppendMessageResponse, AppendMessagesRequest, AppendMessagesResponse,
    AppendOutcome, GetMessageForRequest, GetMessageRequest, ListMessagesRequest,
    ListMessagesResponse, Message, MessageFor, ReplayMessagesRequest, SyncMessagesRequest,
    message_store_server::MessageStore,
};
use tonic::{Request, Response, Status};

/// Most appends in one `AppendMessages` call: what one group-commit batch stores.
pub use natter_proto::limits::MAX_APPENDS_PER_CALL;
const _: () = assert!(MAX_APPENDS_PER_CALL <= crate::store::MAX_BATCH);

#[tonic::async_trait]
impl MessageStore for RepoService {
    async fn append_message(
        &self,
        req: Request<AppendMessageRequest>,
    ) -> Result<Response<AppendMessageResponse>, Status> {
        reply(self.store.append_message(req.into_inner()).await)
    }

    /// Queues every append at once (in the request's order, so appends to one conversation
    /// take their seqs in that order), so they share the store's group commit as concurrent
    /// `AppendMessage` calls would, without a call, a task and a wake-up each.
    async fn append_messages(
        &self,
        req: Request<AppendMessagesRequest>,
    ) -> Result<Response<AppendMessagesResponse>, Status> {
        let appends = req.into_inner().appends;
        if appends.len() > MAX_APPENDS_PER_CALL {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_APPENDS_PER_CALL} appends a call, not {}",
                appends.len()
            )));
        }
        let stored = appends
            .into_iter()
            .map(|append| self.store.append_message(append));
        let outcomes = (futures::future::join_all(stored).await.into_iter())
            .map(|answer| AppendOutcome::of(answer.map_err(status)))
            .collect();
        Ok(Response::new(AppendMessagesResponse { outcomes }))
    }

    async fn list_messages(
        &self,
        req: Request<ListMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        reply(self.store.list_messages(req.into_inner()).await)
    }

    async fn sync_messages(
        &self,
        req: Request<SyncMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        reply(self.store.sync_messages(req.into_inner()).await)
    }

    async fn get_message(
        &self,
        req: Request<GetMessageRequest>,
    ) -> Result<Response<Message>, Status> {
        let req = req.get_ref();
        reply(
            self.store
                .get_message(&req.conversation_id, &req.message_id)
                .await,
        )
    }

    /// The store stamps the deletion time itself: the RPC carries no clock, and the first
    /// deletion's time is the one kept.
    async fn delete_message(
        &self,
        req: Request<GetMessageRequest>,
    ) -> Result<Response<Message>, Status> {
        let req = req.get_ref();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        reply(
            self.store
                .delete_message(&req.conversation_id, &req.message_id, now)
                .await,
        )
    }

    async fn get_message_for(
        &self,
        req: Request<GetMessageForRequest>,
    ) -> Result<Response<MessageFor>, Status> {
        reply(self.store.get_message_for(req.into_inner()).await)
    }

    async fn replay_messages(
        &self,
        req: Request<ReplayMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        reply(self.store.replay_messages(req.into_inner()).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use natter_proto::repo::{
        CreateUserRequest, GetOrCreateDirectRequest, append_outcome::Outcome,
    };
    use natter_realtime::MemoryPresence;
    use std::sync::Arc;
    use tonic::Code;

    async fn service() -> (RepoService, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("natter.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let presence = MemoryPresence::new(std::time::Duration::from_secs(60));
        (RepoService::new(Arc::new(store), Arc::new(presence)), dir)
    }

    async fn user(service: &RepoService, name: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        (service.store)
            .create_user(CreateUserRequest {
                user_id: id.clone(),
                email: Some(format!("{name}@example.com")),
                password_hash: "$argon2id$x".into(),
                nickname: name.into(),
                is_guest: false,
                created_at: 1,
            })
            .await
            .unwrap();
        id
    }

    fn append(
        conversation: &str,
        sender: &str,
        content: &str,
        key: Option<&str>,
    ) -> AppendMessageRequest {
        AppendMessageRequest {
            message_id: uuid::Uuid::new_v4().to_string(),
            conversation_id: conversation.into(),
            sender_id: sender.into(),
            kind: "text".into(),
            content: content.into(),
            client_msg_id: key.map(str::to_owned),
            created_at: 2,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn each_append_of_a_call_gets_its_own_outcome_in_order() {
        let (service, _dir) = service().await;
        let (alice, bob, eve) = (
            user(&service, "alice").await,
            user(&service, "bob").await,
            user(&service, "eve").await,
        );
        let chat = (service.store)
            .get_or_create_direct(GetOrCreateDirectRequest {
                conversation_id: uuid::Uuid::new_v4().to_string(),
                user_id: alice.clone(),
                other_user_id: bob.clone(),
                now: 1,
            })
            .await
            .unwrap()
            .conversation
            .unwrap()
            .conversation_id;
        let appends = vec![
            append(&chat, &alice, "one", Some("k1")),
            append(&chat, &eve, "not hers to send", None),
            append(&chat, &bob, "two", None),
            append("no-such-conversation", &alice, "lost", None),
            append(&chat, &alice, "one again", Some("k1")),
            append(&chat, &alice, "three", None),
        ];
        let outcomes = service
            .append_messages(Request::new(AppendMessagesRequest { appends }))
            .await
            .unwrap()
            .into_inner()
            .outcomes;
        let described: Vec<String> = outcomes
            .into_iter()
            .map(|o| match o.outcome.unwrap() {
                Outcome::Stored(s) => {
                    let m = s.message.unwrap();
                    format!("seq {} {:?} duplicate={}", m.seq, m.content, s.duplicate)
                }
                Outcome::Failed(f) => format!("{:?} {}", Code::from(f.code), f.message),
            })
            .collect();
        assert_eq!(
            described,
            [
                "seq 1 \"one\" duplicate=false",
                "FailedPrecondition not a member",
                "seq 2 \"two\" duplicate=false",
                "NotFound conversation not found",
                "seq 1 \"one\" duplicate=true",
                "seq 3 \"three\" duplicate=false",
            ]
        );
    }

    #[tokio::test]
    async fn a_call_with_more_appends_than_one_batch_is_refused_whole() {
        let (service, _dir) = service().await;
        let appends = (0..=MAX_APPENDS_PER_CALL)
            .map(|i| append("c", "u", &i.to_string(), None))
            .collect();
        let refused = service
            .append_messages(Request::new(AppendMessagesRequest { appends }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(refused.message(), "at most 256 appends a call, not 257");
    }
}
