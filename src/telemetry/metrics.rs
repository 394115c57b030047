//! `/metrics`: the counters in `Stats`, exposed in the Prometheus/OpenMetrics text format with
//! prometheus-client. Values are read at scrape time, so the hot path only ever touches the
//! atomics in `Stats`. Labels are low-cardinality: channel names (fixed by config), drop and
//! refusal reasons, never session ids or symbols.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use strum::VariantArray;

use super::histogram::Histogram;
use super::Stats;
use crate::domain::drop::DropReason;

/// The registry behind `/metrics`, holding one collector over the shared `Stats`.
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub fn new(stats: Arc<Stats>) -> Self {
        let mut registry = Registry::with_prefix("tickrouter");
        registry.register_collector(Box::new(StatsCollector(stats)));
        Metrics { registry }
    }

    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

struct StatsCollector(Arc<Stats>);

impl fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatsCollector")
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: &AtomicU64) -> fmt::Result {
    let metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value.load(Relaxed)).encode(metric)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    let metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    let (sum, count, buckets) = h.snapshot();
    metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
}

impl Collector for StatsCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let s = &*self.0;
        counter(
            &mut e,
            "received_messages",
            "Messages read from Redis.",
            &s.received,
        )?;
        counter(
            &mut e,
            "parsed_events",
            "Events produced by the normaliser.",
            &s.parsed,
        )?;
        counter(
            &mut e,
            "routed_events",
            "Events handed to a handler.",
            &s.routed,
        )?;
        counter(
            &mut e,
            "published_frames",
            "Encoded frames handed to the registry.",
            &s.published,
        )?;
        counter(
            &mut e,
            "delivered_frames",
            "Frames queued to sessions.",
            &s.delivered,
        )?;
        counter(
            &mut e,
            "shed_frames",
            "Frames not queued: the session's queue was full.",
            &s.frames_shed,
        )?;
        counter(
            &mut e,
            "slow_consumer_closes",
            "Sessions cut off as slow consumers.",
            &s.slow_consumer_closes,
        )?;
        counter(
            &mut e,
            "client_errors",
            "Client frames answered with an error.",
            &s.client_errors,
        )?;
        counter(&mut e, "sessions", "Sessions opened.", &s.sessions_total)?;
        counter(
            &mut e,
            "refused_sessions",
            "Connections refused at the session limit.",
            &s.sessions_refused,
        )?;
        counter(
            &mut e,
            "redis_connects",
            "Redis subscriber connections established.",
            &s.redis_connects,
        )?;
        counter(
            &mut e,
            "redis_connection_errors",
            "Redis subscriber connection failures.",
            &s.redis_connection_errors,
        )?;
        counter(
            &mut e,
            "conflated_prices",
            "Price updates replaced within the conflation window.",
            &s.prices_conflated,
        )?;
        counter(
            &mut e,
            "alerts_passed",
            "Pattern alerts accepted by a user's rules.",
            &s.alert_rules.passed,
        )?;
        gauge(
            &mut e,
            "active_sessions",
            "Connected sessions.",
            s.sessions_active.load(Relaxed) as i64,
        )?;
        gauge(
            &mut e,
            "rooms",
            "Rooms with at least one member.",
            s.rooms.load(Relaxed) as i64,
        )?;
        gauge(
            &mut e,
            "redis_connected",
            "1 while the Redis subscription is up.",
            i64::from(s.redis_connected.load(Relaxed)),
        )?;

        let mut received = e.encode_descriptor(
            "channel_received_messages",
            "Messages read per channel.",
            None,
            MetricType::Counter,
        )?;
        for (channel, n, _) in s.channel_rows().filter(|(name, ..)| *name != "(none)") {
            ConstCounter::new(n).encode(received.encode_family(&[("channel", channel)])?)?;
        }
        let mut dropped = e.encode_descriptor(
            "dropped_events",
            "Messages or items dropped, by reason and channel.",
            None,
            MetricType::Counter,
        )?;
        for (channel, _, drops) in s.channel_rows() {
            for (reason, n) in DropReason::VARIANTS
                .iter()
                .zip(drops)
                .filter(|(_, n)| *n > 0)
            {
                let labels = [("reason", reason.as_str()), ("channel", channel)];
                ConstCounter::new(n).encode(dropped.encode_family(&labels)?)?;
            }
        }
        let mut refused = e.encode_descriptor(
            "alerts_refused",
            "Pattern alerts refused by a user's rules.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in s.alert_rules.refused() {
            ConstCounter::new(n).encode(refused.encode_family(&[("reason", reason.as_str())])?)?;
        }
        let buffer = s.streaming_buffer.values();
        let mut buffered = e.encode_descriptor(
            "streaming_items",
            "Streaming buffer items, by outcome.",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in [
            ("buffered", buffer.buffered),
            ("deduplicated", buffer.deduplicated),
            ("flushed", buffer.flushed),
        ] {
            ConstCounter::new(n).encode(buffered.encode_family(&[("outcome", outcome)])?)?;
        }
        let flushes = e.encode_descriptor(
            "streaming_flushes",
            "Streaming batches sent.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(buffer.flush_cycles).encode(flushes)?;
        let mut cache = e.encode_descriptor(
            "cache_lookups",
            "Per-user cache lookups, by cache and result.",
            None,
            MetricType::Counter,
        )?;
        for (name, c) in [
            ("watchlist", s.watchlist_cache.values()),
            ("alert_rules", s.alert_rules_cache.values()),
        ] {
            for (result, n) in [("hit", c.hits), ("miss", c.misses)] {
                ConstCounter::new(n)
                    .encode(cache.encode_family(&[("cache", name), ("result", result)])?)?;
            }
        }
        histogram(
            &mut e,
            "processing_seconds",
            "From reading a message off Redis to queueing its frame to sessions.",
            &s.processing_seconds,
        )?;
        histogram(
            &mut e,
            "batch_size_items",
            "Items per streaming batch.",
            &s.batch_sizes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_histograms() {
        let stats = Arc::new(Stats::new(vec!["tickstock.market.prices".into()]));
        stats.received.fetch_add(3, Relaxed);
        stats.record_drop(
            Some(crate::telemetry::ChannelId(0)),
            DropReason::InvalidJson,
        );
        stats.processing_seconds.observe(0.002);
        let text = Metrics::new(stats).render().unwrap();
        assert!(
            text.contains("tickrouter_received_messages_total 3"),
            "{text}"
        );
        assert!(
            text.contains(r#"tickrouter_dropped_events_total{reason="invalid_json",channel="tickstock.market.prices"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tickrouter_processing_seconds_bucket{le="0.0025"} 1"#),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
