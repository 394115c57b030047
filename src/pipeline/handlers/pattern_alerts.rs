//! PatternAlerts: batch-tier pattern alerts, streaming patterns and indicators (through the
//! streaming buffer), and indicator alerts.
//!
//! A `pattern_alert` goes to each online user whose rules (`domain::alert_rules`, read from
//! Redis and cached) accept it, through the `user:{id}` room, so every session of the user gets
//! it; anonymous sessions get it through the `patterns` topic. Session-level pattern
//! subscriptions narrow both.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Local;
use log::warn;
use redis::aio::ConnectionManager;

use super::{Audience, Input, Publisher, HANDLER_QUEUE};
use crate::domain::alert_rules::{HourlyCount, UserRules};
use crate::domain::event::{EpochMillis, PatternAlert, StreamingIndicator, StreamingPattern};
use crate::domain::filter::AlertKey;
use crate::domain::ids::UserId;
use crate::domain::outbound::{EventName, Frame};
use crate::domain::rooms::{Room, Topic};
use crate::domain::streaming_buffer::{
    Batch, IndicatorsBatch, PatternsBatch, RecentDetections, StreamingBuffer,
};
use crate::domain::user_cache::UserCache;
use crate::pipeline::registry::{Only, Presence};
use crate::pipeline::router::PatternInput;
use crate::telemetry::ChannelId;

/// Detections remembered for cross-channel deduplication.
const RECENT_DETECTIONS: usize = 20_000;
/// How often online users' cached rules are checked for expiry.
const RULES_REFRESH_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct StreamingConfig {
    /// `None` sends each streaming item at once as `streaming_pattern` / `streaming_indicator`.
    pub flush_interval: Option<Duration>,
    pub max_buffer_size: usize,
}

pub struct PatternAlerts {
    publisher: Publisher,
    config: StreamingConfig,
    patterns: StreamingBuffer<StreamingPattern>,
    indicators: StreamingBuffer<StreamingIndicator>,
    recent: RecentDetections,
    redis: ConnectionManager,
    online: HashSet<UserId>,
    rules: UserCache<UserRules>,
    sent_this_hour: HashMap<UserId, HourlyCount>,
    /// Streaming detections dropped as copies of one already accepted (cross-channel).
    recent_duplicates: u64,
}

fn streaming(received_at: Instant) -> Audience {
    Audience::public(Room::Topic(Topic::Streaming)).since(received_at)
}

fn rate_key(user: &UserId, hour: i64) -> String {
    crate::domain::redis_names::key::alert_rate(user, hour)
}

fn current_hour() -> i64 {
    EpochMillis::now().0 / 3_600_000
}

impl PatternAlerts {
    pub fn new(
        publisher: Publisher,
        config: StreamingConfig,
        redis: ConnectionManager,
        rules_ttl: Duration,
    ) -> Self {
        PatternAlerts {
            publisher,
            config,
            patterns: StreamingBuffer::new(config.max_buffer_size),
            indicators: StreamingBuffer::new(config.max_buffer_size),
            recent: RecentDetections::new(RECENT_DETECTIONS),
            redis,
            online: HashSet::new(),
            rules: UserCache::new(rules_ttl),
            sent_this_hour: HashMap::new(),
            recent_duplicates: 0,
        }
    }

    fn send_patterns(&self, batch: Batch<StreamingPattern>) {
        self.publisher
            .stats()
            .batch_sizes
            .observe(batch.items.len() as f64);
        let data = PatternsBatch {
            patterns: &batch.items,
            count: batch.items.len(),
            timestamp: EpochMillis::now(),
        };
        self.publisher.publish(
            streaming(batch.oldest),
            EventName::StreamingPatternsBatch,
            &data,
        );
    }

    fn send_indicators(&self, batch: Batch<StreamingIndicator>) {
        self.publisher
            .stats()
            .batch_sizes
            .observe(batch.items.len() as f64);
        let data = IndicatorsBatch {
            indicators: &batch.items,
            count: batch.items.len(),
            timestamp: EpochMillis::now(),
        };
        self.publisher.publish(
            streaming(batch.oldest),
            EventName::StreamingIndicatorsBatch,
            &data,
        );
    }

    fn flush(&mut self) {
        if let Some(batch) = self.patterns.flush() {
            self.send_patterns(batch);
        }
        if let Some(batch) = self.indicators.flush() {
            self.send_indicators(batch);
        }
        self.store_buffer_counters();
    }

    fn store_buffer_counters(&self) {
        let mut counters = self.patterns.counters.plus(self.indicators.counters);
        counters.deduplicated += self.recent_duplicates;
        self.publisher.stats().streaming_buffer.store(counters);
    }

