//! Who receives each kind of event: one pure function per event kind, from a normalised event to
//! its publications (stream, encoded frame, filter key). With `publication::FilterKey::admits`
//! (which sessions of a stream) and, for pattern alerts, `directory::Directory::accepting` (which
//! users), this file answers "why did user X (not) get event Y".
//!
//! Each frame is encoded once here and shared by every session it reaches. The latest of each
//! symbol's price and bar, and of the health and summary events, is also kept for sessions that
//! start watching later (`kept_as_latest`, `snapshot`).

use super::event::{
    BacktestProgress, BacktestResult, CriticalAlert, ErrorReport, IndicatorAlert, IndicatorUpdate,
    MarketEvent, MarketSummary, MonitoringEvent, OhlcvUpdate, PatternAlert, PriceUpdate,
    StreamingHealth, StreamingIndicator, StreamingPattern, StreamingSession, SystemHealth, Tick,
};
use super::filter::AlertKey;
use super::ids::UserId;
use super::outbound::{EventName, Frame};
use super::preferences::PreferencesChanged;
use super::publication::{FilterKey, Publication};
use super::stream::{Stream, Topic};
use super::streaming_buffer::{IndicatorsBatch, PatternsBatch};

/// A batch-tier pattern alert: anonymous sessions get it on the `patterns` topic; each user
/// whose alert rules accepted it (`recipients`) gets it on their user stream. Both after the
/// receiving session's own pattern subscriptions.
pub fn pattern_alert(alert: &PatternAlert, recipients: &[UserId]) -> Vec<Publication> {
    let frame = Frame::encode(EventName::PatternAlert, alert);
    let key = AlertKey::from(alert);
    let public = Publication::on(Stream::Topic(Topic::Patterns), frame.clone(), false)
        .filtered(FilterKey::AnonymousAlert(key.clone()));
    let users = recipients.iter().map(|user| {
        Publication::on(Stream::User(user.clone()), frame.clone(), true)
            .filtered(FilterKey::Alert(key.clone()))
    });
    std::iter::once(public).chain(users).collect()
}

pub fn streaming_patterns(batch: &PatternsBatch) -> Publication {
    Publication::broadcast(Topic::Streaming, EventName::StreamingPatternsBatch, batch)
}

pub fn streaming_indicators(batch: &IndicatorsBatch) -> Publication {
    Publication::broadcast(Topic::Streaming, EventName::StreamingIndicatorsBatch, batch)
}

/// One streaming detection sent alone (the streaming buffer is off).
pub fn streaming_pattern(item: &StreamingPattern) -> Publication {
    Publication::broadcast(Topic::Streaming, EventName::StreamingPattern, item)
}

/// One streaming indicator sent alone (the streaming buffer is off).
pub fn streaming_indicator(item: &StreamingIndicator) -> Publication {
    Publication::broadcast(Topic::Streaming, EventName::StreamingIndicator, item)
}

/// An indicator value of `tickstock.events.indicators`, to the `streaming` topic at once.
pub fn indicator_update(update: &IndicatorUpdate) -> Publication {
    Publication::broadcast(Topic::Streaming, EventName::IndicatorUpdate, update)
}

pub fn indicator_alert(alert: &IndicatorAlert) -> Publication {
    Publication::broadcast(Topic::Alerts, EventName::IndicatorAlert, alert)
}

/// Price updates go to the symbol's watchers only.
pub fn price(update: &PriceUpdate) -> Publication {
    let name = EventName::DashboardPriceUpdate;
    Publication::for_symbol(&update.symbol, name, update).kept_as_latest(name)
}

pub fn ohlcv(update: &OhlcvUpdate) -> Publication {
    let name = EventName::DashboardOhlcvUpdate;
    Publication::for_symbol(&update.symbol, name, update).kept_as_latest(name)
}

/// A tick of `tickstock.all_ticks`, for the symbol's watchers.
pub fn tick(tick: &Tick) -> Publication {
    Publication::for_symbol(&tick.symbol, EventName::TickData, tick)
}

pub fn market_summary(summary: &MarketSummary) -> Publication {
    let name = EventName::DashboardMarketSummary;
    Publication::broadcast(Topic::Market, name, summary).kept_as_latest(name)
}

/// Market events go to the `market` topic, except dashboard alerts: to their user when they
/// name one, else to the `alerts` topic.
pub fn market_event(event: &MarketEvent) -> Publication {
    let name = EventName::DashboardMarketEvent;
    match event {
        MarketEvent::DashboardAlert {
            user_id: Some(user),
            ..
        } => Publication::for_user(user, name, event),
        MarketEvent::DashboardAlert { user_id: None, .. } => {
            Publication::broadcast(Topic::Alerts, name, event)
        }
        _ => Publication::broadcast(Topic::Market, name, event),
    }
}

