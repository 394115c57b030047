//! Environment overrides, applied between the config file and the command-line flags.
//!
//! The environment is passed in as a lookup function rather than read here, so precedence can be
//! tested without mutating the process environment (which is shared by every test thread).
//! An empty variable counts as unset: deployment templates often expand a missing value to `""`,
//! and that must not wipe a value from the file.

use super::{redis_url, ConfigError, Settings};

impl Settings {
    /// Applies, in order:
    /// - `TICKROUTER_JWT_SECRET` → `auth.jwt_secret`;
    /// - `REDIS_URL` → `redis.url`; or, only when `REDIS_URL` is unset and `REDIS_HOST` is set,
    ///   the legacy `REDIS_HOST`, `REDIS_PORT` (default 6379), `REDIS_DB` (default 0) and
    ///   `REDIS_PASSWORD` (optional) → `redis://[:password@]host:port/db`.
    ///
    /// A legacy port outside 1..=65535 or db outside 0..=15 is `Invalid`, keyed by the variable.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        if let Some(secret) = var("TICKROUTER_JWT_SECRET") {
            self.auth.jwt_secret = Some(secret);
        }
        if let Some(url) = var("REDIS_URL") {
            self.redis.url = url;
        } else if let Some(host) = var("REDIS_HOST") {
            let port = match var("REDIS_PORT") {
                Some(raw) => parse_in_range("REDIS_PORT", &raw, 1, 65535)?,
                None => 6379,
            };
            // Redis ships with 16 databases; the legacy startup check enforced the same bound.
            let db = match var("REDIS_DB") {
                Some(raw) => parse_in_range("REDIS_DB", &raw, 0, 15)?,
                None => 0,
            };
            let password = var("REDIS_PASSWORD");
            self.redis.url = redis_url::compose(&host, port, db, password.as_deref());
        }
        Ok(())
    }
}

fn parse_in_range<T>(name: &str, raw: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    raw.parse::<T>()
        .ok()
        .filter(|value| min <= *value && *value <= max)
        .ok_or_else(|| {
            ConfigError::invalid(
                name,
                format_args!("{raw:?}"),
                format_args!("must be an integer between {min} and {max}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn apply(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let mut settings = Settings::default();
        settings.apply_env(&|name| vars.get(name).cloned())?;
        Ok(settings)
    }

    fn invalid_key(result: Result<Settings, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn no_variables_change_nothing() {
        assert_eq!(apply(&[]).unwrap(), Settings::default());
    }

    #[test]
    fn jwt_secret_is_applied() {
        let settings = apply(&[("TICKROUTER_JWT_SECRET", "k")]).unwrap();
        assert_eq!(settings.auth.jwt_secret.as_deref(), Some("k"));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let mut settings = Settings::default();
        settings.auth.jwt_secret = Some("from-file".to_owned());
        settings.redis.url = "redis://file:6379/0".to_owned();
        let before = settings.clone();
        settings.apply_env(&|_| Some(String::new())).unwrap();
        assert_eq!(settings, before);
    }

    #[test]
    fn redis_url_beats_redis_host() {
        let settings = apply(&[
            ("REDIS_URL", "redis://url-host:7000/3"),
            ("REDIS_HOST", "legacy-host"),
            ("REDIS_PORT", "not a port"),
        ])
        .unwrap();
        assert_eq!(settings.redis.url, "redis://url-host:7000/3");
    }

    #[test]
    fn legacy_host_alone_uses_default_port_and_db() {
        let settings = apply(&[("REDIS_HOST", "cache")]).unwrap();
        assert_eq!(settings.redis.url, "redis://cache:6379/0");
    }

    #[test]
    fn legacy_variables_compose_the_url_with_an_encoded_password() {
        let settings = apply(&[
            ("REDIS_HOST", "cache"),
            ("REDIS_PORT", "6380"),
            ("REDIS_DB", "4"),
            ("REDIS_PASSWORD", "p@ss/word"),
        ])
        .unwrap();
        assert_eq!(settings.redis.url, "redis://:p%40ss%2Fword@cache:6380/4");
    }

    #[test]
    fn legacy_parts_without_host_are_ignored() {
        let settings = apply(&[("REDIS_PORT", "0"), ("REDIS_DB", "99")]).unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn bad_port_is_named() {
        for port in ["0", "65536", "abc", "-1"] {
            let result = apply(&[("REDIS_HOST", "cache"), ("REDIS_PORT", port)]);
            assert_eq!(invalid_key(result), "REDIS_PORT", "port {port}");
        }
        let err = apply(&[("REDIS_HOST", "cache"), ("REDIS_PORT", "70000")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: REDIS_PORT = \"70000\": must be an integer between 1 and 65535"
        );
    }

    #[test]
    fn bad_db_is_named() {
        for db in ["16", "x", "-1"] {
            let result = apply(&[("REDIS_HOST", "cache"), ("REDIS_DB", db)]);
            assert_eq!(invalid_key(result), "REDIS_DB", "db {db}");
        }
        let settings = apply(&[("REDIS_HOST", "cache"), ("REDIS_DB", "15")]).unwrap();
        assert_eq!(settings.redis.url, "redis://cache:6379/15");
    }
}
