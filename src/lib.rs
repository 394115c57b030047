//! tickrouter: market events from Redis pub/sub to WebSocket clients, normalised once, routed
//! per user.
//!
//! Layout, in the order events flow:
//! - `domain`: pure types and logic (normaliser, events, streams, audiences, fan-out decisions,
//!   filters, buffer, protocol, identity). It imports nothing outside itself;
//!   tests/architecture.rs checks the arrows.
//! - `pipeline`: the actors: `redis_reader` -> `router` -> `handlers` -> `registry` -> `session`.
//! - `http`: `/ws`, `/health`, `/stats`, the dashboard.
//! - `access`: who may reach the server (browser origins, client addresses behind proxies,
//!   sessions per address), applied by `http`.
//! - `app`: the composition root; `config` + `cli`: settings; `auth`: token verification;
//!   `telemetry`: counters and the health probe's findings; `open_files`: the descriptor limit
//!   sized for the sessions.
//! - `demo`: the demo producer behind `tickrouter demo`; `tls`: the listener's certificate.

pub mod access;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod freed_memory;
pub mod healthcheck;
pub mod http;
pub mod logging;
pub mod net;
pub mod open_files;
pub mod pipeline;
pub mod preflight;
pub mod redis_client;
pub mod telemetry;
pub mod tls;
