//! Startup validation, shared by `tickrouter check` and `serve`: connection (and credentials),
//! PING latency, and a pub/sub round trip on a private probe channel. The probe never publishes
//! on a channel the service consumes (the legacy validator polluted the data channels).

use std::fmt;
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use strum::IntoStaticStr;

use crate::config::RedisSettings;
use crate::redis_client::subscriber::{connect, Incoming};

const TIMEOUT: Duration = Duration::from_secs(3);
const PINGS: usize = 5;
/// A PING slower than this fails the performance check; slower than `PING_WARN` only warns.
const PING_FAIL: Duration = Duration::from_millis(1000);
const PING_WARN: Duration = Duration::from_millis(50);

/// Printed in `check`'s report; the names are derived from the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Category {
    Config,
    Connection,
    Channels,
    Performance,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The config file cannot be read.
    ConfigUnreadable,
    /// Not TOML, an unknown key, or a value of the wrong type.
    ConfigSyntax,
    /// Values that break rules.
    InvalidConfig,
    Unreachable,
    Authentication,
    PubSub,
    TooSlow,
    /// The TLS handshake with Redis failed: the server's certificate, or ours.
    Tls,
}

/// A failed check: what failed, why, and what to do. Each kind has its own exit code.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

impl Failure {
    pub fn category(&self) -> Category {
        match self.kind {
            FailureKind::ConfigUnreadable
            | FailureKind::ConfigSyntax
            | FailureKind::InvalidConfig => Category::Config,
            FailureKind::Unreachable | FailureKind::Authentication | FailureKind::Tls => {
                Category::Connection
            }
            FailureKind::PubSub => Category::Channels,
            FailureKind::TooSlow => Category::Performance,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            FailureKind::ConfigUnreadable
            | FailureKind::ConfigSyntax
            | FailureKind::InvalidConfig => 2,
            FailureKind::Unreachable => 3,
            FailureKind::Authentication => 4,
            FailureKind::PubSub => 5,
            FailureKind::TooSlow => 6,
            FailureKind::Tls => 7,
        }
    }

    fn advice(&self) -> &'static str {
        match self.kind {
            FailureKind::ConfigUnreadable => "Check the --config path and that this user may read the file.",
            FailureKind::ConfigSyntax => "Fix the file where the message points: keys are case-sensitive and \
                unknown ones are errors; config/tickrouter.example.toml lists every key with a value of its type.",
            FailureKind::InvalidConfig => "Fix each named key in the config file, environment or flags to meet \
                its rule; config/tickrouter.example.toml documents every key.",
            FailureKind::Unreachable => "Check that redis-server is running and that host and port are \
                right (`redis-cli -u URL ping`). Use --allow-degraded-start to serve anyway and keep retrying.",
            FailureKind::Authentication => "Redis rejected the credentials: check the password in the URL \
                or REDIS_PASSWORD (and the ACL user, if any).",
            FailureKind::PubSub => "Redis answered commands but did not deliver a published message back: \
                check ACLs for SUBSCRIBE/PUBLISH and any proxy between tickrouter and Redis.",
            FailureKind::Tls => "The TLS handshake with Redis failed: check that redis.tls.ca (or the system's \
                roots) signed the server's certificate, that the URL's host name is in that certificate, and, \
                if the server requires client certificates, redis.tls.cert and redis.tls.key.",
            FailureKind::TooSlow => "Redis answers too slowly for real-time delivery: check network latency \
                and the Redis server's load (`redis-cli --latency`).",
        }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        use crate::config::ConfigError;
        let kind = match e {
            ConfigError::Read { .. } => FailureKind::ConfigUnreadable,
            ConfigError::Parse { .. } => FailureKind::ConfigSyntax,
            ConfigError::Invalid { .. } | ConfigError::Several(_) => FailureKind::InvalidConfig,
        };
        Failure {
            kind,
            detail: e.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] FAIL: {}\n  What to do: {}",
            self.category().as_str(),
            self.detail,
            self.advice()
        )
    }
}

impl std::error::Error for Failure {}

/// One passed check, for the report.
#[derive(Debug)]
pub struct Passed {
    pub category: Category,
    pub detail: String,
    /// Passed, but worth an operator's attention.
    pub warning: bool,
}

impl fmt::Display for Passed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.warning { "WARN" } else { "ok" };
        write!(f, "[{}] {status}: {}", self.category.as_str(), self.detail)
    }
}

