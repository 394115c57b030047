//! MarketData: prices and OHLCV to the symbol's watchers only (`symbol:{SYM}` rooms), with the
//! significance threshold on price moves; summaries and market events to the `market` topic.

use actix::prelude::*;
use log::debug;

use super::{Audience, Input, Publisher, HANDLER_QUEUE};
use crate::domain::drop::DropReason;
use crate::domain::event::MarketEvent;
use crate::domain::outbound::EventName;
use crate::domain::rooms::{Room, Topic};
use crate::pipeline::router::MarketInput;

pub struct MarketData {
    publisher: Publisher,
    /// Price updates with `|change_percent|` under this are not sent.
    price_change_threshold_pct: f64,
}

impl MarketData {
    pub fn new(publisher: Publisher, price_change_threshold_pct: f64) -> Self {
        MarketData {
            publisher,
            price_change_threshold_pct,
        }
    }
}

impl Actor for MarketData {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
    }
}

impl Handler<Input<MarketInput>> for MarketData {
    type Result = ();

    fn handle(&mut self, msg: Input<MarketInput>, _: &mut Self::Context) {
        let channel = msg.channel;
        let market = Audience::Public(Room::Topic(Topic::Market));
        match msg.item {
            MarketInput::Price(update) => {
                if update.change_percent.abs() < self.price_change_threshold_pct {
                    self.publisher
                        .stats()
                        .record_drop(Some(channel), DropReason::BelowThreshold);
                    return;
                }
                let audience = Audience::Targeted(Room::Symbol(update.symbol.clone()), channel);
                self.publisher
                    .publish(audience, EventName::DashboardPriceUpdate, &update);
            }
            MarketInput::Ohlcv(update) => {
                let audience = Audience::Targeted(Room::Symbol(update.symbol.clone()), channel);
                self.publisher
                    .publish(audience, EventName::DashboardOhlcvUpdate, &update);
            }
            MarketInput::Tick(tick) => {
                let audience = Audience::Targeted(Room::Symbol(tick.symbol.clone()), channel);
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
                    } => Audience::Targeted(Room::User(user.clone()), channel),
                    MarketEvent::DashboardAlert { user_id: None, .. } => {
                        Audience::Public(Room::Topic(Topic::Alerts))
                    }
                    _ => market,
                };
                self.publisher
                    .publish(audience, EventName::DashboardMarketEvent, &event);
            }
            MarketInput::Watchlist(change) => {
                debug!(
                    "Watchlist of user {} changed; sessions keep their session-level watchlists.",
                    change.user_id
                );
            }
        }
    }
}
