//! Logging setup: `tracing` to stderr, as text or JSON, filtered by the config's level or
//! by RUST_LOG when set. Text is coloured only when stderr is a terminal: a file or the
//! journal gets plain lines. The level can change while running (a reload on SIGHUP).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::config::LogFormat;

/// Changes the level of the installed subscriber.
#[derive(Debug)]
pub struct LogLevel {
    filter: reload::Handle<EnvFilter, Registry>,
    /// RUST_LOG was set: it wins over `log.level`, at a reload too.
    from_env: bool,
}

impl LogLevel {
    /// Filters by `level` (a tracing filter such as `info` or `babble_presence=debug`) from now
    /// on; `false` when RUST_LOG holds the level instead.
    pub fn set(&self, level: &str) -> Result<bool, String> {
        if self.from_env {
            return Ok(false);
        }
        let filter = EnvFilter::try_new(level).map_err(|e| format!("log.level {level:?}: {e}"))?;
        self.filter.reload(filter).map_err(|e| format!("log.level: {e}"))?;
        Ok(true)
    }
}

/// Installs the global subscriber.
pub fn init(level: &str, format: LogFormat) -> Result<LogLevel, String> {
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let filter = EnvFilter::try_new(from_env.as_deref().unwrap_or(level)).map_err(|e| format!("log filter: {e}"))?;
    let (filter, handle) = reload::Layer::new(filter);

    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal();
    let text = (format == LogFormat::Text).then(|| fmt::layer().with_writer(std::io::stderr).with_ansi(colour));
    let json =
        (format == LogFormat::Json).then(|| fmt::layer().json().flatten_event(true).with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .try_init()
        .map_err(|e| format!("installing the log subscriber: {e}"))?;
    Ok(LogLevel { filter: handle, from_env: from_env.is_some() })
}
