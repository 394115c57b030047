//! The latest state a session should see the moment it starts watching a stream, so no panel
//! starts empty: each symbol's latest price and bar, and the latest system health, streaming
//! health and market summary. Publications the audience marks (`Publication::kept_as_latest`)
//! are kept here as their encoded frames; a session that joins their stream gets them again,
//! marked `"snapshot": true`, if they are younger than `snapshot.ttl_secs`.
//!
//! Other instances and later starts share them through Redis: what changed is handed out once
//! a second ([`Snapshots::take_changed`]) to be written, and an instance that starts seeds
//! itself with what is there ([`Snapshots::seed`]), so a fresh instance's watchers do not wait
//! for the next update. [`Shared`] is a kept frame in the form Redis holds it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use strum::VariantArray;

use super::outbound::{EventName, Frame};
use super::publication::Publication;
use super::stream::{Stream, TopicName};

/// Entries beyond this many make `keep` drop the expired ones first (symbols come from producers,
/// so their number is not ours to bound otherwise).
const PRUNE_ABOVE: usize = 50_000;

#[derive(Debug)]
pub struct Snapshots {
    ttl: Duration,
    /// Per stream, the latest frame of each kept event (one or two per stream).
    latest: HashMap<Stream, Vec<Kept>>,
}

#[derive(Debug)]
struct Kept {
    event: EventName,
    frame: Frame,
    at: Instant,
    /// Kept here since the last [`Snapshots::take_changed`] (not seeded from elsewhere).
    changed: bool,
}

/// A kept frame as other instances get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    pub stream: Stream,
    pub event: EventName,
    pub frame: Frame,
    /// How long ago it was kept.
    pub age: Duration,
}

impl Shared {
    /// `(field, value)` of its entry in Redis: `{stream}|{event}` and `{kept at, epoch ms}|{frame}`.
    pub fn encode(&self, now_ms: u64) -> (String, String) {
        let at = now_ms.saturating_sub(self.age.as_millis() as u64);
        (
            format!("{}|{}", self.stream, self.event.as_str()),
            format!("{at}|{}", self.frame.0),
        )
    }

    /// The entry back; `None` for one that is not a snapshot this version keeps.
    pub fn decode(field: &str, value: &str, now_ms: u64) -> Option<Shared> {
        let (stream, event) = field.rsplit_once('|')?;
        let stream = match TopicName::parse(stream)? {
            TopicName::Topic(topic) => Stream::Topic(topic),
            TopicName::Symbol(symbol) => Stream::Symbol(symbol),
        };
        let event = *EventName::VARIANTS.iter().find(|e| e.as_str() == event)?;
        let (at, frame) = value.split_once('|')?;
        let at: u64 = at.parse().ok()?;
        Some(Shared {
            stream,
            event,
            frame: Frame(frame.into()),
            age: Duration::from_millis(now_ms.saturating_sub(at)),
        })
    }
}

impl Snapshots {
    pub fn new(ttl: Duration) -> Self {
        Snapshots {
            ttl,
            latest: HashMap::new(),
        }
    }

    /// Keeps the publication's frame if it is one its stream keeps. A price update per message
    /// passes here, so the stream is cloned only the first time it is seen.
    pub fn keep(&mut self, publication: &Publication, now: Instant) {
        let Some(event) = publication.latest else {
            return;
        };
        let kept = Kept {
            event,
            frame: publication.frame.clone(),
            at: now,
            changed: true,
        };
        if let Some(list) = self.latest.get_mut(&publication.stream) {
            match list.iter_mut().find(|k| k.event == event) {
                Some(slot) => *slot = kept,
                None => list.push(kept),
            }
            return;
        }
        if self.latest.len() >= PRUNE_ABOVE {
            let ttl = self.ttl;
            self.latest.retain(|_, list| {
                list.retain(|k| now.duration_since(k.at) < ttl);
                !list.is_empty()
            });
        }
        self.latest.insert(publication.stream.clone(), vec![kept]);
    }

    /// What was kept since the last call, fresh enough to share.
    pub fn take_changed(&mut self, now: Instant) -> Vec<Shared> {
        let mut changed = Vec::new();
        for (stream, list) in &mut self.latest {
            for kept in list.iter_mut().filter(|k| k.changed) {
                kept.changed = false;
                let age = now.duration_since(kept.at);
                if age < self.ttl {
                    changed.push(Shared {
                        stream: stream.clone(),
                        event: kept.event,
                        frame: kept.frame.clone(),
                        age,
                    });
                }
            }
        }
        changed
    }

