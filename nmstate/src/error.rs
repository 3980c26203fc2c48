//! The crate's one error type. Messages name the object (interface, route, rule, sysctl) and what
//! failed, so a rejected or rolled-back apply can be reported as is.

use std::io;

/// Everything that can go wrong while reading, applying, verifying or restoring network state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening or using the rtnetlink socket failed.
    #[error("netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// The kernel refused a request.
    #[error("{what}: kernel said {}", io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// What was requested (e.g. `add route 0.0.0.0/0 via 192.0.2.1 table 2`).
        what: String,
        /// The errno the kernel returned.
        errno: i32,
    },
    /// A netlink reply could not be understood.
    #[error("{what}: malformed netlink reply: {detail}")]
    Protocol {
        /// The request the reply belongs to.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The desired state cannot be applied to this node as it is (missing interface, type
    /// mismatch, an object that is not ours to change, ...). Nothing is written for it.
    #[error("{path}: {reason}")]
    Conflict {
        /// Path in the desired state (e.g. `interfaces[0].vrf.port[0]`).
        path: String,
        /// Why it cannot be applied.
        reason: String,
    },
    /// After applying, the kernel does not hold the desired state.
    #[error("verification failed: {}", .0.join("; "))]
    Verify(Vec<String>),
    /// A probe that passed before the apply did not pass again before the deadline.
    #[error("probe failed after apply: {0}")]
    Probe(String),
    /// Reading or writing a sysctl under /proc/sys failed.
    #[error("sysctl {key}: {source}")]
    Sysctl {
        /// The sysctl (dotted name).
        key: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The ownership record could not be read or written.
    #[error("ownership record {path}: {detail}")]
    Record {
        /// The file.
        path: String,
        /// What failed.
        detail: String,
    },
    /// The apply failed and the previous state was restored.
    #[error("{reason} (rolled back to the previous state)")]
    RolledBack {
        /// Why the apply failed.
        reason: Box<Error>,
    },
    /// The apply failed and restoring the previous state failed too.
    #[error("{reason}; restoring the previous state also failed: {}", .restore.join("; "))]
    RollbackFailed {
        /// Why the apply failed.
        reason: Box<Error>,
        /// What could not be restored.
        restore: Vec<String>,
    },
}

impl Error {
    /// The errno of a kernel refusal, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The root cause, looking through rollback wrappers.
    pub fn cause(&self) -> &Error {
        match self {
            Error::RolledBack { reason } | Error::RollbackFailed { reason, .. } => reason.cause(),
            other => other,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
