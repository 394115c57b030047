//! The command line: the subcommands and their flags, handed to `Settings::resolve` as
//! overrides of the config file and the environment.
//!
//! No flag reads the environment through clap: `REDIS_URL` and friends are applied by
//! `Settings::apply_env`, so the precedence (flags > environment > file > defaults) lives in one
//! place, the config module, and is testable without touching the process environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::config::{ConfigError, Overrides, Settings};

/// Routes market events from Redis pub/sub to WebSocket clients, normalised once and filtered per
/// user.
#[derive(Debug, Parser)]
#[command(name = "tickrouter", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the router: consume Redis pub/sub and serve WebSocket clients, the dashboard and the
    /// health, stats and metrics endpoints.
    ///
    /// Settings are resolved in this order, each source overriding the ones before it:
    ///
    ///   1. built-in defaults (config/tickrouter.example.toml lists them all);
    ///   2. the --config file;
    ///   3. the environment: TICKROUTER_JWT_SECRET, then REDIS_URL or, when REDIS_URL is unset,
    ///      REDIS_HOST with REDIS_PORT (6379), REDIS_DB (0) and REDIS_PASSWORD;
    ///   4. the flags --bind and --redis-url.
    ///
    /// Empty environment variables count as unset. The result is validated before anything
    /// starts; an invalid value names its key and the process exits non-zero.
    #[command(
        verbatim_doc_comment,
        about = "Run the router: consume Redis pub/sub and serve WebSocket clients, the dashboard \
                 and the health, stats and metrics endpoints"
    )]
    Serve(ServeArgs),

    /// Publish synthetic market events to Redis at a steady rate, so a running server has traffic
    /// to route without real producers.
    ///
    /// The Redis URL comes from --redis-url, else the environment (REDIS_URL, or REDIS_HOST,
    /// REDIS_PORT, REDIS_DB and REDIS_PASSWORD), else the default redis://127.0.0.1:6379/0.
    Demo(DemoArgs),

    /// Resolve and validate the settings exactly as `serve` would, check that Redis answers, and
    /// exit: zero when the server could start, non-zero with the first problem otherwise.
    ///
    /// Settings are resolved in this order, each source overriding the ones before it:
    ///
    ///   1. built-in defaults;
    ///   2. the --config file;
    ///   3. the environment: TICKROUTER_JWT_SECRET, then REDIS_URL or, when REDIS_URL is unset,
    ///      REDIS_HOST with REDIS_PORT (6379), REDIS_DB (0) and REDIS_PASSWORD;
    ///   4. the flag --redis-url.
    #[command(
        verbatim_doc_comment,
        about = "Resolve and validate the settings exactly as `serve` would, check that Redis \
                 answers, and exit non-zero with the first problem found"
    )]
    Check(CheckArgs),

    /// Mint a token with this server's key, or say whether a token is valid on this server and,
    /// if not, why.
    ///
    ///   tickrouter token --user 42 [--role admin] [--ttl 1h]   prints a token (exit 0)
    ///   tickrouter token --inspect TOKEN                       prints the verdict and the
    ///                                                          token's claims (exit 0 if valid,
    ///                                                          1 if not)
    ///
    /// Settings are resolved exactly as for `serve` and `check` (defaults, --config file,
    /// environment), so the token fits this server's secret, audience, issuer and maximum
    /// lifetime. Minting needs a secret (auth.jwt_secret or TICKROUTER_JWT_SECRET); a server
    /// that verifies with a public key cannot mint.
    #[command(
        verbatim_doc_comment,
        about = "Mint a token with this server's key, or say whether a token is valid on this \
                 server and why not"
    )]
    Token(TokenArgs),

    /// Ask a running server whether it serves: GET the URL (plain HTTP), exit 0 on a 200 and 1
    /// otherwise. For container health checks, which then need no curl.
    Healthcheck(HealthcheckArgs),

    /// Print the settings `serve` would run with, after the config file, the environment and the
    /// flags, as TOML, with secrets redacted.
    Config(ServeArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The endpoint to ask: `/live` of the client listener by default; with `[server.tls]` ask
    /// the admin listener (`server.admin_bind`), which stays plain HTTP
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080/live")]
    pub url: String,

    /// Seconds to wait for the answer
    #[arg(long, value_name = "SECS", default_value = "3")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on for HTTP and WebSocket clients; overrides server.bind
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,

    /// Redis to consume from (redis:// or unix://); overrides REDIS_URL and redis.url
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// TOML config file; unknown keys are errors. Without it the built-in defaults apply
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Start serving even if Redis cannot be reached yet, and keep reconnecting in the background
    /// (readiness stays false until it connects). A malformed URL still fails at once
    #[arg(long)]
    pub allow_degraded_start: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Redis to publish to (redis:// or unix://); overrides REDIS_URL
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Events published per second, across all symbols; fractions allowed, must be > 0
    #[arg(long, value_name = "EVENTS_PER_SEC", default_value = "20", value_parser = positive_rate)]
    pub rate: f64,

    /// Number of made-up symbols the events are spread over (1 to 50)
    #[arg(
        long,
        value_name = "N",
        default_value = "12",
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=50)
    )]
    pub symbols: usize,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Redis to check (redis:// or unix://); overrides REDIS_URL and redis.url
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// TOML config file to validate; unknown keys are errors. Without it the defaults are checked
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["user", "inspect"])))]
pub struct TokenArgs {
    /// Mint a token for this user id (the token's `sub`)
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,

