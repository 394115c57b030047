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
    latest: HashMap<(Stream, EventName), (Frame, Instant)>,
}

impl Snapshots {
    pub fn new(ttl: Duration) -> Self {
        Snapshots {
            ttl,
            latest: HashMap::new(),
        }
    }

    /// Keeps the publication's frame if it is one its stream keeps.
    pub fn keep(&mut self, publication: &Publication, now: Instant) {
        let Some(event) = publication.latest else {
            return;
        };
        if self.latest.len() >= PRUNE_ABOVE {
            let ttl = self.ttl;
            self.latest
                .retain(|_, (_, at)| now.duration_since(*at) < ttl);
        }
        let key = (publication.stream.clone(), event);
        self.latest.insert(key, (publication.frame.clone(), now));
    }

    /// The snapshot frames of these streams, fresh enough to show.
    pub fn of<'a>(
        &'a self,
        streams: impl IntoIterator<Item = &'a Stream> + 'a,
        now: Instant,
    ) -> impl Iterator<Item = Frame> + 'a {
        streams.into_iter().flat_map(move |stream| {
            self.latest
                .iter()
                .filter(move |((s, _), (_, at))| s == stream && now.duration_since(*at) < self.ttl)
                .map(|(_, (frame, _))| frame.as_snapshot())
        })
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
