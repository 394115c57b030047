//! MarketData: prices and OHLCV to the symbol's watchers only (`symbol:{SYM}` rooms), with the
//! significance threshold and optional per-symbol conflation of price updates; summaries and
//! market events to the `market` topic.
//!
//! It also owns users' watchlists: the Redis set `tickstock:watchlist:{user}`, read when the
//! user comes online, cached for `market.watchlist_ttl_secs`, re-read at once when
//! `tickstock.dashboard.watchlist` names the user, and handed to the registry, which puts every
//! session of that user in those symbol rooms.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use actix::prelude::*;
use log::{debug, warn};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::{Audience, Input, Publisher, HANDLER_QUEUE};
use crate::domain::drop::DropReason;
use crate::domain::event::{MarketEvent, PriceUpdate};
use crate::domain::ids::{Symbol, UserId};
use crate::domain::outbound::EventName;
use crate::domain::rooms::{Room, Topic};
use crate::domain::streaming_buffer::{Keyed, StreamingBuffer};
use crate::domain::user_cache::UserCache;
use crate::pipeline::registry::{Presence, SetUserSymbols};
use crate::pipeline::router::MarketInput;
use crate::telemetry::ChannelId;

const WATCHLIST_REFRESH_EVERY: Duration = Duration::from_secs(5);
/// Symbols pending in one conflation window before it is flushed early.
const CONFLATION_MAX_SYMBOLS: usize = 10_000;

pub fn watchlist_key(user: &UserId) -> String {
    crate::domain::redis_names::key::watchlist(user)
}

/// A price update waiting in the conflation window; a newer one of the same symbol replaces it.
struct Pending {
    update: PriceUpdate,
    channel: ChannelId,
    received_at: Instant,
}

impl Keyed for Pending {
    fn key(&self) -> (&Symbol, &str) {
        (&self.update.symbol, "price")
    }
}

pub struct MarketData {
    publisher: Publisher,
    price_change_threshold_pct: f64,
    conflation: Option<(Duration, StreamingBuffer<Pending>)>,
    redis: ConnectionManager,
    online: HashSet<UserId>,
    watchlists: UserCache<HashSet<Symbol>>,
}

#[derive(Debug, Clone, Copy)]
pub struct MarketConfig {
    pub price_change_threshold_pct: f64,
    /// `None` sends every price update at once.
    pub conflation: Option<Duration>,
    pub watchlist_ttl: Duration,
}

impl MarketData {
    pub fn new(publisher: Publisher, config: MarketConfig, redis: ConnectionManager) -> Self {
        MarketData {
            publisher,
            price_change_threshold_pct: config.price_change_threshold_pct,
            conflation: config
                .conflation
                .map(|w| (w, StreamingBuffer::new(CONFLATION_MAX_SYMBOLS))),
            redis,
            online: HashSet::new(),
            watchlists: UserCache::new(config.watchlist_ttl),
        }
    }

    fn send_price(&self, update: &PriceUpdate, channel: ChannelId, received_at: Instant) {
        let audience =
            Audience::targeted(Room::Symbol(update.symbol.clone()), channel).since(received_at);
        self.publisher
            .publish(audience, EventName::DashboardPriceUpdate, update);
    }

    fn on_price(&mut self, update: PriceUpdate, channel: ChannelId, received_at: Instant) {
        if update.change_percent.abs() < self.price_change_threshold_pct {
            self.publisher
                .stats()
                .record_drop(Some(channel), DropReason::BelowThreshold);
            return;
        }
        let Some((_, pending)) = &mut self.conflation else {
            return self.send_price(&update, channel, received_at);
        };
        let full = pending.push(
            Pending {
                update,
                channel,
                received_at,
            },
            received_at,
        );
        let conflated = pending.counters.deduplicated;
        self.publisher
            .stats()
            .prices_conflated
            .store(conflated, std::sync::atomic::Ordering::Relaxed);
        for p in full.into_iter().flat_map(|b| b.items) {
            self.send_price(&p.update, p.channel, p.received_at);
        }
    }

    fn flush_conflated(&mut self) {
        let batch = self
            .conflation
            .as_mut()
            .and_then(|(_, pending)| pending.flush());
        for p in batch.into_iter().flat_map(|b| b.items) {
            self.send_price(&p.update, p.channel, p.received_at);
        }
    }

