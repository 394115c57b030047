//! Backtest job records in Redis, in the legacy layout (docs/PRODUCERS.md#job-records): the
//! record `key::job` (JSON, 7 days, refreshed on every save), the owner's index `key::user_jobs`
//! (ZSET job id -> created_at, 30 days) and `key::ACTIVE_JOBS` (ZSET of queued and running jobs).
//!
//! Shared by the HTTP API (submit, list, cancel) and the Backtest handler (progress and
//! results), which can change the same record at the same moment. Every save is one Lua script,
//! atomic as the legacy MULTI pipeline was, that also checks the record is still the one the
//! change was computed from; on a conflict the change is recomputed from the fresh record. So a
//! cancel and a progress report racing each other can never lose the cancel.

use std::time::Duration;

use crate::redis_client::Commands;
use redis::{AsyncCommands, RedisError};
use serde_json::Value;

use crate::domain::backtest::{JobRecord, JOB_TTL_SECS, LIST_LIMIT, USER_JOBS_TTL_SECS};
use crate::domain::ids::{JobId, UserId};
use crate::domain::redis_names::key;

/// KEYS: record, owner's index, active set. ARGV: the record the change was computed from
/// ('' = none may exist yet), the new record, its TTL, the job id, its created_at, the index
/// TTL, '1' when the job is active, and for a new job the owner's quota of active jobs ('' =
/// none). Returns 1 when saved, 0 when the record had changed, -1 when the quota is reached:
/// counting and saving in one step, so a burst of submissions cannot all pass the count.
const SAVE_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
if ARGV[8] ~= '' then
  local active = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('ZSCORE', KEYS[3], id) then active = active + 1 end
  end
  if active >= tonumber(ARGV[8]) then return -1 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
else
  redis.call('ZREM', KEYS[3], ARGV[4])
end
return 1
";

/// The same save in a Redis Cluster, where the record, the owner's index and the active set
/// are in different slots and one script cannot hold them: the record alone is compared and
/// set here (KEYS: record; ARGV: expected, new record, TTL; 1 saved, 0 changed), and the
/// indexes follow (`JobStore::save_in_cluster`).
const SAVE_RECORD_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
";

/// Attempts at a read-change-save before giving up on a record that keeps changing, with a
/// growing, jittered pause between them (about 1.5 s in all), so a cancel finds a gap even in a
/// burst of progress reports for the same job.
const MAX_ATTEMPTS: u32 = 12;
const RETRY_PAUSE_MAX: Duration = Duration::from_millis(400);

#[derive(Debug)]
pub enum StoreError {
    Redis(RedisError),
    /// The record exists but is not a job record; `owner` is its `user_id` if it has one.
    Unreadable {
        why: String,
        owner: Option<UserId>,
    },
    /// Other writers changed the record on every attempt.
    Contended,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Redis(e) => write!(f, "Redis error: {e}"),
            StoreError::Unreadable { why, .. } => write!(f, "unreadable job record: {why}"),
            StoreError::Contended => f.write_str("the job record kept changing"),
        }
    }
}

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        StoreError::Redis(e)
    }
}

/// What `create` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Yes,
    /// A record with this id exists.
    IdTaken,
    /// The owner already has this many queued or running jobs.
    QuotaReached,
}

/// What `update` did.
#[derive(Debug)]
pub enum Update<E> {
    Saved(JobRecord),
    /// The change left the record as it was; nothing was written.
    Unchanged(JobRecord),
    /// The change refused to apply, for this reason.
    Refused(E),
    NotFound,
}

#[derive(Clone)]
pub struct JobStore {
    redis: Commands,
}

impl JobStore {
    pub fn new(redis: Commands) -> Self {
        JobStore { redis }
    }

    /// Saves a new record unless its id is taken or its owner has `max_active` active jobs.
    pub async fn create(
        &self,
        record: &JobRecord,
        max_active: usize,
    ) -> Result<Created, RedisError> {
        Ok(match self.save(None, record, Some(max_active)).await? {
            1 => Created::Yes,
            -1 => Created::QuotaReached,
            _ => Created::IdTaken,
        })
    }

