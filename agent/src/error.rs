//! The agent runtime's error type: one enum for the file source, the actuators, the admin socket
//! and the metrics endpoint. Every message names what failed (path, peer, address).

use std::path::PathBuf;

/// Errors of the agent runtime (`metalroute run` / `metalroute show`).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration directory cannot be listed.
    #[error("configuration directory {}: {source}", path.display())]
    ConfigDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file watcher could not be set up.
    #[error("watching {}: {reason}", path.display())]
    Watch {
        /// The directory watched.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A socket (admin or metrics) could not be opened.
    #[error("{what} {address}: {source}")]
    Listen {
        /// Which endpoint (`admin socket`, `metrics`).
        what: &'static str,
        /// The path or address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// Talking to a running agent over its admin socket failed.
    #[error("admin socket {}: {reason}", path.display())]
    Admin {
        /// The socket path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A planned session cannot be given to the speaker.
    #[error("BGPPeer {peer}: {reason}")]
    Session {
        /// The BGPPeer's name.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The BGP speaker refused a request.
    #[error(transparent)]
    Speaker(#[from] metalroute_bgp::speaker::SpeakerError),
    /// The nmstate applier failed.
    #[error("network state: {0}")]
    Network(String),
    /// Logging could not be set up.
    #[error("logging: {0}")]
    Logging(String),
}
