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
    gather::{Gathered, Many, failure},
    repo::{
        AppendMessageRequest, AppendMessageResponse, AppendMessagesRequest, AppendOutcome,
        append_outcome::Outcome, message_store_client::MessageStoreClient,
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
            .map(answer)
            .collect())
    }
}

/// One append's outcome as the answer `AppendMessage` would have given.
fn answer(outcome: AppendOutcome) -> Result<AppendMessageResponse, Status> {
    match outcome.outcome {
        Some(Outcome::Stored(stored)) => Ok(stored),
        Some(Outcome::Failed(failed)) => Err(failure(failed.code, failed.message)),
        None => Err(Status::internal(
            "the repo answered an append with no outcome",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn a_failed_outcome_keeps_its_code_and_message() {
        let failed = AppendOutcome {
            outcome: Some(Outcome::Failed(natter_proto::repo::AppendFailure {
                code: Code::FailedPrecondition as i32,
                message: "not a member".into(),
            })),
        };
        let status = answer(failed).unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "not a member");
    }
}
