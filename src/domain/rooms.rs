//! Room names and the pure membership structure the registry actor wraps.
//!
//! A session is in its user's `user:{id}` room when authenticated, the topic rooms it subscribed
//! to and one `symbol:{SYM}` room per watched symbol.

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Room {
    Topic(Topic),
    User(UserId),
    Symbol(Symbol),
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Room::Topic(t) => f.write_str(t.as_str()),
            Room::User(u) => write!(f, "user:{u}"),
            Room::Symbol(s) => write!(f, "symbol:{s}"),
        }
    }
}

/// Room membership in both directions, kept consistent by construction.
#[derive(Debug)]
pub struct Rooms<M> {
    members: HashMap<Room, HashSet<M>>,
    rooms_of: HashMap<M, HashSet<Room>>,
}

impl<M> Default for Rooms<M> {
    fn default() -> Self {
        Rooms {
            members: HashMap::new(),
            rooms_of: HashMap::new(),
        }
    }
}

impl<M: Copy + Eq + Hash> Rooms<M> {
    /// Makes `member`'s rooms exactly `wanted`, joining and leaving as needed.
    pub fn set_rooms(&mut self, member: M, wanted: HashSet<Room>) {
        let current = self.rooms_of.remove(&member).unwrap_or_default();
        for room in current.difference(&wanted) {
            self.leave(member, room);
        }
        for room in wanted.difference(&current) {
            self.members.entry(room.clone()).or_default().insert(member);
        }
        self.rooms_of.insert(member, wanted);
    }

    pub fn remove(&mut self, member: M) {
        for room in self.rooms_of.remove(&member).unwrap_or_default() {
            self.leave(member, &room);
        }
    }

    fn leave(&mut self, member: M, room: &Room) {
        if let Some(set) = self.members.get_mut(room) {
            set.remove(&member);
            if set.is_empty() {
                self.members.remove(room);
            }
        }
    }

    pub fn members(&self, room: &Room) -> impl Iterator<Item = M> + '_ {
        self.members.get(room).into_iter().flatten().copied()
    }

    pub fn room_count(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Room {
        Room::Symbol(Symbol::new(s).unwrap())
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
    fn set_rooms_joins_and_leaves_and_drops_empty_rooms() {
        let mut rooms = Rooms::default();
        rooms.set_rooms(1u64, [sym("AAPL"), sym("MSFT")].into());
        rooms.set_rooms(2u64, [sym("AAPL")].into());
        assert_eq!(rooms.members(&sym("AAPL")).count(), 2);
        rooms.set_rooms(1u64, [sym("TSLA")].into());
        assert_eq!(rooms.members(&sym("AAPL")).collect::<Vec<_>>(), vec![2]);
        assert_eq!(rooms.members(&sym("MSFT")).count(), 0);
        assert_eq!(rooms.room_count(), 2);
        rooms.remove(2);
        rooms.remove(1);
        assert_eq!(rooms.room_count(), 0);
    }
}
