//! A per-user cache with a time-to-live, for records read from Redis (watchlists, alert rules).
//! Time is passed in, so expiry is tested without waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::ids::UserId;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
    /// Records read from the source and stored.
    pub loads: u64,
}

#[derive(Debug)]
pub struct UserCache<V> {
    ttl: Duration,
    entries: HashMap<UserId, (V, Instant)>,
    pub counters: CacheCounters,
}

impl<V> UserCache<V> {
    pub fn new(ttl: Duration) -> Self {
        UserCache {
            ttl,
            entries: HashMap::new(),
            counters: CacheCounters::default(),
        }
    }

    /// A fresh entry (a hit), or `None` (a miss: the caller loads and `insert`s).
    pub fn get(&mut self, user: &UserId, now: Instant) -> Option<&V> {
        let ttl = self.ttl;
        match self.entries.get(user) {
            Some((_, at)) if now.duration_since(*at) < ttl => {
                self.counters.hits += 1;
                self.entries.get(user).map(|(v, _)| v)
            }
            _ => {
                self.counters.misses += 1;
                None
            }
        }
    }

    /// The entry, fresh or stale, without counting: what to use while a reload is under way.
    pub fn peek(&self, user: &UserId) -> Option<&V> {
        self.entries.get(user).map(|(v, _)| v)
    }

    pub fn insert(&mut self, user: UserId, value: V, now: Instant) {
        self.counters.loads += 1;
        self.entries.insert(user, (value, now));
    }

    /// Forgets a user's entry because it changed at the source.
    pub fn invalidate(&mut self, user: &UserId) {
        self.counters.invalidations += 1;
        self.entries.remove(user);
    }

    pub fn remove(&mut self, user: &UserId) {
        self.entries.remove(user);
    }

    /// The given users whose entry is missing or older than the TTL.
    pub fn stale<'a>(
        &self,
        users: impl IntoIterator<Item = &'a UserId>,
        now: Instant,
    ) -> Vec<UserId> {
        users
            .into_iter()
            .filter(|u| {
                self.entries
                    .get(*u)
                    .is_none_or(|(_, at)| now.duration_since(*at) >= self.ttl)
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_counted() {
        let t0 = Instant::now();
        let alice = UserId::new("alice").unwrap();
        let mut cache = UserCache::new(Duration::from_secs(300));
        assert!(cache.get(&alice, t0).is_none());
        cache.insert(alice.clone(), 1, t0);
        assert_eq!(cache.get(&alice, t0 + Duration::from_secs(299)), Some(&1));
        assert!(cache.get(&alice, t0 + Duration::from_secs(300)).is_none());
        assert_eq!(cache.peek(&alice), Some(&1));
        assert_eq!(
            cache.stale([&alice], t0 + Duration::from_secs(301)),
            vec![alice.clone()]
        );
        cache.invalidate(&alice);
        assert_eq!(
            cache.counters,
            CacheCounters {
                hits: 1,
                misses: 2,
                invalidations: 1,
                loads: 1
            }
        );
        assert!(cache.peek(&alice).is_none());
    }
}
