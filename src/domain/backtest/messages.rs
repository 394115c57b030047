//! The messages tickrouter publishes to the backtester (docs/PRODUCERS.md#outbound-channels): a
//! job's request on `channel::JOBS_BACKTEST`, and its cancel on `channel::JOBS_CANCEL` and as a
//! command on `channel::JOBS_SYSTEM`. Backtesters are written to two dialects (the legacy
//! application's and the integration brief's); each message carries what both read.

use serde_json::{json, Value};

use super::record::JobRecord;
use crate::domain::ids::JobId;

/// `source` of every message tickrouter publishes.
pub const SOURCE: &str = "tickrouter";

impl JobRecord {
    /// The `backtest_job` request published on `channel::JOBS_BACKTEST`: `type` for the legacy
    /// dialect, `job_type` and `parameters.position_size` for the brief's.
    /// `None` for a record without a config (not created by the submit endpoint).
    pub fn job_request(&self, now_ms: i64) -> Option<Value> {
        let c = self.config.as_ref()?;
        Some(json!({
            "type": "backtest_job",
            "job_type": "backtest",
            "job_id": self.job_id,
            "user_id": self.user_id,
            "symbols": c.symbols,
            "start_date": c.start_date,
            "end_date": c.end_date,
            "patterns": c.patterns,
            "parameters": {
                "initial_capital": c.initial_capital,
                "commission_rate": c.commission_rate,
                "slippage_rate": c.slippage_rate,
                "max_position_size": c.max_position_size,
                "position_size": c.max_position_size,
                "stop_loss_pct": c.stop_loss_pct,
                "take_profit_pct": c.take_profit_pct,
            },
            "timestamp": epoch_seconds(now_ms),
            "source": SOURCE,
        }))
    }
}

/// The `cancel_job` message published on `channel::JOBS_CANCEL`, the legacy dialect.
pub fn cancel_request(job: &JobId, now_ms: i64) -> Value {
    json!({
        "type": "cancel_job",
        "job_id": job,
        "timestamp": epoch_seconds(now_ms),
        "source": SOURCE,
    })
}

/// The same cancel as the integration brief's command on `channel::JOBS_SYSTEM`.
pub fn cancel_command(job: &JobId, now_ms: i64) -> Value {
    json!({
        "command": "cancel_job",
        "job_id": job,
        "timestamp": epoch_seconds(now_ms),
        "source": SOURCE,
    })
}

/// The producers' timestamp form: epoch seconds as a float.
fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::record;
    use super::*;

    #[test]
    fn published_messages_have_the_appv2_shape() {
        let r = record();
        let request = r.job_request(1_760_557_168_342).unwrap();
        assert_eq!(request["type"], "backtest_job");
        assert_eq!(request["job_type"], "backtest");
        assert_eq!(request["job_id"], r.job_id.as_str());
        assert_eq!(request["user_id"], "alice");
        assert_eq!(request["symbols"], json!(["AAPL", "MSFT"]));
        assert_eq!(request["patterns"], json!(["Doji", "Hammer"]));
        assert_eq!(request["start_date"], "2024-01-01");
        assert_eq!(request["end_date"], "2024-12-31");
        assert_eq!(request["timestamp"], json!(1_760_557_168.342));
        assert_eq!(request["source"], "tickrouter");
        let parameters = request["parameters"].as_object().unwrap();
        assert_eq!(parameters.len(), 7);
        assert_eq!(parameters["position_size"], parameters["max_position_size"]);
        assert_eq!(parameters["initial_capital"], json!(100_000.0));
        assert_eq!(parameters["take_profit_pct"], json!(0.1));

        let cancel = cancel_request(&r.job_id, 2_500);
        assert_eq!(
            cancel,
            json!({"type": "cancel_job", "job_id": r.job_id.as_str(), "timestamp": 2.5, "source": "tickrouter"})
        );
        assert_eq!(
            cancel_command(&r.job_id, 2_500),
            json!({"command": "cancel_job", "job_id": r.job_id.as_str(), "timestamp": 2.5, "source": "tickrouter"})
        );
    }
}
