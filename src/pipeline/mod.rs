//! The actor pipeline, one module per stage, in flow order:
//!
//! ```text
//! Redis ─► redis_reader ─► router ─► handlers::{Streaming, Users, Market, Backtest, SystemEvents}
//!                                          │ publications (domain::audience)
//!                                          ▼
//!                                      registry (streams -> sessions, domain::fanout) ─► session × N
//! ```
//!
//! Sessions tell the registry what they follow and the Users handler who their user is; nothing
//! flows back up from the registry. docs/ARCHITECTURE.md walks one event through it.
//!
//! Adding an event kind:
//! 1. `domain::kind` (the kind and its channel) and `domain::event` (its payload struct and
//!    `Event` variant), with its normaliser in `domain::normalise`;
//! 2. `domain::audience`: the function that says who receives it;
//! 3. `router::routes` and the owning handler's input enum (`handlers::*Input`), whose arm calls
//!    that audience function.

pub mod handlers;
pub mod job_store;
pub mod redis_reader;
pub mod registry;
pub mod router;
pub mod session;
