//! Telemetry: the internal events every stage emits (`events`), the counters they write
//! (`stats`, private to this module), and the one table (`table`) that names each counter in
//! `/stats` and `/metrics` (`metrics`).

pub mod events;
pub mod histogram;
pub mod metrics;
mod mirrored;
pub mod stats;
pub mod table;

pub use stats::{ChannelId, Stats};
pub use table::Scalar;
