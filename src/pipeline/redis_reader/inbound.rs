//! The bounded inbound queue between a subscriber connection and its reader.
//!
//! Whatever reads the socket (our own read loop for classic subscriptions, the redis crate's
//! connection driver for sharded ones) queues what Redis sends, up to
//! `redis.inbound_queue_messages` messages; what finds the queue full is handed back, and the
//! caller counts each message in it as an `overloaded` drop. Without the bound a publisher faster
//! than the pipeline grew our RSS without limit (306 to 394 MB in benchmark scenario 6); without
//! the drops, Redis would buffer instead and drop the connection at its own limit (32 MB by
//! default), losing messages nobody counts.
//!
//! A burst is not an overload, though: our read loop takes everything the socket holds at once,
//! far faster than the pipeline routes it, and would shed a burst the pipeline clears in a few
//! milliseconds. So [`Sender::send_or_wait`] waits for room while the queue has held something
//! for less than [`GRACE`] without a pause, leaving the rest of the burst in Redis for that long;
//! only a pipeline busy for longer is overloaded, and then the excess is dropped and Redis kept
//! drained.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::redis_client::subscriber::Chunk;

/// How long the pipeline may stay busy, with the queue full, before what keeps coming is
/// dropped rather than waited for: long enough for a burst of tens of thousands of messages,
/// short enough that Redis holds a few MB for us at most (at 400,000 msg/s, 100 ms is 40,000
/// messages, about 8 MB).
pub const GRACE: Duration = Duration::from_millis(100);

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
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        room: Notify::new(),
        start: Instant::now(),
        busy_since: AtomicU64::new(0),
    });
    let sender = Sender {
        tx,
        shared: shared.clone(),
        capacity,
    };
    (sender, Inbound { rx, shared, batch })
}

struct Shared {
    /// Messages in the queue.
    queued: AtomicUsize,
    /// Told when the stream takes items.
    room: Notify,
    start: Instant,
    /// When the queue last went from empty to not, in nanoseconds since `start`.
    busy_since: AtomicU64,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// How long the queue has held something without a pause (it is not empty when asked).
    fn busy_for(&self) -> Duration {
        Duration::from_nanos(self.now().saturating_sub(self.busy_since.load(Relaxed)))
    }
}

pub struct Sender<T> {
    tx: mpsc::UnboundedSender<T>,
    shared: Arc<Shared>,
    capacity: usize,
}

impl<T: Messages> Sender<T> {
    /// Queues `item`, or gives it back when its messages do not fit.
    pub fn send(&self, item: T) -> Result<(), T> {
        let n = item.messages();
        if self.shared.queued.load(Relaxed) + n > self.capacity {
            return Err(item);
        }
        if self.shared.queued.fetch_add(n, Relaxed) == 0 {
            self.shared.busy_since.store(self.shared.now(), Relaxed);
        }
        self.tx.send(item).map_err(|e| e.0)
    }

    /// Queues `item`, waiting for room while the pipeline has been busy for less than
    /// [`GRACE`]; gives it back when it is overloaded.
    pub async fn send_or_wait(&self, mut item: T) -> Result<(), T> {
        loop {
            match self.send(item) {
                Ok(()) => return Ok(()),
                Err(back) => item = back,
            }
            let left = GRACE.saturating_sub(self.shared.busy_for());
            if left.is_zero() {
                return Err(item);
            }
            let _ = tokio::time::timeout(left, self.shared.room.notified()).await;
        }
    }
}

pub struct Inbound<T> {
    rx: mpsc::UnboundedReceiver<T>,
    shared: Arc<Shared>,
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
                let n = items.iter().map(Messages::messages).sum::<usize>();
                self.shared.queued.fetch_sub(n, Relaxed);
                self.shared.room.notify_one();
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

    #[tokio::test(start_paused = true)]
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

    #[tokio::test(start_paused = true)]
    async fn a_burst_waits_for_room_and_an_overload_is_shed() {
        let (sender, mut stream) = bounded(2, 1);
        assert!(sender.send(Item(2, "a")).is_ok());
        // The pipeline takes "a" 10 ms later: the burst's next item waits for it, not dropped.
        let waiting = tokio::spawn(async move {
            let sent = sender.send_or_wait(Item(2, "b")).await.is_ok();
            (sender, sent)
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(stream.next().await.unwrap()[0].1, "a");
        let (sender, sent) = waiting.await.unwrap();
        assert!(sent, "room came within the grace");
        // Nobody takes "b": the pipeline stays busy past the grace, and what comes is shed.
        let started = Instant::now();
        let shed = sender.send_or_wait(Item(1, "c")).await;
        assert_eq!(shed.unwrap_err().1, "c");
        assert!(
            started.elapsed() <= GRACE,
            "shed once busy for the grace, not after"
        );
        assert_eq!(stream.next().await.unwrap()[0].1, "b");
    }
}
