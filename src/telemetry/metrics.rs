//! `/metrics`: the counters in `Stats`, exposed in the Prometheus/OpenMetrics text format with
//! prometheus-client: the scalars by walking `table::SCALARS`, the labelled families and
//! histograms by hand under the names `table` gives them. Values are read at scrape time, so
//! the hot path only ever touches the atomics in `Stats`. Labels are low-cardinality: channel names (fixed by config), drop and
//! refusal reasons, never session ids or symbols.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use strum::VariantArray;

use super::histogram::Histogram;
use super::process::ProcessCollector;
use super::table::{
    Family, Kind, ALERTS_REFUSED, BATCH_SIZE_ITEMS, CACHE_LOOKUPS, CHANNEL_MESSAGES_RECEIVED,
    EVENTS_DROPPED, EVENTS_FILTERED, PROCESSING_SECONDS, SCALARS, STREAMING_FLUSHES,
    STREAMING_ITEMS, STREAM_ACKNOWLEDGED, STREAM_ENTRIES,
};
use super::Stats;
use crate::domain::drop::{DropReason, Family as DropFamily};

/// The registry behind `/metrics`, holding one collector over the shared `Stats`.
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub fn new(stats: Arc<Stats>) -> Self {
        let mut registry = Registry::default();
        let own = registry.sub_registry_with_prefix("tickrouter");
        own.register_collector(Box::new(StatsCollector(stats)));
        own.register_collector(Box::new(BuildInfo));
        registry.register_collector(Box::new(ProcessCollector));
        Metrics { registry }
    }

    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// `tickrouter_build_info{version="..."} 1`, so dashboards can tell versions apart.
#[derive(Debug)]
struct BuildInfo;

impl Collector for BuildInfo {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let mut metric = e.encode_descriptor(
            "build_info",
            "The running build: 1, labelled with its version.",
            None,
            MetricType::Gauge,
        )?;
        let labels = [("version", env!("CARGO_PKG_VERSION"))];
        ConstGauge::new(1).encode(metric.encode_family(&labels)?)
    }
}

struct StatsCollector(Arc<Stats>);

impl fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatsCollector")
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    let metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// The descriptor of a hand-written family, for its samples to be encoded into.
fn family<'a>(
    e: &'a mut DescriptorEncoder,
    f: &Family,
    kind: MetricType,
) -> Result<MetricEncoder<'a>, fmt::Error> {
    e.encode_descriptor(f.metric, f.help, None, kind)
}

fn histogram(e: &mut DescriptorEncoder, f: &Family, h: &Histogram) -> fmt::Result {
    let mut metric = family(e, f, MetricType::Histogram)?;
    let (sum, count, buckets) = h.snapshot();
    metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
}

