//! Streams, where publications go, and the index of who follows each one, which the registry
//! actor wraps.
//!
//! A session follows its user's `user:{id}` stream when signed in, the topics it subscribed to
//! and one `symbol:{SYM}` stream per watched symbol.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;

use strum::{EnumString, IntoStaticStr, VariantArray};

use super::ids::{Symbol, UserId};

/// The public and admin topics a client can subscribe to by name. The names (and parsing them)
/// are derived from this declaration.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    VariantArray,
    IntoStaticStr,
    EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum Topic {
    Patterns,
    Streaming,
    Alerts,
    Market,
    System,
    /// Errors, monitoring and the raw tick feed; role `admin` only.
    Admin,
}

impl Topic {
    /// What a session receives when it never sent `subscribe`.
    pub const PUBLIC: [Topic; 5] = [
        Topic::Patterns,
        Topic::Streaming,
        Topic::Alerts,
        Topic::Market,
        Topic::System,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn parse(name: &str) -> Option<Topic> {
        name.parse().ok()
    }
}

/// A name a client may put in `subscribe`/`unsubscribe`: a topic or `symbol:{SYM}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicName {
    Topic(Topic),
    Symbol(Symbol),
}

impl TopicName {
    pub fn parse(name: &str) -> Option<TopicName> {
        match name.strip_prefix("symbol:") {
            Some(sym) => Symbol::new(sym).map(TopicName::Symbol),
            None => Topic::parse(name).map(TopicName::Topic),
        }
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicName::Topic(t) => f.write_str(t.as_str()),
            TopicName::Symbol(s) => write!(f, "symbol:{s}"),
        }
    }
}

/// Where a publication goes: a topic, a `symbol:{SYM}` or a `user:{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stream {
    Topic(Topic),
    User(UserId),
    Symbol(Symbol),
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stream::Topic(t) => f.write_str(t.as_str()),
            Stream::User(u) => write!(f, "user:{u}"),
            Stream::Symbol(s) => write!(f, "symbol:{s}"),
        }
    }
}

/// Stream membership in both directions, kept consistent by construction.
#[derive(Debug)]
pub struct StreamIndex<M> {
    members: HashMap<Stream, HashSet<M>>,
    streams_of: HashMap<M, HashSet<Stream>>,
}

impl<M> Default for StreamIndex<M> {
    fn default() -> Self {
        StreamIndex {
            members: HashMap::new(),
            streams_of: HashMap::new(),
        }
    }
}

impl<M: Copy + Eq + Hash> StreamIndex<M> {
    /// Makes `member`'s streams exactly `wanted`, joining and leaving as needed.
    pub fn set_streams(&mut self, member: M, wanted: HashSet<Stream>) {
        let current = self.streams_of.remove(&member).unwrap_or_default();
        for stream in current.difference(&wanted) {
            self.leave(member, stream);
        }
        for stream in wanted.difference(&current) {
            self.members
                .entry(stream.clone())
                .or_default()
                .insert(member);
        }
        self.streams_of.insert(member, wanted);
    }

    /// The streams `member` follows now.
    pub fn streams_of(&self, member: M) -> Option<&HashSet<Stream>> {
        self.streams_of.get(&member)
    }

    pub fn remove(&mut self, member: M) {
        for stream in self.streams_of.remove(&member).unwrap_or_default() {
            self.leave(member, &stream);
        }
    }

    fn leave(&mut self, member: M, stream: &Stream) {
        if let Some(set) = self.members.get_mut(stream) {
            set.remove(&member);
            if set.is_empty() {
                self.members.remove(stream);
            }
        }
    }

    pub fn members(&self, stream: &Stream) -> impl Iterator<Item = M> + '_ {
        self.members.get(stream).into_iter().flatten().copied()
    }

    pub fn stream_count(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Stream {
        Stream::Symbol(Symbol::new(s).unwrap())
    }

    #[test]
    fn every_topic_parses_from_its_name() {
        for &t in Topic::VARIANTS {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
        assert_eq!(Topic::parse("Patterns"), None);
    }

    #[test]
    fn every_topic_but_admin_is_public() {
        for t in Topic::VARIANTS {
            assert_eq!(Topic::PUBLIC.contains(t), *t != Topic::Admin, "{t:?}");
        }
    }

    #[test]
    fn topic_names_parse() {
        assert_eq!(
            TopicName::parse("patterns"),
            Some(TopicName::Topic(Topic::Patterns))
        );
        assert_eq!(
            TopicName::parse("admin"),
            Some(TopicName::Topic(Topic::Admin))
        );
        assert_eq!(
            TopicName::parse("symbol:aapl").unwrap().to_string(),
            "symbol:AAPL"
        );
        assert_eq!(TopicName::parse("symbol:"), None);
        assert_eq!(TopicName::parse("everything"), None);
    }

    #[test]
    fn set_streams_joins_and_leaves_and_drops_empty_streams() {
        let mut index = StreamIndex::default();
        index.set_streams(1u64, [sym("AAPL"), sym("MSFT")].into());
        index.set_streams(2u64, [sym("AAPL")].into());
        assert_eq!(index.members(&sym("AAPL")).count(), 2);
        index.set_streams(1u64, [sym("TSLA")].into());
        assert_eq!(index.members(&sym("AAPL")).collect::<Vec<_>>(), vec![2]);
        assert_eq!(index.members(&sym("MSFT")).count(), 0);
        assert_eq!(index.stream_count(), 2);
        index.remove(2);
        index.remove(1);
        assert_eq!(index.stream_count(), 0);
    }
}