/// The URL with any password replaced, for logs and reports.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn classify(url: &str, e: redis::RedisError) -> Failure {
    let cause = e.to_string();
    let auth = matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || cause.contains("NOAUTH")
        || cause.contains("WRONGPASS");
    // rustls says "invalid peer certificate: UnknownIssuer", "... NotValidForName", ...
    let certificate = cause.contains("certificate") || cause.contains("TLS");
    let kind = if auth {
        FailureKind::Authentication
    } else if certificate {
        FailureKind::Tls
    } else {
        FailureKind::Unreachable
    };
    Failure {
        kind,
        detail: format!("Redis at {}: {cause}", redacted(url)),
    }
}

/// Runs every check in order and stops at the first failure.
pub async fn run_checks(redis: &RedisSettings) -> Result<Vec<Passed>, Failure> {
    // In a cluster the checks run against the first seed node, where the classic subscription
    // goes first, and then the cluster client must reach every master.
    let url = redis.cluster.first().unwrap_or(&redis.url).as_str();
    let target = crate::redis_client::target(redis).map_err(|detail| Failure {
        kind: FailureKind::InvalidConfig,
        detail,
    })?;
    let client = target.first_node();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| classify(url, e))?;
    let mut passed = Vec::new();

    let mut latencies = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let started = Instant::now();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| classify(url, e))?;
        latencies.push(started.elapsed());
    }
    passed.push(Passed {
        category: Category::Connection,
        detail: format!("{} answered PING", redacted(url)),
        warning: false,
    });
    if target.cluster_pubsub().is_some() {
        let mut cluster = target.commands(TIMEOUT).map_err(|detail| Failure {
            kind: FailureKind::InvalidConfig,
            detail,
        })?;
        // PING goes to every master.
        redis::cmd("PING")
            .query_async::<String>(&mut cluster)
            .await
            .map_err(|e| classify(url, e))?;
        passed.push(Passed {
            category: Category::Connection,
            detail: "every Redis Cluster master answered PING".into(),
            warning: false,
        });
    }
    let max = latencies.iter().max().copied().unwrap_or_default();
    let avg = latencies.iter().sum::<Duration>() / PINGS as u32;
    let detail = format!("{PINGS} PINGs: avg {avg:?}, max {max:?}");
    if max > PING_FAIL {
        return Err(Failure {
            kind: FailureKind::TooSlow,
            detail: format!("{detail} (limit {PING_FAIL:?})"),
        });
    }
    passed.push(Passed {
        category: Category::Performance,
        detail,
        warning: max > PING_WARN,
    });

    let probe = format!(
        "tickrouter:probe:{}:{}",
        std::process::id(),
        fastrand::u64(..)
    );
    // The same subscriber connection the reader uses, so what it cannot do (an ACL that
    // denies the channel, a TLS handshake only it makes) fails here with the reason rather
    // than later in the log.
    let round_trip = async {
        let endpoint = &target.subscriber_nodes()[0];
        let (mut subscriber, _writer) = connect(endpoint, &[&probe], &[], TIMEOUT).await?;
        let started = Instant::now();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&probe)
            .arg("probe")
            .query_async(&mut conn)
            .await?;
        loop {
            let chunk = subscriber.next_chunk(16).await?;
            if chunk.replies().any(
                |r| matches!(r, Incoming::Message { channel, .. } if channel == probe.as_bytes()),
            ) {
                return Ok::<_, Box<dyn std::error::Error>>(started.elapsed());
            }
        }
    };
    let channels_failure = |detail: String| Failure {
        kind: FailureKind::PubSub,
        detail,
    };
    match actix_web::rt::time::timeout(TIMEOUT, round_trip).await {
        Ok(Ok(took)) => passed.push(Passed {
            category: Category::Channels,
            detail: format!("pub/sub round trip on private channel {probe} in {took:?}"),
            warning: false,
        }),
        Ok(Err(e)) => return Err(channels_failure(format!("pub/sub on {probe}: {e}"))),
        Err(_) => {
            return Err(channels_failure(format!(
                "probe message on {probe} not received within {TIMEOUT:?}"
            )))
        }
    }
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("redis://:pw@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redacted("redis://host:6379/0"), "redis://host:6379/0");
    }

    #[test]
    fn every_failure_kind_has_its_own_exit_code() {
        let kinds = [
            FailureKind::InvalidConfig,
            FailureKind::Unreachable,
            FailureKind::Authentication,
            FailureKind::PubSub,
            FailureKind::TooSlow,
            FailureKind::Tls,
        ];
        let mut codes: Vec<u8> = kinds
            .iter()
            .map(|&kind| {
                Failure {
                    kind,
                    detail: String::new(),
                }
                .exit_code()
            })
            .collect();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        assert!(!codes.contains(&0) && !codes.contains(&1));
    }
}
