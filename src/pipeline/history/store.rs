//! The recoverable streams' history in Redis: one Redis Stream per stream (entry id
//! `{offset}-0`) and a meta hash beside it (`epoch`, `offset`, and for a user `acked`), written
//! and read by Lua scripts so that every instance hands out the same offsets.
//!
//! Writing is one script per publication, pipelined in batches: it returns the offset an
//! earlier writer (another instance that saw the same Redis message) already gave it, or takes
//! the next offset, appends the entry trimmed to the stream's size, and refreshes the TTLs.
//! An epoch is created the first time a stream is written or read and changes only when the
//! meta hash is gone (Redis restarted empty, evicted, expired).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::try_join_all;
use redis::{RedisResult, Script};

use crate::domain::history::{decode_filter, encode_filter, field, Entry, Position, Recoverable};
use crate::domain::ids::UserId;
use crate::domain::outbound::Frame;
use crate::domain::publication::FilterKey;
use crate::domain::redis_names::key;
use crate::domain::stream::Stream;
use crate::redis_client::Commands;

/// KEYS: stream, meta, seen. ARGV: size, ttl, meta ttl, epoch candidate, seen ttl, '1' to
/// start a new epoch (this writer lost earlier publications of the stream), then the entry's
/// field-value pairs. Returns {offset, epoch, 1 if another writer already wrote it}.
const APPEND: &str = r"
local seen = redis.call('GET', KEYS[3])
if seen then
  return {tonumber(seen), redis.call('HGET', KEYS[2], 'epoch') or '', 1}
end
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch or ARGV[6] == '1' then
  epoch = ARGV[4]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'offset', 0, 'acked', 0)
end
-- The entry first: a script stops at a failing command without undoing the ones before it.
local offset = tonumber(redis.call('HGET', KEYS[2], 'offset')) + 1
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], string.format('%d-0', offset), unpack(ARGV, 7))
redis.call('HSET', KEYS[2], 'offset', offset)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], offset, 'EX', ARGV[5])
return {offset, epoch, 0}
";

/// KEYS: stream, meta. ARGV: epoch candidate, meta ttl, the first offset wanted ('0': none,
/// 'acked': the one after the acknowledged offset), how many at most. Returns {epoch, offset,
/// acked, entries}.
const READ: &str = r"
local m = redis.call('HMGET', KEYS[2], 'epoch', 'offset', 'acked')
local epoch, offset, acked = m[1], tonumber(m[2] or '0'), tonumber(m[3] or '0')
if not epoch then
  epoch, offset, acked = ARGV[1], 0, 0
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'offset', 0, 'acked', 0)
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
local from = tonumber(ARGV[3])
if ARGV[3] == 'acked' then from = acked + 1 end
local entries = {}
if from > 0 and from <= offset then
  entries = redis.call('XRANGE', KEYS[1], string.format('%d-0', from), '+', 'COUNT', ARGV[4])
end
return {epoch, offset, acked, entries}
";

/// KEYS: meta. ARGV: offset. Raises the acknowledged offset (never past the latest, never
/// down); returns {before, after}, {0, 0} when the stream does not exist.
const ACK: &str = r"
local offset = redis.call('HGET', KEYS[1], 'offset')
if not offset then return {0, 0} end
local n = math.min(tonumber(ARGV[1]), tonumber(offset))
local acked = tonumber(redis.call('HGET', KEYS[1], 'acked') or '0')
if n > acked then
  redis.call('HSET', KEYS[1], 'acked', n)
  return {acked, n}
end
return {acked, acked}
";

/// How much one kind of stream keeps.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub size: usize,
    pub ttl: Duration,
}

