//! Users: the actor around `domain::directory`, the one owner of who is online and what they
//! want. Sessions tell it their user (`SessionUser`) and hear back the user's stored watchlist;
//! it reads each online user's alert records and stored watchlist from Redis, keeps them fresh,
//! and tells the registry the watchlist.
//!
//! It handles the events whose audience depends on those facts: a `pattern_alert` goes to the
//! users whose rules accept it (and to anonymous sessions), each such user's hourly count is
//! mirrored in Redis for other instances. `tickstock.dashboard.watchlist` and
//! `tickstock.jobs.alerts` make it read a user's records again; a change it finds is announced
//! to the user's sessions (`preferences_changed`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::redis_client::Commands;
use actix::prelude::*;
use chrono::Utc;
use log::{debug, warn};
use redis::AsyncCommands;
use tokio::sync::oneshot;

use super::{Flush, Input, Outlet, HANDLER_QUEUE};
use crate::domain::audience;
use crate::domain::directory::{epoch_hour, Action, Directory};
use crate::domain::event::{PatternAlert, PreferenceSignal};
use crate::domain::filter::AlertKey;
use crate::domain::ids::{SessionId, Symbol, UserId};
use crate::domain::preferences::AlertRules;
use crate::domain::redis_names::key;
use crate::pipeline::registry::{Origin, SetUserSymbols};
use crate::telemetry::events::{AlertFiltered, UserCachesChanged};

/// How often online users' records are checked for expiry.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// The Redis counter of a user's alerts lives as long as its hour.
const RATE_KEY_TTL_SECS: i64 = 3600;

/// Sized by the alert; moved once per event through a bounded mailbox, never stored in bulk, so
/// boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum UsersInput {
    PatternAlert(PatternAlert),
    PreferenceSignal(PreferenceSignal),
}

/// KEYS: the hourly counter, the alert's marker. ARGV: the counter's TTL, the marker's TTL.
const COUNT_ONCE: &str = r"
if redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[2]) then
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
";

/// Instances see one pub/sub message within milliseconds of each other.
const COUNTED_TTL_SECS: u64 = 60;

#[derive(Debug, Clone, Copy)]
pub struct UsersConfig {
    pub rules_ttl: Duration,
    pub watchlist_ttl: Duration,
    /// How long a user who went away still gets the alerts their rules accept queued when they
    /// stored no rules: what a topic's history keeps (`history.ttl_secs`), the window a
    /// reconnecting client resumes in.
    pub away_grace: Duration,
}

/// A session started or signed in as `user`, or ended (`None`). The answer is the user's
/// stored watchlist, sorted, once known (`None` for no user, or when it could not be read).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "Option<Vec<Symbol>>")]
pub struct SessionUser {
    pub session: SessionId,
    pub user: Option<UserId>,
}

pub struct Users {
    directory: Directory,
    redis: Commands,
    outlet: Outlet,
    /// Sessions waiting for a user's first watchlist read.
    waiting: HashMap<UserId, Vec<oneshot::Sender<Vec<Symbol>>>>,
}

fn sorted(symbols: &HashSet<Symbol>) -> Vec<Symbol> {
    let mut list: Vec<Symbol> = symbols.iter().cloned().collect();
    list.sort();
    list
}

impl Users {
    pub fn new(config: UsersConfig, redis: Commands, outlet: Outlet) -> Self {
        Users {
            directory: Directory::new(config.rules_ttl, config.watchlist_ttl)
                .with_away_grace(config.away_grace),
            redis,
            outlet,
            waiting: HashMap::new(),
        }
    }

    fn act(&mut self, actions: impl IntoIterator<Item = Action>, ctx: &mut Context<Self>) {
        for action in actions {
            match action {
                Action::LoadRules(user) => self.load_rules(user, ctx),
                Action::LoadWatchlist(user) => self.load_watchlist(user, ctx),
                Action::ShareWatchlist(user, symbols) => {
                    for waiter in self.waiting.remove(&user).into_iter().flatten() {
                        let _ = waiter.send(sorted(&symbols));
                    }
                    self.outlet
                        .registry()
                        .do_send(SetUserSymbols { user, symbols })
                }
                Action::Announce(change) => {
                    let origin = Origin {
                        channel: None,
                        received_at: Instant::now(),
                        message: None,
                        receipt: None,
                    };
                    self.outlet
                        .send(audience::preferences_changed(&change), origin)
                }
            }
        }
        self.outlet.stats().emit(UserCachesChanged {
            watchlist: self.directory.watchlist_cache(),
            alert_rules: self.directory.rules_cache(),
        });
    }

    fn on_alert(&mut self, input: Input<PatternAlert>, ctx: &mut Context<Self>) {
        let origin = input.origin();
        let now = Utc::now();
        let stats = self.outlet.stats();
        let users = self
            .directory
            .accepting(&AlertKey::from(&input.item), now, |outcome| {
                stats.emit(AlertFiltered(outcome))
            });
        for user in &users {
            let counter = key::alert_rate(user, epoch_hour(now));
            self.count_in_redis(counter, input.message, ctx);
        }
        let publications = audience::pattern_alert(&input.item, &users);
        self.outlet
            .send_all(publications.into_iter().map(|p| (p, origin.clone())));
    }

