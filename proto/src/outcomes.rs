//! One item's outcome in the reply of a batched call (`AppendMessages`, `SendMessages`): the
//! answer its own call would have given, or the status it would have failed with (its code and
//! message). Both sides of both calls convert here, so the server's `of` and the client's
//! `answer` cannot drift apart.

use crate::{
    logic::{SendFailure, SendMessageResponse, SendOutcome, send_outcome},
    repo::{AppendFailure, AppendMessageResponse, AppendOutcome, append_outcome},
};
use tonic::{Code, Status};

macro_rules! outcome {
    ($outcome:ident, $oneof:ident, $answered:ident, $failure:ident, $answer:ty, $what:literal) => {
        impl $outcome {
            /// What the server answered for this item.
            pub fn of(answer: Result<$answer, Status>) -> Self {
                let outcome = match answer {
                    Ok(answer) => $oneof::Outcome::$answered(answer),
                    Err(status) => $oneof::Outcome::Failed($failure {
                        code: status.code() as i32,
                        message: status.message().to_owned(),
                    }),
                };
                Self {
                    outcome: Some(outcome),
                }
            }

            /// The answer (or failure) the item's own call would have given.
            pub fn answer(self) -> Result<$answer, Status> {
                match self.outcome {
                    Some($oneof::Outcome::$answered(answer)) => Ok(answer),
                    Some($oneof::Outcome::Failed(failed)) => {
                        Err(Status::new(Code::from(failed.code), failed.message))
                    }
                    None => Err(Status::internal(concat!(
                        "the server answered ",
                        $what,
                        " with no outcome"
                    ))),
                }
            }
        }
    };
}

outcome!(
    AppendOutcome,
    append_outcome,
    Stored,
    AppendFailure,
    AppendMessageResponse,
    "an append"
);
outcome!(
    SendOutcome,
    send_outcome,
    Sent,
    SendFailure,
    SendMessageResponse,
    "a send"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_crosses_with_its_code_and_message() {
        let status = Status::failed_precondition("not a member");
        let back = AppendOutcome::of(Err(status)).answer().unwrap_err();
        assert_eq!(back.code(), Code::FailedPrecondition);
        assert_eq!(back.message(), "not a member");
        let back = SendOutcome::of(Err(Status::not_found("conversation not found")))
            .answer()
            .unwrap_err();
        assert_eq!(
            (back.code(), back.message()),
            (Code::NotFound, "conversation not found")
        );
    }

    #[test]
    fn an_answer_crosses_whole_and_a_missing_outcome_is_internal() {
        let sent = SendMessageResponse {
            duplicate: true,
            ..Default::default()
        };
        assert_eq!(SendOutcome::of(Ok(sent.clone())).answer().unwrap(), sent);
        let none = AppendOutcome { outcome: None }.answer().unwrap_err();
        assert_eq!(none.code(), Code::Internal);
    }
}
