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
    entries: HashMap<UserId, Entry<V>>,
    pub counters: CacheCounters,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    loaded: Instant,
    /// Changed at the source since it was loaded.
    expired: bool,
}

impl<V> Entry<V> {
    fn fresh(&self, now: Instant, ttl: Duration) -> bool {
        !self.expired && now.duration_since(self.loaded) < ttl
    }
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
        match self.entries.get(user) {
            Some(e) if e.fresh(now, self.ttl) => {
                self.counters.hits += 1;
                Some(&e.value)
            }
            _ => {
                self.counters.misses += 1;
                None
            }
        }
    }

    /// The entry, fresh or stale, without counting: what to use while a reload is under way.
    pub fn peek(&self, user: &UserId) -> Option<&V> {
        self.entries.get(user).map(|e| &e.value)
    }

    /// Keeps the entries `keep` says to, given each one's user, value and freshness.
    pub fn retain(&mut self, now: Instant, keep: impl Fn(&UserId, &V, bool) -> bool) {
        let ttl = self.ttl;
        self.entries
            .retain(|user, e| keep(user, &e.value, e.fresh(now, ttl)));
    }

    /// Every entry, fresh or stale.
    pub fn iter(&self) -> impl Iterator<Item = (&UserId, &V)> {
        self.entries.iter().map(|(u, e)| (u, &e.value))
    }

    pub fn insert(&mut self, user: UserId, value: V, now: Instant) {
        self.counters.loads += 1;
        let entry = Entry {
            value,
            loaded: now,
            expired: false,
        };
        self.entries.insert(user, entry);
    }

    /// Marks a user's entry stale because it changed at the source: the next `get` misses, and
    /// `peek` still has the old value to use until the new one is read.
    pub fn expire(&mut self, user: &UserId) {
        self.counters.invalidations += 1;
        if let Some(e) = self.entries.get_mut(user) {
            e.expired = true;
        }
    }

    /// The given users whose entry is missing or stale.
    pub fn stale<'a>(
        &self,
        users: impl IntoIterator<Item = &'a UserId>,
        now: Instant,
    ) -> Vec<UserId> {
        users
            .into_iter()
            .filter(|u| self.entries.get(*u).is_none_or(|e| !e.fresh(now, self.ttl)))
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
        cache.insert(alice.clone(), 2, t0);
        cache.expire(&alice);
        assert!(cache.get(&alice, t0).is_none(), "expired at once");
        assert_eq!(cache.peek(&alice), Some(&2), "kept until reloaded");
        assert_eq!(
            cache.counters,
            CacheCounters {
                hits: 1,
                misses: 3,
                invalidations: 1,
                loads: 2
            }
        );
    }
}
