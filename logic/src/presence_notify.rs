//! `presence` pushes: telling a user's friends and fellow members that the user came online or
//! went offline.
//!
//! Presence is per user (online while any socket is connected anywhere), but comet reports
//! sockets, and sockets flap: a phone changing networks drops and reconnects within a second. So
//! a report never pushes directly. It schedules a *check* of that user after a settle period
//! (`LogicConfig::presence_settle`); the check reads the real state from the presence store and
//! compares it with what the contacts were last told. Only a difference is pushed. Reports that
//! arrive while a check is scheduled ride on it, so a flapping connection costs one check per
//! settle period and pushes nothing unless its state at the end differs from the start.
//!
//! What was last announced lives in the presence store too (`MarkAnnounced`), not in this
//! process: logic instances are interchangeable, the connect may reach one and the disconnect
//! another, and the store's atomic set-and-report makes exactly one of them push each change.
//!
//! A comet node that dies never reports its sockets gone; its users' entries simply expire (the
//! node stops refreshing them). Nothing reports an expiry, so each instance *sweeps*: every
//! `LogicConfig::presence_sweep` it walks the users announced online and schedules a check of
//! those the store no longer shows online. They are announced offline within the presence TTL
//! plus one sweep and one settle period.
//!
//! Who is told: the user's friends and the members of the user's conversations (direct and
//! group), except groups of more than [`MAX_GROUP`] members: there every arrival would cost a
//! push to hundreds of people who mostly never look, so large groups get no presence at all.

use crate::{fanout::Fanout, repo::Repo};
use natter_proto::{
    bus::Push,
    json,
    repo::{ListAnnouncedRequest, ListContactsRequest, LookupRequest, MarkAnnouncedRequest},
};
use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    sync::{Notify, Semaphore},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::Status;

/// Members of a group above which the group's members are not told of each other's presence.
pub const MAX_GROUP: usize = 500;
/// The most users one change is announced to: a bound on the work one check can cause.
const MAX_AUDIENCE: i32 = 10_000;
/// Checks running at once on this instance: a comet node restarting reconnects all its users
/// in a few seconds, and each check reads friends and conversations.
const CONCURRENT_CHECKS: usize = 32;

/// Announces presence changes; clones share the schedule.
#[derive(Clone)]
pub struct PresenceNotify {
    inner: Arc<Inner>,
}

