//! Telemetry: the internal events every stage emits (`events`), the counters they write
//! (`stats`, private to this module), the one table (`table`) that names each counter in
//! `/stats` and `/metrics` (`metrics`), and the health probe's findings (`health`), which the
//! SystemEvents handler writes and `/health` reads; `process` adds the process's own figures
//! to `/metrics`.

pub mod events;
pub mod health;
pub mod histogram;
pub mod metrics;
mod mirrored;
pub mod process;
pub mod stats;
pub mod table;

pub use stats::{ChannelId, Stats};
pub use table::Scalar;
