//! Backtest: progress and results first update the job record `tickstock:jobs:{job_id}`
//! (queued -> running -> completed / failed / cancelled, seed-spec §g1), then go to the job
//! owner's `user:{id}` room only. The owner comes from the record; an event for a job without a
//! record has no audience and is a counted drop, never a broadcast.
//!
//! Every event for a known job is delivered, even one the record ignores (a report that arrives
//! after the job finished): the owner sees what the backtester said, and the record, which only
//! ever moves forward, is the job's state.

use std::collections::HashMap;

use actix::prelude::*;
use log::warn;
use redis::aio::ConnectionManager;

use super::{Audience, Input, Publisher, HANDLER_QUEUE};
use crate::domain::drop::DropReason;
use crate::domain::event::EpochMillis;
use crate::domain::ids::{JobId, UserId};
use crate::domain::outbound::EventName;
use crate::domain::rooms::Room;
use crate::pipeline::job_store::{JobStore, StoreError, Update};
use crate::pipeline::router::BacktestInput;

/// Owners are immutable, so they are cached: when the record cannot be read for a moment (a
/// Redis blip), a known job's events still reach its owner. The cap only bounds memory.
const OWNER_CACHE_MAX: usize = 10_000;

pub struct Backtest {
    publisher: Publisher,
    store: JobStore,
    owners: HashMap<JobId, UserId>,
}

impl Backtest {
    pub fn new(publisher: Publisher, redis: ConnectionManager) -> Self {
        Backtest {
            publisher,
            store: JobStore::new(redis),
            owners: HashMap::new(),
        }
    }

    fn deliver(&self, owner: &UserId, input: &Input<BacktestInput>) {
        let audience =
            Audience::targeted(Room::User(owner.clone()), input.channel).since(input.received_at);
        match &input.item {
            BacktestInput::Progress(p) => {
                self.publisher
                    .publish(audience, EventName::BacktestProgress, p)
            }
            BacktestInput::Result(r) => {
                self.publisher
                    .publish(audience, EventName::BacktestResult, r)
            }
        }
    }

    fn remember(&mut self, job: JobId, owner: UserId) {
        if self.owners.len() >= OWNER_CACHE_MAX {
            self.owners.clear();
        }
        self.owners.insert(job, owner);
    }

    /// Delivers to the cached owner, or counts the drop.
    fn deliver_cached_or_drop(&self, job: &JobId, msg: &Input<BacktestInput>, reason: DropReason) {
        match self.owners.get(job) {
            Some(owner) => self.deliver(owner, msg),
            None => self
                .publisher
                .stats()
                .record_drop(Some(msg.channel), reason),
        }
    }

    fn finish(
        &mut self,
        job: JobId,
        msg: Input<BacktestInput>,
        outcome: Result<Update<std::convert::Infallible>, StoreError>,
    ) {
        match outcome {
            Ok(Update::Saved(record) | Update::Unchanged(record)) => {
                self.deliver(&record.user_id, &msg);
                self.remember(job, record.user_id);
            }
            Ok(Update::Refused(never)) => match never {},
            Ok(Update::NotFound) => self.deliver_cached_or_drop(&job, &msg, DropReason::UnknownJob),
            Err(StoreError::Unreadable {
                why,
                owner: Some(owner),
            }) => {
                // A record another tool wrote: deliver, but leave it as it is.
                if !self.owners.contains_key(&job) {
                    warn!("Job {job}: not updating its record ({why}); delivering to its owner.");
                }
                self.deliver(&owner, &msg);
                self.remember(job, owner);
            }
            Err(error) => {
                warn!("Cannot update the record of job {job}: {error}.");
                self.deliver_cached_or_drop(&job, &msg, DropReason::JobLookupFailed);
            }
        }
    }
}

fn job_id(item: &BacktestInput) -> &JobId {
    match item {
        BacktestInput::Progress(p) => &p.job_id,
        BacktestInput::Result(r) => &r.job_id,
    }
}

impl Actor for Backtest {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
    }
}

impl Handler<Input<BacktestInput>> for Backtest {
    /// Atomic: events are handled one at a time, so a job's progress and result update its
    /// record and reach the owner in the order they arrived.
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: Input<BacktestInput>, _: &mut Self::Context) -> Self::Result {
        let job = job_id(&msg.item).clone();
        let store = self.store.clone();
        let update = async move {
            let outcome = store
                .update(&job, |record| {
                    let now = EpochMillis::now().0;
                    Ok(match &msg.item {
                        BacktestInput::Progress(p) => record.apply_progress(p, now),
                        BacktestInput::Result(r) => record.apply_result(r, now),
                    })
                })
                .await;
            (job, msg, outcome)
        };
        AtomicResponse::new(Box::pin(
            update
                .into_actor(self)
                .map(|(job, msg, outcome), act, _| act.finish(job, msg, outcome)),
        ))
    }
}