    /// Keeps a frame another instance kept, unless this one has a newer one of its own.
    pub fn seed(&mut self, shared: Shared, now: Instant) {
        let Some(at) = now.checked_sub(shared.age) else {
            return;
        };
        if shared.age >= self.ttl {
            return;
        }
        let list = self.latest.entry(shared.stream).or_default();
        let kept = Kept {
            event: shared.event,
            frame: shared.frame,
            at,
            changed: false,
        };
        match list.iter_mut().find(|k| k.event == kept.event) {
            Some(slot) if slot.at < at => *slot = kept,
            Some(_) => {}
            None => list.push(kept),
        }
    }

    /// The snapshot frames of these streams, fresh enough to show.
    pub fn of<'a>(
        &'a self,
        streams: impl IntoIterator<Item = &'a Stream> + 'a,
        now: Instant,
    ) -> impl Iterator<Item = Frame> + 'a {
        streams
            .into_iter()
            .filter_map(|stream| self.latest.get(stream))
            .flatten()
            .filter(move |k| now.duration_since(k.at) < self.ttl)
            .map(|k| k.frame.as_snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::Symbol;
    use crate::domain::stream::Topic;

    fn price(symbol: &str, value: f64) -> Publication {
        let data = serde_json::json!({"symbol": symbol, "price": value});
        Publication::for_symbol(
            &Symbol::new(symbol).unwrap(),
            EventName::DashboardPriceUpdate,
            &data,
        )
        .kept_as_latest(EventName::DashboardPriceUpdate)
    }

    #[test]
    fn the_latest_frame_of_a_stream_is_kept_and_given_as_a_snapshot() {
        let (mut snapshots, t0) = (Snapshots::new(Duration::from_secs(60)), Instant::now());
        snapshots.keep(&price("AAPL", 1.0), t0);
        snapshots.keep(&price("AAPL", 2.0), t0);
        snapshots.keep(&price("MSFT", 3.0), t0);
        let not_kept = Publication::broadcast(Topic::Alerts, EventName::CriticalAlert, &1);
        snapshots.keep(&not_kept, t0);
        let aapl = Stream::Symbol(Symbol::new("AAPL").unwrap());
        let frames: Vec<Frame> = snapshots.of([&aapl], t0).collect();
        assert_eq!(frames.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&frames[0].0).unwrap();
        assert_eq!(v["data"]["price"], 2.0);
        assert_eq!(v["snapshot"], true);
        assert_eq!(v["event"], "dashboard_price_update");
        let alerts = Stream::Topic(Topic::Alerts);
        assert_eq!(snapshots.of([&alerts], t0).count(), 0, "only marked ones");
        let later = t0 + Duration::from_secs(60);
        assert_eq!(snapshots.of([&aapl], later).count(), 0, "too old to show");
    }

    #[test]
    fn changes_are_shared_once_and_seed_another_instance() {
        let (mut a, t0) = (Snapshots::new(Duration::from_secs(60)), Instant::now());
        a.keep(&price("AAPL", 1.0), t0);
        a.keep(&price("AAPL", 2.0), t0);
        let t1 = t0 + Duration::from_secs(1);
        let changed = a.take_changed(t1);
        assert_eq!(changed.len(), 1);
        assert!(a.take_changed(t1).is_empty(), "shared once");

        let (field, value) = changed[0].encode(10_000);
        assert_eq!(field, "symbol:AAPL|dashboard_price_update");
        let back = Shared::decode(&field, &value, 10_500).unwrap();
        assert_eq!(back.age, Duration::from_millis(1_500));
        assert_eq!(back.frame, changed[0].frame);
        assert_eq!(
            Shared::decode("user:u|dashboard_price_update", &value, 0),
            None
        );
        assert_eq!(Shared::decode(&field, "not a time|x", 0), None);

        let mut b = Snapshots::new(Duration::from_secs(60));
        b.seed(back.clone(), t1);
        let aapl = Stream::Symbol(Symbol::new("AAPL").unwrap());
        assert_eq!(b.of([&aapl], t1).count(), 1);
        assert!(
            b.take_changed(t1).is_empty(),
            "seeded frames are not shared back"
        );
        b.keep(&price("AAPL", 3.0), t1);
        b.seed(back, t1);
        let v: serde_json::Value =
            serde_json::from_str(&b.of([&aapl], t1).next().unwrap().0).unwrap();
        assert_eq!(
            v["data"]["price"], 3.0,
            "an older shared frame does not replace a newer one"
        );
        let stale = Shared {
            age: Duration::from_secs(61),
            ..changed[0].clone()
        };
        let mut c = Snapshots::new(Duration::from_secs(60));
        c.seed(stale, t1);
        assert_eq!(c.of([&aapl], t1).count(), 0);
    }
}
