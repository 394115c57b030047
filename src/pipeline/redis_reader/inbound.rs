//! The bounded inbound queue between a subscriber connection and its reader.
//!
//! Whatever reads the socket (our own reader for classic subscriptions, the redis crate's
//! connection driver for sharded ones) never waits: it parses what Redis sends and queues it,
//! so Redis's output buffer for us stays drained. The queue holds at most
//! `redis.inbound_queue_messages` messages; what finds it full comes back to the caller, which
//! counts each message in it as an `overloaded` drop. Without the bound a publisher faster than
//! the pipeline grew our RSS without limit (306 to 394 MB in benchmark scenario 6); without the
//! queue, Redis would buffer instead and drop the connection at its own limit, losing messages
//! nobody counts.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use crate::redis_client::subscriber::Chunk;

/// How many messages an item of the queue stands for.
pub trait Messages {
    fn messages(&self) -> usize;
}

impl Messages for Chunk {
    fn messages(&self) -> usize {
        self.count
    }
}

impl Messages for redis::PushInfo {
    fn messages(&self) -> usize {
        1
    }
}

/// A queue of at most `capacity` messages: its sender, and the stream of what is queued, up
/// to `batch` items at a time. The stream ends once the sender is gone and the queue drained.
pub fn bounded<T: Messages>(capacity: usize, batch: usize) -> (Sender<T>, Inbound<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let sender = Sender {
        tx,
        queued: queued.clone(),
        capacity,
    };
    (sender, Inbound { rx, queued, batch })
}

pub struct Sender<T> {
    tx: mpsc::UnboundedSender<T>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl<T: Messages> Sender<T> {
    /// Queues `item`, or gives it back when its messages do not fit.
    pub fn send(&self, item: T) -> Result<(), T> {
        let n = item.messages();
        if self.queued.load(Relaxed) + n > self.capacity {
            return Err(item);
        }
        self.queued.fetch_add(n, Relaxed);
        self.tx.send(item).map_err(|e| e.0)
    }
}

pub struct Inbound<T> {
    rx: mpsc::UnboundedReceiver<T>,
    queued: Arc<AtomicUsize>,
    batch: usize,
}

impl<T: Messages> Stream for Inbound<T> {
    type Item = Vec<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let limit = self.batch;
        let mut items = Vec::new();
        match self.rx.poll_recv_many(cx, &mut items, limit) {
            Poll::Ready(0) => Poll::Ready(None),
            Poll::Ready(_) => {
                let n = items.iter().map(Messages::messages).sum();
                self.queued.fetch_sub(n, Relaxed);
                Poll::Ready(Some(items))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    struct Item(usize, &'static str);

    impl Messages for Item {
        fn messages(&self) -> usize {
            self.0
        }
    }

    #[tokio::test]
    async fn overflow_comes_back_and_batches_keep_order() {
        let (sender, mut stream) = bounded(4, 2);
        assert!(sender.send(Item(1, "a")).is_ok());
        assert!(sender.send(Item(2, "b")).is_ok());
        assert_eq!(sender.send(Item(2, "c")).unwrap_err().1, "c", "5 > 4");
        assert!(sender.send(Item(1, "d")).is_ok());
        let first: Vec<_> = stream.next().await.unwrap().iter().map(|i| i.1).collect();
        assert_eq!(first, ["a", "b"]);
        assert!(
            sender.send(Item(3, "e")).is_ok(),
            "taken messages free room"
        );
        drop(sender);
        let rest: Vec<_> = stream
            .map(|b| b.iter().map(|i| i.1).collect::<Vec<_>>())
            .collect()
            .await;
        assert_eq!(rest, [vec!["d", "e"]]);
    }
}
