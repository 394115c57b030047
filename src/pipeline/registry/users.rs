//! Which sessions belong to which user, and each user's watchlist symbols (from Redis, via the
//! MarketData handler). Pure bookkeeping for the registry.

use std::collections::{HashMap, HashSet};

use crate::domain::ids::{SessionId, Symbol, UserId};
use crate::domain::rooms::Room;

/// A user's first session arrived or last session left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CameOnline(UserId),
    WentOffline(UserId),
}

#[derive(Debug, Default)]
pub struct Users {
    sessions: HashMap<UserId, HashSet<SessionId>>,
    symbols: HashMap<UserId, HashSet<Symbol>>,
}

impl Users {
    pub fn attach(&mut self, user: &UserId, session: SessionId) -> Option<Change> {
        let sessions = self.sessions.entry(user.clone()).or_default();
        sessions.insert(session);
        (sessions.len() == 1).then(|| Change::CameOnline(user.clone()))
    }

    pub fn detach(&mut self, user: &UserId, session: SessionId) -> Option<Change> {
        let sessions = self.sessions.get_mut(user)?;
        sessions.remove(&session);
        if !sessions.is_empty() {
            return None;
        }
        self.sessions.remove(user);
        self.symbols.remove(user);
        Some(Change::WentOffline(user.clone()))
    }

    /// Replaces a user's watchlist; returns the user's sessions (none when offline, and then
    /// nothing is kept: the list is loaded again when the user comes back).
    pub fn set_symbols(&mut self, user: &UserId, symbols: HashSet<Symbol>) -> Vec<SessionId> {
        let Some(sessions) = self.sessions.get(user) else {
            return Vec::new();
        };
        self.symbols.insert(user.clone(), symbols);
        sessions.iter().copied().collect()
    }

    pub fn symbol_rooms(&self, user: &UserId) -> impl Iterator<Item = Room> + '_ {
        self.symbols
            .get(user)
            .into_iter()
            .flatten()
            .cloned()
            .map(Room::Symbol)
    }

    pub fn online(&self) -> impl Iterator<Item = &UserId> {
        self.sessions.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_changes_on_first_and_last_session() {
        let mut users = Users::default();
        let u = UserId::new("u").unwrap();
        assert_eq!(
            users.attach(&u, SessionId(1)),
            Some(Change::CameOnline(u.clone()))
        );
        assert_eq!(users.attach(&u, SessionId(2)), None);
        let sym: HashSet<Symbol> = [Symbol::new("AAPL").unwrap()].into();
        let mut sessions = users.set_symbols(&u, sym);
        sessions.sort();
        assert_eq!(sessions, vec![SessionId(1), SessionId(2)]);
        assert_eq!(users.symbol_rooms(&u).count(), 1);
        assert_eq!(users.detach(&u, SessionId(1)), None);
        assert_eq!(
            users.detach(&u, SessionId(2)),
            Some(Change::WentOffline(u.clone()))
        );
        assert_eq!(users.symbol_rooms(&u).count(), 0);
        assert!(users.set_symbols(&u, HashSet::new()).is_empty());
    }
}
