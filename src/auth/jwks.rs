//! The issuer's key set (`auth.jwks_url`): fetched, cached, and fetched again when a token names
//! a key id it does not have (key rotation) or when it is older than `auth.jwks_max_age_secs`
//! (key removal), but never more than once per `auth.jwks_min_refresh_secs`, so tokens with
//! made-up key ids cannot make the server hammer the issuer.
//!
//! The fetch is a blocking `ureq` call on tokio's blocking pool: one small GET every few minutes
//! at most does not need an async HTTP stack. A failed fetch keeps the keys fetched before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use log::{info, warn};
use serde::Deserialize;

use super::keys::VerifyKey;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set is a few KiB; anything much larger is not one.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

pub struct Jwks {
    url: String,
    policy: Policy,
    cache: Mutex<Cache>,
    /// Held while fetching, so concurrent misses wait for one fetch instead of starting several.
    fetching: tokio::sync::Mutex<()>,
}

/// When the key set may and must be fetched again.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub min_refresh: Duration,
    pub max_age: Duration,
}

#[derive(Default)]
struct Cache {
    /// By `kid`; a key without one is kept under `None`.
    keys: HashMap<Option<String>, Arc<VerifyKey>>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

impl Cache {
    fn key_for(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        match kid {
            Some(kid) => self.keys.get(&Some(kid.to_owned())).cloned(),
            // A token without `kid` is fine when the issuer has a single key.
            None if self.keys.len() == 1 => self.keys.values().next().cloned(),
            None => None,
        }
    }
}

impl Policy {
    /// Whether to fetch now: the key set was never fetched, lacks the token's key or is stale;
    /// and the last attempt (successful or not) was at least `min_refresh` ago.
    fn should_fetch(
        &self,
        fetched: Option<Instant>,
        attempted: Option<Instant>,
        has_key: bool,
        now: Instant,
    ) -> bool {
        let due = match fetched {
            None => true,
            Some(at) => !has_key || now.duration_since(at) >= self.max_age,
        };
        let allowed = attempted.is_none_or(|at| now.duration_since(at) >= self.min_refresh);
        due && allowed
    }
}

#[derive(Debug)]
pub enum JwksError {
    Fetch(String),
    NotAKeySet(String),
    NoUsableKeys,
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksError::Fetch(e) => write!(f, "cannot fetch it: {e}"),
            JwksError::NotAKeySet(e) => write!(f, "it is not a JWKS ({{\"keys\": [...]}}): {e}"),
            JwksError::NoUsableKeys => f.write_str(
                "it has no signature key this server can use (RSA, EC P-256/P-384, Ed25519)",
            ),
        }
    }
}

impl std::error::Error for JwksError {}

