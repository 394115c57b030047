//! What one WebSocket session asked for (identity, topics, symbols, pattern filter) and the
//! rules for changing it. The session actor applies client ops here and hands the resulting
//! set of streams to the registry; it holds no logic of its own.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use strum::VariantArray;

use super::event::EpochMillis;
use super::filter::PatternFilter;
use super::history::{Position, Recoverable};
use super::identity::{Identity, VerifyToken};
use super::ids::{SessionId, Symbol, UserId};
use super::outbound::EventName;
use super::protocol::{ClientOp, ErrorCode, ProtocolError};
use super::replies::{ConnectionConfirmed, Op, Reply, Watchlist, WatchlistSource};
use super::stream::{Stream, Topic, TopicName};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_topics: usize,
    pub max_symbols: usize,
}

/// Whether topic names are being joined (which needs permission) or left (which never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Subscribe,
    Unsubscribe,
}

#[derive(Debug, Clone)]
pub struct SessionState {
    pub identity: Identity,
    topics: BTreeSet<Topic>,
    symbols: BTreeSet<Symbol>,
    /// False until the first `subscribe`, which replaces the default topics.
    explicit_topics: bool,
    /// True until the first `watchlist` op: a signed-in session watches its user's stored
    /// watchlist besides its own `symbol:` topics (the registry adds those streams).
    follows_stored: bool,
    /// The user's stored watchlist as last heard, for the replies that show it.
    stored: BTreeSet<Symbol>,
    pub filter: PatternFilter,
}

/// The result of an op that changed (or could have changed) the session.
pub struct Applied {
    /// `ack`, or `pong` for `ping`.
    pub event: EventName,
    pub reply: Reply,
    /// Whether the registry must be told about new streams or a new filter.
    pub changed: bool,
}

impl SessionState {
    pub fn new(identity: Identity) -> Self {
        let mut state = SessionState {
            identity,
            topics: BTreeSet::new(),
            symbols: BTreeSet::new(),
            explicit_topics: false,
            follows_stored: true,
            stored: BTreeSet::new(),
            filter: PatternFilter::default(),
        };
        state.topics = state.default_topics();
        state
    }

    fn default_topics(&self) -> BTreeSet<Topic> {
        let admin = self.identity.admin.then_some(Topic::Admin);
        Topic::PUBLIC.into_iter().chain(admin).collect()
    }

    /// The topic names the session currently receives (for `connection_confirmed` and acks).
    pub fn topic_names(&self) -> Vec<String> {
        let topics = self.topics.iter().map(|t| TopicName::Topic(*t));
        let symbols = self.symbols.iter().map(|s| TopicName::Symbol(s.clone()));
        topics.chain(symbols).map(|t| t.to_string()).collect()
    }

    /// The streams the session receives: its topics and symbols, and its user's stream.
    pub fn streams(&self) -> HashSet<Stream> {
        let mut streams: HashSet<Stream> = self.topics.iter().map(|t| Stream::Topic(*t)).collect();
        streams.extend(self.symbols.iter().cloned().map(Stream::Symbol));
        if let Some(user) = &self.identity.user {
            streams.insert(Stream::User(user.clone()));
        }
        streams
    }

    /// The recoverable streams the session follows now, in name order.
    pub fn recoverable(&self) -> Vec<(Recoverable, Stream)> {
        let mut streams: Vec<(Recoverable, Stream)> = self
            .streams()
            .into_iter()
            .filter_map(|s| Recoverable::of(&s).map(|r| (r, s)))
            .collect();
        streams.sort_by_key(|(r, _)| *r);
        streams
    }

    /// A `resume`'s streams, checked: each with the stream it means for this session, or `None`
    /// when the session does not follow it (`not_allowed`). An unknown name is an error.
    pub fn resume_targets(
        &self,
        asked: BTreeMap<String, Position>,
    ) -> Result<Vec<(Recoverable, Option<Stream>, Position)>, ProtocolError> {
        let following = self.streams();
        asked
            .into_iter()
            .map(|(name, position)| {
                let which = recoverable_name(&name)?;
                let stream = which
                    .stream(self.identity.user.as_ref())
                    .filter(|s| following.contains(s));
                Ok((which, stream, position))
            })
            .collect()
    }