impl Window {
    /// The meta hash outlives the entries, so a client whose position is only old (not from a
    /// lost history) hears `too_old` rather than `epoch_changed`.
    fn meta_ttl(&self) -> u64 {
        self.ttl.as_secs().max(86_400)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct HistoryConfig {
    /// `history.size` and `history.ttl_secs`: the topics.
    pub topics: Window,
    /// `offline.max_messages` and `offline.ttl_secs`: each user's stream.
    pub users: Window,
}

impl HistoryConfig {
    pub fn window(&self, stream: Recoverable) -> Window {
        match stream {
            Recoverable::User => self.users,
            _ => self.topics,
        }
    }
}

/// One publication to write.
pub struct Append<'a> {
    pub which: Recoverable,
    pub stream: &'a Stream,
    pub frame: &'a Frame,
    pub filter: &'a FilterKey,
    pub supersedes: Option<&'a str>,
    /// Identifies the source message, so every instance that saw it writes it once.
    pub message: u64,
    /// How long other instances' copies of the message are recognised.
    pub dedupe: Duration,
    /// Start a new epoch: publications of this stream went out without being written, so
    /// positions before them must not be resumed as if nothing were missing.
    pub new_epoch: bool,
    pub written_ms: u64,
}

/// Where a publication was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub epoch: String,
    pub offset: u64,
    /// Another instance had written it already.
    pub duplicate: bool,
}

/// A stream's head and the entries read after a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub head: Position,
    pub acked: u64,
    pub entries: Vec<Entry>,
    /// Entries that could not be decoded (damaged by hand), skipped.
    pub unreadable: usize,
}

/// Where a read starts.
#[derive(Debug, Clone, Copy)]
pub enum ReadFrom {
    /// Only the head.
    Nothing,
    /// From this offset on.
    Offset(u64),
    /// From the one after the user's acknowledged offset.
    Unacknowledged,
}

#[derive(Clone)]
pub struct HistoryStore {
    con: Commands,
    config: HistoryConfig,
    scripts: Arc<[Script; 3]>,
}

type RawEntry = (String, HashMap<String, String>);