struct Inner {
    settle: Duration,
    fanout_timeout: Duration,
    repo: Repo,
    fanout: Fanout,
    /// Users with a check scheduled on this instance, and when each is due, in due order (the
    /// settle period is the same for all, so appending keeps it sorted). Std mutexes: never held
    /// across an await.
    scheduled: Mutex<HashSet<String>>,
    due: Mutex<VecDeque<(Instant, String)>>,
    /// Wakes the dispatcher when `due` gets its first entry.
    wake: Notify,
    checks: Arc<Semaphore>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl PresenceNotify {
    /// Starts the sweep every `sweep`; everything stops when `stop` is cancelled.
    pub fn start(
        settle: Duration,
        sweep: Duration,
        fanout_timeout: Duration,
        repo: Repo,
        fanout: Fanout,
        stop: CancellationToken,
    ) -> Self {
        let notify = Self {
            inner: Arc::new(Inner {
                settle,
                fanout_timeout,
                repo,
                fanout,
                scheduled: Mutex::new(HashSet::new()),
                due: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                checks: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
                tasks: TaskTracker::new(),
                stop,
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let this = notify.clone();
            let stop = notify.inner.stop.clone();
            notify.inner.tasks.spawn(async move {
                stop.run_until_cancelled(this.sweep_loop(sweep)).await;
            });
            let (this, stop) = (notify.clone(), notify.inner.stop.clone());
            notify.inner.tasks.spawn(async move {
                stop.run_until_cancelled(this.dispatch_loop()).await;
            });
        } else {
            tracing::warn!("no Tokio runtime: expired presence is not swept");
        }
        notify
    }

    /// The user's sockets changed: check their presence once it has settled, unless a check is
    /// already scheduled (it will see this change too).
    ///
    /// A schedule costs a queue entry, not a task: a comet node restarting reconnects tens of
    /// thousands of users within seconds, and a sleeping task per user would cost kilobytes each.
    pub fn changed(&self, user_id: &str) {
        let first = lock(&self.inner.scheduled).insert(user_id.to_owned());
        if !first {
            return;
        }
        let at = Instant::now() + self.inner.settle;
        lock(&self.inner.due).push_back((at, user_id.to_owned()));
        self.inner.wake.notify_one();
    }

    /// Starts each scheduled check when it is due, at most [`CONCURRENT_CHECKS`] at a time.
    async fn dispatch_loop(self) {
        loop {
            let next = lock(&self.inner.due).front().map(|(at, _)| *at);
            let Some(at) = next else {
                // notify_one keeps a wake-up for a dispatcher not yet waiting: none is lost.
                self.inner.wake.notified().await;
                continue;
            };
            tokio::time::sleep_until(at).await;
            let Some((_, user_id)) = lock(&self.inner.due).pop_front() else {
                continue;
            };
            // Unscheduled before reading the state: a change from here on schedules a new
            // check, which will read the state after it.
            lock(&self.inner.scheduled).remove(&user_id);
            let Ok(permit) = self.inner.checks.clone().acquire_owned().await else {
                return;
            };
            let this = self.clone();
            self.inner.tasks.spawn(async move {
                this.check(&user_id).await;
                drop(permit);
            });
        }
    }

    /// Reads the user's state and announces it if the contacts were last told otherwise.
    async fn check(&self, user_id: &str) {
        let lookup = LookupRequest {
            user_ids: vec![user_id.to_owned()],
        };
        match self.inner.repo.presence.clone().lookup(lookup).await {
            Ok(found) => {
                let online = !found.into_inner().online.is_empty();
                self.announce(user_id, online).await;
            }
            Err(status) => tracing::warn!(%status, "presence check failed"),
        }
    }

    /// Records `online` as announced and, if that changed it, pushes it to the audience.
    async fn announce(&self, user_id: &str, online: bool) {
        let mark = MarkAnnouncedRequest {
            user_id: user_id.to_owned(),
            online,
        };
        let changed = match self.inner.repo.presence.clone().mark_announced(mark).await {
            Ok(flag) => flag.into_inner().value,
            Err(status) => return tracing::warn!(%status, "presence announcement failed"),
        };
        if !changed {
            return;
        }
        let audience = match self.audience(user_id).await {
            Ok(audience) => audience,
            Err(status) => return tracing::warn!(%status, "presence audience lookup failed"),
        };
        tracing::debug!(user_id, online, audience = audience.len(), "presence push");
        let data = serde_json::json!({ "user_id": user_id, "online": online });
        let push = Push {
            frame: json::push_frame("presence", &data).into(),
            exclude_connection_id: String::new(),
            conversation_id: String::new(),
            seq: 0,
        };
        self.inner
            .fanout
            .push(audience, push, self.inner.fanout_timeout)
            .await;
    }

    /// Friends and fellow members (groups up to [`MAX_GROUP`] members), the user left out:
    /// one store query, which counts a big group's members without reading them.
    async fn audience(&self, user_id: &str) -> Result<Vec<String>, Status> {
        let req = ListContactsRequest {
            user_id: user_id.to_owned(),
            max_group_members: MAX_GROUP as i32,
            limit: MAX_AUDIENCE,
        };
        let mut conversations = self.inner.repo.conversations.clone();
        Ok(conversations
            .list_contacts(req)
            .await?
            .into_inner()
            .user_ids)
    }

    async fn sweep_loop(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: nobody has expired yet
        loop {
            tick.tick().await;
            if let Err(status) = self.sweep().await {
                tracing::warn!(%status, "presence sweep failed; retrying next period");
            }
        }
    }

    /// Checks every user announced online whom the store no longer shows online.
    async fn sweep(&self) -> Result<(), Status> {
        let mut presence = self.inner.repo.presence.clone();
        let mut cursor = 0;
        loop {
            let page = presence
                .list_announced(ListAnnouncedRequest { cursor })
                .await?
                .into_inner();
            if !page.user_ids.is_empty() {
                let lookup = LookupRequest {
                    user_ids: page.user_ids.clone(),
                };
                let found = presence.lookup(lookup).await?.into_inner();
                let online: HashSet<String> = found.online.into_iter().map(|u| u.user_id).collect();
                // Through the same settled check as a report: a user who is merely between
                // two sockets right now is not announced offline.
                for user_id in page.user_ids.iter().filter(|u| !online.contains(*u)) {
                    self.changed(user_id);
                }
            }
            cursor = page.next_cursor;
            if cursor == 0 {
                return Ok(());
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