    pub async fn get(&self, job: &JobId) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.read(job).await?.map(|(_, record)| record))
    }

    /// Reads the record, lets `apply` change it (`Ok(true)` = changed, `Ok(false)` = nothing
    /// to do, `Err` = refused) and saves it, recomputing from the fresh record if another
    /// writer got in between.
    pub async fn update<E>(
        &self,
        job: &JobId,
        mut apply: impl FnMut(&mut JobRecord) -> Result<bool, E>,
    ) -> Result<Update<E>, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                let pause = Duration::from_millis(1 << attempt.min(16)).min(RETRY_PAUSE_MAX);
                tokio::time::sleep(pause.mul_f64(0.5 + fastrand::f64() / 2.0)).await;
            }
            let Some((text, mut record)) = self.read(job).await? else {
                return Ok(Update::NotFound);
            };
            match apply(&mut record) {
                Err(refused) => return Ok(Update::Refused(refused)),
                Ok(false) => return Ok(Update::Unchanged(record)),
                Ok(true) => {
                    if self.save(Some(&text), &record, None).await? == 1 {
                        return Ok(Update::Saved(record));
                    }
                }
            }
        }
        Err(StoreError::Contended)
    }

    /// The user's jobs, newest first, at most `LIST_LIMIT`. Index entries whose record has
    /// expired are removed on the way.
    pub async fn list(&self, user: &UserId) -> Result<Vec<JobRecord>, StoreError> {
        let mut redis = self.redis.clone();
        let index = key::user_jobs(user);
        let ids: Vec<String> = redis.zrevrange(&index, 0, LIST_LIMIT as isize - 1).await?;
        let ids: Vec<JobId> = ids.iter().filter_map(|id| JobId::new(id)).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(key::job).collect();
        let texts: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut redis)
            .await?;
        let mut jobs = Vec::with_capacity(ids.len());
        let mut stale = Vec::new();
        for (id, text) in ids.iter().zip(texts) {
            match text.map(|text| JobRecord::from_stored(id, &text)) {
                None => stale.push(id.as_str()),
                Some(Ok(record)) if record.owned_by(user) => jobs.push(record),
                Some(Ok(_)) => stale.push(id.as_str()),
                Some(Err(why)) => log::warn!("Skipping job {id} in {index}: {why}."),
            }
        }
        if !stale.is_empty() {
            let mut pipe = redis::pipe();
            pipe.zrem(&index, &stale).zrem(key::ACTIVE_JOBS, &stale);
            redis.apply(&pipe).await?;
        }
        Ok(jobs)
    }

    /// PUBLISHes a JSON message; returns how many subscribers received it.
    pub async fn publish(&self, channel: &str, message: &Value) -> Result<u64, RedisError> {
        self.redis
            .clone()
            .publish(channel, message.to_string())
            .await
    }

    async fn read(&self, job: &JobId) -> Result<Option<(String, JobRecord)>, StoreError> {
        let text: Option<String> = self.redis.clone().get(key::job(job)).await?;
        let Some(text) = text else { return Ok(None) };
        match JobRecord::from_stored(job, &text) {
            Ok(record) => Ok(Some((text, record))),
            Err(why) => Err(StoreError::Unreadable {
                owner: JobRecord::stored_owner(&text),
                why,
            }),
        }
    }

    /// Saves `record` if the stored one is still `expected` (`None`: no record yet) and, for a
    /// new job, its owner is under `quota`; the script's answer.
    async fn save(
        &self,
        expected: Option<&str>,
        record: &JobRecord,
        quota: Option<usize>,
    ) -> Result<i64, RedisError> {
        let text = serde_json::to_string(record).expect("a job record serialises");
        if self.redis.is_cluster() {
            return self.save_in_cluster(expected, record, &text, quota).await;
        }
        // EVAL rather than EVALSHA: the script is small, and Redis caches it compiled.
        redis::cmd("EVAL")
            .arg(SAVE_SCRIPT)
            .arg(3)
            .arg(key::job(&record.job_id))
            .arg(key::user_jobs(&record.user_id))
            .arg(key::ACTIVE_JOBS)
            .arg(expected.unwrap_or(""))
            .arg(text)
            .arg(JOB_TTL_SECS)
            .arg(record.job_id.as_str())
            .arg(record.created_at)
            .arg(USER_JOBS_TTL_SECS)
            .arg(if record.is_active() { "1" } else { "0" })
            .arg(quota.map_or(String::new(), |q| q.to_string()))
            .query_async(&mut self.redis.clone())
            .await
    }

    /// [`JobStore::save`] in a Redis Cluster: the quota counted first, then the record compared
    /// and set, then the indexes. Unlike the one script on a single server, submissions of one
    /// user racing on several instances can each pass the count before either is saved.
    async fn save_in_cluster(
        &self,
        expected: Option<&str>,
        record: &JobRecord,
        text: &str,
        quota: Option<usize>,
    ) -> Result<i64, RedisError> {
        let mut redis = self.redis.clone();
        let index = key::user_jobs(&record.user_id);
        let id = record.job_id.as_str();
        if let Some(quota) = quota {
            let ids: Vec<String> = redis.zrange(&index, 0, -1).await?;
            if !ids.is_empty() {
                let scores: Vec<Option<f64>> = redis::cmd("ZMSCORE")
                    .arg(key::ACTIVE_JOBS)
                    .arg(&ids)
                    .query_async(&mut redis)
                    .await?;
                if scores.iter().flatten().count() >= quota {
                    return Ok(-1);
                }
            }
        }
        let saved: i64 = redis::cmd("EVAL")
            .arg(SAVE_RECORD_SCRIPT)
            .arg(1)
            .arg(key::job(&record.job_id))
            .arg(expected.unwrap_or(""))
            .arg(text)
            .arg(JOB_TTL_SECS)
            .query_async(&mut redis)
            .await?;
        if saved != 1 {
            return Ok(saved);
        }
        let mut pipe = redis::pipe();
        pipe.zadd(&index, id, record.created_at)
            .expire(&index, USER_JOBS_TTL_SECS as i64);
        if record.is_active() {
            pipe.zadd(key::ACTIVE_JOBS, id, record.created_at);
        } else {
            pipe.zrem(key::ACTIVE_JOBS, id);
        }
        redis.apply(&pipe).await?;
        Ok(1)
    }
}
