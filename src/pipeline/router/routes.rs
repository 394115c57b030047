//! The routing table: which handler owns each kind of event. Exhaustive by construction, so a
//! new `Event` variant cannot be forgotten.

use crate::domain::event::{
    BacktestProgress, BacktestResult, CriticalAlert, ErrorReport, Event, IndicatorAlert,
    MarketEvent, MarketSummary, MonitoringEvent, OhlcvUpdate, PatternAlert, PriceUpdate,
    StreamingHealth, StreamingIndicator, StreamingPattern, StreamingSession, SystemHealth, Tick,
    WatchlistChanged,
};

#[derive(Debug, PartialEq)]
pub enum PatternInput {
    Alert(PatternAlert),
    Streaming(StreamingPattern),
    Indicator(StreamingIndicator),
    IndicatorAlert(IndicatorAlert),
}

#[derive(Debug, PartialEq)]
pub enum MarketInput {
    Price(PriceUpdate),
    Ohlcv(OhlcvUpdate),
    Summary(MarketSummary),
    Event(MarketEvent),
    Watchlist(WatchlistChanged),
    Tick(Tick),
}

#[derive(Debug, PartialEq)]
pub enum BacktestInput {
    Progress(BacktestProgress),
    Result(BacktestResult),
}

#[derive(Debug, PartialEq)]
pub enum SystemInput {
    Health(SystemHealth),
    StreamingSession(StreamingSession),
    StreamingHealth(StreamingHealth),
    Critical(CriticalAlert),
    Error(ErrorReport),
    Monitoring(MonitoringEvent),
    AdminTick(Tick),
}

#[derive(Debug, PartialEq)]
pub enum Route {
    PatternAlerts(PatternInput),
    MarketData(MarketInput),
    Backtest(BacktestInput),
    System(SystemInput),
}

pub fn route(event: Event) -> Route {
    match event {
        Event::PatternAlert(e) => Route::PatternAlerts(PatternInput::Alert(e)),
        Event::StreamingPattern(e) => Route::PatternAlerts(PatternInput::Streaming(e)),
        Event::StreamingIndicator(e) => Route::PatternAlerts(PatternInput::Indicator(e)),
        Event::IndicatorAlert(e) => Route::PatternAlerts(PatternInput::IndicatorAlert(e)),
        Event::PriceUpdate(e) => Route::MarketData(MarketInput::Price(e)),
        Event::OhlcvUpdate(e) => Route::MarketData(MarketInput::Ohlcv(e)),
        Event::MarketSummary(e) => Route::MarketData(MarketInput::Summary(e)),
        Event::MarketEvent(e) => Route::MarketData(MarketInput::Event(e)),
        Event::WatchlistChanged(e) => Route::MarketData(MarketInput::Watchlist(e)),
        Event::Tick(e) => Route::MarketData(MarketInput::Tick(e)),
        Event::BacktestProgress(e) => Route::Backtest(BacktestInput::Progress(e)),
        Event::BacktestResult(e) => Route::Backtest(BacktestInput::Result(e)),
        Event::SystemHealth(e) => Route::System(SystemInput::Health(e)),
        Event::StreamingSession(e) => Route::System(SystemInput::StreamingSession(e)),
        Event::StreamingHealth(e) => Route::System(SystemInput::StreamingHealth(e)),
        Event::CriticalAlert(e) => Route::System(SystemInput::Critical(e)),
        Event::ErrorReport(e) => Route::System(SystemInput::Error(e)),
        Event::Monitoring(e) => Route::System(SystemInput::Monitoring(e)),
        Event::AdminTick(e) => Route::System(SystemInput::AdminTick(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EpochMillis;
    use crate::domain::ids::{Symbol, UserId};

    #[test]
    fn ticks_go_to_market_data_or_system_by_feed() {
        let tick = Tick {
            symbol: Symbol::new("AAPL").unwrap(),
            price: 1.0,
            volume: None,
            timestamp: EpochMillis(0),
            source: None,
            market_status: None,
        };
        assert!(matches!(
            route(Event::Tick(tick.clone())),
            Route::MarketData(MarketInput::Tick(_))
        ));
        assert!(matches!(
            route(Event::AdminTick(tick)),
            Route::System(SystemInput::AdminTick(_))
        ));
        let w = WatchlistChanged {
            user_id: UserId::new("1").unwrap(),
        };
        assert!(matches!(
            route(Event::WatchlistChanged(w)),
            Route::MarketData(MarketInput::Watchlist(_))
        ));
    }
}
