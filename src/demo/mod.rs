//! `tickrouter demo`: a stand-in for the real producers (market feeds, the pattern and
//! indicator engine, the backtester) that publishes realistic traffic on the real Redis channels,
//! in every message shape those producers are known to use, so a new user sees live data at
//! once and the router's normaliser is exercised on all of its variants.
//!
//! `market` simulates prices, `traffic` decides what is due when, `payloads` builds each message,
//! `backtester` answers job requests on its own thread, `link` keeps the Redis connections alive
//! across restarts and `clock` formats time. This file wires them together.

mod backtester;
mod clock;
mod link;
mod market;
mod payloads;
mod traffic;

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use log::{info, warn};

use link::Publisher;
use traffic::Traffic;

use serde_json::json;

use crate::domain::ids::UserId;
use crate::domain::redis_names::{channel, key};

/// Short enough that a set `stop` ends the demo well within a second, long enough that each
/// pipeline carries a few messages at the default rate.
const TICK: Duration = Duration::from_millis(50);

/// How much traffic the demo produces.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Market events per second over all market channels; must be > 0.
    pub rate: f64,
    /// How many tickers to simulate, taken in order from a fixed catalogue of well-known
    /// ones; 1..=50.
    pub symbols: usize,
}

impl Default for DemoOptions {
    /// The CLI's defaults: 20 events/s over the 12 best-known tickers.
    fn default() -> Self {
        Self {
            rate: 20.0,
            symbols: 12,
        }
    }
}

/// Why the demo could not start.
#[derive(Debug)]
pub enum DemoError {
    /// The URL is invalid or Redis did not answer at start.
    Redis(redis::RedisError),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redis(error) => write!(f, "the demo cannot reach Redis: {error}"),
        }
    }
}

impl Error for DemoError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Redis(error) => Some(error),
        }
    }
}

impl From<redis::RedisError> for DemoError {
    fn from(error: redis::RedisError) -> Self {
        Self::Redis(error)
    }
}

/// Publishes until `stop` is set; returns Err only when Redis cannot be reached at start
/// (afterwards it logs, waits and reconnects, so a Redis restart does not kill the demo).
pub fn run(redis_url: &str, options: &DemoOptions, stop: &AtomicBool) -> Result<(), DemoError> {
    let options = sanitised(options);
    let client = redis::Client::open(redis_url)?;
    let mut publishing = link::connect(&client, link::FIRST_CONNECT_TIMEOUT)?;
    let listening = link::connect(&client, link::FIRST_CONNECT_TIMEOUT)?;

    let now = clock::now();
    let mut traffic = Traffic::new(&options, now, fastrand::u64(..));
    let first_symbols = traffic.symbols();
    let first_symbols = &first_symbols[..first_symbols.len().min(6)];
    seed_watchlist(&mut publishing, first_symbols)?;
    info!(
        "Demo publishing {} market events/s for {} ({}) to Redis at {}: prices, ticks and bars on \
         tickstock.market.*, tickstock:market:ticks and tickstock.all_ticks; patterns, indicators \
         and alerts on tickstock.events.patterns and tickstock:{{patterns,indicators,alerts}}:*; \
         session and health on tickstock:streaming:* and tickstock.health.status; heartbeat in \
         tickstock:producer:heartbeat; backtests answered on tickstock.jobs.backtest/cancel.",
        options.rate,
        plural(options.symbols, "symbol"),
        traffic.symbols().join(" "),
        client.get_connection_info().addr(),
    );

    let active_jobs = AtomicUsize::new(0);
    thread::scope(|scope| {
        scope.spawn(|| backtester::serve(&client, listening, &active_jobs, stop));
        let mut publisher = Publisher::new(client.clone(), Some(publishing), "publisher");
        let opening = traffic.opening();
        send(&mut publisher, &mut traffic, opening);
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(TICK);
            let batch = traffic.step(clock::now(), active_jobs.load(Ordering::Relaxed));
            send(&mut publisher, &mut traffic, batch);
        }
        let closing = traffic.closing(clock::now());
        send(&mut publisher, &mut traffic, closing);
    });
    info!("Demo stopped.");
    Ok(())
}

/// The user the demo token names (`GET /api/demo-token`).
pub const DEMO_USER: &str = "demo";

/// Gives the demo user a stored watchlist when they have none, so the dashboard shows prices at
/// once; a list the user saved is kept.
fn seed_watchlist(conn: &mut redis::Connection, symbols: &[&str]) -> redis::RedisResult<()> {
    let user = UserId::new(DEMO_USER).expect("a non-empty id");
    let set = key::watchlist(&user);
    let fresh: bool = redis::cmd("EXISTS").arg(&set).query::<i64>(conn)? == 0;
    if fresh && !symbols.is_empty() {
        redis::pipe()
            .sadd(&set, symbols)
            .publish(
                channel::WATCHLIST,
                json!({"user_id": DEMO_USER}).to_string(),
            )
            .query::<()>(conn)?;
    }
    Ok(())
}

fn send(publisher: &mut Publisher, traffic: &mut Traffic, batch: traffic::Batch) {
    if publisher.send(&batch.messages) {
        traffic.confirm(&batch);
    }
}

/// The CLI validates options; a library caller passing nonsense gets a warning and a working demo.
fn sanitised(options: &DemoOptions) -> DemoOptions {
    let mut fixed = options.clone();
    if !(options.rate.is_finite() && options.rate > 0.0) {
        fixed.rate = DemoOptions::default().rate;
        warn!(
            "Demo rate {} is not a positive number; using {}.",
            options.rate, fixed.rate
        );
    }
    if !(1..=market::MAX_SYMBOLS).contains(&options.symbols) {
        fixed.symbols = options.symbols.clamp(1, market::MAX_SYMBOLS);
        warn!(
            "Demo symbols {} is outside 1..={}; using {}.",
            options.symbols,
            market::MAX_SYMBOLS,
            fixed.symbols
        );
    }
    fixed
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_out_of_range_are_repaired() {
        let fixed = sanitised(&DemoOptions {
            rate: f64::NAN,
            symbols: 0,
        });
        assert_eq!(
            fixed,
            DemoOptions {
                rate: 20.0,
                symbols: 1
            }
        );
        assert_eq!(
            sanitised(&DemoOptions {
                rate: -1.0,
                symbols: 99
            })
            .symbols,
            50
        );
        assert_eq!(
            sanitised(&DemoOptions {
                rate: 0.5,
                symbols: 3
            }),
            DemoOptions {
                rate: 0.5,
                symbols: 3
            }
        );
    }

    #[test]
    fn unreachable_redis_fails_at_start() {
        let stop = AtomicBool::new(false);
        let error = run("redis://127.0.0.1:1/", &DemoOptions::default(), &stop).unwrap_err();
        assert!(matches!(error, DemoError::Redis(_)));
        assert!(error.to_string().starts_with("the demo cannot reach Redis"));
        assert!(error.source().is_some());
        assert!(run("not a url", &DemoOptions::default(), &stop).is_err());
    }
}
