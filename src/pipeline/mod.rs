//! The actor pipeline, one module per stage, in flow order:
//!
//! ```text
//! Redis ─► redis_reader ─► router ─► handlers::{Streaming, Users, Market, Backtest, SystemEvents}
//!                                          │ publications (domain::audience)
//!                                          ├──────────────► history::Recorder (recoverable
//!                                          │                streams: offset from Redis)
//!                                          ▼                     │
//!                                      registry (streams -> sessions, domain::fanout) ─► session × N
//! ```
//!
//! Sessions tell the registry what they follow and the Users handler who their user is; nothing
//! flows back up from the registry. docs/ARCHITECTURE.md walks one event through it.
//!
//! Adding an event kind (today this touches seven files; see docs/ARCHITECTURE.md):
//! 1. `domain::redis_names` (its channel) and `domain::kind` (the kind, its default channel);
//! 2. `domain::event` (its payload struct and `Event` variant) and `domain::normalise` (its
//!    builder, and its row in `normalise::family`);
//! 3. `domain::outbound` (its event name) and `domain::audience` (who receives it);
//! 4. `router::routes` and the owning handler's input enum (`handlers::*Input`), whose arm calls
//!    that audience function. The compiler points at each match left incomplete.

pub mod handlers;
pub mod history;
pub mod job_store;
pub mod redis_reader;
pub mod registry;
pub mod router;
pub mod session;
pub mod snapshot_store;
