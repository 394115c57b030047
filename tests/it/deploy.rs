//! The deployment kit (`deploy/`) against the real server: the Prometheus rules and the Grafana
//! dashboard use only metrics `/metrics` really has, the YAML and JSON files parse, and the
//! Kubernetes probes point at the endpoints meant for them.

use std::collections::BTreeSet;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::util::{App, Redis};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{DEPLOY}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// Every sample name in a `/metrics` text (`tickrouter_x_total`, `..._bucket`, ...).
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The metric names a PromQL expression uses (ours and the process ones).
fn used(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("tickrouter_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn alert_rules_and_the_dashboard_use_only_metrics_the_server_has() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let (status, text) = app.get("/metrics");
    assert_eq!(status, 200);
    let exposed = exposed(&text);
    // Labelled families appear once something was counted; an idle server shows their HELP.
    let described: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .flat_map(|name| {
            ["", "_total", "_bucket", "_sum", "_count"].map(|suffix| format!("{name}{suffix}"))
        })
        .collect();
    let exists = |m: &str| exposed.contains(m) || described.contains(m);

    let mut exprs = Vec::new();
    let rules = yaml("prometheus/alerts.yml");
    for group in rules[0]["groups"].as_vec().expect("rule groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            let name = rule["alert"].as_str().expect("an alert name");
            let expr = rule["expr"].as_str().expect("an expr");
            exprs.push((format!("alert {name}"), expr.to_owned()));
        }
    }
    assert!(
        exprs.len() >= 4,
        "Redis down, drops, slow consumers, backlog"
    );
    let scrape = yaml("prometheus/prometheus.yml");
    assert_eq!(scrape[0]["rule_files"][0].as_str(), Some("alerts.yml"));

    let dashboard: Value = serde_json::from_str(&read("grafana/tickrouter.json")).unwrap();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a query");
            exprs.push((format!("panel {}", panel["title"]), expr.to_owned()));
        }
    }
    let mut missing = Vec::new();
    for (where_, expr) in &exprs {
        let names = used(expr);
        assert!(!names.is_empty(), "{where_} uses no metric of ours: {expr}");
        missing.extend(
            names
                .into_iter()
                .filter(|m| !exists(m))
                .map(|m| format!("{where_}: {m}")),
        );
    }
    assert!(missing.is_empty(), "not in /metrics: {missing:#?}");
}

#[test]
fn the_kubernetes_probes_use_live_and_ready() {
    let deployment = &yaml("kubernetes/deployment.yaml")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/live")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/ready")
    );
    let services = yaml("kubernetes/service.yaml");
    assert_eq!(services.len(), 2, "the client and the admin service");
    let config = &yaml("kubernetes/configmap.yaml")[0];
    let toml = config["data"]["tickrouter.toml"].as_str().unwrap();
    let settings = tickrouter::config::Settings::from_toml_str(toml).expect("valid settings");
    settings.validate().expect("settings pass validation");
    assert!(settings.server.admin_bind.is_some());
}
