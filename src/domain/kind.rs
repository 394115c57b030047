//! What an inbound channel carries (`EventKind`) and the default channel catalogue.
//!
//! The legacy system routed by channel only; so do we, but every channel maps to exactly one
//! kind and the kind decides the normaliser, the handler and the outbound event name.

use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantArray};

use super::redis_names::channel;

/// The kinds of inbound message the router understands. Config files name them in snake_case.
/// `VARIANTS` and the names are derived from this declaration.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, VariantArray, IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    IndicatorUpdate,
    IndicatorAlert,
    CriticalAlert,
    PriceUpdate,
    OhlcvUpdate,
    VolumeSpike,
    MarketSummary,
    SymbolMetadata,
    WatchlistUpdate,
    AlertRulesUpdate,
    DashboardAlert,
    DashboardSummary,
    ErrorReport,
    Monitoring,
    TickData,
    MarketTick,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Every inbound producer channel, with the kind it carries (docs/PRODUCERS.md#channels).
pub const DEFAULT_CHANNELS: &[(&str, EventKind)] = &[
    (channel::PATTERN_EVENTS, EventKind::PatternDetected),
    (channel::BACKTEST_PROGRESS, EventKind::BacktestProgress),
    (channel::BACKTEST_RESULTS, EventKind::BacktestResult),
    (channel::SYSTEM_HEALTH, EventKind::SystemHealth),
    (channel::SYSTEM_HEALTH_EVENTS, EventKind::SystemHealth),
    (channel::INDICATOR_EVENTS, EventKind::IndicatorUpdate),
    (
        channel::STREAMING_SESSION_STARTED,
        EventKind::StreamingSessionStarted,
    ),
    (
        channel::STREAMING_SESSION_STOPPED,
        EventKind::StreamingSessionStopped,
    ),
    (channel::STREAM_HEALTH, EventKind::StreamingHealth),
    (channel::STREAMING_PATTERNS, EventKind::StreamingPattern),
    (channel::PATTERNS_DETECTED, EventKind::StreamingPattern),
    (channel::STREAMING_INDICATORS, EventKind::StreamingIndicator),
    (channel::INDICATOR_ALERTS, EventKind::IndicatorAlert),
    (channel::CRITICAL_ALERTS, EventKind::CriticalAlert),
    (channel::PRICES, EventKind::PriceUpdate),
    (channel::OHLCV, EventKind::OhlcvUpdate),
    (channel::VOLUME, EventKind::VolumeSpike),
    (channel::SUMMARY, EventKind::MarketSummary),
    (channel::MARKET_SYMBOLS, EventKind::SymbolMetadata),
    (channel::WATCHLIST, EventKind::WatchlistUpdate),
    (channel::JOBS_ALERTS, EventKind::AlertRulesUpdate),
    (channel::DASHBOARD_ALERTS, EventKind::DashboardAlert),
    (channel::DASHBOARD_SUMMARY, EventKind::DashboardSummary),
    (channel::ERRORS, EventKind::ErrorReport),
    (channel::MONITORING, EventKind::Monitoring),
    (channel::ALL_TICKS, EventKind::TickData),
    (channel::MARKET_TICKS, EventKind::MarketTick),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip_through_serde() {
        crate::domain::enum_names::assert_serde_matches_strum::<EventKind>();
        for &kind in EventKind::VARIANTS {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn every_kind_has_a_default_channel() {
        for kind in EventKind::VARIANTS {
            assert!(
                DEFAULT_CHANNELS.iter().any(|(_, k)| k == kind),
                "{kind:?} has no channel in DEFAULT_CHANNELS"
            );
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
