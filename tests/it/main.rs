//! Integration tests: tickrouter in-process against a real redis-server, real WebSocket clients.

mod access;
mod backtests;
mod check;
mod cluster;
mod deploy;
mod docker;
mod fixtures;
mod frames;
mod history;
mod identity;
mod instances;
mod observability;
mod pipeline;
mod preferences;
mod protocol;
mod resilience;
mod snapshots;
mod socketio;
mod tls;
mod user_filters;
mod util;
