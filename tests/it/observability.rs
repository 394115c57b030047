//! `/metrics` (Prometheus/OpenMetrics text) and, later, the debug monitor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

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
    assert_eq!(before["tickrouter_messages_received_total"], 0.0);
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
    assert_eq!(after["tickrouter_messages_received_total"], 2.0);
    assert_eq!(
        after[r#"tickrouter_channel_received_messages_total{channel="tickstock.market.prices"}"#],
        2.0
    );
    assert!(after["tickrouter_frames_delivered_total"] >= 1.0);
    assert_eq!(after["tickrouter_sessions_active"], 1.0);
    assert_eq!(after["tickrouter_processing_seconds_count"], 1.0);
    assert_eq!(
        after[r#"tickrouter_processing_seconds_bucket{le="+Inf"}"#],
        1.0
    );
}

/// An HTTP call with an optional bearer token; the body parsed as JSON (Null when it is not).
fn request(app: &App, method: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, body) = crate::util::http_request(app.addr, method, path, &headers, None);
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn the_monitor_shows_invalid_messages_with_their_reason_to_admins_only() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let admin = tickrouter::auth::issue_token(crate::util::SECRET, "root", &["admin"], 300);
    let user = tickrouter::auth::issue_token(crate::util::SECRET, "u1", &[], 300);
    redis.publish(
        "tickstock.events.patterns",
        "{'symbol': 'AAPL', 'pattern_name': 'Doji'}",
    );
    redis.publish(
        "tickstock:patterns:streaming",
        json!({"detection": {"pattern_type": "Doji", "symbol": "NVDA"}}).to_string(),
    );
    redis.publish(
        "tickstock:patterns:streaming",
        json!({"detection": {"pattern": "Doji", "symbol": "NVDA"}}).to_string(),
    );
    wait_for("the messages to be read", WAIT, || {
        (app.stats()["events"]["received"] == 3).then_some(())
    });

    for path in ["/debug/messages", "/debug/field-names"] {
        assert_eq!(
            request(&app, "GET", path, None).0,
            401,
            "{path} without a token"
        );
        assert_eq!(
            request(&app, "GET", path, Some(&user)).0,
            403,
            "{path} for a non-admin"
        );
    }
    assert_eq!(request(&app, "POST", "/debug/clear", Some(&user)).0, 403);

    let (status, body) = request(
        &app,
        "GET",
        "/debug/messages?channel=events.patterns",
        Some(&admin),
    );
    assert_eq!(status, 200);
    assert_eq!(body["count"], 1);
    let entry = &body["messages"][0];
    assert_eq!(entry["outcome"]["drops"], json!(["invalid_json"]));
    assert_eq!(entry["raw"], "{'symbol': 'AAPL', 'pattern_name': 'Doji'}");

    let (_, report) = request(&app, "GET", "/debug/field-names", Some(&admin));
    let streaming = &report["channels"]["tickstock:patterns:streaming"];
    assert_eq!(streaming["has_inconsistency"], true, "{report}");
    assert_eq!(
        streaming["pattern_name_fields"],
        json!({"pattern": 1, "pattern_type": 1})
    );

    assert_eq!(request(&app, "POST", "/debug/clear", Some(&admin)).0, 200);
    assert_eq!(
        request(&app, "GET", "/debug/messages", Some(&admin)).1["count"],
        0
    );
    let (status, _) = crate::util::http_get(app.addr, "/debug");
    assert_eq!(
        status, 200,
        "the page itself holds no data and loads for anyone"
    );
}

/// A healthy server fed realistic traffic (the demo producer) filters plenty and loses nothing,
/// so an alert on `tickrouter_dropped_events_total` stays silent.
#[test]
fn a_healthy_demo_run_filters_but_drops_nothing() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let _dashboard = app.ws();
    let stop = AtomicBool::new(false);
    let stats = std::thread::scope(|scope| {
        let url = redis.url();
        let options = tickrouter::demo::DemoOptions {
            rate: 200.0,
            symbols: 12,
        };
        let stop = &stop;
        scope.spawn(move || tickrouter::demo::run(&url, &options, stop).unwrap());
        let stats = wait_for("demo traffic to be filtered", WAIT * 3, || {
            let stats = app.stats();
            let busy = stats["events"]["received"].as_u64().unwrap_or(0) >= 500;
            (busy && stats["events"]["filtered"].as_u64().unwrap_or(0) > 0).then_some(stats)
        });
        stop.store(true, Ordering::Relaxed);
        stats
    });
    assert_eq!(
        stats["events"]["dropped"], 0,
        "lost: {}",
        stats["dropped_by_reason"]
    );
    let text = app.get("/metrics").1;
    assert!(
        text.contains("# TYPE tickrouter_dropped_events counter"),
        "{text}"
    );
    assert!(!text.contains("tickrouter_dropped_events_total{"), "{text}");
    let filtered = metrics(&app)
        .into_iter()
        .filter(|(name, _)| name.starts_with("tickrouter_filtered_events_total{"))
        .map(|(_, n)| n)
        .sum::<f64>();
    assert!(filtered > 0.0, "{text}");
}

/// A producer error published while no admin is connected is kept, and an admin reads it later
/// from `/api/admin/errors`, filtered by severity or source; nobody else may.
#[test]
fn producer_errors_are_kept_for_admins_who_were_not_connected() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let admin = tickrouter::auth::issue_token(crate::util::SECRET, "root", &["admin"], 300);
    let user = tickrouter::auth::issue_token(crate::util::SECRET, "u1", &[], 300);
    redis.publish(
        "tickstock:errors",
        json!({"error_id": "err-42", "source": "TickStockPL", "severity": "critical",
               "message": "disk full", "timestamp": 1760557168.342, "api_secret": "x"})
        .to_string(),
    );
    redis.publish(
        "tickstock:monitoring",
        json!({"event_type": "METRIC_UPDATE", "metrics": {"cpu": 0.5}}).to_string(),
    );
    let errors = wait_for("both reports in the log", WAIT, || {
        let (status, body) = request(&app, "GET", "/api/admin/errors", Some(&admin));
        (status == 200 && body["errors"].as_array().is_some_and(|e| e.len() == 2)).then_some(body)
    });
    let newest = &errors["errors"][0];
    assert_eq!(newest["event"], "monitoring_event", "{errors}");
    let error = &errors["errors"][1];
    assert_eq!(error["event"], "system_error");
    assert_eq!(error["severity"], "critical");
    assert_eq!(error["data"]["error_id"], "err-42");
    assert_eq!(error["data"]["message"], "disk full");
    assert!(!errors.to_string().contains("api_secret"), "{errors}");

    let only = |query: &str| {
        let path = format!("/api/admin/errors?{query}");
        let (status, body) = request(&app, "GET", &path, Some(&admin));
        assert_eq!(status, 200, "{body}");
        body["errors"].as_array().unwrap().len()
    };
    assert_eq!(only("severity=critical"), 1);
    assert_eq!(only("severity=warning"), 0);
    assert_eq!(only("source=TickStockPL"), 1);
    assert_eq!(only("limit=1"), 1);
    assert_eq!(only("since=99999999999999"), 0);
    assert_eq!(request(&app, "GET", "/api/admin/errors", None).0, 401);
    assert_eq!(
        request(&app, "GET", "/api/admin/errors", Some(&user)).0,
        403
    );
}
