//! A publication: one encoded frame for one stream, and the key each receiving session's own
//! filter looks at. It is what every handler produces and the only thing the registry fans out,
//! so "who receives this event" is answered by `audience` (which publications) and
//! `filter::SessionFilter::admits` (which sessions of a stream), nowhere else.

use serde::Serialize;

use super::filter::{AlertKey, SessionFilter};
use super::history::Place;
use super::ids::{Symbol, UserId};
use super::outbound::{EventName, Frame};
use super::stream::{Stream, Topic};

/// What a session's own filter looks at, besides the stream it subscribed to.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FilterKey {
    /// Every session of the stream.
    #[default]
    Everyone,
    /// A `pattern_alert`: sessions whose pattern subscriptions accept it.
    Alert(AlertKey),
    /// A `pattern_alert` on the public `patterns` topic: anonymous sessions whose pattern
    /// subscriptions accept it (signed-in sessions get alerts through their user stream, after
    /// their user's rules).
    AnonymousAlert(AlertKey),
}

impl FilterKey {
    /// Whether a session of the publication's stream receives it.
    pub fn admits(&self, session: &SessionFilter) -> bool {
        match self {
            FilterKey::Everyone => true,
            FilterKey::Alert(key) => session.patterns.matches(key),
            FilterKey::AnonymousAlert(key) => !session.signed_in && session.patterns.matches(key),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub stream: Stream,
    pub frame: Frame,
    pub filter: FilterKey,
    /// When nobody receives it, that is a loss counted as `no_recipients`: an event aimed at a
    /// user, at a symbol's watchers or at admins. Nobody listening to a broadcast topic is not.
    pub targeted: bool,
    /// Kept as its stream's latest `EventName`, for sessions that start watching the stream
    /// later (`snapshot::Snapshots`).
    pub latest: Option<EventName>,
    /// Its place in its stream's history, once written there (recoverable streams only,
    /// `domain::history`); `frame` then carries its offset too.
    pub written: Option<Place>,
    /// A later publication with the same key supersedes this one in replays and offline
    /// queues: only a job's latest progress is worth sending to someone who missed it.
    pub supersedes: Option<String>,
}

impl Publication {
    /// To everyone subscribed to a public topic.
    pub fn broadcast<T: Serialize>(topic: Topic, event: EventName, data: &T) -> Self {
        Publication::on(Stream::Topic(topic), Frame::encode(event, data), false)
    }

    /// To the watchers of one symbol.
    pub fn for_symbol<T: Serialize>(symbol: &Symbol, event: EventName, data: &T) -> Self {
        Publication::on(
            Stream::Symbol(symbol.clone()),
            Frame::encode(event, data),
            true,
        )
    }

    /// To every session of one user.
    pub fn for_user<T: Serialize>(user: &UserId, event: EventName, data: &T) -> Self {
        Publication::on(Stream::User(user.clone()), Frame::encode(event, data), true)
    }

    /// To the admin topic, where an empty audience is a loss (errors, monitoring).
    pub fn for_admins<T: Serialize>(event: EventName, data: &T) -> Self {
        Publication::on(
            Stream::Topic(Topic::Admin),
            Frame::encode(event, data),
            true,
        )
    }

    /// An already encoded frame (one encoding shared by several streams).
    pub fn on(stream: Stream, frame: Frame, targeted: bool) -> Self {
        Publication {
            stream,
            frame,
            filter: FilterKey::Everyone,
            targeted,
            latest: None,
            written: None,
            supersedes: None,
        }
    }

    /// Kept as the stream's latest `event`, and shown to new watchers.
    pub fn kept_as_latest(mut self, event: EventName) -> Self {
        self.latest = Some(event);
        self
    }

    /// Superseded in replays by the next publication with the same `key`.
    pub fn superseded_by(mut self, key: String) -> Self {
        self.supersedes = Some(key);
        self
    }

    pub fn filtered(mut self, filter: FilterKey) -> Self {
        self.filter = filter;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::{PatternFilter, PatternSubscription};

    fn key(pattern: &str) -> AlertKey {
        AlertKey {
            pattern: pattern.into(),
            symbol: Symbol::new("AAPL").unwrap(),
            confidence: 0.9,
        }
    }

    fn session(signed_in: bool, patterns: &[&str]) -> SessionFilter {
        let subs: Vec<_> = patterns
            .iter()
            .map(|p| PatternSubscription {
                pattern: (*p).into(),
                min_confidence: 0.0,
                symbols: None,
            })
            .collect();
        SessionFilter {
            signed_in,
            patterns: PatternFilter::compile(&subs).unwrap(),
        }
    }

    #[test]
    fn everyone_reaches_every_session() {
        assert!(FilterKey::Everyone.admits(&session(true, &["Doji"])));
        assert!(FilterKey::Everyone.admits(&session(false, &[])));
    }

    #[test]
    fn alerts_follow_the_session_pattern_subscriptions() {
        let alert = FilterKey::Alert(key("Doji"));
        assert!(
            alert.admits(&session(true, &[])),
            "no subscriptions: every alert"
        );
        assert!(alert.admits(&session(true, &["Doji"])));
        assert!(!alert.admits(&session(true, &["Hammer"])));
    }

    #[test]
    fn the_public_patterns_alert_skips_signed_in_sessions() {
        let alert = FilterKey::AnonymousAlert(key("Doji"));
        assert!(alert.admits(&session(false, &[])));
        assert!(!alert.admits(&session(false, &["Hammer"])));
        assert!(!alert.admits(&session(true, &[])));
    }
}
