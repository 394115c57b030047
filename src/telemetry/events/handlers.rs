//! The handlers' events: what their buffers, conflation windows, caches and alert rules did.

use log::{error, info, warn};

use super::InternalEvent;
use crate::domain::alert_rules::Refusal;
use crate::domain::event::{ErrorReport, MonitoringEvent};
use crate::domain::streaming_buffer::BufferCounters;
use crate::domain::user_cache::CacheCounters;
use crate::telemetry::{Scalar, Stats};

/// A producer reported an error (`tickstock:errors`): logged at its severity, so it is seen even
/// when no admin is connected.
pub struct ProducerErrorReported<'a>(pub &'a ErrorReport);

impl InternalEvent for ProducerErrorReported<'_> {
    fn emit(self, _: &Stats) {
        let e = self.0;
        let line = format!(
            "Producer error {} from {} ({}): {}",
            e.error_id, e.source, e.severity, e.message
        );
        match e.severity.to_ascii_lowercase().as_str() {
            "critical" | "error" | "fatal" => error!("{line}"),
            "warning" | "warn" => warn!("{line}"),
            _ => info!("{line}"),
        }
    }
}

/// A producer's monitoring report (`tickstock:monitoring`), logged for the record.
pub struct MonitoringReported<'a>(pub &'a MonitoringEvent);

impl InternalEvent for MonitoringReported<'_> {
    fn emit(self, _: &Stats) {
        info!("Monitoring report {}.", self.0.event_type);
    }
}

/// A streaming batch of `items` left the buffer.
pub struct StreamingBatchSent {
    pub items: usize,
}

impl InternalEvent for StreamingBatchSent {
    fn emit(self, stats: &Stats) {
        stats.batch_sizes.observe(self.items as f64);
    }
}

/// The streaming buffers' totals, as the Streaming handler keeps them.
pub struct StreamingBufferChanged(pub BufferCounters);

impl InternalEvent for StreamingBufferChanged {
    fn emit(self, stats: &Stats) {
        stats.streaming_buffer.store(self.0);
    }
}

/// The Market handler's count of price updates replaced within the conflation window so far.
pub struct PricesConflated {
    pub total: u64,
}

impl InternalEvent for PricesConflated {
    fn emit(self, stats: &Stats) {
        stats.set(Scalar::PricesConflated, self.total);
    }
}

/// The per-user caches' totals, as the Users handler keeps them.
pub struct UserCachesChanged {
    pub watchlist: CacheCounters,
    pub alert_rules: CacheCounters,
}

impl InternalEvent for UserCachesChanged {
    fn emit(self, stats: &Stats) {
        stats.watchlist_cache.store(self.watchlist);
        stats.alert_rules_cache.store(self.alert_rules);
    }
}

/// A user's alert rules passed or refused a pattern alert.
pub struct AlertFiltered(pub Result<(), Refusal>);

impl InternalEvent for AlertFiltered {
    fn emit(self, stats: &Stats) {
        match self.0 {
            Ok(()) => stats.add(Scalar::AlertsPassed, 1),
            Err(refusal) => stats.record_refusal(refusal),
        }
    }
}
