//! The names of everything `telemetry` exposes: one table row per scalar counter or gauge
//! (its `/stats` path, its `/metrics` name, help and kind), and the names of the labelled
//! families and histograms the collector writes by hand. `/stats` and `/metrics` both render
//! from here, so a counter is added with one row and its two names cannot drift apart.
//!
//! Naming rule for `/metrics`: the thing counted, then what happened to it, in the word order
//! `/stats` uses (`frames_shed`, `sessions_refused`); counters get `_total` from the encoder.

/// How a scalar is read: a counter only grows, a gauge is set, a flag is a gauge that `/stats`
/// shows as a boolean (`/metrics` as 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Flag,
}

pub struct Row {
    pub scalar: Scalar,
    pub kind: Kind,
    /// Dotted path in the `/stats` JSON (a contract: the dashboard and the tests read it).
    pub path: &'static str,
    /// Name in `/metrics`, without the `tickrouter_` prefix and the counters' `_total`.
    pub metric: &'static str,
    pub help: &'static str,
}

/// Expands the rows into the `Scalar` enum (its discriminant is the row's index, so `Stats`
/// keeps the values in an array) and the `SCALARS` table itself.
macro_rules! scalars {
    ($(($scalar:ident, $kind:ident, $path:literal, $metric:literal, $help:literal),)*) => {
        /// One scalar counter or gauge; see `SCALARS` for its names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Scalar {
            $($scalar,)*
        }

        pub const SCALARS: &[Row] = &[$(Row {
            scalar: Scalar::$scalar,
            kind: Kind::$kind,
            path: $path,
            metric: $metric,
            help: $help,
        },)*];
    };
}

#[rustfmt::skip]
scalars! {
    (MessagesReceived, Counter, "events.received", "messages_received", "Messages read from Redis."),
    (EventsParsed, Counter, "events.parsed", "events_parsed", "Events produced by the normaliser."),
    (EventsRouted, Counter, "events.routed", "events_routed", "Events handed to a handler."),
    (FramesPublished, Counter, "events.published", "frames_published", "Encoded frames handed to the registry."),
    (FramesDelivered, Counter, "events.delivered", "frames_delivered", "Frames queued to sessions."),
    (SessionsActive, Gauge, "sessions.active", "sessions_active", "Connected sessions."),
    (SessionsOpened, Counter, "sessions.total", "sessions", "Sessions opened."),
    (SessionsRefused, Counter, "sessions.refused", "sessions_refused", "WebSocket upgrades refused: session limit, per-address limit or origin."),
    (FramesShed, Counter, "sessions.frames_shed", "frames_shed", "Frames not queued: the session's queue was full."),
    (SlowConsumerCloses, Counter, "sessions.slow_consumer_closes", "slow_consumer_closes", "Sessions cut off as slow consumers."),
    (ClientErrors, Counter, "sessions.client_errors", "client_errors", "Client frames answered with an error."),
    (WsSessions, Gauge, "transports.ws.sessions", "ws_sessions", "Sessions on /ws."),
    (SocketIoWebSocketSessions, Gauge, "transports.socketio_websocket.sessions", "socketio_websocket_sessions", "Socket.IO sessions on WebSocket (started on it or upgraded), joined or not."),
    (SocketIoPollingSessions, Gauge, "transports.socketio_polling.sessions", "socketio_polling_sessions", "Socket.IO sessions on HTTP long-polling, joined or not."),
    (SocketIoUpgrades, Counter, "transports.socketio_polling.upgrades", "socketio_upgrades", "Socket.IO sessions moved from long-polling to WebSocket."),
    (WsFramesSent, Counter, "transports.ws.frames_sent", "ws_frames_sent", "Text frames /ws sessions wrote to their clients."),
    (WsFramesReceived, Counter, "transports.ws.frames_received", "ws_frames_received", "Frames /ws sessions read from their clients."),
    (SocketIoFramesSent, Counter, "transports.socketio.frames_sent", "socketio_frames_sent", "Engine.IO packets Socket.IO sessions wrote to their clients, on either transport."),
    (SocketIoFramesReceived, Counter, "transports.socketio.frames_received", "socketio_frames_received", "Frames (WebSocket) or packets (polling) Socket.IO sessions read from their clients."),
    (Rooms, Gauge, "rooms", "rooms", "Streams with at least one session."),
    (RedisConnected, Flag, "redis.connected", "redis_connected", "1 while the Redis subscription is up."),
    (RedisConnects, Counter, "redis.connects", "redis_connects", "Redis subscriber connections established."),
    (RedisConnectionErrors, Counter, "redis.connection_errors", "redis_connection_errors", "Redis subscriber connection failures."),
    (RedisSubscriptionGaps, Counter, "redis.subscription_gaps", "redis_subscription_gaps", "Times a subscription was lost (a subscriber connection, a cluster node or a sharded channel's slot moving): messages published until it was back were not received."),
    (RedisShardedDown, Gauge, "redis.sharded_channels_down", "redis_sharded_channels_down", "Sharded channels (Redis Cluster) not subscribed at the moment, being re-subscribed."),
    (PricesConflated, Counter, "prices_conflated", "prices_conflated", "Price updates replaced within the conflation window."),
    (MonitorSkipped, Counter, "monitor_skipped", "monitor_skipped", "Messages the monitor skipped while an operator read it."),
    (AlertsPassed, Counter, "alert_rules.passed", "alerts_passed", "Pattern alerts accepted by a user's rules."),
    (HistoryWritten, Counter, "history.written", "history_written", "Publications written to a recoverable stream's history in Redis."),
    (HistoryDuplicates, Counter, "history.duplicates", "history_duplicates", "Publications another instance had already written: the same entry and offset."),
    (HistorySkipped, Counter, "history.skipped", "history_skipped", "Publications delivered unwritten because the history writes had fallen too far behind Redis (65,536 publications or 2 MiB of frames waiting)."),
    (HistoryWriteFailures, Counter, "history.write_failures", "history_write_failures", "Publications delivered without an offset because Redis did not take the write."),
    (ResumesRecovered, Counter, "resumes.recovered", "resumes_recovered", "Streams a resume recovered completely."),
    (ResumesEpochChanged, Counter, "resumes.not_recovered.epoch_changed", "resumes_epoch_changed", "Streams not recovered: the history the position belonged to is gone."),
    (ResumesTooOld, Counter, "resumes.not_recovered.too_old", "resumes_too_old", "Streams not recovered: part of what was missed left the history."),
    (ResumesNotAllowed, Counter, "resumes.not_recovered.not_allowed", "resumes_not_allowed", "Streams not recovered: the session does not follow them."),
    (ResumesUnavailable, Counter, "resumes.not_recovered.unavailable", "resumes_unavailable", "Streams not recovered: Redis could not be read."),
    (FramesReplayed, Counter, "resumes.replayed", "frames_replayed", "Frames sent again by resumes."),
    (OfflineQueued, Counter, "offline.queued", "queued_messages", "User-stream entries written for a user with no session here to receive them."),
    (OfflineDelivered, Counter, "offline.delivered", "queued_messages_delivered", "Unacknowledged user-stream entries sent as queued_message."),
    (OfflineAcknowledged, Counter, "offline.acknowledged", "queued_messages_acknowledged", "User-stream entries acknowledged by clients."),
    (SnapshotHits, Counter, "snapshots.delivered", "snapshot_hits", "Latest states sent to sessions that started watching a stream."),
}

