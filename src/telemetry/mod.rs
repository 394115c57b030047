//! Counters every stage writes to and `/stats` (and later `/metrics`) reads from.

pub mod histogram;
pub mod metrics;
pub mod stats;

pub use stats::{ChannelId, Stats};
