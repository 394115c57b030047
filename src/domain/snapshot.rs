//! The latest state a session should see the moment it starts watching a stream, so no panel
//! starts empty: each symbol's latest price and bar, and the latest system health, streaming
//! health and market summary. Publications the audience marks (`Publication::kept_as_latest`)
//! are kept here as their encoded frames; a session that joins their stream gets them again,
//! marked `"snapshot": true`, if they are younger than `snapshot.ttl_secs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::outbound::{EventName, Frame};
use super::publication::Publication;
use super::stream::Stream;

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
}
