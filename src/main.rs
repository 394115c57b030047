//! The `tickrouter` binary: parses the command line and runs a subcommand.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use log::{error, warn};

use tickrouter::app;
use tickrouter::cli::{Cli, Command, ServeArgs};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Demo(_) | Command::Check(_) => {
            eprintln!("not implemented yet");
            ExitCode::from(2)
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let settings = match args.settings(&env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    actix::System::new().block_on(async move {
        if let Err(e) = app::preflight(&settings.redis.url).await {
            if !args.allow_degraded_start {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            warn!("Starting degraded, Redis will be retried: {e}");
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