    /// An `ack`'s target: the session's user and the offset acknowledged in their stream.
    pub fn ack_target(&self, asked: BTreeMap<String, u64>) -> Result<(UserId, u64), ProtocolError> {
        let mut user_offset = None;
        for (name, offset) in asked {
            match recoverable_name(&name)? {
                Recoverable::User => user_offset = Some(offset),
                other => {
                    return Err(ProtocolError::new(
                        ErrorCode::InvalidField,
                        format!(
                            "only the user stream is acknowledged; {:?} is replayed with resume",
                            other.as_str()
                        ),
                    ))
                }
            }
        }
        let offset = user_offset.ok_or_else(|| {
            ProtocolError::new(ErrorCode::InvalidField, "streams must name \"user\"")
        })?;
        let user = self.identity.user.clone().ok_or_else(|| {
            ProtocolError::new(
                ErrorCode::Forbidden,
                "sign in first: only a signed-in session has a user stream",
            )
        })?;
        Ok((user, offset))
    }

    /// Whether the registry adds the user's stored watchlist to this session's streams.
    pub fn follows_stored(&self) -> bool {
        self.follows_stored
    }

    /// The user's stored watchlist, as the Users handler read it.
    pub fn set_stored_watchlist(&mut self, symbols: impl IntoIterator<Item = Symbol>) {
        self.stored = symbols.into_iter().collect();
    }

    /// The symbols the session watches now, and where they come from.
    pub fn watchlist(&self) -> Watchlist {
        if self.identity.user.is_some() && self.follows_stored {
            Watchlist {
                source: WatchlistSource::Stored,
                symbols: self.stored.union(&self.symbols).cloned().collect(),
            }
        } else {
            Watchlist {
                source: WatchlistSource::Session,
                symbols: self.symbols.iter().cloned().collect(),
            }
        }
    }

    /// The `auth` ack: the identity and what the session receives now.
    pub fn identity_reply(&self) -> Reply {
        Reply::Identity {
            op: Op::Auth,
            roles: self.identity.roles(),
            streams: BTreeMap::new(),
            topics: self.topic_names(),
            user_id: self.identity.user.clone(),
            watchlist: self.watchlist(),
        }
    }

    pub fn apply(
        &mut self,
        op: ClientOp,
        auth: &dyn VerifyToken,
        limits: Limits,
    ) -> Result<Applied, ProtocolError> {
        match op {
            ClientOp::Ping => Ok(Applied {
                event: EventName::Pong,
                reply: Reply::Pong {
                    server_time: EpochMillis::now(),
                },
                changed: false,
            }),
            ClientOp::Auth { token } => {
                let identity = auth.verify_token(&token)?;
                if !identity.admin {
                    self.topics.remove(&Topic::Admin);
                }
                let was_default = !self.explicit_topics;
                if identity.user != self.identity.user {
                    self.stored.clear();
                }
                self.identity = identity;
                if was_default {
                    self.topics = self.default_topics();
                }
                Ok(Applied {
                    event: EventName::Ack,
                    reply: self.identity_reply(),
                    changed: true,
                })
            }
            ClientOp::Subscribe { topics } => {
                let names = self.parse_topics(&topics, limits, Access::Subscribe)?;
                // Built aside and committed only when every check passed, so a rejected op
                // leaves the session exactly as it was.
                let mut new_topics = if self.explicit_topics {
                    self.topics.clone()
                } else {
                    BTreeSet::new()
                };
                let mut symbols = self.symbols.clone();
                for name in names {
                    match name {
                        TopicName::Topic(t) => {
                            new_topics.insert(t);
                        }
                        TopicName::Symbol(s) => {
                            symbols.insert(s);
                        }
                    }
                }
                self.set_symbols(symbols, limits)?;
                self.topics = new_topics;
                self.explicit_topics = true;
                Ok(Applied {
                    event: EventName::Ack,
                    reply: self.topics_reply(Op::Subscribe),
                    changed: true,
                })
            }
            ClientOp::Unsubscribe { topics } => {
                let names = self.parse_topics(&topics, limits, Access::Unsubscribe)?;
                self.explicit_topics = true;
                for name in names {
                    match name {
                        TopicName::Topic(t) => self.topics.remove(&t),
                        TopicName::Symbol(s) => self.symbols.remove(&s),
                    };
                }
                Ok(Applied {
                    event: EventName::Ack,
                    reply: self.topics_reply(Op::Unsubscribe),
                    changed: true,
                })
            }
            ClientOp::Watchlist { symbols } => {
                let mut parsed = BTreeSet::new();
                for raw in &symbols {
                    let sym = Symbol::new(raw).ok_or_else(|| {
                        ProtocolError::new(
                            ErrorCode::InvalidField,
                            format!("invalid symbol {raw:?}"),
                        )
                    })?;
                    parsed.insert(sym);
                }
                self.set_symbols(parsed, limits)?;
                self.follows_stored = false;
                let Watchlist { source, symbols } = self.watchlist();
                Ok(Applied {
                    event: EventName::Ack,
                    reply: Reply::Symbols {
                        op: Op::Watchlist,
                        source,
                        symbols,
                    },
                    changed: true,
                })
            }
            ClientOp::PatternSubscriptions { subscriptions } => {
                self.filter = PatternFilter::compile(&subscriptions)
                    .map_err(|e| ProtocolError::new(ErrorCode::InvalidField, e.0))?;
                Ok(Applied {
                    event: EventName::Ack,
                    reply: Reply::Count {
                        count: self.filter.len(),
                        op: Op::PatternSubscriptions,
                    },
                    changed: true,
                })
            }
        }
    }