impl Jwks {
    pub fn new(url: String, policy: Policy) -> Jwks {
        Jwks {
            url,
            policy,
            cache: Mutex::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the map half-written (every write is a
        // whole assignment), so a poisoned lock is still good to read.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key a token names, from the keys at hand.
    pub fn key_for(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        self.cache().key_for(kid)
    }

    /// Whether a fetch is due and allowed for a token naming `kid`.
    pub fn wants_fetch(&self, kid: Option<&str>) -> bool {
        let cache = self.cache();
        let has_key = cache.key_for(kid).is_some();
        self.policy
            .should_fetch(cache.fetched, cache.attempted, has_key, Instant::now())
    }

    /// Fetches the key set if a token naming `kid` needs it and the rate limit allows; waits for
    /// a fetch already under way first. Failures are logged; the old keys stay.
    pub async fn refresh_for(&self, kid: Option<&str>) {
        let known_and_fresh = {
            let cache = self.cache();
            cache.key_for(kid).is_some()
                && cache
                    .fetched
                    .is_some_and(|at| at.elapsed() < self.policy.max_age)
        };
        if known_and_fresh {
            return;
        }
        let _one_fetch = self.fetching.lock().await;
        if !self.wants_fetch(kid) {
            return;
        }
        self.cache().attempted = Some(Instant::now());
        let url = self.url.clone();
        match tokio::task::spawn_blocking(move || fetch(&url)).await {
            Ok(Ok(keys)) => self.store(keys),
            Ok(Err(e)) => warn!("JWKS {}: {e}; keeping the keys fetched before.", self.url),
            Err(e) => warn!("JWKS {}: the fetch did not finish: {e}.", self.url),
        }
    }

    /// Starts `refresh_for` on the current tokio runtime, for callers that cannot wait.
    pub fn refresh_in_background(self: &Arc<Self>, kid: Option<&str>) {
        if !self.wants_fetch(kid) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let jwks = self.clone();
            let kid = kid.map(str::to_owned);
            runtime.spawn(async move { jwks.refresh_for(kid.as_deref()).await });
        }
    }

    /// Fetches now, on this thread (the `check` and `token` commands).
    pub fn fetch_blocking(&self) -> Result<usize, JwksError> {
        self.cache().attempted = Some(Instant::now());
        let keys = fetch(&self.url)?;
        let count = keys.len();
        self.store(keys);
        Ok(count)
    }

    fn store(&self, keys: HashMap<Option<String>, Arc<VerifyKey>>) {
        info!("JWKS {}: {} signature keys.", self.url, keys.len());
        let mut cache = self.cache();
        cache.keys = keys;
        cache.fetched = Some(Instant::now());
    }
}

fn fetch(url: &str) -> Result<HashMap<Option<String>, Arc<VerifyKey>>, JwksError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .build()
        .into();
    let body = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .and_then(|mut response| {
            response
                .body_mut()
                .with_config()
                .limit(MAX_JWKS_BYTES)
                .read_to_string()
        })
        .map_err(|e| JwksError::Fetch(e.to_string()))?;
    parse(&body)
}

/// The usable signature keys of a JWKS document. Keys this server cannot use (encryption keys,
/// symmetric keys, unknown types or algorithms) are skipped, not fatal: issuers publish them
/// side by side with the signature keys.
fn parse(body: &str) -> Result<HashMap<Option<String>, Arc<VerifyKey>>, JwksError> {
    #[derive(Deserialize)]
    struct KeySet {
        keys: Vec<serde_json::Value>,
    }
    let set: KeySet =
        serde_json::from_str(body).map_err(|e| JwksError::NotAKeySet(e.to_string()))?;
    let keys: HashMap<_, _> = set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| {
            let key = VerifyKey::from_jwk(&jwk)?;
            Some((jwk.common.key_id, Arc::new(key)))
        })
        .collect();
    if keys.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_X: &str = "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE";

    const POLICY: Policy = Policy {
        min_refresh: Duration::from_secs(30),
        max_age: Duration::from_secs(3600),
    };

    #[test]
    fn fetches_when_never_fetched_missing_a_key_or_stale_but_rate_limited() {
        let t0 = Instant::now();
        let s = |secs| t0 + Duration::from_secs(secs);
        assert!(POLICY.should_fetch(None, None, false, t0), "first fetch");
        assert!(
            !POLICY.should_fetch(Some(t0), Some(t0), true, s(10)),
            "known key, fresh set"
        );
        assert!(
            !POLICY.should_fetch(Some(t0), Some(t0), false, s(10)),
            "unknown kid, but fetched 10 s ago"
        );
        assert!(
            POLICY.should_fetch(Some(t0), Some(t0), false, s(30)),
            "unknown kid, 30 s later"
        );
        assert!(
            !POLICY.should_fetch(Some(t0), Some(s(3599)), true, s(3600)),
            "stale, but a fetch was just attempted"
        );
        assert!(
            POLICY.should_fetch(Some(t0), Some(t0), true, s(3600)),
            "stale"
        );
        assert!(
            !POLICY.should_fetch(None, Some(t0), false, s(5)),
            "a failed first fetch is retried only after the interval"
        );
    }

    #[test]
    fn parse_keeps_usable_signature_keys_by_kid() {
        let body = format!(
            r#"{{"keys":[
                {{"kty":"OKP","crv":"Ed25519","x":"{ED_X}","kid":"ed"}},
                {{"kty":"oct","k":"c2VjcmV0","kid":"secret"}},
                {{"kty":"RSA","n":"AQAB","e":"AQAB","use":"enc","kid":"enc"}},
                {{"kty":"XYZ","kid":"future"}}
            ]}}"#
        );
        let keys = parse(&body).unwrap();
        assert_eq!(keys.len(), 1);
        let cache = Cache {
            keys,
            ..Cache::default()
        };
        assert!(cache.key_for(Some("ed")).is_some());
        assert!(cache.key_for(Some("secret")).is_none());
        assert!(cache.key_for(None).is_some(), "the only key");
    }

    #[test]
    fn parse_refuses_what_is_not_a_key_set() {
        assert!(matches!(parse("[]"), Err(JwksError::NotAKeySet(_))));
        assert!(matches!(
            parse(r#"{"keys":[]}"#),
            Err(JwksError::NoUsableKeys)
        ));
    }
}
