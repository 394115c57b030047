//! Counters every stage writes to and `/stats` and `/metrics` read from, and the health probe's
//! findings, which the System handler writes and `/health` reads.

pub mod health;
pub mod histogram;
pub mod metrics;
pub mod stats;

pub use stats::{ChannelId, Stats};
