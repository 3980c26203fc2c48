//! The crate's one error type: input that cannot be read or parsed at all (files, YAML syntax,
//! Go durations) and manifests that cannot be generated. Problems *inside* well-formed objects
//! are not errors but validation reports ([`crate::report`]).

use std::path::PathBuf;

/// Everything that can fail in metalroute-crds.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A document is not valid YAML (or JSON).
    #[error("{}: document {document}{}: {message}", path.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "<input>".into()), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Syntax {
        /// The file (None for in-memory input).
        path: Option<PathBuf>,
        /// 0-based document index in the file.
        document: usize,
        /// 1-based line, when the parser gives one.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A directory contained no `.yaml`, `.yml` or `.json` file.
    #[error("{}: no .yaml, .yml or .json file in directory", path.display())]
    EmptyDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// An empty duration string.
    #[error("empty duration")]
    DurationEmpty,
    /// Not `[-+]` followed by one or more `<number><unit>` groups.
    #[error(
        "invalid duration {0:?}: expected a Go duration such as \"3s\", \"1m30s\" or \"250ms\""
    )]
    DurationSyntax(String),
    /// A number without unit (only "0" may stand alone).
    #[error("invalid duration {0:?}: missing unit (ns, us, ms, s, m or h)")]
    DurationMissingUnit(String),
    /// An unknown duration unit.
    #[error("invalid duration {input:?}: unknown unit {unit:?} (expected ns, us, ms, s, m or h)")]
    DurationUnknownUnit {
        /// The whole input.
        input: String,
        /// The unit that was not recognised.
        unit: String,
    },
    /// A negative duration.
    #[error("invalid duration {0:?}: must not be negative")]
    DurationNegative(String),
    /// A duration beyond 64-bit nanoseconds (Go's limit, about 290 years).
    #[error("invalid duration {0:?}: out of range")]
    DurationOverflow(String),
    /// Two versions of one CRD could not be merged.
    #[error("merging versions of CRD {kind}: {message}")]
    ManifestMerge {
        /// The kind.
        kind: &'static str,
        /// Why.
        message: String,
    },
    /// A CRD could not be rendered as YAML.
    #[error("rendering CRD {name} as YAML: {message}")]
    ManifestRender {
        /// CRD name.
        name: String,
        /// Why.
        message: String,
    },
}

/// Errors of the loader (the same type; the name says where it comes from).
pub type LoadError = Error;
/// Errors of manifest generation.
pub type ManifestError = Error;
/// Errors of duration parsing.
pub type DurationError = Error;