    fn on_alert(
        &mut self,
        alert: PatternAlert,
        input: (ChannelId, Instant),
        ctx: &mut Context<Self>,
    ) {
        let (channel, received_at) = input;
        let frame = Frame::encode(EventName::PatternAlert, &alert);
        let key = AlertKey::from(&alert);
        let anonymous = Only {
            matching: Some(key.clone()),
            anonymous: true,
        };
        self.publisher.send(
            Audience::public(Room::Topic(Topic::Patterns)).since(received_at),
            frame.clone(),
            anonymous,
        );
        let (now, hour) = (Local::now().time(), current_hour());
        let defaults = UserRules::default();
        for user in &self.online {
            let rules = self.rules.peek(user).unwrap_or(&defaults);
            let outcome = rules.check(&key, now).and_then(|()| {
                self.sent_this_hour
                    .entry(user.clone())
                    .or_default()
                    .take(hour, rules.max_per_hour())
            });
            self.publisher.stats().alert_rules.record(outcome);
            if outcome.is_ok() {
                let audience =
                    Audience::targeted(Room::User(user.clone()), channel).since(received_at);
                self.publisher.send(
                    audience,
                    frame.clone(),
                    Only {
                        matching: Some(key.clone()),
                        anonymous: false,
                    },
                );
                let mut redis = self.redis.clone();
                let counter = rate_key(user, hour);
                // Mirrors the legacy per-hour counter for other instances and restarts.
                ctx.spawn(
                    async move {
                        let _: Result<(), _> = redis::pipe()
                            .incr(&counter, 1)
                            .expire(&counter, 3600)
                            .query_async(&mut redis)
                            .await;
                    }
                    .into_actor(self),
                );
            }
        }
    }

    /// Reads a user's two alert records and this hour's counter, and caches the result.
    fn load_rules(&mut self, user: UserId, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let hour = current_hour();
        let keys = [
            crate::domain::redis_names::key::alert_prefs(&user),
            crate::domain::redis_names::key::alert_subscriptions(&user),
            rate_key(&user, hour),
        ];
        let read = async move {
            redis::cmd("MGET")
                .arg(&keys)
                .query_async::<Vec<Option<String>>>(&mut redis)
                .await
        };
        ctx.spawn(read.into_actor(self).map(move |res, act, _| {
            let records = match res {
                Ok(records) => records,
                Err(e) => {
                    return warn!(
                        "Cannot read alert rules of user {user}, keeping the previous ones: {e}."
                    )
                }
            };
            let field = |i: usize| records.get(i).cloned().flatten();
            let rules = UserRules::from_records(field(0).as_deref(), field(1).as_deref())
                .unwrap_or_else(|e| {
                    warn!(
                        "Alert records of user {user} are invalid ({}); using the defaults.",
                        e.0
                    );
                    UserRules::default()
                });
            let sent = field(2).and_then(|n| n.parse().ok()).unwrap_or(0);
            let count = act.sent_this_hour.entry(user.clone()).or_default();
            if count.hour != hour || count.sent < sent {
                *count = HourlyCount { hour, sent };
            }
            act.rules.insert(user, rules, Instant::now());
            act.publisher
                .stats()
                .alert_rules_cache
                .store(act.rules.counters);
        }));
    }

    fn refresh_rules(&mut self, ctx: &mut Context<Self>) {
        for user in self.rules.stale(&self.online, Instant::now()) {
            self.load_rules(user, ctx);
        }
        self.publisher
            .stats()
            .alert_rules_cache
            .store(self.rules.counters);
    }
}

impl Actor for PatternAlerts {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
        if let Some(interval) = self.config.flush_interval {
            ctx.run_interval(interval, |act, _| act.flush());
        }
        ctx.run_interval(RULES_REFRESH_EVERY, |act, ctx| act.refresh_rules(ctx));
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.flush();
        Running::Stop
    }
}

/// Sends whatever the buffers hold now (graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for PatternAlerts {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Self::Context) {
        self.flush();
    }
}

impl Handler<Presence> for PatternAlerts {
    type Result = ();

    fn handle(&mut self, msg: Presence, ctx: &mut Self::Context) {
        if !msg.online {
            self.online.remove(&msg.user);
            return;
        }
        self.online.insert(msg.user.clone());
        let cached = self.rules.get(&msg.user, Instant::now()).is_some();
        self.publisher
            .stats()
            .alert_rules_cache
            .store(self.rules.counters);
        if !cached {
            self.load_rules(msg.user, ctx);
        }
    }
}

impl Handler<Input<PatternInput>> for PatternAlerts {
    type Result = ();

    fn handle(&mut self, msg: Input<PatternInput>, ctx: &mut Self::Context) {
        let buffered = self.config.flush_interval.is_some();
        match msg.item {
            PatternInput::Alert(alert) => self.on_alert(alert, (msg.channel, msg.received_at), ctx),
            PatternInput::Streaming(item) if !self.recent.first_time(&item) => {
                self.recent_duplicates += 1;
                self.store_buffer_counters();
            }
            PatternInput::Streaming(item) if buffered => {
                if let Some(batch) = self.patterns.push(item, msg.received_at) {
                    self.send_patterns(batch);
                }
                self.store_buffer_counters();
            }
            PatternInput::Streaming(item) => self.publisher.publish(
                streaming(msg.received_at),
                EventName::StreamingPattern,
                &item,
            ),
            PatternInput::Indicator(item) if buffered => {
                if let Some(batch) = self.indicators.push(item, msg.received_at) {
                    self.send_indicators(batch);
                }
                self.store_buffer_counters();
            }
            PatternInput::Indicator(item) => self.publisher.publish(
                streaming(msg.received_at),
                EventName::StreamingIndicator,
                &item,
            ),
            PatternInput::IndicatorAlert(alert) => {
                let audience = Audience::public(Room::Topic(Topic::Alerts)).since(msg.received_at);
                self.publisher
                    .publish(audience, EventName::IndicatorAlert, &alert);
            }
        }
    }
}
