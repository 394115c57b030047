//! The Redis channel and key names shared by tickrouter, its producers and the demo: each
//! written once (seed-spec sections a and a5).

/// Pub/sub channels.
pub mod channel {
    pub const PATTERN_EVENTS: &str = "tickstock.events.patterns";
    pub const BACKTEST_PROGRESS: &str = "tickstock.events.backtesting.progress";
    pub const BACKTEST_RESULTS: &str = "tickstock.events.backtesting.results";
    pub const SYSTEM_HEALTH: &str = "tickstock.health.status";
    pub const SESSION_STARTED: &str = "tickstock:streaming:session_started";
    pub const SESSION_STOPPED: &str = "tickstock:streaming:session_stopped";
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
}

/// Epoch seconds (a float, as a string), written by the producer every 60 s.
pub const PRODUCER_HEARTBEAT_KEY: &str = "tickstock:producer:heartbeat";
