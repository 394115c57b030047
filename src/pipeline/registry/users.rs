//! Which sessions belong to which user, and each online user's watchlist symbols (from the
//! Users handler). Pure bookkeeping for the registry.

use std::collections::{HashMap, HashSet};

use crate::domain::ids::{SessionId, Symbol, UserId};
use crate::domain::stream::Stream;

#[derive(Debug, Default)]
pub struct Users {
    sessions: HashMap<UserId, HashSet<SessionId>>,
    symbols: HashMap<UserId, HashSet<Symbol>>,
}

impl Users {
    pub fn attach(&mut self, user: &UserId, session: SessionId) {
        self.sessions
            .entry(user.clone())
            .or_default()
            .insert(session);
    }

    /// A user whose last session left is forgotten, watchlist included: it is shared again
    /// when they come back.
    pub fn detach(&mut self, user: &UserId, session: SessionId) {
        let Some(sessions) = self.sessions.get_mut(user) else {
            return;
        };
        sessions.remove(&session);
        if sessions.is_empty() {
            self.sessions.remove(user);
            self.symbols.remove(user);
        }
    }

    /// Replaces a user's watchlist; returns the user's sessions (none when offline, and then
    /// nothing is kept).
    pub fn set_symbols(&mut self, user: &UserId, symbols: HashSet<Symbol>) -> Vec<SessionId> {
        let Some(sessions) = self.sessions.get(user) else {
            return Vec::new();
        };
        self.symbols.insert(user.clone(), symbols);
        sessions.iter().copied().collect()
    }

    pub fn symbol_streams(&self, user: &UserId) -> impl Iterator<Item = Stream> + '_ {
        self.symbols
            .get(user)
            .into_iter()
            .flatten()
            .cloned()
            .map(Stream::Symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watchlist_follows_the_user_while_a_session_is_left() {
        let mut users = Users::default();
        let u = UserId::new("u").unwrap();
        users.attach(&u, SessionId(1));
        users.attach(&u, SessionId(2));
        let sym: HashSet<Symbol> = [Symbol::new("AAPL").unwrap()].into();
        let mut sessions = users.set_symbols(&u, sym);
        sessions.sort();
        assert_eq!(sessions, vec![SessionId(1), SessionId(2)]);
        assert_eq!(users.symbol_streams(&u).count(), 1);
        users.detach(&u, SessionId(1));
        assert_eq!(users.symbol_streams(&u).count(), 1);
        users.detach(&u, SessionId(2));
        assert_eq!(users.symbol_streams(&u).count(), 0);
        assert!(users.set_symbols(&u, HashSet::new()).is_empty());
    }
}
