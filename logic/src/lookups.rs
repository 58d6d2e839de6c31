//! Presence lookups of concurrent fan-outs, asked together.
//!
//! Every routed fan-out (a 1:1 message, a small group) asks presence which comet nodes hold its
//! recipients: one call to the repo tier, and there one Redis round trip, for two user ids. At
//! thousands of messages a second those calls were a tenth of logic's CPU and as much again in
//! the repo. Lookups queue here instead, and whatever queued while the earlier calls were in
//! flight goes as one call with the union of their ids; each asker gets the entries of its
//! own ids. A lone lookup on a quiet server still goes at once, since up to [`IN_FLIGHT`] calls
//! run together.

use natter_proto::{
    Transport,
    repo::{LookupRequest, UserNodes, presence_store_client::PresenceStoreClient},
};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// Lookup calls at once.
const IN_FLIGHT: usize = 4;
/// Lookups answered by one call at most (each has at most `broadcast_over` ids).
const BATCH: usize = 64;
/// Lookups that may wait; a fan-out finding the queue full asks on its own.
const QUEUE: usize = 4_096;

struct Ask {
    user_ids: Vec<String>,
    reply: oneshot::Sender<Option<Vec<UserNodes>>>,
}

#[derive(Clone)]
pub struct Lookups {
    presence: PresenceStoreClient<Transport>,
    queue: mpsc::Sender<Ask>,
}

impl Lookups {
    /// Starts the task that sends the queued lookups; it ends when the last clone is dropped.
    pub fn start(presence: PresenceStoreClient<Transport>) -> Self {
        let (queue, asks) = mpsc::channel(QUEUE);
        tokio::spawn(run(presence.clone(), asks));
        Self { presence, queue }
    }

    /// The nodes of those of `user_ids` who are online; None when presence could not say.
    pub async fn lookup(&self, user_ids: Vec<String>) -> Option<Vec<UserNodes>> {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Ask { user_ids, reply }) {
            Ok(()) => answer.await.ok().flatten(),
            Err(mpsc::error::TrySendError::Full(ask) | mpsc::error::TrySendError::Closed(ask)) => {
                call(&mut self.presence.clone(), ask.user_ids).await
            }
        }
    }
}

async fn run(presence: PresenceStoreClient<Transport>, asks: mpsc::Receiver<Ask>) {
    natter_proto::gather::serve(asks, IN_FLIGHT, BATCH, |batch| {
        let mut presence = presence.clone();
        async move { answer(&mut presence, batch).await }
    })
    .await;
}

/// One call for the union of the batch's ids; each ask gets the entries of its own ids.
async fn answer(presence: &mut PresenceStoreClient<Transport>, batch: Vec<Ask>) {
    // Deduplicated borrowed, so each id is copied once for the request.
    let mut ids: Vec<&str> = (batch.iter())
        .flat_map(|a| a.user_ids.iter().map(String::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let ids = ids.into_iter().map(str::to_owned).collect();
    let Some(online) = call(presence, ids).await else {
        for ask in batch {
            let _ = ask.reply.send(None);
        }
        return;
    };
    let by_user = index(&online);
    for ask in batch {
        let _ = ask.reply.send(Some(entries_of(&by_user, &ask.user_ids)));
    }
}

fn index(online: &[UserNodes]) -> HashMap<&str, &UserNodes> {
    online.iter().map(|e| (e.user_id.as_str(), e)).collect()
}

/// The entries of `user_ids` among a shared answer (the offline have none).
fn entries_of(by_user: &HashMap<&str, &UserNodes>, user_ids: &[String]) -> Vec<UserNodes> {
    user_ids
        .iter()
        .filter_map(|u| by_user.get(u.as_str()).map(|e| (*e).clone()))
        .collect()
}

async fn call(
    presence: &mut PresenceStoreClient<Transport>,
    user_ids: Vec<String>,
) -> Option<Vec<UserNodes>> {
    presence
        .lookup(LookupRequest { user_ids })
        .await
        .map(|r| r.into_inner().online)
        .map_err(|status| tracing::warn!(%status, "presence lookup failed"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(user: &str, nodes: &[&str]) -> UserNodes {
        UserNodes {
            user_id: user.into(),
            node_ids: nodes.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn each_asker_gets_only_its_own_users_from_a_shared_answer() {
        let online = vec![at("a", &["n1"]), at("b", &["n1", "n2"]), at("c", &["n2"])];
        let by_user = index(&online);
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            entries_of(&by_user, &ids(&["a", "x"])),
            vec![at("a", &["n1"])],
            "x is offline"
        );
        assert_eq!(
            entries_of(&by_user, &ids(&["c", "b"])),
            vec![at("c", &["n2"]), at("b", &["n1", "n2"])]
        );
        assert!(entries_of(&by_user, &ids(&["y"])).is_empty());
    }
}
