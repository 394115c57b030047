//! Who is online and what they want: the users with a session on this instance, their alert
//! rules and this hour's alert budget, and their stored watchlists. The one owner of these facts;
//! the audience of a pattern alert asks it (`accepting`), and the registry is told each online
//! user's watchlist. Pure: the Users handler loads the records from Redis when this says so
//! (`Action`) and feeds them back in; time is passed in.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::alert_rules::{HourlyCount, Refusal, UserRules};
use super::filter::AlertKey;
use super::ids::{SessionId, Symbol, UserId};
use super::preferences::{AlertRules, Preference, PreferencesChanged};
use super::user_cache::{CacheCounters, UserCache};

/// Work the directory needs done outside (Redis reads, telling the registry and the user).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    LoadRules(UserId),
    LoadWatchlist(UserId),
    /// Every session of this user that follows its stored watchlist watches these symbols.
    ShareWatchlist(UserId, HashSet<Symbol>),
    /// Tell the user's sessions (`preferences_changed`).
    Announce(PreferencesChanged),
}

#[derive(Debug)]
pub struct Directory {
    /// The user of each signed-in session.
    users_of: HashMap<SessionId, UserId>,
    /// Sessions per online user.
    online: HashMap<UserId, usize>,
    /// When users who are away left (their last session ended), for `away_grace`.
    left: HashMap<UserId, Instant>,
    /// How long a user who went away keeps getting the alerts their rules accept queued even
    /// without stored rules, so a client that reconnects within it resumes without a gap.
    away_grace: Duration,
    rules: UserCache<UserRules>,
    sent_this_hour: HashMap<UserId, HourlyCount>,
    watchlists: UserCache<HashSet<Symbol>>,
    /// Changes announced by a producer or an instance, not yet reloaded. They are announced
    /// after the reload even when nothing differs from what was cached, because the cached copy
    /// may already be the new one (a first load that raced the change).
    signalled: HashSet<(UserId, Preference)>,
}

impl Directory {
    pub fn new(rules_ttl: Duration, watchlist_ttl: Duration) -> Self {
        Directory {
            users_of: HashMap::new(),
            online: HashMap::new(),
            left: HashMap::new(),
            away_grace: Duration::ZERO,
            rules: UserCache::new(rules_ttl),
            sent_this_hour: HashMap::new(),
            watchlists: UserCache::new(watchlist_ttl),
            signalled: HashSet::new(),
        }
    }

