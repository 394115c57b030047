//! Market: prices and OHLCV to the symbol's watchers, with the significance threshold and
//! optional per-symbol conflation of price updates (within a window only the newest update of
//! a symbol is sent); ticks to the symbol's watchers; summaries and market events to their
//! topic (`domain::audience`).

use std::time::Duration;

use super::shell::{Logic, Out, Shell};
use super::Input;
use crate::domain::audience;
use crate::domain::drop::DropReason;
use crate::domain::event::{MarketEvent, MarketSummary, OhlcvUpdate, PriceUpdate, Tick};
use crate::domain::ids::Symbol;
use crate::domain::publication::Publication;
use crate::domain::streaming_buffer::{Keyed, StreamingBuffer};
use crate::pipeline::registry::Origin;
use crate::telemetry::events::{EventDropped, PricesConflated};
use crate::telemetry::{ChannelId, Stats};

/// Symbols pending in one conflation window before it is flushed early.
const CONFLATION_MAX_SYMBOLS: usize = 10_000;

#[derive(Debug, PartialEq)]
pub enum MarketInput {
    Price(PriceUpdate),
    Ohlcv(OhlcvUpdate),
    Summary(MarketSummary),
    Event(MarketEvent),
    Tick(Tick),
}

#[derive(Debug, Clone, Copy)]
pub struct MarketConfig {
    pub price_change_threshold_pct: f64,
    /// `None` sends every price update at once.
    pub conflation: Option<Duration>,
}

/// The Market handler: its logic in the common handler actor.
pub type Market = Shell<MarketLogic>;

/// A price update waiting in the conflation window; a newer one of the same symbol replaces it.
struct Pending {
    update: PriceUpdate,
    origin: Origin,
}

impl Keyed for Pending {
    fn key(&self) -> (&Symbol, &str) {
        (&self.update.symbol, "price")
    }
}

pub struct MarketLogic {
    price_change_threshold_pct: f64,
    /// The conflation window and what waits in it.
    conflation: Option<(Duration, StreamingBuffer<Pending>)>,
    /// Price updates under the threshold, by channel, not yet counted.
    below_threshold: Vec<ChannelId>,
}

impl MarketLogic {
    pub fn new(config: MarketConfig) -> Self {
        MarketLogic {
            price_change_threshold_pct: config.price_change_threshold_pct,
            conflation: config
                .conflation
                .map(|window| (window, StreamingBuffer::new(CONFLATION_MAX_SYMBOLS))),
            below_threshold: Vec::new(),
        }
    }

    fn on_price(&mut self, update: PriceUpdate, origin: Origin) -> Out {
        if update.change_percent.abs() < self.price_change_threshold_pct {
            self.below_threshold.extend(origin.channel);
            return vec![];
        }
        let Some((_, pending)) = &mut self.conflation else {
            return vec![(audience::price(&update), origin)];
        };
        let received_at = origin.received_at;
        let full = pending.push(Pending { update, origin }, received_at);
        full.into_iter().flat_map(|b| b.items).map(send).collect()
    }

    /// Price updates replaced by a newer one of the same symbol.
    pub fn conflated(&self) -> u64 {
        self.conflation
            .as_ref()
            .map_or(0, |(_, c)| c.counters.deduplicated)
    }
}

impl Logic for MarketLogic {
    type Item = MarketInput;

    fn on_event(&mut self, input: Input<MarketInput>) -> Out {
        let origin = input.origin();
        let publication = match input.item {
            MarketInput::Price(update) => return self.on_price(update, origin),
            MarketInput::Ohlcv(update) => audience::ohlcv(&update),
            MarketInput::Tick(tick) => audience::tick(&tick),
            MarketInput::Summary(summary) => audience::market_summary(&summary),
            MarketInput::Event(event) => audience::market_event(&event),
        };
        vec![(publication, origin)]
    }

    /// The conflation window closed, or the server is shutting down.
    fn flush(&mut self) -> Out {
        let batch = self.conflation.as_mut().and_then(|(_, c)| c.flush());
        batch.into_iter().flat_map(|b| b.items).map(send).collect()
    }

    fn flush_every(&self) -> Option<Duration> {
        self.conflation.as_ref().map(|(window, _)| *window)
    }

    fn report(&mut self, stats: &Stats) {
        for channel in self.below_threshold.drain(..) {
            stats.emit(EventDropped {
                channel: Some(channel),
                reason: DropReason::BelowThreshold,
            });
        }
        stats.emit(PricesConflated {
            total: self.conflated(),
        });
    }
}

fn send(p: Pending) -> (Publication, Origin) {
    (audience::price(&p.update), p.origin)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::domain::event::EpochMillis;
    use crate::domain::stream::Stream;

    fn price(symbol: &str, price: f64, change_percent: f64) -> MarketInput {
        MarketInput::Price(PriceUpdate {
            symbol: Symbol::new(symbol).unwrap(),
            price,
            change: 0.0,
            change_percent,
            volume: None,
            timestamp: EpochMillis(0),
        })
    }

    fn input(item: MarketInput) -> Input<MarketInput> {
        Input {
            channel: ChannelId(1),
            item,
            received_at: Instant::now(),
            message: 0,
            receipt: None,
        }
    }

    fn logic(conflation: bool) -> MarketLogic {
        MarketLogic::new(MarketConfig {
            price_change_threshold_pct: 0.1,
            conflation: conflation.then_some(Duration::from_millis(50)),
        })
    }

    #[test]
    fn prices_go_to_the_symbols_watchers_above_the_threshold() {
        let mut market = logic(false);
        let out = market.on_event(input(price("aapl", 10.0, 0.5)));
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].0.stream,
            Stream::Symbol(Symbol::new("AAPL").unwrap())
        );
        assert!(out[0].0.targeted);
        assert!(market
            .on_event(input(price("AAPL", 10.0, -0.05)))
            .is_empty());
        let stats = Stats::new(vec!["prices".into(), "other".into()]);
        market.report(&stats);
        assert_eq!(stats.drops_for(DropReason::BelowThreshold), 1);
    }

    #[test]
    fn conflation_sends_the_newest_price_per_symbol_at_the_window_end() {
        let mut market = logic(true);
        assert!(market.on_event(input(price("AAPL", 1.0, 1.0))).is_empty());
        assert!(market.on_event(input(price("AAPL", 2.0, 1.0))).is_empty());
        assert!(market.on_event(input(price("MSFT", 3.0, 1.0))).is_empty());
        let out = market.flush();
        assert_eq!(out.len(), 2);
        assert!(
            out[0].0.frame.0.contains(r#""price":2.0"#),
            "{:?}",
            out[0].0.frame
        );
        assert_eq!(market.conflated(), 1);
        assert!(market.flush().is_empty());
    }
}
