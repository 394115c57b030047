//! Commands: one connection type for keys, whether Redis is one server or a cluster, so the
//! stores and handlers are written once.
//!
//! What differs is written here and nowhere else: a cluster cannot run a transaction or a
//! pipeline over keys in different slots, so writes that span slots go one command at a time
//! ([`Commands::apply`]) and batches are split by slot ([`Commands::by_slot`]). Scripts keep all
//! their keys in one slot with hash tags (`domain::redis_names`).

use std::collections::HashMap;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

#[derive(Clone)]
pub enum Commands {
    /// One server, reconnected by the crate.
    Manager(ConnectionManager),
    /// One server, a connection of its own that is not reconnected (its owner does that).
    Direct(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Commands {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Commands::Cluster(_))
    }

    /// Runs writes that belong together: in one MULTI/EXEC on a single server; in a cluster,
    /// where keys in different slots cannot share a transaction, one command at a time in
    /// order (each one is retried by the crate on MOVED/ASK and reconnects).
    pub async fn apply(&mut self, pipe: &Pipeline) -> RedisResult<()> {
        if !self.is_cluster() {
            let mut atomic = pipe.clone();
            return atomic.atomic().query_async(self).await;
        }
        for cmd in pipe.cmd_iter() {
            cmd.query_async::<()>(self).await?;
        }
        Ok(())
    }

    /// Groups `items` so that each group can be one pipeline: all of them together on a single
    /// server; by the slot of `key(item)` in a cluster. Groups keep the items' order.
    pub fn by_slot<T>(&self, items: Vec<T>, key: impl Fn(&T) -> &str) -> Vec<Vec<T>> {
        if self.is_cluster() {
            group_by_slot(items, key)
        } else {
            vec![items]
        }
    }
}

fn group_by_slot<T>(items: Vec<T>, key: impl Fn(&T) -> &str) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut index: HashMap<Slot, usize> = HashMap::new();
    for item in items {
        let slot = Slot::for_key(key(&item));
        let at = *index.entry(slot).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(item);
    }
    groups
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Commands::Manager(c) => c.req_packed_command(cmd),
            Commands::Direct(c) => c.req_packed_command(cmd),
            Commands::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Commands::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Commands::Direct(c) => c.req_packed_commands(pipeline, offset, count),
            Commands::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Commands::Manager(c) => c.get_db(),
            Commands::Direct(c) => c.get_db(),
            Commands::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_slots_and_keep_order() {
        // "{a}x" and "{a}y" share a's slot; "b" is elsewhere.
        let items = vec![("{a}x", 1), ("b", 2), ("{a}y", 3), ("b", 4)];
        let groups = group_by_slot(items, |(k, _)| k);
        let numbers: Vec<Vec<i32>> = groups
            .iter()
            .map(|g| g.iter().map(|(_, n)| *n).collect())
            .collect();
        assert_eq!(numbers, [vec![1, 3], vec![2, 4]]);
    }

    #[test]
    fn hash_tagged_companions_share_their_stream_slot() {
        use crate::domain::redis_names::key;
        let stream = key::user_messages(&crate::domain::ids::UserId::new("u1").unwrap());
        assert_eq!(
            Slot::for_key(&stream),
            Slot::for_key(key::history_meta(&stream))
        );
        assert_eq!(
            Slot::for_key(&stream),
            Slot::for_key(key::history_seen(&stream, 7))
        );
        let rate = key::alert_rate(&crate::domain::ids::UserId::new("u1").unwrap(), 5);
        assert_eq!(
            Slot::for_key(&rate),
            Slot::for_key(key::alert_counted(&rate, 9))
        );
    }
}
