//! Router: hands each normalised event to the handler that owns its kind. It only routes.

mod routes;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

pub use routes::{route, BacktestInput, MarketInput, PatternInput, Route, SystemInput};

use crate::domain::drop::DropReason;
use crate::domain::event::Event;
use crate::pipeline::handlers::{
    Backtest, Input, MarketData, PatternAlerts, System, HANDLER_QUEUE,
};
use crate::telemetry::{ChannelId, Stats};

/// A normalised event and the channel it arrived on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Routed {
    pub channel: ChannelId,
    pub event: Event,
    pub received_at: Instant,
}

pub struct Router {
    pub pattern_alerts: Addr<PatternAlerts>,
    pub market_data: Addr<MarketData>,
    pub backtest: Addr<Backtest>,
    pub system: Addr<System>,
    pub stats: Arc<Stats>,
}

impl Router {
    fn forward<A, T>(&self, to: &Addr<A>, input: Input<T>)
    where
        A: Handler<Input<T>>,
        A::Context: actix::dev::ToEnvelope<A, Input<T>>,
        T: Send + 'static,
    {
        let channel = input.channel;
        match to.try_send(input) {
            Ok(()) => {
                self.stats.routed.fetch_add(1, Relaxed);
            }
            Err(_) => self
                .stats
                .record_drop(Some(channel), DropReason::Overloaded),
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
    }
}

impl Handler<Routed> for Router {
    type Result = ();

    fn handle(&mut self, msg: Routed, _: &mut Self::Context) {
        let (channel, received_at) = (msg.channel, msg.received_at);
        macro_rules! to {
            ($handler:expr, $item:expr) => {
                self.forward(
                    $handler,
                    Input {
                        channel,
                        item: $item,
                        received_at,
                    },
                )
            };
        }
        match route(msg.event) {
            Route::PatternAlerts(item) => to!(&self.pattern_alerts, item),
            Route::MarketData(item) => to!(&self.market_data, item),
            Route::Backtest(item) => to!(&self.backtest, item),
            Route::System(item) => to!(&self.system, item),
        }
    }
}