    /// Give the minted token this role (`admin` is the only role)
    #[arg(long, value_name = "ROLE", value_parser = ["admin"], requires = "user")]
    pub role: Option<String>,

    /// How long the minted token is valid: 90s, 30m, 1h, 7d, or a number of seconds
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = ttl_secs)]
    pub ttl: u64,

    /// Say whether this token is valid on this server, and why not
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["user", "role"])]
    pub inspect: Option<String>,

    /// TOML config file, as for `serve`
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl TokenArgs {
    /// The same resolution as [`ServeArgs::settings`], without flags.
    pub fn settings(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Settings::resolve(self.config.as_deref(), env, Overrides::default())
    }
}

/// `90s`, `30m`, `1h`, `7d` or plain seconds; more than zero.
fn ttl_secs(raw: &str) -> Result<u64, String> {
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => raw.split_at(at),
        None => (raw, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{raw}`: use a number with s, m, h or d, e.g. 1h")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&secs| secs > 0)
        .ok_or_else(|| format!("`{raw}`: must be a whole number above 0, e.g. 90s, 30m, 1h, 7d"))
}

impl ServeArgs {
    /// Defaults → `--config` file → environment → flags, then validated.
    pub fn settings(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let overrides = Overrides {
            bind: self.bind,
            redis_url: self.redis_url.as_deref(),
        };
        Settings::resolve(self.config.as_deref(), env, overrides)
    }
}

impl CheckArgs {
    /// The same resolution as [`ServeArgs::settings`], without `--bind`.
    pub fn settings(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let overrides = Overrides {
            redis_url: self.redis_url.as_deref(),
            ..Overrides::default()
        };
        Settings::resolve(self.config.as_deref(), env, overrides)
    }
}

impl DemoArgs {
    /// `--redis-url`, else the environment, else the default URL; validated like `redis.url`.
    pub fn redis_url(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
        let overrides = Overrides {
            redis_url: self.redis_url.as_deref(),
            ..Overrides::default()
        };
        Settings::resolve(None, env, overrides).map(|settings| settings.redis.url)
    }
}

fn positive_rate(raw: &str) -> Result<f64, String> {
    let rate: f64 = raw
        .parse()
        .map_err(|_| format!("`{raw}` is not a number"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(format!("must be a finite number greater than 0, got {raw}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    const EXAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/tickrouter.example.toml"
    );

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tickrouter").chain(args.iter().copied()))
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const ENV_SECRET: &str = "env-secret-env-secret-env-secret";

    fn redis_url_env(name: &str) -> Option<String> {
        match name {
            "REDIS_URL" => Some("redis://from-env:6379/1".to_owned()),
            "TICKROUTER_JWT_SECRET" => Some(ENV_SECRET.to_owned()),
            _ => None,
        }
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_without_flags_gives_defaults() {
        let Command::Serve(args) = parse(&["serve"]).unwrap().command else {
            panic!("expected serve");
        };
        assert!(!args.allow_degraded_start);
        assert_eq!(args.settings(&no_env).unwrap(), Settings::default());
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let Command::Serve(args) = parse(&[
            "serve",
            "--config",
            EXAMPLE,
            "--bind",
            "0.0.0.0:9000",
            "--redis-url",
            "redis://from-flag:6380/2",
            "--allow-degraded-start",
        ])
        .unwrap()
        .command
        else {
            panic!("expected serve");
        };
        assert!(args.allow_degraded_start);
        let settings = args.settings(&redis_url_env).unwrap();
        assert_eq!(settings.server.bind, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.redis.url, "redis://from-flag:6380/2");
        assert_eq!(settings.auth.jwt_secret.as_deref(), Some(ENV_SECRET));
    }

    #[test]
    fn env_beats_file() {
        let Command::Check(args) = parse(&["check", "--config", EXAMPLE]).unwrap().command else {
            panic!("expected check");
        };
        let settings = args.settings(&redis_url_env).unwrap();
        assert_eq!(settings.redis.url, "redis://from-env:6379/1");
    }

    #[test]
    fn bad_redis_url_flag_is_named_as_redis_url() {
        let Command::Serve(args) = parse(&["serve", "--redis-url", "localhost:6379"])
            .unwrap()
            .command
        else {
            panic!("expected serve");
        };
        match args.settings(&no_env) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "redis.url"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn flag_repairs_an_invalid_file_value() {
        // Validation runs after every override, so a flag may fix what the file got wrong.
        let args = ServeArgs {
            bind: None,
            redis_url: Some("redis://ok:6379/0".to_owned()),
            config: None,
            allow_degraded_start: false,
        };
        let env = |name: &str| (name == "REDIS_URL").then(|| "http://wrong".to_owned());
        assert_eq!(args.settings(&env).unwrap().redis.url, "redis://ok:6379/0");
    }

    #[test]
    fn missing_config_file_is_a_read_error() {
        let Command::Check(args) = parse(&["check", "--config", "/nonexistent/t.toml"])
            .unwrap()
            .command
        else {
            panic!("expected check");
        };
        assert!(matches!(
            args.settings(&no_env),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn demo_defaults_and_redis_url_precedence() {
        let Command::Demo(args) = parse(&["demo"]).unwrap().command else {
            panic!("expected demo");
        };
        assert_eq!(args.rate, 20.0);
        assert_eq!(args.symbols, 12);
        assert_eq!(args.redis_url(&no_env).unwrap(), "redis://127.0.0.1:6379/0");
        assert_eq!(
            args.redis_url(&redis_url_env).unwrap(),
            "redis://from-env:6379/1"
        );

        let Command::Demo(args) =
            parse(&["demo", "--redis-url", "unix:///r.sock", "--rate", "0.5"])
                .unwrap()
                .command
        else {
            panic!("expected demo");
        };
        assert_eq!(args.rate, 0.5);
        assert_eq!(args.redis_url(&redis_url_env).unwrap(), "unix:///r.sock");
    }

    #[test]
    fn demo_rejects_out_of_range_values() {
        for args in [
            ["demo", "--rate", "0"],
            ["demo", "--rate", "-3"],
            ["demo", "--rate", "inf"],
            ["demo", "--rate", "fast"],
            ["demo", "--symbols", "0"],
            ["demo", "--symbols", "51"],
        ] {
            assert!(parse(&args).is_err(), "{args:?} was accepted");
        }
        assert!(parse(&["demo", "--symbols", "50"]).is_ok());
    }

    #[test]
    fn token_mints_or_inspects_but_not_both() {
        let Command::Token(args) = parse(&["token", "--user", "42", "--role", "admin"])
            .unwrap()
            .command
        else {
            panic!("expected token");
        };
        assert_eq!(args.user.as_deref(), Some("42"));
        assert_eq!(args.ttl, 3600);
        let Command::Token(args) = parse(&["token", "--inspect", "abc"]).unwrap().command else {
            panic!("expected token");
        };
        assert_eq!(args.inspect.as_deref(), Some("abc"));
        for bad in [
            &["token"][..],
            &["token", "--user", "1", "--inspect", "t"],
            &["token", "--user", "1", "--role", "root"],
            &["token", "--role", "admin"],
            &["token", "--user", "1", "--ttl", "0"],
            &["token", "--user", "1", "--ttl", "1w"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn ttl_takes_units() {
        assert_eq!(ttl_secs("90s"), Ok(90));
        assert_eq!(ttl_secs("30m"), Ok(1800));
        assert_eq!(ttl_secs("1h"), Ok(3600));
        assert_eq!(ttl_secs("7d"), Ok(604_800));
        assert_eq!(ttl_secs("120"), Ok(120));
        assert!(ttl_secs("h").is_err());
        assert!(ttl_secs("-5m").is_err());
    }

    #[test]
    fn redis_url_flag_has_no_env_fallback() {
        // REDIS_URL is applied by `Settings::apply_env`; a clap `env` would hide the precedence.
        let command = Cli::command();
        for name in ["serve", "demo", "check"] {
            let sub = command.find_subcommand(name).unwrap();
            let arg = sub
                .get_arguments()
                .find(|arg| arg.get_id() == "redis_url")
                .unwrap();
            assert_eq!(arg.get_env(), None, "{name}");
        }
    }
}
