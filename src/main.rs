//! The `tickrouter` binary: parses the command line and runs a subcommand.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use log::{error, warn};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tickrouter::auth::{self, Authenticator};
use tickrouter::cli::{CheckArgs, Cli, Command, DemoArgs, HealthcheckArgs, ServeArgs, TokenArgs};
use tickrouter::config::LogFormat;
use tickrouter::demo::{self, DemoOptions};
use tickrouter::{app, logging, preflight};

/// Prints why a command cannot go on (`check` reports on stdout, the others on stderr) and
/// gives the failure's exit code.
fn failed(failure: impl Into<preflight::Failure>, on_stdout: bool) -> ExitCode {
    let failure = failure.into();
    if on_stdout {
        println!("{failure}");
    } else {
        eprintln!("{failure}");
    }
    ExitCode::from(failure.exit_code())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn main() -> ExitCode {
    match Cli::parse().command {
        // Logs in the format its settings ask for, once they are read.
        Command::Serve(args) => serve(args),
        Command::Demo(args) => {
            logging::init(LogFormat::Text, None);
            run_demo(args)
        }
        Command::Check(args) => {
            logging::init(LogFormat::Text, None);
            check(args)
        }
        Command::Token(args) => token(args),
        Command::Healthcheck(args) => healthcheck(args),
        Command::Config(args) => print_config(args),
    }
}

/// Mints (`--user`) or inspects (`--inspect`) a token with the resolved settings. Exit 0 for a
/// minted or valid token, 1 for a refusal, the config failure's code for bad settings.
fn token(args: TokenArgs) -> ExitCode {
    let settings = match args.settings(&env) {
        Ok(s) => s,
        Err(e) => return failed(e, false),
    };
    if let Some(token) = &args.inspect {
        let auth = match Authenticator::from_settings(&settings.auth, None) {
            Ok(auth) => auth,
            Err(e) => return failed(e, false),
        };
        if let Some(jwks) = auth.jwks() {
            if let Err(e) = jwks.fetch_blocking() {
                println!("note: the issuer's key set {}: {e}", jwks.url());
            }
        }
        let (valid, report) = auth::inspect(&auth, token, chrono::Utc::now());
        println!("{report}");
        return if valid {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let user = args.user.as_deref().unwrap_or_default();
    match auth::mint(&settings.auth, user, args.role.is_some(), args.ttl) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn healthcheck(args: HealthcheckArgs) -> ExitCode {
    match tickrouter::healthcheck::status(&args.url, Duration::from_secs(args.timeout)) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{}: HTTP {status}", args.url);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// The effective settings as TOML, secrets redacted.
fn print_config(args: ServeArgs) -> ExitCode {
    match args.settings(&env) {
        Ok(settings) => {
            print!("{}", settings.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Err(e) => failed(e, false),
    }
}

fn run_demo(args: DemoArgs) -> ExitCode {
    let url = match args.redis_url(&env) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = runtime {
            rt.block_on(shutdown_signal());
            on_signal.store(true, Ordering::Relaxed);
        }
    });
    let options = DemoOptions {
        rate: args.rate,
        symbols: args.symbols,
    };
    match demo::run(&url, &options, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Validates the settings and Redis (connection, latency, pub/sub) and prints a report. The exit
/// code tells the failing check apart (see `preflight::Failure::exit_code`).
fn check(args: CheckArgs) -> ExitCode {
    let settings = match args.settings(&env) {
        Ok(s) => s,
        Err(e) => return failed(e, true),
    };
    println!(
        "[config] ok: {} channels and patterns",
        settings.subscriptions().len()
    );
    match Authenticator::from_settings(&settings.auth, None) {
        Ok(auth) => match auth.jwks().map(|jwks| (jwks.url(), jwks.fetch_blocking())) {
            // The server starts without it and keeps trying, so this is a warning.
            Some((url, Err(e))) => println!("[auth] WARN: the key set {url}: {e}"),
            Some((url, Ok(n))) => println!("[auth] ok: {n} keys from {url}"),
            None => {}
        },
        Err(e) => return failed(e, true),
    }
    actix::System::new().block_on(async move {
        match preflight::run_checks(&settings.redis).await {
            Ok(passed) => {
                for check in passed {
                    println!("{check}");
                }
                ExitCode::SUCCESS
            }
            Err(failure) => {
                println!("{failure}");
                ExitCode::from(failure.exit_code())
            }
        }
    })
}

fn serve(args: ServeArgs) -> ExitCode {
    let settings = match args.settings(&env) {
        Ok(s) => s,
        Err(e) => return failed(e, false),
    };
    logging::init(settings.log.format, Some(&settings.instance.name()));
    actix::System::new().block_on(async move {
        if let Err(failure) = preflight::run_checks(&settings.redis).await {
            if !args.allow_degraded_start {
                eprintln!("{failure}");
                return ExitCode::from(failure.exit_code());
            }
            warn!("Starting degraded; Redis will be retried. {failure}");
        }
        let listener = match TcpListener::bind(settings.server.bind) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", settings.server.bind);
                return ExitCode::FAILURE;
            }
        };
        match app::run(settings, listener, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                error!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm => {}
    }
}
