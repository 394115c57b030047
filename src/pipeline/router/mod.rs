//! Router: hands each normalised event to the handler that owns its kind. It only routes.

mod routes;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

pub use routes::{route, Route};

use crate::domain::drop::DropReason;
use crate::domain::event::Event;
use crate::domain::receipt::Receipt;
use crate::pipeline::handlers::{
    Backtest, Input, Market, Streaming, SystemEvents, Users, HANDLER_QUEUE,
};
use crate::telemetry::events::{EventDropped, EventRouted};
use crate::telemetry::{ChannelId, Stats};

/// A normalised event and the channel it arrived on.
pub struct Routed {
    pub channel: ChannelId,
    pub event: Event,
    pub received_at: Instant,
    /// `history::message_id` of the event.
    pub message: u64,
    /// A Redis Streams entry's receipt (none for pub/sub).
    pub receipt: Option<Arc<Receipt>>,
}

/// Events in arrival order. The reader hands them over a burst at a time: one mailbox message
/// per burst, not per event.
#[derive(Message)]
#[rtype(result = "()")]
struct RoutedBatch(Vec<Routed>);

/// Where each handler is.
#[derive(Clone)]
pub struct Handlers {
    pub streaming: Addr<Streaming>,
    pub users: Addr<Users>,
    pub market: Addr<Market>,
    pub backtest: Addr<Backtest>,
    pub system: Addr<SystemEvents>,
}

pub struct Router {
    handlers: Handlers,
    stats: Arc<Stats>,
    queued: Arc<AtomicUsize>,
}

/// The way into the router. Its mailbox holds batches of any size, so the bound is kept here,
/// in events: at most `HANDLER_QUEUE` waiting, like each handler's own queue.
#[derive(Clone)]
pub struct RouterInbox {
    pub addr: Addr<Router>,
    queued: Arc<AtomicUsize>,
}

impl RouterInbox {
    /// Gives the batch back when the router is that far behind.
    pub fn try_send(&self, batch: Vec<Routed>) -> Result<(), Vec<Routed>> {
        let n = batch.len();
        if self.queued.fetch_add(n, Relaxed) + n > HANDLER_QUEUE {
            self.queued.fetch_sub(n, Relaxed);
            return Err(batch);
        }
        self.addr.do_send(RoutedBatch(batch));
        Ok(())
    }
}

impl Router {
    pub fn new(handlers: Handlers, stats: Arc<Stats>) -> Self {
        Router {
            handlers,
            stats,
            queued: Arc::default(),
        }
    }

    pub fn start_inbox(self) -> RouterInbox {
        let queued = self.queued.clone();
        RouterInbox {
            addr: self.start(),
            queued,
        }
    }

    fn forward<A, T>(&self, to: &Addr<A>, input: Input<T>)
    where
        A: Handler<Input<T>>,
        A::Context: actix::dev::ToEnvelope<A, Input<T>>,
        T: Send + 'static,
    {
        let channel = input.channel;
        match to.try_send(input) {
            Ok(()) => self.stats.emit(EventRouted),
            Err(_) => self.stats.emit(EventDropped {
                channel: Some(channel),
                reason: DropReason::Overloaded,
            }),
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;
}

impl Handler<RoutedBatch> for Router {
    type Result = ();

    fn handle(&mut self, RoutedBatch(batch): RoutedBatch, _: &mut Self::Context) {
        self.queued.fetch_sub(batch.len(), Relaxed);
        for Routed {
            channel,
            event,
            received_at,
            message,
            receipt,
        } in batch
        {
            macro_rules! to {
                ($handler:expr, $item:expr) => {
                    self.forward(
                        $handler,
                        Input {
                            channel,
                            item: $item,
                            received_at,
                            message,
                            receipt: receipt.clone(),
                        },
                    )
                };
            }
            let h = &self.handlers;
            match route(event) {
                Route::Streaming(item) => to!(&h.streaming, item),
                Route::Users(item) => to!(&h.users, item),
                Route::Market(item) => to!(&h.market, item),
                Route::Backtest(item) => to!(&h.backtest, item),
                Route::System(item) => to!(&h.system, item),
            }
        }
    }
}