    fn load_watchlist(&mut self, user: UserId, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let key = watchlist_key(&user);
        let read = async move { redis.smembers::<_, Vec<String>>(key).await };
        ctx.spawn(read.into_actor(self).map(move |res, act, _| match res {
            Ok(members) => {
                let symbols: HashSet<Symbol> =
                    members.iter().filter_map(|m| Symbol::new(m)).collect();
                if symbols.len() < members.len() {
                    debug!(
                        "Ignored {} invalid symbols in the watchlist of user {user}.",
                        members.len() - symbols.len()
                    );
                }
                act.watchlists
                    .insert(user.clone(), symbols.clone(), Instant::now());
                act.store_cache_counters();
                act.publisher
                    .registry()
                    .do_send(SetUserSymbols { user, symbols });
            }
            Err(e) => {
                warn!("Cannot read the watchlist of user {user}, keeping the previous one: {e}.")
            }
        }));
    }

    fn refresh_watchlists(&mut self, ctx: &mut Context<Self>) {
        for user in self.watchlists.stale(&self.online, Instant::now()) {
            self.load_watchlist(user, ctx);
        }
        self.store_cache_counters();
    }

    fn store_cache_counters(&self) {
        self.publisher
            .stats()
            .watchlist_cache
            .store(self.watchlists.counters);
    }
}

impl Actor for MarketData {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
        if let Some((window, _)) = &self.conflation {
            ctx.run_interval(*window, |act, _| act.flush_conflated());
        }
        ctx.run_interval(WATCHLIST_REFRESH_EVERY, |act, ctx| {
            act.refresh_watchlists(ctx)
        });
    }
}

impl Handler<Presence> for MarketData {
    type Result = ();

    fn handle(&mut self, msg: Presence, ctx: &mut Self::Context) {
        if !msg.online {
            self.online.remove(&msg.user);
            return;
        }
        self.online.insert(msg.user.clone());
        match self.watchlists.get(&msg.user, Instant::now()) {
            Some(symbols) => {
                let symbols = symbols.clone();
                self.publisher.registry().do_send(SetUserSymbols {
                    user: msg.user,
                    symbols,
                });
            }
            None => self.load_watchlist(msg.user, ctx),
        }
        self.store_cache_counters();
    }
}

impl Handler<Input<MarketInput>> for MarketData {
    type Result = ();

    fn handle(&mut self, msg: Input<MarketInput>, ctx: &mut Self::Context) {
        let channel = msg.channel;
        let market = Audience::public(Room::Topic(Topic::Market)).since(msg.received_at);
        match msg.item {
            MarketInput::Price(update) => self.on_price(update, channel, msg.received_at),
            MarketInput::Ohlcv(update) => {
                let audience = Audience::targeted(Room::Symbol(update.symbol.clone()), channel)
                    .since(msg.received_at);
                self.publisher
                    .publish(audience, EventName::DashboardOhlcvUpdate, &update);
            }
            MarketInput::Tick(tick) => {
                let audience = Audience::targeted(Room::Symbol(tick.symbol.clone()), channel)
                    .since(msg.received_at);
                self.publisher.publish(audience, EventName::TickData, &tick);
            }
            MarketInput::Summary(summary) => {
                self.publisher
                    .publish(market, EventName::DashboardMarketSummary, &summary);
            }
            MarketInput::Event(event) => {
                let audience = match &event {
                    MarketEvent::DashboardAlert {
                        user_id: Some(user),
                        ..
                    } => {
                        Audience::targeted(Room::User(user.clone()), channel).since(msg.received_at)
                    }
                    MarketEvent::DashboardAlert { user_id: None, .. } => {
                        Audience::public(Room::Topic(Topic::Alerts)).since(msg.received_at)
                    }
                    _ => market,
                };
                self.publisher
                    .publish(audience, EventName::DashboardMarketEvent, &event);
            }
            MarketInput::Watchlist(change) => {
                self.watchlists.invalidate(&change.user_id);
                if self.online.contains(&change.user_id) {
                    self.load_watchlist(change.user_id, ctx);
                }
                self.store_cache_counters();
            }
        }
    }
}