    fn parse_topics(
        &self,
        topics: &[String],
        limits: Limits,
        access: Access,
    ) -> Result<Vec<TopicName>, ProtocolError> {
        if topics.len() > limits.max_topics {
            return Err(ProtocolError::new(
                ErrorCode::TooManyTopics,
                format!("at most {} topics per request", limits.max_topics),
            ));
        }
        topics
            .iter()
            .map(|raw| {
                let name = TopicName::parse(raw).ok_or_else(|| {
                    ProtocolError::new(
                        ErrorCode::UnknownTopic,
                        format!(
                            "unknown topic {raw:?}; expected patterns, streaming, alerts, market, \
                             system, admin or symbol:<SYMBOL>"
                        ),
                    )
                })?;
                let joins_admin =
                    access == Access::Subscribe && name == TopicName::Topic(Topic::Admin);
                if joins_admin && !self.identity.admin {
                    return Err(ProtocolError::new(
                        ErrorCode::Forbidden,
                        "topic \"admin\" needs the admin role",
                    ));
                }
                Ok(name)
            })
            .collect()
    }

    fn set_symbols(
        &mut self,
        symbols: BTreeSet<Symbol>,
        limits: Limits,
    ) -> Result<(), ProtocolError> {
        if symbols.len() > limits.max_symbols {
            return Err(ProtocolError::new(
                ErrorCode::TooManySymbols,
                format!("at most {} symbols per session", limits.max_symbols),
            ));
        }
        self.symbols = symbols;
        Ok(())
    }

    fn topics_reply(&self, op: Op) -> Reply {
        Reply::Topics {
            op,
            streams: BTreeMap::new(),
            topics: self.topic_names(),
        }
    }

    /// The first frame a session sends, describing the state it starts in.
    pub fn connection_confirmed(
        &self,
        session: SessionId,
        now: EpochMillis,
        streams: BTreeMap<Recoverable, Position>,
    ) -> ConnectionConfirmed {
        ConnectionConfirmed {
            roles: self.identity.roles(),
            server_time: now,
            session_id: session,
            streams,
            topics: self.topic_names(),
            user_id: self.identity.user.clone(),
            watchlist: self.watchlist(),
        }
    }
}

