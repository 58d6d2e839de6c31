//! Messages sent by concurrent sockets and REST calls, sent to logic together.
//!
//! Each send was a `SendMessage` call of its own: an HTTP/2 stream, a task and a wake-up here
//! and in logic, per message, which under load cost more than the rules it ran. So sends are
//! [gathered](natter_proto::gather) into `SendMessages` calls carrying each sender's identity;
//! logic answers each as `SendMessage` would have, and one socket's sends keep their order (it
//! waits for each reply before reading its next request). With logic in the same process each
//! send makes its own call (`CometConfig::batch_sends`). `SendMessages` is newer than
//! `SendMessage`: in a rolling upgrade, upgrade the logic nodes first.

use crate::logic::Identity;
use natter_proto::{
    Transport,
    gather::{Gathered, Many},
    logic::{
        SendAs, SendMessageRequest, SendMessageResponse, SendMessagesRequest, SendOutcome,
        message_service_client::MessageServiceClient,
    },
};
use tonic::Status;

/// Sends, gathered into calls of logic's `SendMessages`.
pub type Sends = Gathered<LogicSends>;

#[derive(Clone)]
pub struct LogicSends(pub MessageServiceClient<Transport>);

impl Many for LogicSends {
    type Item = SendAs;
    type Answer = SendMessageResponse;
    const BATCH: usize = natter_proto::limits::MAX_SENDS_PER_CALL;

    async fn one(&self, send: SendAs) -> Result<SendMessageResponse, Status> {
        let who = Identity {
            user_id: send.user_id,
            session_id: send.session_id,
            connection_id: (!send.connection_id.is_empty()).then_some(send.connection_id),
        };
        let request = who.request(send.send.unwrap_or_default());
        Ok(self.0.clone().send_message(request).await?.into_inner())
    }

    async fn many(
        &self,
        sends: Vec<SendAs>,
    ) -> Result<Vec<Result<SendMessageResponse, Status>>, Status> {
        let reply = self
            .0
            .clone()
            .send_messages(SendMessagesRequest { sends })
            .await?;
        Ok(reply
            .into_inner()
            .outcomes
            .into_iter()
            .map(SendOutcome::answer)
            .collect())
    }
}

/// `req` on behalf of `who`, as one item of a `SendMessages` call.
pub fn send_as(who: &Identity, req: SendMessageRequest) -> SendAs {
    SendAs {
        user_id: who.user_id.clone(),
        session_id: who.session_id.clone(),
        connection_id: who.connection_id.clone().unwrap_or_default(),
        send: Some(req),
    }
}