    /// Users who go away keep their alerts queued this long (see `left`).
    pub fn with_away_grace(mut self, grace: Duration) -> Self {
        self.away_grace = grace;
        self
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
                    if !self.away_grace.is_zero() {
                        self.left.insert(old, now);
                    }
                }
            }
        }
        let Some(user) = user else {
            return Vec::new();
        };
        self.left.remove(&user);
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

    /// The user's stored watchlist as last read (perhaps being read again); `None` until the
    /// first read.
    pub fn stored_watchlist(&self, user: &UserId) -> Option<&HashSet<Symbol>> {
        self.watchlists.peek(user)
    }

    /// A user's alert rules as read (invalid records count as none stored), with the count
    /// other instances and earlier runs have stored for `hour`.
    pub fn rules_loaded(
        &mut self,
        user: UserId,
        rules: AlertRules,
        sent: u32,
        hour: i64,
        now: Instant,
    ) -> Option<Action> {
        let count = self.sent_this_hour.entry(user.clone()).or_default();
        if count.hour != hour || count.sent < sent {
            *count = HourlyCount { hour, sent };
        }
        let changed = self.rules.peek(&user).is_some_and(|r| r.source() != &rules);
        let signalled = self
            .signalled
            .remove(&(user.clone(), Preference::AlertRules));
        // Only sessions hear of a change; an offline user's rules are kept to queue their
        // alerts.
        let announce = ((changed || signalled) && self.is_online(&user)).then(|| {
            Action::Announce(PreferencesChanged::alert_rules(user.clone(), rules.clone()))
        });
        self.rules.insert(user, UserRules::from(rules), now);
        announce
    }

    pub fn watchlist_loaded(
        &mut self,
        user: UserId,
        symbols: HashSet<Symbol>,
        now: Instant,
    ) -> Vec<Action> {
        let changed = self.watchlists.peek(&user).is_some_and(|w| *w != symbols);
        let signalled = self
            .signalled
            .remove(&(user.clone(), Preference::Watchlist));
        let mut actions = Vec::new();
        if changed || signalled {
            let change = PreferencesChanged::watchlist(user.clone(), &symbols);
            actions.push(Action::Announce(change));
        }
        self.watchlists.insert(user.clone(), symbols.clone(), now);
        actions.insert(0, Action::ShareWatchlist(user, symbols));
        actions
    }

    /// A stored preference changed: the cached copy is stale (still used until the new one is
    /// read), and is read again at once if the user is online. Alert rules are read again even
    /// for a user who is away, since they decide what is queued for them.
    pub fn changed(&mut self, user: UserId, what: Preference) -> Option<Action> {
        match what {
            Preference::AlertRules => self.rules.expire(&user),
            Preference::Watchlist => self.watchlists.expire(&user),
        }
        if !self.is_online(&user) {
            return (what == Preference::AlertRules).then_some(Action::LoadRules(user));
        }
        self.signalled.insert((user.clone(), what));
        Some(match what {
            Preference::AlertRules => Action::LoadRules(user),
            Preference::Watchlist => Action::LoadWatchlist(user),
        })
    }

    /// Records older than their time to live: those of online users, and the rules of users
    /// away who stored some (they decide what is queued for them), are read again; the rest of
    /// what users away left behind is forgotten, so the directory does not grow with every user
    /// ever seen.
    pub fn refresh(&mut self, now: Instant) -> Vec<Action> {
        let grace = self.away_grace;
        self.left
            .retain(|_, at| now.saturating_duration_since(*at) < grace);
        let (online, left) = (&self.online, &self.left);
        self.watchlists
            .retain(now, |user, _, fresh| fresh || online.contains_key(user));
        self.rules.retain(now, |user, rules, fresh| {
            fresh || rules.stored() || online.contains_key(user) || left.contains_key(user)
        });
        let rules_kept = &self.rules;
        self.sent_this_hour.retain(|user, _| {
            online.contains_key(user) || left.contains_key(user) || rules_kept.peek(user).is_some()
        });
        let away: Vec<UserId> = (self.rules.iter())
            .filter(|(u, _)| !self.online.contains_key(*u))
            .map(|(u, _)| u.clone())
            .collect();
        let rules = self.rules.stale(self.online.keys().chain(&away), now);
        let watchlists = self.watchlists.stale(self.online.keys(), now);
        let rules = rules.into_iter().map(Action::LoadRules);
        rules
            .chain(watchlists.into_iter().map(Action::LoadWatchlist))
            .collect()
    }

    /// The users whose rules accept a pattern alert, each charged one unit of this hour's
    /// budget: those online, those who went away within the grace (a reconnect resumes their
    /// stream without a gap), and those away who stored rules (their alerts wait in their
    /// stream; a user who stored nothing is not written every alert while away). Every user's
    /// outcome goes to `record` (for the refusal counters). Rules still loading count as the
    /// defaults.
    pub fn accepting(
        &mut self,
        alert: &AlertKey,
        now: DateTime<Utc>,
        mut record: impl FnMut(Result<(), Refusal>),
    ) -> Vec<UserId> {
        let hour = epoch_hour(now);
        let defaults = UserRules::default();
        let mut accepted = Vec::new();
        let stored_away = self
            .rules
            .iter()
            .filter(|(user, rules)| {
                rules.stored() && !self.online.contains_key(*user) && !self.left.contains_key(*user)
            })
            .map(|(user, _)| user);
        for user in self
            .online
            .keys()
            .chain(self.left.keys())
            .chain(stored_away)
        {
            let rules = self.rules.peek(user).unwrap_or(&defaults);
            let outcome = rules.check(alert, now).and_then(|()| {
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

    #[cfg(test)]
    fn rules_cache_has(&self, user: &UserId) -> bool {
        self.rules.peek(user).is_some()
    }

    pub fn rules_cache(&self) -> CacheCounters {
        self.rules.counters
    }

    pub fn watchlist_cache(&self) -> CacheCounters {
        self.watchlists.counters
    }
}

/// The clock hour an alert is counted in, the legacy key's `{epoch_hour}`.
pub fn epoch_hour(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(3600)
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

    /// Noon UTC in epoch hour `hour`.
    fn at_hour(hour: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(hour * 3600, 0).unwrap()
    }

    fn rules(prefs: Option<&str>, subs: Option<&str>) -> AlertRules {
        AlertRules::from_records(prefs, subs).unwrap()
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
            [Action::ShareWatchlist(u.clone(), symbols.clone())],
            "a first load is not a change"
        );
        assert_eq!(
            dir.rules_loaded(u.clone(), rules(None, None), 0, 1, now),
            None
        );
        dir.session_user(SessionId(1), None, now);
        assert_eq!(
            dir.session_user(SessionId(2), Some(u.clone()), now),
            [Action::ShareWatchlist(u.clone(), symbols.clone())]
        );
        assert_eq!(dir.stored_watchlist(&u), Some(&symbols));
    }

    #[test]
    fn a_signalled_change_is_reloaded_for_online_users_and_announced() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        assert_eq!(dir.changed(user("away"), Preference::Watchlist), None);
        assert_eq!(
            dir.changed(user("away"), Preference::AlertRules),
            Some(Action::LoadRules(user("away"))),
            "what is queued for them depends on it"
        );
        let u = user("here");
        dir.session_user(SessionId(1), Some(u.clone()), now);
        let msft: HashSet<Symbol> = [Symbol::new("MSFT").unwrap()].into();
        dir.watchlist_loaded(u.clone(), msft.clone(), now);
        assert_eq!(
            dir.changed(u.clone(), Preference::Watchlist),
            Some(Action::LoadWatchlist(u.clone()))
        );
        assert_eq!(dir.stored_watchlist(&u), Some(&msft), "kept until reloaded");
        assert_eq!(
            dir.watchlist_loaded(u.clone(), msft.clone(), now),
            [
                Action::ShareWatchlist(u.clone(), msft.clone()),
                Action::Announce(PreferencesChanged::watchlist(u.clone(), &msft))
            ],
            "announced even when the cached copy was already the new one"
        );
        let doji = rules(None, Some(r#"{"Doji": {"confidence_threshold": 0.8}}"#));
        dir.rules_loaded(u.clone(), rules(None, None), 0, 1, now);
        assert_eq!(
            dir.changed(u.clone(), Preference::AlertRules),
            Some(Action::LoadRules(u.clone()))
        );
        assert_eq!(
            dir.rules_loaded(u.clone(), doji.clone(), 0, 1, now),
            Some(Action::Announce(PreferencesChanged::alert_rules(u, doji)))
        );
    }

    #[test]
    fn a_change_found_by_a_refresh_is_announced_and_an_unchanged_record_is_not() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        dir.session_user(SessionId(1), Some(u.clone()), now);
        dir.watchlist_loaded(u.clone(), HashSet::new(), now);
        assert_eq!(
            dir.watchlist_loaded(u.clone(), HashSet::new(), now).len(),
            1,
            "only shared"
        );
        let aapl: HashSet<Symbol> = [Symbol::new("AAPL").unwrap()].into();
        assert!(dir
            .watchlist_loaded(u.clone(), aapl.clone(), now)
            .contains(&Action::Announce(PreferencesChanged::watchlist(u, &aapl))));
    }

    #[test]
    fn stale_records_of_online_users_are_refreshed() {
        let (mut dir, t0) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        dir.session_user(SessionId(1), Some(u.clone()), t0);
        dir.watchlist_loaded(u.clone(), HashSet::new(), t0);
        dir.rules_loaded(u.clone(), AlertRules::default(), 0, 1, t0);
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
        dir.rules_loaded(b.clone(), rules(Some(prefs), Some(doji_only)), 0, 7, now);
        let mut refusals = Vec::new();
        let mut accepting = |dir: &mut Directory, key| {
            let mut users = dir.accepting(&key, at_hour(7), |o| {
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
    fn a_user_away_gets_the_alerts_their_stored_rules_accept() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let (strict, open) = (user("strict"), user("open"));
        let doji_only = r#"{"Doji": {"confidence_threshold": 0.5}}"#;
        dir.rules_loaded(strict.clone(), rules(None, Some(doji_only)), 0, 7, now);
        dir.rules_loaded(open.clone(), rules(None, None), 0, 7, now);
        assert_eq!(
            dir.accepting(&doji(0.9), at_hour(7), |_| {}),
            std::slice::from_ref(&strict)
        );
        assert!(dir.accepting(&doji(0.1), at_hour(7), |_| {}).is_empty());
        dir.session_user(SessionId(1), Some(strict.clone()), now);
        assert_eq!(
            dir.accepting(&doji(0.9), at_hour(7), |_| {}),
            [strict],
            "counted once when online"
        );
    }

    #[test]
    fn a_user_who_just_left_keeps_their_alerts_queued_for_the_grace() {
        let grace = Duration::from_secs(300);
        let (mut dir, t0) = (
            Directory::new(TTL, TTL).with_away_grace(grace),
            Instant::now(),
        );
        let open = user("open");
        dir.session_user(SessionId(1), Some(open.clone()), t0);
        dir.rules_loaded(open.clone(), rules(None, None), 0, 7, t0);
        dir.session_user(SessionId(1), None, t0);
        assert_eq!(
            dir.accepting(&doji(0.9), at_hour(7), |_| {}),
            std::slice::from_ref(&open),
            "away, no stored rules, within the grace"
        );
        dir.session_user(SessionId(2), Some(open.clone()), t0);
        assert_eq!(
            dir.accepting(&doji(0.9), at_hour(7), |_| {}).len(),
            1,
            "once"
        );
        dir.session_user(SessionId(2), None, t0);
        dir.refresh(t0 + grace);
        assert!(dir.accepting(&doji(0.9), at_hour(7), |_| {}).is_empty());
        assert!(!dir.rules_cache_has(&open), "forgotten after the grace");
    }

    #[test]
    fn what_users_away_left_behind_is_forgotten_but_stored_rules_are_kept_fresh() {
        let (mut dir, t0) = (Directory::new(TTL, TTL), Instant::now());
        let (strict, open) = (user("strict"), user("open"));
        let doji_only = r#"{"Doji": {"confidence_threshold": 0.5}}"#;
        dir.rules_loaded(strict.clone(), rules(None, Some(doji_only)), 0, 7, t0);
        dir.rules_loaded(open.clone(), rules(None, None), 0, 7, t0);
        dir.watchlist_loaded(open.clone(), HashSet::new(), t0);
        assert!(dir.refresh(t0).is_empty(), "all fresh");
        let later = t0 + TTL;
        assert_eq!(dir.refresh(later), [Action::LoadRules(strict.clone())]);
        assert!(dir.rules_cache_has(&strict));
        assert!(
            !dir.rules_cache_has(&open),
            "stored nothing, away: forgotten"
        );
        assert_eq!(dir.stored_watchlist(&open), None);
    }

    #[test]
    fn a_count_stored_by_another_instance_is_taken_when_higher() {
        let (mut dir, now) = (Directory::new(TTL, TTL), Instant::now());
        let u = user("u");
        dir.session_user(SessionId(1), Some(u.clone()), now);
        let prefs = r#"{"max_alerts_per_hour": 2}"#;
        dir.rules_loaded(u.clone(), rules(Some(prefs), None), 2, 7, now);
        assert!(dir.accepting(&doji(0.9), at_hour(7), |_| {}).is_empty());
        assert_eq!(
            dir.accepting(&doji(0.9), at_hour(8), |_| {}),
            [u],
            "a new hour"
        );
    }
}
