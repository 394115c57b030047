//! A session's outbound queue: bounded in items, one sender (the registry) and one receiver (the
//! session), and memory only while items wait.
//!
//! Why not tokio's mpsc: it allocates its slots in blocks of 32 up front (two blocks, about
//! 3.6 KB per session with our `Deliver`, measured with heaptrack on 10,000 idle connections),
//! and an idle connection should cost as little as possible. Here the items sit in a `VecDeque`
//! that grows with a burst and is released once the session has drained a large one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Capacity a drained queue keeps for the next frames; a larger one is released.
const KEEP: usize = 8;

struct State<T> {
    items: VecDeque<T>,
    /// The receiver's, while it waits for items.
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    /// The queue holds no invariant a panicking holder could break halfway, so a poisoned
    /// lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why an item was not queued; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// The registry's end.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
    capacity: usize,
}

/// The session's end.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A queue of at most `capacity` items.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            waker: None,
            sender_gone: false,
            receiver_gone: false,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
            capacity,
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `item` unless the queue is full or the receiver gone; never waits.
    pub fn try_send(&self, item: T) -> Result<(), Refused<T>> {
        let waker = {
            let mut state = self.shared.lock();
            if state.receiver_gone {
                return Err(Refused::Closed(item));
            }
            if state.items.len() >= self.capacity {
                return Err(Refused::Full(item));
            }
            state.items.push_back(item);
            state.waker.take()
        };
        // Woken outside the lock, so the receiver does not wake into a held lock.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Moves up to `limit` waiting items into `into`: `Ready(n)` with n > 0, `Ready(0)` once
    /// the sender is gone and nothing waits, otherwise `Pending` (woken by the next item).
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        into: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let mut state = self.shared.lock();
        if state.items.is_empty() {
            if state.sender_gone {
                return Poll::Ready(0);
            }
            match &mut state.waker {
                Some(waker) => waker.clone_from(cx.waker()),
                None => state.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        let n = limit.min(state.items.len());
        into.extend(state.items.drain(..n));
        if state.items.is_empty() && state.items.capacity() > KEEP {
            state.items = VecDeque::new();
        }
        Poll::Ready(n)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        // What waited is dropped now, not when the registry lets go of its end.
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    async fn recv_all<T>(rx: &mut Receiver<T>) -> Vec<T> {
        let mut out = Vec::new();
        poll_fn(|cx| rx.poll_recv_many(cx, &mut out, usize::MAX)).await;
        out
    }

    #[tokio::test]
    async fn items_come_out_in_order_up_to_the_limit() {
        let (tx, mut rx) = bounded(4);
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(poll_fn(|cx| rx.poll_recv_many(cx, &mut out, 3)).await, 3);
        assert_eq!(out, [0, 1, 2]);
        assert_eq!(recv_all(&mut rx).await, [3]);
    }

    #[test]
    fn a_full_queue_refuses_and_returns_the_item() {
        let (tx, _rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(Refused::Full(3)));
    }

    #[test]
    fn a_gone_receiver_closes_the_queue() {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        drop(rx);
        assert_eq!(tx.try_send(2), Err(Refused::Closed(2)));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_an_item_and_ends_when_the_sender_goes() {
        let (tx, mut rx) = bounded(2);
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.try_send(7).unwrap();
        });
        assert_eq!(recv_all(&mut rx).await, [7]);
        sender.await.unwrap();
        let mut out = Vec::<i32>::new();
        assert_eq!(
            poll_fn(|cx| rx.poll_recv_many(cx, &mut out, 8)).await,
            0,
            "the sender is gone and nothing waits"
        );
    }

    #[tokio::test]
    async fn items_queued_before_the_sender_went_are_still_received() {
        let (tx, mut rx) = bounded(2);
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(recv_all(&mut rx).await, [1]);
    }

    #[tokio::test]
    async fn a_drained_burst_releases_its_memory() {
        let (tx, mut rx) = bounded(1000);
        for i in 0..100 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(recv_all(&mut rx).await.len(), 100);
        assert_eq!(rx.shared.lock().items.capacity(), 0);
        tx.try_send(1).unwrap();
        recv_all(&mut rx).await;
        assert!(
            rx.shared.lock().items.capacity() <= KEEP,
            "a small one is kept"
        );
    }
}
