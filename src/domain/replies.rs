//! The `data` of every frame the server sends in answer to a session: `connection_confirmed`,
//! `pong`, and the `ack` of each op. Each shape is one type here.
//!
//! Fields are declared in alphabetical order, which is the order clients have always received
//! them (the replies used to be built with `json!`, whose maps sort their keys); the tests pin
//! the exact bytes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::event::EpochMillis;
use super::history::{Position, Recoverable, Recovery};
use super::ids::{SessionId, Symbol, UserId};

/// The op an `ack` answers, by its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Auth,
    Subscribe,
    Unsubscribe,
    Watchlist,
    PatternSubscriptions,
    Resume,
    Ack,
}

/// The answer to one client op.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    /// `pong`: the server's clock, so the client can measure latency and skew.
    Pong { server_time: EpochMillis },
    /// `ack` of `auth`: the new identity and the topics and watchlist it left the session with.
    Identity {
        op: Op,
        roles: Vec<&'static str>,
        /// The recoverable streams the op made the session follow, at their latest positions.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        streams: BTreeMap<Recoverable, Position>,
        topics: Vec<String>,
        user_id: Option<UserId>,
        watchlist: Watchlist,
    },
    /// `ack` of `subscribe` and `unsubscribe`: the topics the session now receives.
    Topics {
        op: Op,
        /// As for `Identity`.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        streams: BTreeMap<Recoverable, Position>,
        topics: Vec<String>,
    },
    /// `ack` of `watchlist`: the symbols now watched, and that they are the session's own.
    Symbols {
        op: Op,
        source: WatchlistSource,
        symbols: Vec<Symbol>,
    },
    /// `ack` of `pattern_subscriptions`: how many subscriptions the filter now holds.
    Count { count: usize, op: Op },
    /// `ack` of `resume`: each stream recovered (and how many frames were replayed) or not.
    Recovered {
        op: Op,
        streams: BTreeMap<Recoverable, Recovery>,
    },
    /// `ack` of `ack`: each stream's acknowledged offset now.
    Acknowledged {
        op: Op,
        streams: BTreeMap<Recoverable, u64>,
    },
}

impl Reply {
    /// The reply with the positions of the streams its op made the session follow (only
    /// `auth`, `subscribe` and `unsubscribe` acks have them).
    pub fn with_streams(mut self, joined: BTreeMap<Recoverable, Position>) -> Reply {
        if let Reply::Identity { streams, .. } | Reply::Topics { streams, .. } = &mut self {
            *streams = joined;
        }
        self
    }
}

/// The first frame of every session: who the server thinks the client is and what it receives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionConfirmed {
    pub roles: Vec<&'static str>,
    pub server_time: EpochMillis,
    pub session_id: SessionId,
    /// Each recoverable stream the session follows, at its latest position: where a later
    /// `resume` starts from.
    pub streams: BTreeMap<Recoverable, Position>,
    pub topics: Vec<String>,
    pub user_id: Option<UserId>,
    pub watchlist: Watchlist,
}

/// The symbols a session watches and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Watchlist {
    pub source: WatchlistSource,
    /// Sorted.
    pub symbols: Vec<Symbol>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchlistSource {
    /// The user's stored watchlist (and any `symbol:` topics the session added).
    Stored,
    /// What the session sent with `watchlist` (always, for an anonymous session).
    Session,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn replies_keep_their_bytes() {
        let topics = || vec!["patterns".to_owned(), "symbol:AAPL".to_owned()];
        let user = UserId::new("7");
        let watchlist = || Watchlist {
            source: WatchlistSource::Stored,
            symbols: Symbol::new("nvda").into_iter().collect(),
        };
        let cases = [
            (
                Reply::Pong {
                    server_time: EpochMillis(5),
                },
                r#"{"server_time":5}"#,
            ),
            (
                Reply::Identity {
                    op: Op::Auth,
                    roles: vec!["admin"],
                    streams: BTreeMap::new(),
                    topics: topics(),
                    user_id: user.clone(),
                    watchlist: watchlist(),
                },
                r#"{"op":"auth","roles":["admin"],"topics":["patterns","symbol:AAPL"],"user_id":"7","watchlist":{"source":"stored","symbols":["NVDA"]}}"#,
            ),
            (
                Reply::Topics {
                    op: Op::Unsubscribe,
                    streams: BTreeMap::new(),
                    topics: topics(),
                },
                r#"{"op":"unsubscribe","topics":["patterns","symbol:AAPL"]}"#,
            ),
            (
                Reply::Topics {
                    op: Op::Subscribe,
                    streams: BTreeMap::new(),
                    topics: topics(),
                }
                .with_streams(
                    [(
                        Recoverable::Patterns,
                        Position {
                            epoch: "e1".into(),
                            offset: 4,
                        },
                    )]
                    .into(),
                ),
                r#"{"op":"subscribe","streams":{"patterns":{"epoch":"e1","offset":4}},"topics":["patterns","symbol:AAPL"]}"#,
            ),
            (
                Reply::Symbols {
                    op: Op::Watchlist,
                    source: WatchlistSource::Session,
                    symbols: Symbol::new("msft").into_iter().collect(),
                },
                r#"{"op":"watchlist","source":"session","symbols":["MSFT"]}"#,
            ),
            (
                Reply::Count {
                    count: 2,
                    op: Op::PatternSubscriptions,
                },
                r#"{"count":2,"op":"pattern_subscriptions"}"#,
            ),
        ];
        for (reply, expected) in cases {
            assert_eq!(text(&reply), expected);
        }
        let confirmed = ConnectionConfirmed {
            roles: vec![],
            server_time: EpochMillis(9),
            session_id: SessionId(3),
            streams: [(
                Recoverable::Patterns,
                Position {
                    epoch: "e1".into(),
                    offset: 4,
                },
            )]
            .into(),
            topics: topics(),
            user_id: None,
            watchlist: watchlist(),
        };
        assert_eq!(
            text(&confirmed),
            r#"{"roles":[],"server_time":9,"session_id":3,"streams":{"patterns":{"epoch":"e1","offset":4}},"topics":["patterns","symbol:AAPL"],"user_id":null,"watchlist":{"source":"stored","symbols":["NVDA"]}}"#
        );
    }
}