impl Collector for StatsCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let s = &*self.0;
        for row in SCALARS {
            let value = s.get(row.scalar);
            match row.kind {
                Kind::Counter => counter(&mut e, row.metric, row.help, value)?,
                Kind::Gauge | Kind::Flag => gauge(&mut e, row.metric, row.help, value as i64)?,
            }
        }

        let mut backlog = family(&mut e, &STREAM_ENTRIES, MetricType::Gauge)?;
        for (stream, [pending, undelivered, _]) in s.stream_rows() {
            for (state, n) in [("pending", pending), ("undelivered", undelivered)] {
                let labels = [("stream", stream), ("state", state)];
                ConstGauge::new(n as i64).encode(backlog.encode_family(&labels)?)?;
            }
        }
        let mut acknowledged = family(&mut e, &STREAM_ACKNOWLEDGED, MetricType::Counter)?;
        for (stream, [.., n]) in s.stream_rows() {
            ConstCounter::new(n).encode(acknowledged.encode_family(&[("stream", stream)])?)?;
        }
        let mut received = family(&mut e, &CHANNEL_MESSAGES_RECEIVED, MetricType::Counter)?;
        for (channel, n, _) in s.channel_rows().filter(|(name, ..)| *name != "(none)") {
            ConstCounter::new(n).encode(received.encode_family(&[("channel", channel)])?)?;
        }
        for (name, of) in [
            (&EVENTS_DROPPED, DropFamily::Dropped),
            (&EVENTS_FILTERED, DropFamily::Filtered),
        ] {
            let mut metric = family(&mut e, name, MetricType::Counter)?;
            for (channel, _, drops) in s.channel_rows() {
                let reasons = DropReason::VARIANTS.iter().zip(drops);
                for (reason, n) in reasons.filter(|(r, n)| r.family() == of && *n > 0) {
                    let labels = [("reason", reason.as_str()), ("channel", channel)];
                    ConstCounter::new(n).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        let mut refused = family(&mut e, &ALERTS_REFUSED, MetricType::Counter)?;
        for (reason, n) in s.refusals() {
            ConstCounter::new(n).encode(refused.encode_family(&[("reason", reason.as_str())])?)?;
        }
        let buffer = s.streaming_buffer.values();
        let mut buffered = family(&mut e, &STREAMING_ITEMS, MetricType::Counter)?;
        for (outcome, n) in [
            ("buffered", buffer.buffered),
            ("deduplicated", buffer.deduplicated),
            ("flushed", buffer.flushed),
        ] {
            ConstCounter::new(n).encode(buffered.encode_family(&[("outcome", outcome)])?)?;
        }
        let flushes = family(&mut e, &STREAMING_FLUSHES, MetricType::Counter)?;
        ConstCounter::new(buffer.flush_cycles).encode(flushes)?;
        let mut cache = family(&mut e, &CACHE_LOOKUPS, MetricType::Counter)?;
        for (name, c) in [
            ("watchlist", s.watchlist_cache.values()),
            ("alert_rules", s.alert_rules_cache.values()),
        ] {
            for (result, n) in [("hit", c.hits), ("miss", c.misses)] {
                ConstCounter::new(n)
                    .encode(cache.encode_family(&[("cache", name), ("result", result)])?)?;
            }
        }
        histogram(&mut e, &PROCESSING_SECONDS, &s.processing_seconds)?;
        histogram(&mut e, &BATCH_SIZE_ITEMS, &s.batch_sizes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{ChannelId, Scalar};

    #[test]
    fn renders_counters_labels_and_histograms() {
        let stats = Arc::new(Stats::new(vec!["tickstock.market.prices".into()]));
        stats.add(Scalar::MessagesReceived, 3);
        stats.record_drop(Some(ChannelId(0)), DropReason::InvalidJson);
        stats.processing_seconds.observe(0.002);
        let text = Metrics::new(stats).render().unwrap();
        assert!(
            text.contains("tickrouter_messages_received_total 3"),
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
        assert!(text.contains("tickrouter_build_info{version="), "{text}");
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    }

    /// Walks the table: each row, given its own value, shows it at its path in `/stats` and
    /// under its name and type in `/metrics`.
    #[test]
    fn every_table_row_is_in_stats_and_metrics() {
        let stats = Arc::new(Stats::new(vec![]));
        let value = |i: usize, kind: Kind| if kind == Kind::Flag { 1 } else { 10 + i as u64 };
        for (i, row) in SCALARS.iter().enumerate() {
            stats.set(row.scalar, value(i, row.kind));
        }
        let snapshot = stats.snapshot();
        let text = Metrics::new(stats).render().unwrap();
        for (i, row) in SCALARS.iter().enumerate() {
            let n = value(i, row.kind);
            let at = row.path.split('.').fold(&snapshot, |v, key| &v[key]);
            let expected = match row.kind {
                Kind::Flag => serde_json::json!(true),
                _ => serde_json::json!(n),
            };
            assert_eq!(*at, expected, "/stats {}", row.path);
            let (kind, sample) = match row.kind {
                Kind::Counter => ("counter", format!("tickrouter_{}_total {n}\n", row.metric)),
                _ => ("gauge", format!("tickrouter_{} {n}\n", row.metric)),
            };
            let descriptor = format!("# TYPE tickrouter_{} {kind}\n", row.metric);
            assert!(text.contains(&descriptor), "{descriptor}in\n{text}");
            assert!(text.contains(&sample), "{sample}in\n{text}");
        }
    }
}
