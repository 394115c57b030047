//! `ConfigError`: why the settings could not be read, parsed or accepted.
//!
//! Every message names where the problem is (a file, a key path such as
//! `streaming.flush_interval_ms`, or an environment variable), because an operator reads it once at
//! startup and should not have to guess which of several sources was wrong.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum ConfigError {
    /// The config file could not be read.
    Read { path: PathBuf, source: io::Error },
    /// The text is not valid TOML, has an unknown key or a value of the wrong type. `path` is
    /// `None` for text that did not come from a file. `message` is toml's, which names the key and
    /// shows the offending line.
    Parse {
        path: Option<PathBuf>,
        message: String,
    },
    /// A value breaks a rule. `key` is the full key path (`session.client_timeout_secs`,
    /// `channels.extra[2].channel`) or the environment variable it came from (`REDIS_PORT`);
    /// `message` is `<value>: <rule>`.
    Invalid { key: String, message: String },
    /// Several values break rules; each is an `Invalid`.
    Several(Vec<ConfigError>),
}

impl ConfigError {
    pub(crate) fn invalid(
        key: impl Into<String>,
        value: impl fmt::Display,
        rule: impl fmt::Display,
    ) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            message: format!("{value}: {rule}"),
        }
    }
}

impl fmt::Display for ConfigError {
    // The io error is part of the message rather than `source()`: config errors end the process
    // and are printed once, and callers that print only `Display` must still show the cause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "cannot read config file {}: {source}", path.display())
            }
            ConfigError::Parse {
                path: Some(path),
                message,
            } => write!(f, "invalid config file {}: {message}", path.display()),
            ConfigError::Parse {
                path: None,
                message,
            } => write!(f, "invalid config: {message}"),
            ConfigError::Invalid { key, message } => {
                write!(f, "invalid configuration: {key} = {message}")
            }
            ConfigError::Several(problems) => {
                write!(f, "{} problems in the configuration:", problems.len())?;
                for problem in problems {
                    match problem {
                        ConfigError::Invalid { key, message } => {
                            write!(f, "\n  - {key} = {message}")?
                        }
                        other => write!(f, "\n  - {other}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}
