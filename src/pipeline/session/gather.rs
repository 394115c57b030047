//! Write coalescing (`session.write_delay_ms`): the session's outbox read in batches, so a busy
//! session writes many frames with one system call. Frames stay separate WebSocket frames; the
//! actor writes a batch into its response buffer in one go, and the connection flushes it once.
//!
//! With no delay a batch is whatever waits when the session runs: a frame is written as soon as
//! the session gets to it (latency first, the default). With a delay, the first frame of a batch
//! waits up to that long for the others.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::time::Sleep;

use crate::pipeline::registry::queue::Receiver;

/// Most frames in one batch: a queue's worth is written in a few batches, not one huge one.
const MAX_BATCH: usize = 256;

pub struct Gathered<T> {
    rx: Receiver<T>,
    delay: Duration,
    /// Taken off the queue, waiting for the delay to pass.
    pending: Vec<T>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<T> Gathered<T> {
    pub fn new(rx: Receiver<T>, delay: Duration) -> Self {
        Gathered {
            rx,
            delay,
            pending: Vec::new(),
            sleep: None,
        }
    }
}

impl<T: Unpin> Stream for Gathered<T> {
    type Item = Vec<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<T>>> {
        // Every field is Unpin (the timer is boxed, the items are).
        let this = self.get_mut();
        if let Some(sleep) = &mut this.sleep {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
            let mut batch = std::mem::take(&mut this.pending);
            let room = MAX_BATCH.saturating_sub(batch.len());
            // Whatever else is waiting joins; a closed queue ends the stream at the next poll.
            let _ = this.rx.poll_recv_many(cx, &mut batch, room);
            return Poll::Ready(Some(batch));
        }
        let mut batch = Vec::new();
        match this.rx.poll_recv_many(cx, &mut batch, MAX_BATCH) {
            Poll::Ready(0) => Poll::Ready(None),
            Poll::Ready(_) if this.delay.is_zero() || batch.len() == MAX_BATCH => {
                Poll::Ready(Some(batch))
            }
            Poll::Ready(_) => {
                this.pending = batch;
                this.sleep = Some(Box::pin(tokio::time::sleep(this.delay)));
                // Registers the timer's waker.
                Pin::new(this).poll_next(cx)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::pipeline::registry::queue::bounded;

    #[tokio::test(start_paused = true)]
    async fn without_delay_a_batch_is_what_waits() {
        let (tx, rx) = bounded(16);
        let mut gathered = Gathered::new(rx, Duration::ZERO);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(gathered.next().await, Some(vec![1, 2]));
        tx.try_send(3).unwrap();
        assert_eq!(gathered.next().await, Some(vec![3]));
        drop(tx);
        assert_eq!(gathered.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_delay_the_first_frame_waits_for_the_others_at_most_that_long() {
        let (tx, rx) = bounded(16);
        let delay = Duration::from_millis(5);
        let mut gathered = Gathered::new(rx, delay);
        tx.try_send(1).unwrap();
        let started = tokio::time::Instant::now();
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            tx.try_send(2).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            tx.try_send(3).unwrap();
        });
        assert_eq!(gathered.next().await, Some(vec![1, 2]));
        assert_eq!(started.elapsed(), delay);
        assert_eq!(gathered.next().await, Some(vec![3]));
        sender.await.unwrap();
        assert_eq!(gathered.next().await, None, "closed and drained");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_at_once() {
        let (tx, rx) = bounded(MAX_BATCH * 2);
        for i in 0..MAX_BATCH + 1 {
            tx.try_send(i).unwrap();
        }
        let mut gathered = Gathered::new(rx, Duration::from_secs(1));
        let started = tokio::time::Instant::now();
        assert_eq!(gathered.next().await.unwrap().len(), MAX_BATCH);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