impl HistoryStore {
    pub fn new(con: Commands, config: HistoryConfig) -> Self {
        HistoryStore {
            con,
            config,
            scripts: Arc::new([Script::new(APPEND), Script::new(READ), Script::new(ACK)]),
        }
    }

    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    /// Writes a batch in one round trip, in order (the offsets follow it); one result per
    /// publication. The scripts are loaded first in the same pipeline, so a Redis that
    /// restarted or flushed its scripts costs nothing extra. In a cluster, one pipeline per
    /// slot, all at once.
    pub async fn append(&self, batch: &[Append<'_>]) -> RedisResult<Vec<Written>> {
        let keyed = batch
            .iter()
            .map(|a| stream_key(a.stream))
            .enumerate()
            .collect();
        let groups = self.con.by_slot(keyed, |(_, key)| key);
        let runs = groups.iter().map(|group| self.append_group(batch, group));
        let mut written: Vec<Option<Written>> = vec![None; batch.len()];
        for (group, replies) in groups.iter().zip(try_join_all(runs).await?) {
            for ((index, _), reply) in group.iter().zip(replies) {
                written[*index] = Some(reply);
            }
        }
        Ok(written.into_iter().flatten().collect())
    }

    /// Writes `group`'s publications (indices into `batch`, with their stream keys), all in one
    /// slot in a cluster, in one pipeline.
    async fn append_group(
        &self,
        batch: &[Append<'_>],
        group: &[(usize, String)],
    ) -> RedisResult<Vec<Written>> {
        let [append, ..] = &*self.scripts;
        let mut pipe = redis::pipe();
        pipe.load_script(append).ignore();
        let mut invocations = Vec::with_capacity(group.len());
        for (index, stream_key) in group {
            let a = &batch[*index];
            let window = self.config.window(a.which);
            let mut inv = append.prepare_invoke();
            inv.key(stream_key)
                .key(key::history_meta(stream_key))
                .key(key::history_seen(stream_key, a.message))
                .arg(window.size)
                .arg(window.ttl.as_secs())
                .arg(window.meta_ttl())
                .arg(new_epoch())
                .arg(a.dedupe.as_secs().max(1))
                .arg(if a.new_epoch { "1" } else { "0" })
                .arg(field::FRAME)
                .arg(&*a.frame.0)
                .arg(field::WRITTEN_MS)
                .arg(a.written_ms);
            if let Some(filter) = encode_filter(a.filter) {
                inv.arg(field::FILTER).arg(filter);
            }
            if let Some(key) = a.supersedes {
                inv.arg(field::SUPERSEDES).arg(key);
            }
            invocations.push(inv);
        }
        for inv in &invocations {
            pipe.invoke_script(inv);
        }
        let replies: Vec<(u64, String, u8)> =
            once_more(|| async { pipe.query_async(&mut self.con.clone()).await }).await?;
        Ok(replies
            .into_iter()
            .map(|(offset, epoch, dup)| Written {
                epoch,
                offset,
                duplicate: dup == 1,
            })
            .collect())
    }

    /// A stream's head, and the entries from `from` on (at most the stream's size).
    pub async fn read(&self, stream: &Stream, from: ReadFrom) -> RedisResult<Read> {
        let which = Recoverable::of(stream).expect("only recoverable streams have a history");
        let window = self.config.window(which);
        let stream_key = stream_key(stream);
        let from = match from {
            ReadFrom::Nothing => "0".to_owned(),
            ReadFrom::Offset(n) => n.max(1).to_string(),
            ReadFrom::Unacknowledged => "acked".to_owned(),
        };
        let mut read = self.scripts[1].prepare_invoke();
        read.key(&stream_key)
            .key(key::history_meta(&stream_key))
            .arg(new_epoch())
            .arg(window.meta_ttl())
            .arg(from)
            // `MAXLEN ~` keeps a little more than the size.
            .arg(window.size + window.size / 8 + 16);
        let (epoch, offset, acked, raw): (String, u64, u64, Vec<RawEntry>) =
            once_more(|| async { read.invoke_async(&mut self.con.clone()).await }).await?;
        let total = raw.len();
        let entries: Vec<Entry> = raw.into_iter().filter_map(decode).collect();
        Ok(Read {
            head: Position { epoch, offset },
            acked,
            unreadable: total - entries.len(),
            entries,
        })
    }

    /// Raises the user's acknowledged offset to `offset` (at most their latest); returns it
    /// before and after.
    pub async fn ack(&self, user: &UserId, offset: u64) -> RedisResult<(u64, u64)> {
        let stream_key = key::user_messages(user);
        self.scripts[2]
            .key(key::history_meta(&stream_key))
            .arg(offset)
            .invoke_async(&mut self.con.clone())
            .await
    }
}

/// Runs `op`, and once more if the connection had dropped: the connection manager reconnects
/// only when a command fails, so the first command after a Redis restart would fail otherwise.
async fn once_more<T, F: std::future::Future<Output = RedisResult<T>>>(
    op: impl Fn() -> F,
) -> RedisResult<T> {
    match op().await {
        Err(e) if e.is_connection_dropped() || e.is_io_error() => op().await,
        result => result,
    }
}

/// The Redis Stream a recoverable stream's history is kept in.
fn stream_key(stream: &Stream) -> String {
    match stream {
        Stream::User(user) => key::user_messages(user),
        other => key::topic_history(&other.to_string()),
    }
}

/// A fresh epoch name: only ever compared for equality.
fn new_epoch() -> String {
    format!("{:012x}", fastrand::u64(..) >> 16)
}

fn decode((id, mut fields): RawEntry) -> Option<Entry> {
    let offset = id.strip_suffix("-0")?.parse().ok()?;
    let frame = Frame(fields.remove(field::FRAME)?.into());
    let written_ms = fields.get(field::WRITTEN_MS)?.parse().ok()?;
    let filter = decode_filter(fields.get(field::FILTER).map(String::as_str))?;
    Some(Entry {
        offset,
        frame,
        written_ms,
        filter,
        supersedes: fields.remove(field::SUPERSEDES),
    })
}
