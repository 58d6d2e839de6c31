//! The bounded hand-off from a Redis subscription's background task to its consumer.

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::{Duration, Instant};

use crate::Delivery;

/// At most one warning per subscription per interval about a consumer that cannot keep up.
const OVERFLOW_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The consumer went away (its [`Subscription`](crate::Subscription) was dropped).
#[derive(Debug)]
pub(super) struct ConsumerGone;

/// The bounded queue towards the consumer, plus the promise to report a gap.
///
/// The Redis reader must never wait for the consumer (redis-rs would buffer without bound
/// behind it), so a full queue drops payloads and remembers that a gap is owed; the gap is
/// delivered as soon as there is room again, before any later payload.
pub(super) struct Outbox {
    sender: mpsc::Sender<Delivery>,
    gap_pending: bool,
    /// A consumer that is permanently a little too slow would otherwise log on every refill.
    last_overflow_warning: Option<Instant>,
}

impl Outbox {
    pub(super) fn new(sender: mpsc::Sender<Delivery>) -> Self {
        Self {
            sender,
            gap_pending: false,
            last_overflow_warning: None,
        }
    }

    /// Whether a gap is waiting for room in the queue (see [`Self::flush_gap`]).
    pub(super) fn owes_gap(&self) -> bool {
        self.gap_pending
    }

    fn report_overflow(&mut self) {
        let now = Instant::now();
        if self
            .last_overflow_warning
            .is_none_or(|at| now - at >= OVERFLOW_WARNING_INTERVAL)
        {
            tracing::warn!("bus subscriber is not keeping up; dropping payloads until it does");
            self.last_overflow_warning = Some(now);
        } else {
            tracing::debug!("bus subscriber is not keeping up; dropping payloads until it does");
        }
    }

    pub(super) fn payload(&mut self, payload: Bytes) -> Result<(), ConsumerGone> {
        if !self.try_flush_gap()? {
            return Ok(()); // still full: this payload is part of the gap
        }
        match self.sender.try_send(Delivery::Payload(payload)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.report_overflow();
                self.gap_pending = true;
                Ok(())
            }
            Err(TrySendError::Closed(_)) => Err(ConsumerGone),
        }
    }

    /// Owes the consumer a gap; delivered now if there is room, else by [`Self::flush_gap`].
    /// Gaps that are owed at the same time collapse into one: they mean the same thing.
    pub(super) fn gap(&mut self) -> Result<(), ConsumerGone> {
        self.gap_pending = true;
        self.try_flush_gap().map(drop)
    }

    /// Returns whether no gap is owed any more.
    fn try_flush_gap(&mut self) -> Result<bool, ConsumerGone> {
        if !self.gap_pending {
            return Ok(true);
        }
        match self.sender.try_send(Delivery::Gap) {
            Ok(()) => {
                self.gap_pending = false;
                Ok(true)
            }
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Closed(_)) => Err(ConsumerGone),
        }
    }

    /// Waits for room and delivers the owed gap. Cancel-safe: if dropped early, the gap stays owed.
    pub(super) async fn flush_gap(&mut self) -> Result<(), ConsumerGone> {
        let permit = self.sender.reserve().await.map_err(|_| ConsumerGone)?;
        permit.send(Delivery::Gap);
        self.gap_pending = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[tokio::test]
    async fn a_full_outbox_drops_payloads_and_owes_one_gap() {
        let (sender, mut receiver) = mpsc::channel(2);
        let mut outbox = Outbox::new(sender);
        for text in ["1", "2", "3", "4"] {
            outbox.payload(payload(text)).unwrap();
        }
        assert!(outbox.gap_pending);
        assert_eq!(receiver.recv().await, Some(Delivery::Payload(payload("1"))));
        assert_eq!(receiver.recv().await, Some(Delivery::Payload(payload("2"))));
        // Room again: the gap goes first, before any newer payload.
        outbox.payload(payload("5")).unwrap();
        assert!(!outbox.gap_pending);
        assert_eq!(receiver.recv().await, Some(Delivery::Gap));
        assert_eq!(receiver.recv().await, Some(Delivery::Payload(payload("5"))));
        assert!(receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn an_owed_gap_is_delivered_once_room_frees_even_without_new_payloads() {
        let (sender, mut receiver) = mpsc::channel(1);
        let mut outbox = Outbox::new(sender);
        outbox.payload(payload("1")).unwrap();
        outbox.gap().unwrap();
        assert!(outbox.gap_pending);
        let flush = tokio::spawn(async move {
            outbox.flush_gap().await.unwrap();
            outbox
        });
        assert_eq!(receiver.recv().await, Some(Delivery::Payload(payload("1"))));
        assert_eq!(receiver.recv().await, Some(Delivery::Gap));
        assert!(!flush.await.unwrap().gap_pending);
    }

    #[tokio::test]
    async fn gaps_owed_together_collapse_into_one() {
        let (sender, mut receiver) = mpsc::channel(1);
        let mut outbox = Outbox::new(sender);
        outbox.payload(payload("1")).unwrap();
        outbox.gap().unwrap();
        outbox.gap().unwrap();
        assert_eq!(receiver.recv().await, Some(Delivery::Payload(payload("1"))));
        outbox.flush_gap().await.unwrap();
        assert_eq!(receiver.recv().await, Some(Delivery::Gap));
        assert!(receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_dropped_consumer_is_reported() {
        let (sender, receiver) = mpsc::channel(1);
        let mut outbox = Outbox::new(sender);
        drop(receiver);
        assert!(outbox.payload(payload("1")).is_err());
        assert!(outbox.gap().is_err());
    }
}
