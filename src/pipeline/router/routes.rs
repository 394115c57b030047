//! The routing table: which handler owns each kind of event. Exhaustive by construction, so a
//! new `Event` variant cannot be forgotten. Each handler owns its input type.

use crate::domain::event::Event;
use crate::pipeline::handlers::{
    BacktestInput, MarketInput, StreamingInput, SystemInput, UsersInput,
};

#[derive(Debug, PartialEq)]
pub enum Route {
    Streaming(StreamingInput),
    Users(UsersInput),
    Market(MarketInput),
    Backtest(BacktestInput),
    System(SystemInput),
}

pub fn route(event: Event) -> Route {
    match event {
        Event::PatternAlert(e) => Route::Users(UsersInput::PatternAlert(e)),
        Event::PreferenceSignal(e) => Route::Users(UsersInput::PreferenceSignal(e)),
        Event::StreamingPattern(e) => Route::Streaming(StreamingInput::Pattern(e)),
        Event::StreamingIndicator(e) => Route::Streaming(StreamingInput::Indicator(e)),
        Event::IndicatorUpdate(e) => Route::Streaming(StreamingInput::IndicatorUpdate(e)),
        Event::IndicatorAlert(e) => Route::Streaming(StreamingInput::IndicatorAlert(e)),
        Event::PriceUpdate(e) => Route::Market(MarketInput::Price(e)),
        Event::OhlcvUpdate(e) => Route::Market(MarketInput::Ohlcv(e)),
        Event::MarketSummary(e) => Route::Market(MarketInput::Summary(e)),
        Event::MarketEvent(e) => Route::Market(MarketInput::Event(e)),
        Event::Tick(e) => Route::Market(MarketInput::Tick(e)),
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
    use crate::domain::event::{Preference, PreferenceSignal, Tick};
    use crate::domain::ids::UserId;

    #[test]
    fn ticks_go_to_market_or_system_by_feed_and_watchlist_changes_to_users() {
        let tick = Tick::sample();
        assert!(matches!(
            route(Event::Tick(tick.clone())),
            Route::Market(MarketInput::Tick(_))
        ));
        assert!(matches!(
            route(Event::AdminTick(tick)),
            Route::System(SystemInput::AdminTick(_))
        ));
        let w = PreferenceSignal {
            user_id: UserId::new("1").unwrap(),
            what: Preference::AlertRules,
        };
        assert!(matches!(
            route(Event::PreferenceSignal(w)),
            Route::Users(UsersInput::PreferenceSignal(_))
        ));
    }
}
