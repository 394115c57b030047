//! The actor every I/O-free handler runs in: it hands each routed event to the logic, runs the
//! logic's flush on its own interval and at shutdown, reports the logic's counters, and sends
//! the publications to the registry. Nothing else.

use std::time::Duration;

use actix::prelude::*;

use super::{Flush, Input, Outlet, HANDLER_QUEUE};
use crate::domain::publication::Publication;
use crate::pipeline::registry::Origin;
use crate::telemetry::Stats;

/// What a handler's logic produces: each publication with where its event came from.
pub type Out = Vec<(Publication, Origin)>;

/// A handler's logic: plain state, unit-tested without actors.
pub trait Logic: Unpin + 'static {
    type Item: Send + 'static;

    fn on_event(&mut self, input: Input<Self::Item>) -> Out;

    /// What the logic holds back (a buffer, a conflation window), sent now.
    fn flush(&mut self) -> Out;

    /// How often `flush` runs by itself; `None`: only at shutdown.
    fn flush_every(&self) -> Option<Duration>;

    /// Moves the logic's own counts into the shared counters, after every step.
    fn report(&mut self, stats: &Stats);
}

pub struct Shell<L> {
    logic: L,
    outlet: Outlet,
}

impl<L: Logic> Shell<L> {
    pub fn new(logic: L, outlet: Outlet) -> Self {
        Shell { logic, outlet }
    }

    fn send(&mut self, out: Out) {
        self.logic.report(self.outlet.stats());
        self.outlet.send_all(out);
    }
}

impl<L: Logic> Actor for Shell<L> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
        if let Some(every) = self.logic.flush_every() {
            ctx.run_interval(every, |act, _| {
                let out = act.logic.flush();
                act.send(out);
            });
        }
    }
}

impl<L: Logic> Handler<Input<L::Item>> for Shell<L> {
    type Result = ();

    fn handle(&mut self, msg: Input<L::Item>, _: &mut Self::Context) {
        let out = self.logic.on_event(msg);
        self.send(out);
    }
}

impl<L: Logic> Handler<Flush> for Shell<L> {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Self::Context) {
        let out = self.logic.flush();
        self.send(out);
    }
}
