//! Backtest: progress and results go to the job owner's `user:{id}` room only. The owner comes
//! from the job record `tickstock:jobs:{job_id}`; an event for a job without a record has no
//! audience and is a counted drop, never a broadcast.

use std::collections::HashMap;

use actix::prelude::*;
use log::warn;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use serde::Deserialize;
use serde_json::Value;

use super::{Audience, Input, Publisher, HANDLER_QUEUE};
use crate::domain::drop::DropReason;
use crate::domain::ids::{JobId, UserId};
use crate::domain::outbound::EventName;
use crate::domain::rooms::Room;
use crate::pipeline::router::BacktestInput;

/// Owners are immutable, so they are cached; the cap only bounds memory on a long run.
const OWNER_CACHE_MAX: usize = 10_000;

pub fn job_key(job: &JobId) -> String {
    format!("tickstock:jobs:{job}")
}

#[derive(Deserialize)]
struct JobRecord {
    user_id: Value,
}

/// Why no owner could be found for a job.
#[derive(Debug)]
enum OwnerError {
    NoRecord,
    Unreadable(String),
}

pub struct Backtest {
    publisher: Publisher,
    redis: ConnectionManager,
    owners: HashMap<JobId, UserId>,
}

impl Backtest {
    pub fn new(publisher: Publisher, redis: ConnectionManager) -> Self {
        Backtest {
            publisher,
            redis,
            owners: HashMap::new(),
        }
    }

    fn deliver(&self, owner: &UserId, input: &Input<BacktestInput>) {
        let audience =
            Audience::targeted(Room::User(owner.clone()), input.channel).since(input.received_at);
        let item = &input.item;
        match item {
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
}

fn job_id(item: &BacktestInput) -> &JobId {
    match item {
        BacktestInput::Progress(p) => &p.job_id,
        BacktestInput::Result(r) => &r.job_id,
    }
}

async fn lookup_owner(mut redis: ConnectionManager, job: JobId) -> Result<UserId, OwnerError> {
    let raw: Result<Option<String>, _> = redis.get(job_key(&job)).await;
    match raw {
        Err(e) => Err(OwnerError::Unreadable(e.to_string())),
        Ok(None) => Err(OwnerError::NoRecord),
        Ok(Some(text)) => serde_json::from_str::<JobRecord>(&text)
            .ok()
            .and_then(|r| match r.user_id {
                Value::String(s) => UserId::new(s),
                Value::Number(n) => UserId::new(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| OwnerError::Unreadable("record is not JSON with a user_id".into())),
    }
}

impl Actor for Backtest {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
    }
}

impl Handler<Input<BacktestInput>> for Backtest {
    /// Atomic: events are handled one at a time, so a job's progress and result keep their order
    /// even when the first one waits for the owner lookup.
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: Input<BacktestInput>, _: &mut Self::Context) -> Self::Result {
        let job = job_id(&msg.item).clone();
        if let Some(owner) = self.owners.get(&job) {
            self.deliver(owner, &msg);
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        let lookup = lookup_owner(self.redis.clone(), job.clone());
        AtomicResponse::new(Box::pin(lookup.into_actor(self).map(
            move |owner, act, _| {
                match owner {
                    Ok(owner) => {
                        act.deliver(&owner, &msg);
                        act.remember(job, owner);
                    }
                    Err(OwnerError::NoRecord) => act
                        .publisher
                        .stats()
                        .record_drop(Some(msg.channel), DropReason::UnknownJob),
                    Err(OwnerError::Unreadable(why)) => {
                        warn!("Cannot read the owner of job {job}: {why}.");
                        act.publisher
                            .stats()
                            .record_drop(Some(msg.channel), DropReason::JobLookupFailed);
                    }
                }
            },
        )))
    }
}
