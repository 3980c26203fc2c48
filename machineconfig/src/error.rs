//! The crate's one error type: every way input to rendering or checking can be rejected, each
//! message naming the value, the field it came from and the reason.

use thiserror::Error;

/// Everything that can go wrong while parsing names and keys, planning sysctls, rendering a
/// MachineConfig or reading one to check it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// An interface name Linux would refuse (or that cannot be written into a sysctl.d key).
    #[error("interface name {name:?}: {reason}")]
    InvalidInterfaceName {
        /// The name as given.
        name: String,
        /// Why it is not a valid name.
        reason: String,
    },
    /// A sysctl key that cannot be parsed (empty, empty component, ...).
    #[error("sysctl key {key:?}: {reason}")]
    InvalidSysctlKey {
        /// The key as given.
        key: String,
        /// Why it is not a valid key.
        reason: String,
    },
    /// A value that the kernel would refuse or misread for a typed key.
    #[error("sysctl {key}: value {value:?} is invalid: {reason}")]
    InvalidSysctlValue {
        /// The key (dotted form).
        key: String,
        /// The value as given.
        value: String,
        /// What values are allowed.
        reason: String,
    },
    /// An `IFACE=MODE` reverse-path filter argument that does not parse.
    #[error("rp_filter setting {arg:?}: {reason}")]
    InvalidRpFilterArg {
        /// The argument as given.
        arg: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The MachineConfig role label value is not valid.
    #[error(
        "MachineConfig metadata.labels[machineconfiguration.openshift.io/role] {value:?}: {reason}"
    )]
    InvalidRole {
        /// The role as given.
        value: String,
        /// Why it is not a valid label value.
        reason: String,
    },
    /// The MachineConfig name is not a valid Kubernetes object name.
    #[error("MachineConfig metadata.name {value:?}: {reason}")]
    InvalidName {
        /// The name as given.
        value: String,
        /// Why it is not a valid object name.
        reason: String,
    },
    /// Rendering was asked with no sysctl at all.
    #[error("MachineConfig {name}: no sysctl to render (give --forwarding, --rp-filter, --l3mdev-accept or --from)")]
    NothingToRender {
        /// The MachineConfig name.
        name: String,
    },
    /// Two settings for one key with different values.
    #[error("sysctl {key}: asked for both {first} and {second}")]
    ConflictingSysctl {
        /// The key (dotted form).
        key: String,
        /// The first value.
        first: String,
        /// The conflicting value.
        second: String,
    },
    /// A `data:` URL that cannot be decoded.
    #[error("data URL: {reason}")]
    InvalidDataUrl {
        /// Why it cannot be decoded.
        reason: String,
    },
    /// The input to `check` is not YAML (or not a mapping at all).
    #[error("{source_name}: document {document}: not readable as YAML: {reason}")]
    NotYaml {
        /// The file (or `-`) the text came from.
        source_name: String,
        /// Zero-based document index in a multi-document stream.
        document: usize,
        /// The parser's message.
        reason: String,
    },
}
