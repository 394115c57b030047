//! What an inbound channel carries (`EventKind`) and the default channel catalogue.
//!
//! The legacy system routed by channel only; so do we, but every channel maps to exactly one
//! kind and the kind decides the normaliser, the handler and the outbound event name.

use serde::{Deserialize, Serialize};

/// The kinds of inbound message the router understands. Config files name them in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PatternDetected,
    BacktestProgress,
    BacktestResult,
    SystemHealth,
    StreamingSessionStarted,
    StreamingSessionStopped,
    StreamingHealth,
    StreamingPattern,
    StreamingIndicator,
    IndicatorAlert,
    CriticalAlert,
    PriceUpdate,
    OhlcvUpdate,
    VolumeSpike,
    MarketSummary,
    SymbolMetadata,
    WatchlistUpdate,
    DashboardAlert,
    DashboardSummary,
    ErrorReport,
    Monitoring,
    TickData,
    MarketTick,
}

impl EventKind {
    pub const ALL: [EventKind; 23] = [
        EventKind::PatternDetected,
        EventKind::BacktestProgress,
        EventKind::BacktestResult,
        EventKind::SystemHealth,
        EventKind::StreamingSessionStarted,
        EventKind::StreamingSessionStopped,
        EventKind::StreamingHealth,
        EventKind::StreamingPattern,
        EventKind::StreamingIndicator,
        EventKind::IndicatorAlert,
        EventKind::CriticalAlert,
        EventKind::PriceUpdate,
        EventKind::OhlcvUpdate,
        EventKind::VolumeSpike,
        EventKind::MarketSummary,
        EventKind::SymbolMetadata,
        EventKind::WatchlistUpdate,
        EventKind::DashboardAlert,
        EventKind::DashboardSummary,
        EventKind::ErrorReport,
        EventKind::Monitoring,
        EventKind::TickData,
        EventKind::MarketTick,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PatternDetected => "pattern_detected",
            EventKind::BacktestProgress => "backtest_progress",
            EventKind::BacktestResult => "backtest_result",
            EventKind::SystemHealth => "system_health",
            EventKind::StreamingSessionStarted => "streaming_session_started",
            EventKind::StreamingSessionStopped => "streaming_session_stopped",
            EventKind::StreamingHealth => "streaming_health",
            EventKind::StreamingPattern => "streaming_pattern",
            EventKind::StreamingIndicator => "streaming_indicator",
            EventKind::IndicatorAlert => "indicator_alert",
            EventKind::CriticalAlert => "critical_alert",
            EventKind::PriceUpdate => "price_update",
            EventKind::OhlcvUpdate => "ohlcv_update",
            EventKind::VolumeSpike => "volume_spike",
            EventKind::MarketSummary => "market_summary",
            EventKind::SymbolMetadata => "symbol_metadata",
            EventKind::WatchlistUpdate => "watchlist_update",
            EventKind::DashboardAlert => "dashboard_alert",
            EventKind::DashboardSummary => "dashboard_summary",
            EventKind::ErrorReport => "error_report",
            EventKind::Monitoring => "monitoring",
            EventKind::TickData => "tick_data",
            EventKind::MarketTick => "market_tick",
        }
    }
}

/// Every inbound channel of seed-spec sections a1, a2 and a3, with the kind it carries.
pub const DEFAULT_CHANNELS: &[(&str, EventKind)] = &[
    ("tickstock.events.patterns", EventKind::PatternDetected),
    (
        "tickstock.events.backtesting.progress",
        EventKind::BacktestProgress,
    ),
    (
        "tickstock.events.backtesting.results",
        EventKind::BacktestResult,
    ),
    ("tickstock.health.status", EventKind::SystemHealth),
    (
        "tickstock:streaming:session_started",
        EventKind::StreamingSessionStarted,
    ),
    (
        "tickstock:streaming:session_stopped",
        EventKind::StreamingSessionStopped,
    ),
    ("tickstock:streaming:health", EventKind::StreamingHealth),
    ("tickstock:patterns:streaming", EventKind::StreamingPattern),
    ("tickstock:patterns:detected", EventKind::StreamingPattern),
    (
        "tickstock:indicators:streaming",
        EventKind::StreamingIndicator,
    ),
    ("tickstock:alerts:indicators", EventKind::IndicatorAlert),
    ("tickstock:alerts:critical", EventKind::CriticalAlert),
    ("tickstock.market.prices", EventKind::PriceUpdate),
    ("tickstock.market.ohlcv", EventKind::OhlcvUpdate),
    ("tickstock.market.volume", EventKind::VolumeSpike),
    ("tickstock.market.summary", EventKind::MarketSummary),
    ("tickstock.market.symbols", EventKind::SymbolMetadata),
    ("tickstock.dashboard.watchlist", EventKind::WatchlistUpdate),
    ("tickstock.dashboard.alerts", EventKind::DashboardAlert),
    ("tickstock.dashboard.summary", EventKind::DashboardSummary),
    ("tickstock:errors", EventKind::ErrorReport),
    ("tickstock:monitoring", EventKind::Monitoring),
    ("tickstock.all_ticks", EventKind::TickData),
    ("tickstock:market:ticks", EventKind::MarketTick),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip_through_serde() {
        for kind in EventKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn default_catalogue_has_no_duplicate_channels() {
        let mut names: Vec<_> = DEFAULT_CHANNELS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DEFAULT_CHANNELS.len());
    }
}
