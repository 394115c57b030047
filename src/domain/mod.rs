//! Pure domain types and logic: no actix, no I/O. Everything here is unit-tested directly.

pub mod alert_rules;
pub mod backtest;
pub mod drop;
pub mod event;
pub mod filter;
pub mod identity;
pub mod ids;
pub mod kind;
pub mod monitor;
pub mod normalise;
pub mod outbound;
pub mod protocol;
pub mod redis_names;
pub mod replies;
pub mod rooms;
pub mod session_state;
pub mod streaming_buffer;
pub mod user_cache;
