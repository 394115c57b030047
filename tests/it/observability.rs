//! `/metrics` (Prometheus/OpenMetrics text) and, later, the debug monitor.

use std::collections::HashMap;

use serde_json::json;

use crate::util::{wait_for, App, Redis, WAIT};

/// Parses the exposition strictly: every sample line is `name{labels} value`, the text ends with
/// `# EOF`. Returns samples keyed by `name{labels}` as written.
fn parse(text: &str) -> HashMap<String, f64> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "OpenMetrics text ends with # EOF"
    );
    let mut samples = HashMap::new();
    for line in lines.iter().filter(|l| !l.starts_with('#')) {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels in {line:?}"
            );
            for pair in labels[1..labels.len() - 1]
                .split("\",")
                .filter(|p| !p.is_empty())
            {
                let (key, val) = pair
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad label {pair:?} in {line:?}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad label name in {line:?}"
                );
                assert!(!val.contains('\n'));
            }
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn metrics(app: &App) -> HashMap<String, f64> {
    let (status, body) = app.get("/metrics");
    assert_eq!(status, 200);
    parse(&body)
}

#[test]
fn metrics_parse_and_move_as_events_flow_and_drop() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let before = metrics(&app);
    assert_eq!(before["tickrouter_redis_connected"], 1.0);
    assert_eq!(before["tickrouter_received_messages_total"], 0.0);
    let mut client = app.ws();
    client.op(json!({"op": "watchlist", "symbols": ["NVDA"]}));
    redis.publish(
        "tickstock.market.prices",
        json!({"symbol": "NVDA", "price": 1.0, "change_percent": 2.0}).to_string(),
    );
    redis.publish("tickstock.market.prices", "not json");
    client.expect("dashboard_price_update");
    let invalid = r#"tickrouter_dropped_events_total{reason="invalid_json",channel="tickstock.market.prices"}"#;
    let after = wait_for("the drop to be counted", WAIT, || {
        let m = metrics(&app);
        (m.get(invalid) == Some(&1.0)).then_some(m)
    });
    assert_eq!(after["tickrouter_received_messages_total"], 2.0);
    assert_eq!(
        after[r#"tickrouter_channel_received_messages_total{channel="tickstock.market.prices"}"#],
        2.0
    );
    assert!(after["tickrouter_delivered_frames_total"] >= 1.0);
    assert_eq!(after["tickrouter_active_sessions"], 1.0);
    assert_eq!(after["tickrouter_processing_seconds_count"], 1.0);
    assert_eq!(
        after[r#"tickrouter_processing_seconds_bucket{le="+Inf"}"#],
        1.0
    );
}
