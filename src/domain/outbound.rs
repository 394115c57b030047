//! Outbound frames: `{"event": <name>, "data": {...}}`, encoded once and shared by reference
//! count with every recipient.

use bytestring::ByteString;
use serde::Serialize;

/// Every event name the server sends. Pushes keep the names browsers already listen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    ConnectionConfirmed,
    Ack,
    Pong,
    Error,
    PatternAlert,
    StreamingPatternsBatch,
    StreamingIndicatorsBatch,
    StreamingPattern,
    StreamingIndicator,
    IndicatorAlert,
    CriticalAlert,
    StreamingSession,
    StreamingHealth,
    SystemHealth,
    BacktestProgress,
    BacktestResult,
    DashboardPriceUpdate,
    DashboardOhlcvUpdate,
    DashboardMarketSummary,
    DashboardMarketEvent,
    TickData,
    TickUpdate,
    SystemError,
    MonitoringEvent,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::ConnectionConfirmed => "connection_confirmed",
            EventName::Ack => "ack",
            EventName::Pong => "pong",
            EventName::Error => "error",
            EventName::PatternAlert => "pattern_alert",
            EventName::StreamingPatternsBatch => "streaming_patterns_batch",
            EventName::StreamingIndicatorsBatch => "streaming_indicators_batch",
            EventName::StreamingPattern => "streaming_pattern",
            EventName::StreamingIndicator => "streaming_indicator",
            EventName::IndicatorAlert => "indicator_alert",
            EventName::CriticalAlert => "critical_alert",
            EventName::StreamingSession => "streaming_session",
            EventName::StreamingHealth => "streaming_health",
            EventName::SystemHealth => "system_health",
            EventName::BacktestProgress => "backtest_progress",
            EventName::BacktestResult => "backtest_result",
            EventName::DashboardPriceUpdate => "dashboard_price_update",
            EventName::DashboardOhlcvUpdate => "dashboard_ohlcv_update",
            EventName::DashboardMarketSummary => "dashboard_market_summary",
            EventName::DashboardMarketEvent => "dashboard_market_event",
            EventName::TickData => "tick_data",
            EventName::TickUpdate => "tick_update",
            EventName::SystemError => "system_error",
            EventName::MonitoringEvent => "monitoring_event",
        }
    }
}

/// An encoded text frame. Cloning shares the bytes; it never re-serialises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(pub ByteString);

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    event: &'a str,
    data: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

impl Frame {
    pub fn encode<T: Serialize>(event: EventName, data: &T) -> Frame {
        Frame::encode_reply(event, data, None)
    }

    /// A reply to a client op, echoing the op's `id` when it had one.
    pub fn encode_reply<T: Serialize>(event: EventName, data: &T, id: Option<u64>) -> Frame {
        // Serialising our own derive(Serialize) types into a String cannot fail: they hold no
        // maps with non-string keys and serde_json's Value never contains NaN.
        let text = serde_json::to_string(&Envelope {
            event: event.as_str(),
            data,
            id,
        })
        .unwrap_or_else(|e| {
            serde_json::json!({"event": "error", "data": {"code": "internal", "message": e.to_string()}})
                .to_string()
        });
        Frame(ByteString::from(text))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let f = Frame::encode(EventName::Pong, &serde_json::json!({}));
        assert_eq!(&*f.0, r#"{"event":"pong","data":{}}"#);
        let f = Frame::encode_reply(EventName::Ack, &serde_json::json!({"op":"ping"}), Some(7));
        assert_eq!(&*f.0, r#"{"event":"ack","data":{"op":"ping"},"id":7}"#);
    }
}
