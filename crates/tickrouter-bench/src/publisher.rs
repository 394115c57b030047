//! The publisher: a dedicated OS thread with a synchronous Redis connection (pacing by
//! nanosleep, not tokio's 1 ms timer), as in the shared load generator. Message k is due at
//! k/rate after the start; everything due is sent as one pipeline, so the rate holds even when
//! the thread oversleeps. Rate 0 publishes as fast as Redis takes it (pipelines back to back).
//! Each message carries its send time (`record::now_ns`) in a field the server forwards.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::record::now_ns;

/// Builds message number `seq`, stamped `sent_ns`, into `out`.
pub trait Payload: Send {
    fn build(&mut self, seq: u64, sent_ns: u64, out: &mut Vec<u8>);
}

/// Pads `out` (a JSON object still open) to about `bytes` with an ignored field, and closes it.
fn pad_and_close(out: &mut Vec<u8>, bytes: usize) {
    // ,"pad":"" plus the closing brace is 10 bytes.
    let pad = bytes.saturating_sub(out.len() + 10);
    if pad > 0 {
        out.extend_from_slice(br#","pad":""#);
        out.resize(out.len() + pad, b'x');
        out.push(b'"');
    }
    out.push(b'}');
}

/// A price update for one symbol on `tickstock.market.prices`. tickrouter does not forward
/// unknown fields, so the send time rides in `volume` (a number it forwards as a float, exact
/// for integers below 2^53, i.e. for 104 days of nanoseconds).
pub struct PriceUpdate {
    pub symbol: String,
    pub bytes: usize,
}

impl Payload for PriceUpdate {
    fn build(&mut self, seq: u64, sent_ns: u64, out: &mut Vec<u8>) {
        out.clear();
        let cents = 10_000 + seq % 5_000;
        let _ = write!(
            out,
            r#"{{"type":"price_update","symbol":"{}","price":{}.{:02},"change":1.25,"change_percent":1.0,"volume":{sent_ns},"source":"tickrouter-bench""#,
            self.symbol,
            cents / 100,
            cents % 100,
        );
        pad_and_close(out, self.bytes);
    }
}

/// A `dashboard_alert` for user `u{seq % users}` on `tickstock.dashboard.alerts`: the title
/// names the user (the clients check it), the description carries `sent_ns:<ns>`.
pub struct UserAlert {
    pub users: usize,
    pub bytes: usize,
}

impl Payload for UserAlert {
    fn build(&mut self, seq: u64, sent_ns: u64, out: &mut Vec<u8>) {
        out.clear();
        let user = seq % self.users as u64;
        let _ = write!(
            out,
            r#"{{"user_id":"u{user}","alert":{{"id":"a{seq}","type":"price_target","title":"u{user}","description":"sent_ns:{sent_ns}","symbol":"BENCH","show_notification":false}}"#
        );
        pad_and_close(out, self.bytes);
    }
}

/// `backtest_progress` of job `job-u{k}` (owned by user `u{k}`, k = seq % users) on
/// `tickstock.events.backtesting.progress`; `processed_symbols` (forwarded as sent) carries
/// the send time.
pub struct BacktestProgress {
    pub users: usize,
    pub bytes: usize,
}

impl Payload for BacktestProgress {
    fn build(&mut self, seq: u64, sent_ns: u64, out: &mut Vec<u8>) {
        out.clear();
        let user = seq % self.users as u64;
        let _ = write!(
            out,
            r#"{{"job_id":"job-u{user}","progress":0.5,"status":"processing","current_symbol":"BENCH","processed_symbols":{sent_ns}"#
        );
        pad_and_close(out, self.bytes);
    }
}

/// The peers' message (as the shared load generator publishes it): a price update with a
/// top-level `sent_ns`, which the peers forward unchanged.
pub struct PeerPrice {
    pub bytes: usize,
}

impl Payload for PeerPrice {
    fn build(&mut self, seq: u64, sent_ns: u64, out: &mut Vec<u8>) {
        out.clear();
        let _ = write!(
            out,
            r#"{{"type":"price_update","symbol":"SYM{:02}","price":101.25,"volume":1200,"sent_ns":{sent_ns}"#,
            seq % 50
        );
        pad_and_close(out, self.bytes);
    }
}

pub struct Plan {
    pub redis_url: String,
    pub channel: String,
    /// Messages per second; 0 = as fast as Redis takes them.
    pub rate: f64,
    pub total: u64,
}

#[derive(Debug, Default)]
pub struct Published {
    pub published: u64,
    /// Sum of PUBLISH replies: subscribers reached.
    pub receivers: i64,
    pub elapsed: Duration,
    pub error: Option<String>,
}

impl Published {
    /// Subscribers each message reached, on average (1 per server instance subscribed).
    pub fn receivers_avg(&self) -> Option<f64> {
        (self.published > 0).then(|| self.receivers as f64 / self.published as f64)
    }
}

const MAX_BATCH: u64 = 512;

pub fn publish(plan: &Plan, payload: &mut dyn Payload) -> Published {
    let mut out = Published::default();
    let mut con =
        match redis::Client::open(plan.redis_url.as_str()).and_then(|c| c.get_connection()) {
            Ok(c) => c,
            Err(e) => {
                out.error = Some(format!("redis connect: {e}"));
                return out;
            }
        };
    let mut pipe = redis::pipe();
    let mut buf = Vec::with_capacity(512);
    let start = Instant::now();
    while out.published < plan.total {
        let due = if plan.rate > 0.0 {
            let elapsed = start.elapsed().as_secs_f64();
            (((elapsed * plan.rate).floor() as u64) + 1).min(plan.total)
        } else {
            plan.total
        };
        if due <= out.published {
            let next = start + Duration::from_secs_f64(out.published as f64 / plan.rate);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            continue;
        }
        let n = (due - out.published).min(MAX_BATCH);
        pipe.clear();
        for k in 0..n {
            let sent = now_ns();
            crate::record::note_published(sent);
            payload.build(out.published + k, sent, &mut buf);
            pipe.cmd("PUBLISH").arg(&plan.channel).arg(&buf[..]);
        }
        match pipe.query::<Vec<i64>>(&mut con) {
            Ok(v) => {
                out.published += v.len() as u64;
                out.receivers += v.iter().sum::<i64>();
            }
            Err(e) => {
                out.error = Some(format!("publish: {e}"));
                break;
            }
        }
    }
    out.elapsed = start.elapsed();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(p: &mut dyn Payload) -> serde_json::Value {
        let mut out = Vec::new();
        p.build(7, 123_456_789, &mut out);
        assert!((190..=210).contains(&out.len()), "{} bytes", out.len());
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn payloads_are_json_of_the_asked_size_with_the_timestamp() {
        let v = json(&mut PriceUpdate {
            symbol: "BENCH".into(),
            bytes: 200,
        });
        assert_eq!(
            (v["symbol"].as_str(), v["volume"].as_u64()),
            (Some("BENCH"), Some(123_456_789))
        );
        let v = json(&mut UserAlert {
            users: 5,
            bytes: 200,
        });
        assert_eq!(v["user_id"], "u2");
        assert_eq!(v["alert"]["description"], "sent_ns:123456789");
        let v = json(&mut BacktestProgress {
            users: 5,
            bytes: 200,
        });
        assert_eq!(
            (v["job_id"].as_str(), v["processed_symbols"].as_u64()),
            (Some("job-u2"), Some(123_456_789))
        );
        let v = json(&mut PeerPrice { bytes: 200 });
        assert_eq!(v["sent_ns"], 123_456_789);
    }
}
