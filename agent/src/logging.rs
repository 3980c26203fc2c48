//! Log setup: `tracing` to stderr as text or one JSON object per line (`--log-format`), level
//! from `RUST_LOG` (default `info`). Passwords never reach a log: the planner's `Password`
//! redacts itself and the speaker's configuration is never logged whole.

use crate::error::AgentError;
use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber.
pub fn init(format: LogFormat) -> Result<(), AgentError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs collected from files or containers stay plain.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let res = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    res.map_err(|e| AgentError::Logging(e.to_string()))
}
