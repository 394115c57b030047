//! Outbound frames: `{"event": <name>, "data": {...}}`, encoded once and shared by reference
//! count with every recipient.

use bytestring::ByteString;
use serde::Serialize;
use strum::{IntoStaticStr, VariantArray};

/// Every event name the server sends. Pushes keep the names browsers already listen for.
/// The names are derived from the variants (snake_case); they are a wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
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
    IndicatorUpdate,
    IndicatorAlert,
    CriticalAlert,
    StreamingSession,
    StreamingHealth,
    SystemHealth,
    BacktestProgress,
    BacktestResult,
    PreferencesChanged,
    DashboardPriceUpdate,
    DashboardOhlcvUpdate,
    DashboardMarketSummary,
    DashboardMarketEvent,
    TickData,
    TickUpdate,
    SystemError,
    MonitoringEvent,
    /// The session's token expires soon (`domain::token_expiry`); sent to that session only.
    TokenExpiring,
    /// A user-stream entry the user had not acknowledged, sent when they connect.
    QueuedMessage,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        self.into()
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

    /// The same frame marked `"snapshot": true` at the top level: a state seen before the
    /// session watched, not a new event. Spliced into the encoded text (an object that ends in
    /// `}`), since snapshots are rare and the frame is already encoded.
    pub fn as_snapshot(&self) -> Frame {
        let body = self.0.strip_suffix('}').unwrap_or(&self.0);
        Frame(ByteString::from(format!("{body},\"snapshot\":true}}")))
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

    /// The names browsers listen for, in declaration order: a wire contract, pinned here.
    #[test]
    fn event_names_are_the_wire_names() {
        let names: Vec<&str> = EventName::VARIANTS.iter().map(|e| e.as_str()).collect();
        let expected = [
            "connection_confirmed",
            "ack",
            "pong",
            "error",
            "pattern_alert",
            "streaming_patterns_batch",
            "streaming_indicators_batch",
            "streaming_pattern",
            "streaming_indicator",
            "indicator_update",
            "indicator_alert",
            "critical_alert",
            "streaming_session",
            "streaming_health",
            "system_health",
            "backtest_progress",
            "backtest_result",
            "preferences_changed",
            "dashboard_price_update",
            "dashboard_ohlcv_update",
            "dashboard_market_summary",
            "dashboard_market_event",
            "tick_data",
            "tick_update",
            "system_error",
            "monitoring_event",
            "token_expiring",
            "queued_message",
        ];
        assert_eq!(names, expected);
    }

    #[test]
    fn envelope_shape() {
        let f = Frame::encode(EventName::Pong, &serde_json::json!({}));
        assert_eq!(&*f.0, r#"{"event":"pong","data":{}}"#);
        let f = Frame::encode_reply(EventName::Ack, &serde_json::json!({"op":"ping"}), Some(7));
        assert_eq!(&*f.0, r#"{"event":"ack","data":{"op":"ping"},"id":7}"#);
    }
}
