//! The Redis channel and key names shared by tickrouter, its producers and the demo: each
//! written once, here, and nowhere else (docs/PRODUCERS.md lists them with their shapes).

use super::ids::{JobId, UserId};

/// Pub/sub channels.
pub mod channel {
    pub const PATTERN_EVENTS: &str = "tickstock.events.patterns";
    pub const BACKTEST_PROGRESS: &str = "tickstock.events.backtesting.progress";
    pub const BACKTEST_RESULTS: &str = "tickstock.events.backtesting.results";
    pub const SYSTEM_HEALTH: &str = "tickstock.health.status";
    /// The integration brief's name for the same system health reports.
    pub const SYSTEM_HEALTH_EVENTS: &str = "tickstock.events.system.health";
    /// The integration brief's indicator values, one per message.
    pub const INDICATOR_EVENTS: &str = "tickstock.events.indicators";
    pub const STREAMING_SESSION_STARTED: &str = "tickstock:streaming:session_started";
    pub const STREAMING_SESSION_STOPPED: &str = "tickstock:streaming:session_stopped";
    pub const STREAM_HEALTH: &str = "tickstock:streaming:health";
    pub const STREAMING_PATTERNS: &str = "tickstock:patterns:streaming";
    pub const PATTERNS_DETECTED: &str = "tickstock:patterns:detected";
    pub const STREAMING_INDICATORS: &str = "tickstock:indicators:streaming";
    pub const INDICATOR_ALERTS: &str = "tickstock:alerts:indicators";
    pub const CRITICAL_ALERTS: &str = "tickstock:alerts:critical";
    pub const PRICES: &str = "tickstock.market.prices";
    pub const OHLCV: &str = "tickstock.market.ohlcv";
    pub const VOLUME: &str = "tickstock.market.volume";
    pub const SUMMARY: &str = "tickstock.market.summary";
    pub const MARKET_SYMBOLS: &str = "tickstock.market.symbols";
    pub const WATCHLIST: &str = "tickstock.dashboard.watchlist";
    pub const DASHBOARD_ALERTS: &str = "tickstock.dashboard.alerts";
    pub const DASHBOARD_SUMMARY: &str = "tickstock.dashboard.summary";
    pub const ERRORS: &str = "tickstock:errors";
    pub const MONITORING: &str = "tickstock:monitoring";
    pub const ALL_TICKS: &str = "tickstock.all_ticks";
    pub const MARKET_TICKS: &str = "tickstock:market:ticks";
    /// Outbound: backtest requests and cancels for the backtester.
    pub const JOBS_BACKTEST: &str = "tickstock.jobs.backtest";
    pub const JOBS_CANCEL: &str = "tickstock.jobs.cancel";
    /// Outbound: system commands for backtesters written to the integration brief (job cancels).
    pub const JOBS_SYSTEM: &str = "tickstock.jobs.system";
    /// Both ways: a user's alert rules changed (published by the preferences API, for producers
    /// and every instance).
    pub const JOBS_ALERTS: &str = "tickstock.jobs.alerts";
}

/// Epoch seconds (a float, as a string), written by the producer every 60 s.
pub const PRODUCER_HEARTBEAT_KEY: &str = "tickstock:producer:heartbeat";

/// Keys that hold one record per user or job.
pub mod key {
    use super::{JobId, UserId};

    /// A stream of producer errors and monitoring reports (`domain::operations_log`).
    pub const OPERATIONS_LOG: &str = "tickrouter:operations_log";

    /// Each stream's latest kept frames (prices, bars, health, summary), shared by the
    /// instances so one that starts has them (`pipeline::snapshot_store`).
    pub const SNAPSHOTS: &str = "tickrouter:snapshots";

    /// A sorted set of the job ids that are queued or running.
    pub const ACTIVE_JOBS: &str = "tickstock:active_jobs";

    /// A backtest job's record (JSON).
    pub fn job(job: &JobId) -> String {
        format!("tickstock:jobs:{job}")
    }

    /// A user's job ids, newest first.
    pub fn user_jobs(user: &UserId) -> String {
        format!("tickstock:user_jobs:{user}")
    }

    /// A user's stored watchlist (a set of symbols).
    pub fn watchlist(user: &UserId) -> String {
        format!("tickstock:watchlist:{user}")
    }

    /// A user's alert preferences (JSON).
    pub fn alert_prefs(user: &UserId) -> String {
        format!("tickstock:alerts:prefs:{user}")
    }

    /// A user's per-pattern alert subscriptions (JSON).
    pub fn alert_subscriptions(user: &UserId) -> String {
        format!("tickstock:alerts:subscriptions:{user}")
    }

    /// The history of a recoverable topic (a Redis Stream whose entry ids are the offsets).
    pub fn topic_history(topic: &str) -> String {
        format!("tickrouter:history:{topic}")
    }

    /// A user's own stream, the contract's offline queue.
    pub fn user_messages(user: &UserId) -> String {
        format!("user_messages:{user}")
    }

    /// A history stream's epoch, latest offset and (for a user) acknowledged offset. The
    /// stream's whole name is the hash tag, so in a Redis Cluster both sit in the stream's
    /// slot and one script can write them together.
    pub fn history_meta(stream_key: &str) -> String {
        format!("{{{stream_key}}}:meta")
    }

    /// That one source message was written to a history stream, with the offset it got, so
    /// every other instance that saw the message uses the same entry.
    pub fn history_seen(stream_key: &str, message: u64) -> String {
        format!("{{{stream_key}}}:seen:{message:016x}")
    }

    /// That one alert was counted in `rate_key` (a user's hourly counter), so the other
    /// instances that saw it do not count it again. Hash-tagged to the counter's slot.
    pub fn alert_counted(rate_key: &str, message: u64) -> String {
        format!("{{{rate_key}}}:counted:{message:016x}")
    }

    /// Pattern alerts sent to a user in one hour (epoch hours), shared with other instances.
    pub fn alert_rate(user: &UserId, hour: i64) -> String {
        format!("tickstock:alerts:ratelimit:{user}:{hour}")
    }
}
