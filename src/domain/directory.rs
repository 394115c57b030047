//! Who is online and what they want: the users with a session on this instance, their alert
//! rules and this hour's alert budget, and their stored watchlists. The one owner of these facts;
//! the audience of a pattern alert asks it (`accepting`), and the registry is told each online
//! user's watchlist. Pure: the Users handler loads the records from Redis when this says so
//! (`Action`) and feeds them back in; time is passed in.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::NaiveTime;

use super::alert_rules::{HourlyCount, InvalidRecord, Refusal, UserRules};
use super::filter::AlertKey;
use super::ids::{SessionId, Symbol, UserId};
use super::user_cache::{CacheCounters, UserCache};

/// Work the directory needs done outside (Redis reads, telling the registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    LoadRules(UserId),
    LoadWatchlist(UserId),
    /// Every session of this user follows these symbols, besides its own.
    ShareWatchlist(UserId, HashSet<Symbol>),
}

#[derive(Debug)]
pub struct Directory {
    /// The user of each signed-in session.
    users_of: HashMap<SessionId, UserId>,
    /// Sessions per online user.
    online: HashMap<UserId, usize>,
    rules: UserCache<UserRules>,
    sent_this_hour: HashMap<UserId, HourlyCount>,
    watchlists: UserCache<HashSet<Symbol>>,
}

impl Directory {
    pub fn new(rules_ttl: Duration, watchlist_ttl: Duration) -> Self {
        Directory {
            users_of: HashMap::new(),
            online: HashMap::new(),
            rules: UserCache::new(rules_ttl),
            sent_this_hour: HashMap::new(),
            watchlists: UserCache::new(watchlist_ttl),
        }
    }

