//! The demo's Redis connections and how they survive Redis restarts: a publisher that sends each
//! batch in one pipeline and, when Redis goes away, drops the batch, warns and reconnects with
//! backoff instead of stopping the demo.

use crate::domain::redis_names::PRODUCER_HEARTBEAT_KEY;
use std::time::{Duration, Instant};

use log::{info, warn};
use redis::{Client, Connection, RedisResult};
use serde_json::Value;

/// The key the router's health check reads to see that a producer is alive.
/// The first connection may cross a slow network; it has no stop request to honour yet.
pub(super) const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnects and I/O are short so a set `stop` is noticed within about a second.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// One thing to do on Redis.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outbound {
    Publish {
        channel: &'static str,
        payload: Value,
    },
    /// SET the producer heartbeat to this instant, as the string form of epoch seconds.
    Heartbeat { epoch_seconds: f64 },
}

/// Opens a connection whose reads and writes give up after `IO_TIMEOUT`.
pub(super) fn connect(client: &Client, timeout: Duration) -> RedisResult<Connection> {
    let connection = client.get_connection_with_timeout(timeout)?;
    connection.set_read_timeout(Some(IO_TIMEOUT))?;
    connection.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(connection)
}

pub(super) fn reconnect(client: &Client) -> RedisResult<Connection> {
    connect(client, CONNECT_TIMEOUT)
}

/// Doubling retry delay, reset once a connection works again.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(Self::MAX);
        delay
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Publishes batches; while Redis is down it drops them and retries on the backoff schedule.
pub(super) struct Publisher {
    client: Client,
    connection: Option<Connection>,
    retry_at: Instant,
    backoff: Backoff,
    /// Who is publishing, for the log lines.
    role: &'static str,
}

impl Publisher {
    pub fn new(client: Client, connection: Option<Connection>, role: &'static str) -> Self {
        Self {
            client,
            connection,
            retry_at: Instant::now(),
            backoff: Backoff::new(),
            role,
        }
    }

    /// True when the whole batch reached Redis.
    pub fn send(&mut self, batch: &[Outbound]) -> bool {
        if batch.is_empty() {
            return true;
        }
        let pipeline = pipeline(batch);
        // A connection that sat idle through a Redis restart fails on first use; one retry on a
        // fresh connection saves that batch instead of dropping it.
        for retry in [false, true] {
            let Some(connection) = self.connection() else {
                return false;
            };
            match pipeline.exec(connection) {
                Ok(()) => return true,
                Err(error) => {
                    warn!("Demo {} lost Redis: {error}", self.role);
                    self.connection = None;
                    self.retry_at = if retry {
                        Instant::now() + self.backoff.next_delay()
                    } else {
                        Instant::now()
                    };
                }
            }
        }
        false
    }

    fn connection(&mut self) -> Option<&mut Connection> {
        if self.connection.is_none() && Instant::now() >= self.retry_at {
            match reconnect(&self.client) {
                Ok(connection) => {
                    info!("Demo {} connected to Redis.", self.role);
                    self.backoff.reset();
                    self.connection = Some(connection);
                }
                Err(error) => {
                    let delay = self.backoff.next_delay();
                    warn!(
                        "Demo {} cannot reach Redis, retrying in {delay:?}: {error}",
                        self.role
                    );
                    self.retry_at = Instant::now() + delay;
                }
            }
        }
        self.connection.as_mut()
    }
}

fn pipeline(batch: &[Outbound]) -> redis::Pipeline {
    let mut pipeline = redis::pipe();
    for outbound in batch {
        match outbound {
            Outbound::Publish { channel, payload } => {
                pipeline
                    .cmd("PUBLISH")
                    .arg(*channel)
                    .arg(payload.to_string())
                    .ignore();
            }
            Outbound::Heartbeat { epoch_seconds } => {
                pipeline
                    .cmd("SET")
                    .arg(PRODUCER_HEARTBEAT_KEY)
                    .arg(format!("{epoch_seconds:.3}"))
                    .ignore();
            }
        }
    }
    pipeline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<_> = (0..6).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Backoff::FIRST);
    }

    #[test]
    fn publisher_without_redis_drops_batches_and_waits_before_retrying() {
        // Port 1 on loopback refuses connections at once.
        let client = Client::open("redis://127.0.0.1:1/").unwrap();
        let mut publisher = Publisher::new(client, None, "test");
        let batch = [Outbound::Heartbeat { epoch_seconds: 1.0 }];
        assert!(!publisher.send(&batch));
        assert!(publisher.retry_at > Instant::now());
        assert!(!publisher.send(&batch));
        assert!(publisher.send(&[]));
    }
}
