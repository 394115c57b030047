//! Backtest: progress and results first update the job record `tickstock:jobs:{job_id}`
//! (queued -> running -> completed / failed / cancelled), then go to the job owner's user stream
//! only. The owner comes from the record; an event for a job without a record has no audience
//! and is a counted drop, never a broadcast.
//!
//! Every event for a known job is delivered, even one the record ignores (a report that arrives
//! after the job finished): the owner sees what the backtester said, and the record, which only
//! ever moves forward, is the job's state.

use std::collections::HashMap;
use std::convert::Infallible;

use crate::redis_client::Commands;
use actix::prelude::*;
use log::warn;

use super::{Flush, Input, Outlet, HANDLER_QUEUE};
use crate::domain::audience;
use crate::domain::drop::DropReason;
use crate::domain::event::{BacktestProgress, BacktestResult, EpochMillis};
use crate::domain::ids::{JobId, UserId};
use crate::domain::publication::Publication;
use crate::pipeline::job_store::{JobStore, StoreError, Update};
use crate::telemetry::events::EventDropped;

/// Owners are immutable, so they are cached: when the record cannot be read for a moment (a
/// Redis blip), a known job's events still reach its owner. The cap only bounds memory.
const OWNER_CACHE_MAX: usize = 10_000;

#[derive(Debug, PartialEq)]
pub enum BacktestInput {
    Progress(BacktestProgress),
    Result(BacktestResult),
}

impl BacktestInput {
    fn job_id(&self) -> &JobId {
        match self {
            BacktestInput::Progress(p) => &p.job_id,
            BacktestInput::Result(r) => &r.job_id,
        }
    }
}

/// What updating the job record said.
pub type RecordOutcome = Result<Update<Infallible>, StoreError>;

/// The logic: who owns the job, from the record or the cache of known owners.
#[derive(Default)]
pub struct BacktestLogic {
    owners: HashMap<JobId, UserId>,
}

impl BacktestLogic {
    pub fn on_event(
        &mut self,
        item: &BacktestInput,
        record: RecordOutcome,
    ) -> Result<Publication, DropReason> {
        let job = item.job_id();
        let owner = match record {
            Ok(Update::Saved(record) | Update::Unchanged(record)) => record.user_id,
            Ok(Update::Refused(never)) => match never {},
            Ok(Update::NotFound) => self.cached(job, DropReason::UnknownJob)?,
            Err(StoreError::Unreadable {
                why,
                owner: Some(owner),
            }) => {
                // A record another tool wrote: deliver, but leave it as it is.
                if !self.owners.contains_key(job) {
                    warn!("Job {job}: not updating its record ({why}); delivering to its owner.");
                }
                owner
            }
            Err(error) => {
                warn!("Cannot update the record of job {job}: {error}.");
                self.cached(job, DropReason::JobLookupFailed)?
            }
        };
        let publication = match item {
            BacktestInput::Progress(p) => audience::backtest_progress(&owner, p),
            BacktestInput::Result(r) => audience::backtest_result(&owner, r),
        };
        self.remember(job.clone(), owner);
        Ok(publication)
    }

    fn cached(&self, job: &JobId, otherwise: DropReason) -> Result<UserId, DropReason> {
        self.owners.get(job).cloned().ok_or(otherwise)
    }

    fn remember(&mut self, job: JobId, owner: UserId) {
        if self.owners.len() >= OWNER_CACHE_MAX && !self.owners.contains_key(&job) {
            self.owners.clear();
        }
        self.owners.insert(job, owner);
    }
}

pub struct Backtest {
    logic: BacktestLogic,
    store: JobStore,
    outlet: Outlet,
}

impl Backtest {
    pub fn new(redis: Commands, outlet: Outlet) -> Self {
        Backtest {
            logic: BacktestLogic::default(),
            store: JobStore::new(redis),
            outlet,
        }
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
        let store = self.store.clone();
        let update = async move {
            let job = msg.item.job_id().clone();
            let outcome = store
                .update(&job, |record| {
                    let now = EpochMillis::now().0;
                    Ok(match &msg.item {
                        BacktestInput::Progress(p) => record.apply_progress(p, now),
                        BacktestInput::Result(r) => record.apply_result(r, now),
                    })
                })
                .await;
            (msg, outcome)
        };
        AtomicResponse::new(Box::pin(update.into_actor(self).map(
            |(msg, outcome), act, _| match act.logic.on_event(&msg.item, outcome) {
                Ok(publication) => act.outlet.send(publication, msg.origin()),
                Err(reason) => act.outlet.stats().emit(EventDropped {
                    channel: Some(msg.channel),
                    reason,
                }),
            },
        )))
    }
}

/// Nothing is held back here; handled so every handler answers the same shutdown message.
impl Handler<Flush> for Backtest {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Self::Context) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::backtest::JobRecord;
    use crate::domain::stream::Stream;

    fn progress(job: &str) -> BacktestInput {
        BacktestInput::Progress(BacktestProgress {
            job_id: JobId::new(job).unwrap(),
            progress: 0.5,
            status: "processing".into(),
            timestamp: EpochMillis(0),
            current_symbol: None,
            processed_symbols: None,
            estimated_completion: None,
        })
    }

    fn record(job: &str, owner: &str) -> JobRecord {
        let json = serde_json::json!({"job_id": job, "user_id": owner, "status": "running"});
        serde_json::from_value(json).unwrap()
    }

    fn user(id: &str) -> Stream {
        Stream::User(UserId::new(id).unwrap())
    }

    #[test]
    fn events_go_to_the_owner_named_by_the_record() {
        let mut logic = BacktestLogic::default();
        let saved = Ok(Update::Saved(record("j1", "7")));
        let publication = logic.on_event(&progress("j1"), saved).unwrap();
        assert_eq!(publication.stream, user("7"));
        assert!(publication.targeted);
        assert!(publication
            .frame
            .0
            .starts_with(r#"{"event":"backtest_progress""#));
    }

    #[test]
    fn a_job_without_a_record_is_a_drop_never_a_broadcast() {
        let mut logic = BacktestLogic::default();
        assert_eq!(
            logic.on_event(&progress("nobody"), Ok(Update::NotFound)),
            Err(DropReason::UnknownJob)
        );
        let failed = Err(StoreError::Contended);
        assert_eq!(
            logic.on_event(&progress("nobody"), failed),
            Err(DropReason::JobLookupFailed)
        );
    }

    #[test]
    fn a_known_owner_is_used_while_the_record_cannot_be_read() {
        let mut logic = BacktestLogic::default();
        logic
            .on_event(&progress("j1"), Ok(Update::Unchanged(record("j1", "7"))))
            .unwrap();
        let blip = logic.on_event(&progress("j1"), Err(StoreError::Contended));
        assert_eq!(blip.unwrap().stream, user("7"));
        let unreadable = Err(StoreError::Unreadable {
            why: "not a job record".into(),
            owner: Some(UserId::new("9").unwrap()),
        });
        assert_eq!(
            logic.on_event(&progress("j2"), unreadable).unwrap().stream,
            user("9")
        );
    }
}