    /// A session started, signed in, or ended (`user` = `None`). A user's first session brings
    /// them online: their records are loaded unless cached.
    pub fn session_user(
        &mut self,
        session: SessionId,
        user: Option<UserId>,
        now: Instant,
    ) -> Vec<Action> {
        let previous = match &user {
            Some(u) => self.users_of.insert(session, u.clone()),
            None => self.users_of.remove(&session),
        };
        if previous == user {
            return Vec::new();
        }
        if let Some(old) = previous {
            if let Some(n) = self.online.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    self.online.remove(&old);
                }
            }
        }
        let Some(user) = user else {
            return Vec::new();
        };
        let sessions = self.online.entry(user.clone()).or_default();
        *sessions += 1;
        if *sessions > 1 {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if self.rules.get(&user, now).is_none() {
            actions.push(Action::LoadRules(user.clone()));
        }
        match self.watchlists.get(&user, now) {
            Some(symbols) => actions.push(Action::ShareWatchlist(user, symbols.clone())),
            None => actions.push(Action::LoadWatchlist(user)),
        }
        actions
    }

    pub fn is_online(&self, user: &UserId) -> bool {
        self.online.contains_key(user)
    }

    /// A user's alert records as read, with the count other instances and earlier runs have
    /// stored for `hour`. Invalid records count as none stored (and the error is returned to log).
    pub fn rules_loaded(
        &mut self,
        user: UserId,
        rules: Result<UserRules, InvalidRecord>,
        sent: u32,
        hour: i64,
        now: Instant,
    ) -> Result<(), InvalidRecord> {
        let count = self.sent_this_hour.entry(user.clone()).or_default();
        if count.hour != hour || count.sent < sent {
            *count = HourlyCount { hour, sent };
        }
        let (rules, outcome) = match rules {
            Ok(rules) => (rules, Ok(())),
            Err(e) => (UserRules::default(), Err(e)),
        };
        self.rules.insert(user, rules, now);
        outcome
    }

    pub fn watchlist_loaded(
        &mut self,
        user: UserId,
        symbols: HashSet<Symbol>,
        now: Instant,
    ) -> Action {
        self.watchlists.insert(user.clone(), symbols.clone(), now);
        Action::ShareWatchlist(user, symbols)
    }

    /// The stored watchlist changed: forget it, and read it again if the user is online.
    pub fn watchlist_changed(&mut self, user: UserId) -> Option<Action> {
        self.watchlists.invalidate(&user);
        self.is_online(&user).then_some(Action::LoadWatchlist(user))
    }

    /// Records of online users that are older than their time to live.
    pub fn refresh(&self, now: Instant) -> Vec<Action> {
        let rules = self.rules.stale(self.online.keys(), now);
        let watchlists = self.watchlists.stale(self.online.keys(), now);
        let rules = rules.into_iter().map(Action::LoadRules);
        rules
            .chain(watchlists.into_iter().map(Action::LoadWatchlist))
            .collect()
    }

    /// The online users whose rules accept a pattern alert, each charged one unit of this
    /// hour's budget; every user's outcome goes to `record` (for the refusal counters). Rules
    /// still loading count as the defaults.
    pub fn accepting(
        &mut self,
        alert: &AlertKey,
        local_time: NaiveTime,
        hour: i64,
        mut record: impl FnMut(Result<(), Refusal>),
    ) -> Vec<UserId> {
        let defaults = UserRules::default();
        let mut accepted = Vec::new();
        for user in self.online.keys() {
            let rules = self.rules.peek(user).unwrap_or(&defaults);
            let outcome = rules.check(alert, local_time).and_then(|()| {
                self.sent_this_hour
                    .entry(user.clone())
                    .or_default()
                    .take(hour, rules.max_per_hour())
            });
            record(outcome);
            if outcome.is_ok() {
                accepted.push(user.clone());
            }
        }
        accepted
    }

    pub fn rules_cache(&self) -> CacheCounters {
        self.rules.counters
    }

    pub fn watchlist_cache(&self) -> CacheCounters {
        self.watchlists.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(300);

    fn user(id: &str) -> UserId {
        UserId::new(id).unwrap()
    }

    fn doji(confidence: f64) -> AlertKey {
        AlertKey {
            pattern: "Doji".into(),
            symbol: Symbol::new("AAPL").unwrap(),
            confidence,
        }
    }

    fn noon() -> NaiveTime {
        NaiveTime::from_hms_opt(12, 0, 0).unwrap()
    }

    #[test]
    fn a_users_first_session_loads_their_records_and_later_ones_do_not() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        assert_eq!(
            dir.session_user(SessionId(1), Some(u.clone()), now),
            [
                Action::LoadRules(u.clone()),
                Action::LoadWatchlist(u.clone())
            ]
        );
        assert!(dir
            .session_user(SessionId(2), Some(u.clone()), now)
            .is_empty());
        assert!(dir.session_user(SessionId(1), None, now).is_empty());
        assert!(dir.is_online(&u), "one session left");
        assert!(dir.session_user(SessionId(2), None, now).is_empty());
        assert!(!dir.is_online(&u));
    }

    #[test]
    fn a_returning_user_gets_the_cached_watchlist_shared_at_once() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        dir.session_user(SessionId(1), Some(u.clone()), now);
        let symbols: HashSet<Symbol> = [Symbol::new("MSFT").unwrap()].into();
        assert_eq!(
            dir.watchlist_loaded(u.clone(), symbols.clone(), now),
            Action::ShareWatchlist(u.clone(), symbols.clone())
        );
        let rules = UserRules::from_records(None, None);
        dir.rules_loaded(u.clone(), rules, 0, 1, now).unwrap();
        dir.session_user(SessionId(1), None, now);
        assert_eq!(
            dir.session_user(SessionId(2), Some(u.clone()), now),
            [Action::ShareWatchlist(u, symbols)]
        );
    }

    #[test]
    fn a_changed_watchlist_is_reloaded_only_for_online_users() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        assert_eq!(dir.watchlist_changed(user("away")), None);
        dir.session_user(SessionId(1), Some(user("here")), now);
        assert_eq!(
            dir.watchlist_changed(user("here")),
            Some(Action::LoadWatchlist(user("here")))
        );
    }

    #[test]
    fn stale_records_of_online_users_are_refreshed() {
        let (mut dir, t0) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        dir.session_user(SessionId(1), Some(u.clone()), t0);
        dir.watchlist_loaded(u.clone(), HashSet::new(), t0);
        dir.rules_loaded(u.clone(), Ok(UserRules::default()), 0, 1, t0)
            .unwrap();
        assert!(dir.refresh(t0 + Duration::from_secs(299)).is_empty());
        assert_eq!(
            dir.refresh(t0 + TTL),
            [Action::LoadRules(u.clone()), Action::LoadWatchlist(u)]
        );
    }

    #[test]
    fn alerts_go_to_online_users_whose_rules_accept_them_within_the_hourly_budget() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let (a, b) = (user("a"), user("b"));
        dir.session_user(SessionId(1), Some(a.clone()), now);
        dir.session_user(SessionId(2), Some(b.clone()), now);
        let prefs = r#"{"max_alerts_per_hour": 1}"#;
        let doji_only = r#"{"Doji": {"confidence_threshold": 0.5}}"#;
        let b_rules = UserRules::from_records(Some(prefs), Some(doji_only));
        dir.rules_loaded(b.clone(), b_rules, 0, 7, now).unwrap();
        let mut refusals = Vec::new();
        let mut accepting = |dir: &mut Directory, key| {
            let mut users = dir.accepting(&key, noon(), 7, |o| {
                if let Err(r) = o {
                    refusals.push(r)
                }
            });
            users.sort();
            users
        };
        assert_eq!(accepting(&mut dir, doji(0.9)), [a.clone(), b.clone()]);
        assert_eq!(
            accepting(&mut dir, doji(0.9)),
            std::slice::from_ref(&a),
            "b's budget is spent"
        );
        assert_eq!(
            accepting(&mut dir, doji(0.1)),
            std::slice::from_ref(&a),
            "a stored nothing: every alert, as an anonymous session"
        );
        dir.session_user(SessionId(1), None, now);
        assert_eq!(accepting(&mut dir, doji(0.9)), Vec::<UserId>::new());
        assert!(refusals.contains(&Refusal::RateLimited));
        assert!(refusals.contains(&Refusal::BelowThreshold));
    }

    #[test]
    fn a_count_stored_by_another_instance_is_taken_when_higher() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        dir.session_user(SessionId(1), Some(u.clone()), now);
        let prefs = r#"{"max_alerts_per_hour": 2}"#;
        let rules = UserRules::from_records(Some(prefs), None);
        dir.rules_loaded(u.clone(), rules, 2, 7, now).unwrap();
        assert!(dir.accepting(&doji(0.9), noon(), 7, |_| {}).is_empty());
        assert_eq!(
            dir.accepting(&doji(0.9), noon(), 8, |_| {}),
            [u],
            "a new hour"
        );
    }

    #[test]
    fn invalid_records_count_as_none_stored() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        dir.session_user(SessionId(1), Some(u.clone()), now);
        let off = UserRules::from_records(Some(r#"{"global_enabled": false}"#), None);
        dir.rules_loaded(u.clone(), off, 0, 7, now).unwrap();
        let bad = UserRules::from_records(Some("not json"), None);
        assert!(dir.rules_loaded(u, bad, 0, 7, now).is_err());
        let mut outcomes = Vec::new();
        dir.accepting(&doji(0.9), noon(), 7, |o| outcomes.push(o));
        assert_eq!(outcomes, [Ok(())]);
    }
}
