//! The registry's snapshots shared through Redis (`domain::snapshot`): one hash,
//! `key::SNAPSHOTS`, of each stream's kept frames, written with what changed once a second and
//! read by an instance when it starts. Every instance writes the same frames (each sees every
//! message); the hash expires `snapshot.ttl_secs` after the last write, and entries older than
//! that are ignored when read.

use std::time::Duration;

use redis::RedisResult;

use crate::domain::event::EpochMillis;
use crate::domain::redis_names::key;
use crate::domain::snapshot::Shared;
use crate::redis_client::Commands;

#[derive(Clone)]
pub struct SnapshotStore {
    redis: Commands,
    ttl: Duration,
}

impl SnapshotStore {
    pub fn new(redis: Commands, ttl: Duration) -> Self {
        SnapshotStore { redis, ttl }
    }

    pub async fn save(&self, changed: Vec<Shared>) -> RedisResult<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let now = EpochMillis::now().0 as u64;
        let entries: Vec<(String, String)> = changed.iter().map(|s| s.encode(now)).collect();
        redis::pipe()
            .hset_multiple(key::SNAPSHOTS, &entries)
            .ignore()
            .expire(key::SNAPSHOTS, self.ttl.as_secs().max(1) as i64)
            .ignore()
            .query_async(&mut self.redis.clone())
            .await
    }

    pub async fn load(&self) -> RedisResult<Vec<Shared>> {
        let entries: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(key::SNAPSHOTS)
            .query_async(&mut self.redis.clone())
            .await?;
        let now = EpochMillis::now().0 as u64;
        Ok(entries
            .iter()
            .filter_map(|(field, value)| Shared::decode(field, value, now))
            .collect())
    }
}