/// A recoverable stream's name, or an error naming the valid ones.
fn recoverable_name(name: &str) -> Result<Recoverable, ProtocolError> {
    name.parse().map_err(|_| {
        let valid: Vec<&str> = Recoverable::VARIANTS.iter().map(|r| r.as_str()).collect();
        ProtocolError::new(
            ErrorCode::InvalidField,
            format!(
                "unknown stream {name:?}; recoverable streams are {}",
                valid.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;

    const LIMITS: Limits = Limits {
        max_topics: 8,
        max_symbols: 3,
    };

    /// Accepts `admin:<user>` and `user:<user>`; refuses anything else as an invalid token.
    struct Tokens;

    impl VerifyToken for Tokens {
        fn verify_token(&self, token: &str) -> Result<Identity, ProtocolError> {
            let (role, user) = token
                .split_once(':')
                .ok_or_else(|| ProtocolError::new(ErrorCode::InvalidToken, "forged"))?;
            Ok(Identity {
                user: UserId::new(user),
                admin: role == "admin",
                expires_at: None,
            })
        }
    }

    fn subscribe(state: &mut SessionState, topics: &[&str]) -> Result<Applied, ProtocolError> {
        state.apply(
            ClientOp::Subscribe {
                topics: topics.iter().map(|t| t.to_string()).collect(),
            },
            &Tokens,
            LIMITS,
        )
    }

    #[test]
    fn new_session_gets_public_topics_and_its_own_room() {
        let state = SessionState::new(Identity::default());
        assert_eq!(
            state.topic_names(),
            ["patterns", "streaming", "alerts", "market", "system"]
        );
        let streams = state.streams();
        assert!(streams.contains(&Stream::Topic(Topic::Patterns)));
        assert!(!streams.contains(&Stream::Topic(Topic::Admin)));
    }

    #[test]
    fn a_session_follows_the_stored_watchlist_until_it_sends_its_own() {
        let mut state = SessionState::new(Identity {
            user: UserId::new("u"),
            admin: false,
            expires_at: None,
        });
        let sym = |s: &str| Symbol::new(s).unwrap();
        state.set_stored_watchlist([sym("NVDA"), sym("AAPL")]);
        subscribe(&mut state, &["symbol:tsla"]).map(|_| ()).unwrap();
        assert!(state.follows_stored());
        let confirmed = state.connection_confirmed(SessionId(1), EpochMillis(0), BTreeMap::new());
        assert_eq!(
            confirmed.watchlist,
            Watchlist {
                source: WatchlistSource::Stored,
                symbols: vec![sym("AAPL"), sym("NVDA"), sym("TSLA")],
            }
        );
        let op = ClientOp::Watchlist {
            symbols: vec!["msft".into()],
        };
        let applied = state
            .apply(op, &Tokens, LIMITS)
            .map_err(|e| e.message)
            .unwrap();
        assert_eq!(
            applied.reply,
            Reply::Symbols {
                op: Op::Watchlist,
                source: WatchlistSource::Session,
                symbols: vec![sym("MSFT")],
            },
            "exactly what it sent"
        );
        assert!(!state.follows_stored());
        let anonymous = SessionState::new(Identity::default());
        assert_eq!(anonymous.watchlist().source, WatchlistSource::Session);
    }

    #[test]
    fn first_subscribe_replaces_defaults_then_adds() {
        let mut state = SessionState::new(Identity::default());
        subscribe(&mut state, &["patterns", "symbol:aapl"])
            .map(|_| ())
            .unwrap();
        assert_eq!(state.topic_names(), ["patterns", "symbol:AAPL"]);
        subscribe(&mut state, &["system"]).map(|_| ()).unwrap();
        assert_eq!(state.topic_names(), ["patterns", "system", "symbol:AAPL"]);
    }

    #[test]
    fn a_rejected_subscribe_leaves_the_session_unchanged() {
        let mut state = SessionState::new(Identity::default());
        let before = state.topic_names();
        let too_many = ["patterns", "symbol:A", "symbol:B", "symbol:C", "symbol:D"];
        assert_eq!(
            subscribe(&mut state, &too_many).err().unwrap().code,
            ErrorCode::TooManySymbols
        );
        assert_eq!(state.topic_names(), before);
        subscribe(&mut state, &["system"]).map(|_| ()).unwrap();
        assert_eq!(
            state.topic_names(),
            ["system"],
            "the first successful subscribe still replaces the defaults"
        );
    }

    #[test]
    fn unsubscribing_what_is_not_held_is_ignored_but_not_a_bogus_name() {
        let mut state = SessionState::new(Identity::default());
        let unsubscribe = |names: &[&str]| ClientOp::Unsubscribe {
            topics: names.iter().map(|n| n.to_string()).collect(),
        };
        assert!(state
            .apply(unsubscribe(&["symbol:ZZZ", "patterns"]), &Tokens, LIMITS)
            .is_ok());
        let bogus = state.apply(unsubscribe(&["everything"]), &Tokens, LIMITS);
        assert_eq!(bogus.err().unwrap().code, ErrorCode::UnknownTopic);
    }

    #[test]
    fn anyone_may_unsubscribe_from_admin() {
        let mut state = SessionState::new(Identity::default());
        let op = ClientOp::Unsubscribe {
            topics: vec!["admin".into()],
        };
        assert!(state.apply(op, &Tokens, LIMITS).is_ok());
    }

    #[test]
    fn admin_topic_needs_admin_role() {
        let mut state = SessionState::new(Identity::default());
        assert_eq!(
            subscribe(&mut state, &["admin"]).err().unwrap().code,
            ErrorCode::Forbidden
        );
        assert_eq!(
            subscribe(&mut state, &["bogus"]).err().unwrap().code,
            ErrorCode::UnknownTopic
        );
    }

    #[test]
    fn symbol_limit_is_enforced_without_changing_state() {
        let mut state = SessionState::new(Identity::default());
        let too_many = ClientOp::Watchlist {
            symbols: vec!["A".into(), "B".into(), "C".into(), "D".into()],
        };
        assert_eq!(
            state.apply(too_many, &Tokens, LIMITS).err().unwrap().code,
            ErrorCode::TooManySymbols
        );
        assert!(state
            .streams()
            .iter()
            .all(|r| !matches!(r, Stream::Symbol(_))));
    }

    #[test]
    fn a_fresh_token_for_the_same_user_keeps_topics_symbols_and_filter() {
        let mut state = SessionState::new(Identity {
            user: UserId::new("u"),
            admin: false,
            expires_at: Some(EpochMillis(1_000)),
        });
        subscribe(&mut state, &["patterns", "symbol:AAPL"])
            .map(|_| ())
            .unwrap();
        let filter = ClientOp::PatternSubscriptions {
            subscriptions: serde_json::from_str(r#"[{"pattern":"Doji"}]"#).unwrap(),
        };
        state.apply(filter, &Tokens, LIMITS).map(|_| ()).unwrap();
        let (topics, streams) = (state.topic_names(), state.streams());
        let fresh = ClientOp::Auth {
            token: "user:u".into(),
        };
        state.apply(fresh, &Tokens, LIMITS).map(|_| ()).unwrap();
        assert_eq!(state.topic_names(), topics);
        assert_eq!(state.streams(), streams);
        assert_eq!(state.filter.len(), 1);
        assert_eq!(state.identity.expires_at, None, "the new token's expiry");
    }

    #[test]
    fn auth_op_sets_identity_and_rejects_bad_tokens_without_change() {
        let mut state = SessionState::new(Identity::default());
        let bad = state.apply(
            ClientOp::Auth {
                token: "forged".into(),
            },
            &Tokens,
            LIMITS,
        );
        assert_eq!(bad.err().unwrap().code, ErrorCode::InvalidToken);
        assert_eq!(state.identity, Identity::default());
        state
            .apply(
                ClientOp::Auth {
                    token: "admin:1".into(),
                },
                &Tokens,
                LIMITS,
            )
            .map(|_| ())
            .unwrap();
        let streams = state.streams();
        assert!(streams.contains(&Stream::Topic(Topic::Admin)));
        assert!(streams
            .iter()
            .any(|r| matches!(r, Stream::User(u) if u.as_str() == "1")));
    }
}
