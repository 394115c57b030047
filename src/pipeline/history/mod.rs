//! The recoverable streams' history in Redis: the `Recorder` stage between the handlers and the
//! registry, which gives each publication its offset, and the `HistoryStore` that sessions read
//! for resumes and offline queues (`domain::history` decides what those get).

mod recorder;
mod store;

pub use recorder::{Drain, Record, Recorder, RECORDER_QUEUE};
pub use store::{Append, HistoryConfig, HistoryStore, Read, ReadFrom, Window, Written};