/// A labelled family or histogram: written by hand in the collector, named here.
pub struct Family {
    pub metric: &'static str,
    pub help: &'static str,
}

/// The labelled families keep their first names: alert rules and dashboards query them by
/// these (`tickrouter_dropped_events_total` is the one loss alerts watch).
pub const CHANNEL_MESSAGES_RECEIVED: Family = Family {
    metric: "channel_received_messages",
    help: "Messages read per channel.",
};
pub const EVENTS_DROPPED: Family = Family {
    metric: "dropped_events",
    help: "Messages or items lost (invalid, too large, unroutable, overloaded), by reason and channel.",
};
pub const EVENTS_FILTERED: Family = Family {
    metric: "filtered_events",
    help: "Messages or items nobody wanted (no recipients, below a threshold, not an event), by reason and channel.",
};
pub const ALERTS_REFUSED: Family = Family {
    metric: "alerts_refused",
    help: "Pattern alerts refused by a user's rules.",
};
pub const STREAMING_ITEMS: Family = Family {
    metric: "streaming_items",
    help: "Streaming buffer items, by outcome.",
};
pub const STREAMING_FLUSHES: Family = Family {
    metric: "streaming_flushes",
    help: "Streaming batches sent.",
};
pub const CACHE_LOOKUPS: Family = Family {
    metric: "cache_lookups",
    help: "Per-user cache lookups, by cache and result.",
};
pub const STREAM_ENTRIES: Family = Family {
    metric: "stream_entries",
    help: "Redis Streams ingest per stream: pending (read, not yet acknowledged), undelivered (not yet read), as last measured.",
};
pub const STREAM_ACKNOWLEDGED: Family = Family {
    metric: "stream_acknowledged_entries",
    help: "Redis Streams entries acknowledged once everything made from them was done.",
};
pub const PROCESSING_SECONDS: Family = Family {
    metric: "processing_seconds",
    help: "From reading a message off Redis to queueing its frame to sessions.",
};
pub const BATCH_SIZE_ITEMS: Family = Family {
    metric: "batch_size_items",
    help: "Items per streaming batch.",
};

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_row_sits_at_its_scalars_index() {
        for (i, row) in SCALARS.iter().enumerate() {
            assert_eq!(row.scalar as usize, i, "{}", row.path);
        }
    }

    #[test]
    fn names_and_paths_are_unique() {
        let paths: HashSet<_> = SCALARS.iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), SCALARS.len());
        let families = [
            CHANNEL_MESSAGES_RECEIVED,
            EVENTS_DROPPED,
            EVENTS_FILTERED,
            ALERTS_REFUSED,
            STREAMING_ITEMS,
            STREAMING_FLUSHES,
            CACHE_LOOKUPS,
            PROCESSING_SECONDS,
            STREAM_ENTRIES,
            STREAM_ACKNOWLEDGED,
            BATCH_SIZE_ITEMS,
        ];
        let metrics: HashSet<_> = SCALARS
            .iter()
            .map(|r| r.metric)
            .chain(families.iter().map(|f| f.metric))
            .collect();
        assert_eq!(metrics.len(), SCALARS.len() + families.len());
    }
}
