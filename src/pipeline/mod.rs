//! The actor pipeline, one module per stage, in flow order:
//!
//! ```text
//! Redis ─► redis_reader ─► router ─► handlers::{PatternAlerts, MarketData, Backtest, System}
//!                                          └─► registry (rooms, fan-out) ─► session × N
//! ```

pub mod handlers;
pub mod job_store;
pub mod redis_reader;
pub mod registry;
pub mod router;
pub mod session;
