//! The whole resolution, in one place: defaults → file → environment → command-line overrides,
//! then validated once, so an override can repair a file value instead of tripping over it; every
//! broken rule is reported, not only the first.
//!
//! The command line only says which overrides it has ([`Overrides`]); the precedence is decided
//! here, next to the settings it orders.

use std::net::SocketAddr;
use std::path::Path;

use super::{ConfigError, Settings};

/// Values given on the command line, applied after everything else. `None` leaves the value
/// the file or environment gave.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides<'a> {
    pub bind: Option<SocketAddr>,
    pub redis_url: Option<&'a str>,
}

impl Settings {
    /// Defaults, then `file` (if any), then the environment looked up through `env`, then
    /// `overrides`; the result validated.
    pub fn resolve(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: Overrides<'_>,
    ) -> Result<Settings, ConfigError> {
        let mut settings = match file {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        if let Some(bind) = overrides.bind {
            settings.server.bind = bind;
        }
        if let Some(url) = overrides.redis_url {
            settings.redis.url = url.to_owned();
        }
        let mut problems = settings.problems();
        match problems.len() {
            0 => Ok(settings),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Several(problems)),
        }
    }
}