/// Backtest progress goes to the job's owner only (the owner comes from the job record).
pub fn backtest_progress(owner: &UserId, progress: &BacktestProgress) -> Publication {
    Publication::for_user(owner, EventName::BacktestProgress, progress)
        .superseded_by(format!("backtest_progress:{}", progress.job_id))
}

pub fn backtest_result(owner: &UserId, result: &BacktestResult) -> Publication {
    Publication::for_user(owner, EventName::BacktestResult, result)
}

/// A user's preferences changed: every session of the user hears of it, whatever its topics.
pub fn preferences_changed(change: &PreferencesChanged) -> Publication {
    Publication::for_user(&change.user_id, EventName::PreferencesChanged, change)
}

pub fn system_health(health: &SystemHealth) -> Publication {
    let name = EventName::SystemHealth;
    Publication::broadcast(Topic::System, name, health).kept_as_latest(name)
}

pub fn streaming_session(session: &StreamingSession) -> Publication {
    Publication::broadcast(Topic::Streaming, EventName::StreamingSession, session)
}

pub fn streaming_health(health: &StreamingHealth) -> Publication {
    let name = EventName::StreamingHealth;
    Publication::broadcast(Topic::Streaming, name, health).kept_as_latest(name)
}

pub fn critical_alert(alert: &CriticalAlert) -> Publication {
    Publication::broadcast(Topic::Alerts, EventName::CriticalAlert, alert)
}

pub fn error_report(report: &ErrorReport) -> Publication {
    Publication::for_admins(EventName::SystemError, report)
}

pub fn monitoring(event: &MonitoringEvent) -> Publication {
    Publication::for_admins(EventName::MonitoringEvent, event)
}

/// The raw tick feed of `tickstock:market:ticks`: high-rate and informational, so an empty
/// admin topic is not a loss.
pub fn admin_tick(tick: &Tick) -> Publication {
    Publication::broadcast(Topic::Admin, EventName::TickUpdate, tick)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{DashboardAlertBody, EpochMillis};
    use crate::domain::ids::Symbol;

    fn alert() -> PatternAlert {
        PatternAlert {
            pattern: "Doji".into(),
            symbol: Symbol::new("AAPL").unwrap(),
            confidence: 0.9,
            timestamp: EpochMillis(0),
            source: None,
            tier: None,
            timeframe: None,
            direction: None,
            flow_id: None,
            current_price: None,
            price_change: None,
            volume: None,
            expires_at: None,
            details: None,
            indicators: None,
            metadata: None,
        }
    }

    #[test]
    fn a_pattern_alert_goes_to_anonymous_sessions_and_each_accepting_user_in_one_encoding() {
        let users = [UserId::new("1").unwrap(), UserId::new("2").unwrap()];
        let pubs = pattern_alert(&alert(), &users);
        assert_eq!(pubs.len(), 3);
        assert_eq!(pubs[0].stream, Stream::Topic(Topic::Patterns));
        assert!(matches!(pubs[0].filter, FilterKey::AnonymousAlert(_)));
        assert!(!pubs[0].targeted, "nobody anonymous online is not a loss");
        assert_eq!(pubs[1].stream, Stream::User(users[0].clone()));
        assert!(matches!(pubs[1].filter, FilterKey::Alert(_)));
        assert!(pubs[1].targeted);
        assert!(pubs.iter().all(|p| p.frame == pubs[0].frame));
        assert!(pubs[0]
            .frame
            .0
            .starts_with(r#"{"event":"pattern_alert","data":{"pattern":"Doji""#));
    }

    #[test]
    fn a_dashboard_alert_goes_to_its_user_or_to_the_alerts_topic() {
        let body = DashboardAlertBody {
            id: None,
            alert_type: None,
            title: None,
            description: None,
            symbol: None,
            timestamp: EpochMillis(0),
            show_notification: true,
        };
        let user = UserId::new("7").unwrap();
        let mine = MarketEvent::DashboardAlert {
            alert: body.clone(),
            user_id: Some(user.clone()),
            timestamp: EpochMillis(0),
        };
        assert_eq!(market_event(&mine).stream, Stream::User(user));
        assert!(market_event(&mine).targeted);
        let everyone = MarketEvent::DashboardAlert {
            alert: body,
            user_id: None,
            timestamp: EpochMillis(0),
        };
        assert_eq!(market_event(&everyone).stream, Stream::Topic(Topic::Alerts));
        assert!(!market_event(&everyone).frame.0.contains("user_id"));
    }

    #[test]
    fn admin_errors_count_when_unheard_but_the_admin_tick_feed_does_not() {
        let tick = Tick::sample();
        assert!(!admin_tick(&tick).targeted);
        assert!(super::tick(&tick).targeted);
        assert_eq!(admin_tick(&tick).stream, Stream::Topic(Topic::Admin));
    }
}