    /// Mirrors a user's hourly count for other instances and restarts. Every instance that
    /// saw the alert counts it, so the count is taken once per alert (`message`): the first
    /// instance's marker makes the others' a no-op.
    fn count_in_redis(&self, counter: String, message: u64, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let counted = key::alert_counted(&counter, message);
        ctx.spawn(
            async move {
                let _: Result<(), _> = redis::cmd("EVAL")
                    .arg(COUNT_ONCE)
                    .arg(2)
                    .arg(&counter)
                    .arg(&counted)
                    .arg(RATE_KEY_TTL_SECS)
                    .arg(COUNTED_TTL_SECS)
                    .query_async::<()>(&mut redis)
                    .await;
            }
            .into_actor(self),
        );
    }

    /// Reads a user's two alert records and this hour's counter.
    fn load_rules(&mut self, user: UserId, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let hour = epoch_hour(Utc::now());
        let keys = [
            key::alert_prefs(&user),
            key::alert_subscriptions(&user),
            key::alert_rate(&user, hour),
        ];
        let read = async move {
            redis::cmd("MGET")
                .arg(&keys)
                .query_async::<Vec<Option<String>>>(&mut redis)
                .await
        };
        ctx.spawn(read.into_actor(self).map(move |res, act, ctx| {
            let records = match res {
                Ok(records) => records,
                Err(e) => {
                    return warn!(
                        "Cannot read alert rules of user {user}, keeping the previous ones: {e}."
                    )
                }
            };
            let field = |i: usize| records.get(i).cloned().flatten();
            let rules = AlertRules::from_records(field(0).as_deref(), field(1).as_deref())
                .unwrap_or_else(|e| {
                    warn!(
                        "Alert records of user {user} are invalid ({}); treating them as absent.",
                        e.0
                    );
                    AlertRules::default()
                });
            let sent = field(2).and_then(|n| n.parse().ok()).unwrap_or(0);
            let announce = act
                .directory
                .rules_loaded(user, rules, sent, hour, Instant::now());
            act.act(announce, ctx);
        }));
    }

    fn load_watchlist(&mut self, user: UserId, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let set = key::watchlist(&user);
        let read = async move { redis.smembers::<_, Vec<String>>(set).await };
        ctx.spawn(read.into_actor(self).map(move |res, act, ctx| match res {
            Ok(members) => {
                let symbols: HashSet<Symbol> =
                    members.iter().filter_map(|m| Symbol::new(m)).collect();
                if symbols.len() < members.len() {
                    debug!(
                        "Ignored {} invalid symbols in the watchlist of user {user}.",
                        members.len() - symbols.len()
                    );
                }
                let actions = act
                    .directory
                    .watchlist_loaded(user, symbols, Instant::now());
                act.act(actions, ctx);
            }
            Err(e) => {
                // Sessions waiting for it confirm without it rather than wait on.
                act.waiting.remove(&user);
                warn!("Cannot read the watchlist of user {user}, keeping the previous one: {e}.")
            }
        }));
    }
}

impl Actor for Users {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
        ctx.run_interval(REFRESH_EVERY, |act, ctx| {
            let stale = act.directory.refresh(Instant::now());
            act.act(stale, ctx);
        });
    }
}

impl Handler<SessionUser> for Users {
    type Result = ResponseFuture<Option<Vec<Symbol>>>;

    fn handle(&mut self, msg: SessionUser, ctx: &mut Self::Context) -> Self::Result {
        let actions = self
            .directory
            .session_user(msg.session, msg.user.clone(), Instant::now());
        self.act(actions, ctx);
        let Some(user) = msg.user else {
            return Box::pin(async { None });
        };
        if let Some(symbols) = self.directory.stored_watchlist(&user) {
            let symbols = sorted(symbols);
            return Box::pin(async move { Some(symbols) });
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.entry(user).or_default().push(tx);
        Box::pin(async move { rx.await.ok() })
    }
}

impl Handler<Input<UsersInput>> for Users {
    type Result = ();

    fn handle(&mut self, msg: Input<UsersInput>, ctx: &mut Self::Context) {
        let Input {
            channel,
            item,
            received_at,
            message,
            receipt,
        } = msg;
        match item {
            UsersInput::PatternAlert(alert) => self.on_alert(
                Input {
                    channel,
                    item: alert,
                    received_at,
                    message,
                    receipt,
                },
                ctx,
            ),
            UsersInput::PreferenceSignal(signal) => {
                let reload = self.directory.changed(signal.user_id, signal.what);
                self.act(reload, ctx);
            }
        }
    }
}

/// Nothing is held back here; handled so every handler answers the same shutdown message.
impl Handler<Flush> for Users {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Self::Context) {}
}
