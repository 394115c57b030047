//! Subscriptions: the configured channels and patterns, and which of them a message read off a
//! subscriber connection belongs to. The lookup borrows the message's bytes, so classifying
//! one allocates nothing.

use std::collections::HashMap;

use crate::domain::kind::EventKind;
use crate::redis_client::subscriber::Incoming;
use crate::telemetry::ChannelId;

/// One subscription, in `ChannelId` order.
#[derive(Debug, Clone)]
pub struct Source {
    /// A channel name, or a glob for a pattern.
    pub name: String,
    pub mode: Mode,
    pub kind: EventKind,
}

/// How a source is subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SUBSCRIBE, on the subscriber node.
    Channel,
    /// PSUBSCRIBE, on the subscriber node.
    Pattern,
    /// SSUBSCRIBE, on the owner of the channel's slot (Redis Cluster).
    Sharded,
}

/// What a reply on a subscriber connection is to us.
#[derive(Debug, PartialEq)]
pub enum Push<'a> {
    /// A message on one of our subscriptions.
    Message {
        channel: ChannelId,
        payload: &'a [u8],
    },
    /// A message on a channel we never subscribed to (a server or proxy misbehaving).
    Unexpected { channel: &'a [u8] },
    /// Subscription confirmations, disconnection notices and other control pushes.
    Control,
}

pub struct Subscriptions {
    sources: Vec<Source>,
    channels: HashMap<Box<[u8]>, ChannelId>,
    patterns: HashMap<Box<[u8]>, ChannelId>,
}

impl Subscriptions {
    pub fn new(sources: Vec<Source>) -> Self {
        let (mut channels, mut patterns) = (HashMap::new(), HashMap::new());
        for (i, s) in sources.iter().enumerate() {
            let map = match s.mode {
                Mode::Pattern => &mut patterns,
                Mode::Channel | Mode::Sharded => &mut channels,
            };
            map.insert(s.name.as_bytes().into(), ChannelId(i));
        }
        Subscriptions {
            sources,
            channels,
            patterns,
        }
    }

    pub fn source(&self, id: ChannelId) -> &Source {
        &self.sources[id.0]
    }

    pub fn count(&self) -> usize {
        self.sources.len()
    }

    /// The names to subscribe the way `mode` says.
    pub fn names(&self, mode: Mode) -> Vec<&str> {
        self.sources
            .iter()
            .filter(|s| s.mode == mode)
            .map(|s| s.name.as_str())
            .collect()
    }

    pub fn classify<'a>(&self, incoming: Incoming<'a>) -> Push<'a> {
        let (table, name, payload) = match incoming {
            Incoming::Message { channel, payload } => (&self.channels, channel, payload),
            // A pattern message is ours by the pattern that matched, not the channel.
            Incoming::PatternMessage {
                pattern, payload, ..
            } => (&self.patterns, pattern, payload),
            _ => return Push::Control,
        };
        match table.get(name) {
            Some(&channel) => Push::Message { channel, payload },
            None => Push::Unexpected { channel: name },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriptions() -> Subscriptions {
        Subscriptions::new(vec![
            Source {
                name: "tickstock.events.patterns".into(),
                mode: Mode::Channel,
                kind: EventKind::PatternDetected,
            },
            Source {
                name: "tickstock:*".into(),
                mode: Mode::Pattern,
                kind: EventKind::MarketTick,
            },
        ])
    }

    #[test]
    fn channel_message_maps_to_its_source() {
        let incoming = Incoming::Message {
            channel: b"tickstock.events.patterns",
            payload: b"{}",
        };
        assert_eq!(
            subscriptions().classify(incoming),
            Push::Message {
                channel: ChannelId(0),
                payload: b"{}"
            }
        );
    }

    #[test]
    fn pattern_message_maps_by_the_pattern_not_the_channel() {
        let incoming = Incoming::PatternMessage {
            pattern: b"tickstock:*",
            channel: b"tickstock:market:ticks",
            payload: b"x",
        };
        assert_eq!(
            subscriptions().classify(incoming),
            Push::Message {
                channel: ChannelId(1),
                payload: b"x"
            }
        );
    }

    #[test]
    fn a_channel_name_is_not_matched_against_patterns() {
        let incoming = Incoming::Message {
            channel: b"tickstock:*",
            payload: b"x",
        };
        assert_eq!(
            subscriptions().classify(incoming),
            Push::Unexpected {
                channel: b"tickstock:*"
            }
        );
    }

    #[test]
    fn replies_without_a_message_are_control() {
        let subs = subscriptions();
        for incoming in [Incoming::Control, Incoming::Pong, Incoming::Error(b"ERR x")] {
            assert_eq!(subs.classify(incoming), Push::Control);
        }
        assert_eq!(subs.names(Mode::Channel), ["tickstock.events.patterns"]);
        assert_eq!(subs.names(Mode::Pattern), ["tickstock:*"]);
    }
}
