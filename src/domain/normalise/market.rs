//! Market data: price updates, OHLCV bars, the market summary and raw ticks.

use super::super::drop::DropReason;
use super::super::event::{
    EpochMillis, Event, MarketSummary, MarketSummaryBody, Ohlcv, OhlcvUpdate, PriceUpdate, Tick,
};
use super::detections::timeframe;
use super::layers::{Msg, Shape, SYMBOL};
use super::value::{self as v, Res};

const SUMMARY_FIELDS: &[&str] = &[
    "total_symbols",
    "symbols_up",
    "symbols_down",
    "total_volume",
    "market_cap_change",
];

pub(super) const PRICE_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[SYMBOL, &["price"]],
    batch: None,
};

pub(super) const OHLCV_SHAPE: Shape = Shape {
    wrappers: &["ohlcv", "event"],
    key_fields: &[SYMBOL, &["close"]],
    batch: None,
};

pub(super) const SUMMARY_SHAPE: Shape = Shape {
    wrappers: &["summary", "event"],
    key_fields: &[SUMMARY_FIELDS],
    batch: None,
};

fn required_number(m: &Msg<'_>, key: &str) -> Res<f64> {
    v::number(m.own(&[key]))?.ok_or(DropReason::MissingField)
}

fn number_or_zero(m: &Msg<'_>, key: &str) -> Res<f64> {
    Ok(v::number(m.own(&[key]))?.unwrap_or(0.0))
}

fn count_or_zero(m: &Msg<'_>, key: &str) -> Res<u64> {
    Ok(v::count(m.own(&[key]))?.unwrap_or(0))
}

/// `tickstock.market.prices` → `price_update`; symbol and price required.
pub(super) fn price_update(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::PriceUpdate(PriceUpdate {
        symbol: m.symbol()?,
        price: required_number(m, "price")?,
        change: number_or_zero(m, "change")?,
        change_percent: number_or_zero(m, "change_percent")?,
        volume: v::number(m.own(&["volume"]))?,
        timestamp: m.time(received_at)?,
    }))
}

/// `tickstock.market.ohlcv` → `ohlcv_update`, flat or nested under `ohlcv`.
pub(super) fn ohlcv_update(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::OhlcvUpdate(OhlcvUpdate {
        symbol: m.symbol()?,
        timeframe: timeframe(m)?,
        ohlcv: Ohlcv {
            open: required_number(m, "open")?,
            high: required_number(m, "high")?,
            low: required_number(m, "low")?,
            close: required_number(m, "close")?,
            volume: number_or_zero(m, "volume")?,
        },
        timestamp: m.time(received_at)?,
    }))
}

/// `tickstock.market.summary` → `market_summary`, flat or nested under `summary`.
pub(super) fn market_summary(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::MarketSummary(MarketSummary {
        summary: MarketSummaryBody {
            total_symbols: count_or_zero(m, "total_symbols")?,
            symbols_up: count_or_zero(m, "symbols_up")?,
            symbols_down: count_or_zero(m, "symbols_down")?,
            total_volume: number_or_zero(m, "total_volume")?,
            market_cap_change: number_or_zero(m, "market_cap_change")?,
        },
        timestamp: m.time(received_at)?,
    }))
}

/// A raw tick (`tickstock.all_ticks` for watchers, `tickstock:market:ticks` for admins).
pub(super) fn tick(m: &Msg<'_>, received_at: EpochMillis) -> Res<Tick> {
    Ok(Tick {
        symbol: m.symbol()?,
        price: required_number(m, "price")?,
        volume: v::number(m.own(&["volume"]))?,
        timestamp: m.time(received_at)?,
        source: v::text(m.get(&["source"]))?,
        market_status: v::text(m.own(&["market_status"]))?,
    })
}

pub(super) fn tick_data(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    tick(m, received_at).map(Event::Tick)
}

pub(super) fn market_tick(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    tick(m, received_at).map(Event::AdminTick)
}

#[cfg(test)]
mod tests {
    use super::super::super::kind::EventKind;
    use super::super::normalise;
    use super::*;
    use serde_json::{json, Value};

    fn run(kind: EventKind, v: Value) -> Vec<Res<Event>> {
        normalise(kind, v.to_string().as_bytes(), EpochMillis(0))
    }

    #[test]
    fn nested_ohlcv_inherits_symbol_and_timeframe() {
        let out = run(
            EventKind::OhlcvUpdate,
            json!({"symbol": "nvda", "timeframe": "5min", "ohlcv": {"open": 1, "high": "2",
                   "low": 0.5, "close": 1.5}}),
        );
        let [Ok(Event::OhlcvUpdate(o))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((o.symbol.as_str(), o.timeframe.as_str()), ("NVDA", "5min"));
        assert_eq!((o.ohlcv.high, o.ohlcv.volume), (2.0, 0.0));
        let missing = json!({"symbol": "A", "open": 1, "high": 1, "low": 1});
        assert_eq!(
            run(EventKind::OhlcvUpdate, missing),
            vec![Err(DropReason::MissingField)]
        );
    }

    #[test]
    fn price_and_ticks_need_symbol_and_price() {
        let no_price = json!({"symbol": "SPY", "change_percent": 1});
        assert_eq!(
            run(EventKind::PriceUpdate, no_price),
            vec![Err(DropReason::MissingField)]
        );
        let out = run(
            EventKind::MarketTick,
            json!({"ticker": "spy", "price": "1.5"}),
        );
        let [Ok(Event::AdminTick(t))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((t.symbol.as_str(), t.price, t.volume), ("SPY", 1.5, None));
        let out = run(EventKind::TickData, json!({"price": 1}));
        assert_eq!(out, vec![Err(DropReason::MissingSymbol)]);
    }

    #[test]
    fn summary_defaults_to_zero() {
        let out = run(
            EventKind::MarketSummary,
            json!({"summary": {"symbols_up": 3}}),
        );
        let [Ok(Event::MarketSummary(s))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((s.summary.symbols_up, s.summary.total_symbols), (3, 0));
        let bad = json!({"total_symbols": -4});
        assert_eq!(
            run(EventKind::MarketSummary, bad),
            vec![Err(DropReason::InvalidValue)]
        );
    }
}
