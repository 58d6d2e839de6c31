//! Handing queued requests over in batches, a bounded number of batches at a time: what
//! [`crate::lookups`] and [`crate::appends`] share. Whatever queued while the earlier batches
//! were being handled forms the next one, so batches grow with the load by themselves, and a
//! lone request on a quiet server is handled at once.

use std::{future::Future, sync::Arc};
use tokio::sync::{Semaphore, mpsc};

/// Takes up to `batch` queued requests at a time and runs `handle` on them in a task of its
/// own, with at most `in_flight` running. Returns when every sender is dropped and the queue
/// is empty.
pub async fn serve<T, F, Fut>(
    mut queue: mpsc::Receiver<T>,
    in_flight: usize,
    batch: usize,
    handle: F,
) where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut taken = Vec::with_capacity(batch);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if queue.recv_many(&mut taken, batch).await == 0 {
            return;
        }
        let handled = handle(std::mem::replace(&mut taken, Vec::with_capacity(batch)));
        tokio::spawn(async move {
            handled.await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn what_queues_behind_a_full_house_goes_as_one_batch_and_no_more_run_at_once() {
        let (tx, rx) = mpsc::channel(100);
        let seen = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        // Closed until the end: every handler waits at it.
        let gate = Arc::new(Semaphore::new(0));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = tokio::spawn({
            let (seen, gate, running, most) =
                (seen.clone(), gate.clone(), running.clone(), most.clone());
            serve(rx, 2, 8, move |batch: Vec<u32>| {
                seen.lock().unwrap().push(batch);
                let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    gate.acquire().await.unwrap().forget();
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        });
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(20));
        // Two lone requests each go at once, taking both slots.
        tx.send(1).await.unwrap();
        settle().await;
        tx.send(2).await.unwrap();
        settle().await;
        // Ten more wait for a slot: the next batch takes eight of them, in order.
        for n in 3..13 {
            tx.send(n).await.unwrap();
        }
        settle().await;
        assert_eq!(*seen.lock().unwrap(), vec![vec![1], vec![2]]);
        gate.add_permits(100);
        drop(tx);
        server.await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                vec![1],
                vec![2],
                vec![3, 4, 5, 6, 7, 8, 9, 10],
                vec![11, 12]
            ]
        );
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
