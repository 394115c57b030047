//! The log output: `env_logger` filtered by `RUST_LOG` (default `info`), as plain text lines or,
//! with `log.format = "json"`, one JSON object per line for log collectors, naming the instance.

use std::io::Write;

use chrono::{SecondsFormat, Utc};

use crate::config::LogFormat;

/// `instance`: the `instance.id` JSON lines carry (none for the commands that do not serve).
pub fn init(format: LogFormat, instance: Option<&str>) {
    let instance = instance.map(str::to_owned);
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(move |buf, record| {
            let line = serde_json::json!({
                "ts": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                "level": record.level().as_str(),
                "target": record.target(),
                "instance": instance,
                "message": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    // A second init (tests starting several servers in one process) keeps the first logger.
    let _ = builder.try_init();
}
