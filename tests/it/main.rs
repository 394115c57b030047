//! Integration tests: tickrouter in-process against a real redis-server, real WebSocket clients.

mod backtests;
mod check;
mod fixtures;
mod frames;
mod observability;
mod pipeline;
mod preferences;
mod protocol;
mod resilience;
mod user_filters;
mod util;
