//! The subscriber connection and its bounded inbound queue.
//!
//! The redis crate's RESP2 `PubSub` hands messages over through an unbounded channel, so a
//! publisher faster than the reader grew our RSS without limit (306 to 394 MB in benchmark
//! scenario 6). Over RESP3 a subscription's messages are pushes, and a push sender decides what
//! happens to each one: here it goes into a bounded queue, and when the queue is full the message
//! is handed to `on_full` (the reader counts it as an `overloaded` drop) instead of being kept.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ProtocolVersion, PushInfo, RedisResult};
use tokio::sync::mpsc;

/// Opens a RESP3 connection to the client's server (same address, credentials and database)
/// whose pushes go to `push`. Needs Redis 6 or later, the first with RESP3.
pub async fn open(
    client: &Client,
    push: impl redis::aio::AsyncPushSender,
    timeout: Duration,
) -> RedisResult<MultiplexedConnection> {
    let info = client.get_connection_info().clone();
    let resp3 = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = Client::open(info.set_redis_settings(resp3))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_push_sender(push);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// A queue of at most `capacity` pushes: the sender side to give to [`open`], and the stream
/// that yields whatever is queued, up to `batch` pushes at a time. The stream ends once the
/// connection is gone (the redis crate drops the sender on disconnection) and the queue drained.
pub fn bounded(
    capacity: usize,
    batch: usize,
    on_full: impl Fn(PushInfo) + Send + Sync + 'static,
) -> (
    impl redis::aio::AsyncPushSender,
    impl Stream<Item = Vec<PushInfo>>,
) {
    let (tx, rx) = mpsc::channel(capacity);
    // Called on the connection's driver task, which must never wait.
    let sender = move |push| {
        if let Err(mpsc::error::TrySendError::Full(push)) = tx.try_send(push) {
            on_full(push);
        }
        Ok::<(), Infallible>(())
    };
    (sender, Batches { rx, batch })
}

struct Batches {
    rx: mpsc::Receiver<PushInfo>,
    batch: usize,
}

impl Stream for Batches {
    type Item = Vec<PushInfo>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let limit = self.batch;
        let mut pushes = Vec::new();
        match self.rx.poll_recv_many(cx, &mut pushes, limit) {
            Poll::Ready(0) => Poll::Ready(None),
            Poll::Ready(_) => Poll::Ready(Some(pushes)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    use futures_util::StreamExt;
    use redis::aio::AsyncPushSender;
    use redis::{PushKind, Value};

    use super::*;

    fn push(i: i64) -> PushInfo {
        PushInfo {
            kind: PushKind::Message,
            data: vec![Value::Int(i)],
        }
    }

    #[tokio::test]
    async fn overflow_goes_to_on_full_and_batches_keep_order() {
        let overflow = Arc::new(AtomicUsize::new(0));
        let counted = overflow.clone();
        let (sender, stream) = bounded(4, 3, move |_| {
            counted.fetch_add(1, Relaxed);
        });
        for i in 0..6 {
            sender.send(push(i)).unwrap();
        }
        assert_eq!(overflow.load(Relaxed), 2);
        drop(sender);
        let batches: Vec<Vec<i64>> = stream
            .map(|b| {
                b.into_iter()
                    .map(|p| match p.data[0] {
                        Value::Int(i) => i,
                        _ => unreachable!(),
                    })
                    .collect()
            })
            .collect()
            .await;
        assert_eq!(batches, [vec![0, 1, 2], vec![3]]);
    }
}
