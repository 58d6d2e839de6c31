//! Message appends of concurrent sends, sent to the repo tier together.
//!
//! Each send is stored by the repo's group commit, which already stores whatever is waiting
//! in one batch. But each append was a call of its own on the way there: an HTTP/2 stream, a
//! task and a wake-up in logic and again in the repo, per message. Under load those calls,
//! not the statements, were most of what a message cost (BENCHMARKS.md). So appends are
//! [gathered](natter_proto::gather) into `AppendMessages` calls; each sender gets its own
//! outcome. With the repo in the same process each append makes its own call
//! (`LogicConfig::batch_appends`). `AppendMessages` is newer than `AppendMessage`: in a
//! rolling upgrade, upgrade the repo nodes first.

use natter_proto::{
    Transport,
    gather::{Gathered, Many},
    repo::{
        AppendMessageRequest, AppendMessageResponse, AppendMessagesRequest, AppendOutcome,
        message_store_client::MessageStoreClient,
    },
};
use tonic::Status;

/// Appends, gathered into calls of the repo's `AppendMessages`.
pub type Appends = Gathered<RepoAppends>;

#[derive(Clone)]
pub struct RepoAppends(pub MessageStoreClient<Transport>);

impl Many for RepoAppends {
    type Item = AppendMessageRequest;
    type Answer = AppendMessageResponse;
    const BATCH: usize = natter_proto::limits::MAX_APPENDS_PER_CALL;

    async fn one(&self, append: AppendMessageRequest) -> Result<AppendMessageResponse, Status> {
        let reply = self.0.clone().append_message(append).await?;
        Ok(reply.into_inner())
    }

    async fn many(
        &self,
        appends: Vec<AppendMessageRequest>,
    ) -> Result<Vec<Result<AppendMessageResponse, Status>>, Status> {
        let request = AppendMessagesRequest { appends };
        let reply = self.0.clone().append_messages(request).await?;
        Ok(reply
            .into_inner()
            .outcomes
            .into_iter()
            .map(AppendOutcome::answer)
            .collect())
    }
}
