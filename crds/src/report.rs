//! What validation says about one object: its identity ([`ObjectKey`]), where it was read from
//! ([`Source`]), and every error and warning ([`Issue`]) found, each naming a field path and a
//! reason. Errors make the object unusable; warnings do not. Transient errors (a missing Secret,
//! an unknown community alias, a missing BFD profile) are retried when other objects change.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// Identifies an object: kind, namespace (for namespaced kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    /// The object's kind, e.g. `BGPPeer`.
    pub kind: String,
    /// The namespace; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key.
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.qualified_name())
    }
}

/// Where an object was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file, when the object came from a file.
    pub file: Option<PathBuf>,
    /// 0-based index of the YAML document in the file.
    pub document: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{} document {}", p.display(), self.document),
            None => write!(f, "document {}", self.document),
        }
    }
}

/// One problem found in an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Field path from the object's root, e.g. `spec.keepaliveTime` or `spec.addresses[1]`.
    pub field: String,
    /// Why the value is wrong, in words an administrator can act on.
    pub reason: String,
    /// True for errors that depend on other objects that may appear later (missing Secret,
    /// unknown community alias, missing BFD profile); the object is retried when those change.
    pub transient: bool,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)?;
        } else {
            write!(f, "{}: {}", self.field, self.reason)?;
        }
        if self.transient {
            write!(
                f,
                " (transient: retried when the referenced object appears)"
            )?;
        }
        Ok(())
    }
}

/// Collects errors and warnings while one object is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issues {
    /// Problems that make the object unusable.
    pub errors: Vec<Issue>,
    /// Problems worth telling but that leave the object usable.
    pub warnings: Vec<Issue>,
}

impl Issues {
    /// Records an error.
    pub fn error(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(Issue {
            field: field.into(),
            reason: reason.into(),
            transient: false,
        });
    }

    /// Records a transient error (depends on another object that may appear later).
    pub fn transient(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(Issue {
            field: field.into(),
            reason: reason.into(),
            transient: true,
        });
    }

    /// Records a warning.
    pub fn warn(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.warnings.push(Issue {
            field: field.into(),
            reason: reason.into(),
            transient: false,
        });
    }

    /// True when no error was recorded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Appends another collector's issues.
    pub fn extend(&mut self, other: Issues) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}

/// What became of one loaded object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Checked: valid when `errors` is empty.
    Checked,
    /// A kind metalroute recognises but does not read (Deployment, MachineConfig, ...).
    Skipped,
    /// An `apiVersion`/`kind` metalroute does not know.
    Unknown,
}

/// The validation report of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    /// Which object.
    pub key: ObjectKey,
    /// The object's `apiVersion` as written.
    pub api_version: String,
    /// Where it was read from, when known.
    pub source: Option<Source>,
    /// Checked, skipped or unknown.
    pub outcome: Outcome,
    /// Errors (the object is not used when there is one).
    pub errors: Vec<Issue>,
    /// Warnings (the object is still used).
    pub warnings: Vec<Issue>,
}

impl ObjectReport {
    /// True when the object was checked and has no error.
    pub fn is_valid(&self) -> bool {
        self.outcome == Outcome::Checked && self.errors.is_empty()
    }

    /// True when at least one error is transient and every error is.
    pub fn only_transient_errors(&self) -> bool {
        !self.errors.is_empty() && self.errors.iter().all(|e| e.transient)
    }

    /// How lines name the object: `Kind namespace/name`, or the document's place when the
    /// document has no kind or name.
    pub fn label(&self) -> String {
        if !self.key.kind.is_empty() && !self.key.name.is_empty() {
            return self.key.to_string();
        }
        let what = if self.key.kind.is_empty() {
            "object"
        } else {
            self.key.kind.as_str()
        };
        match &self.source {
            Some(s) => format!("{what} at {s}"),
            None => format!("{what} without a name"),
        }
    }

    /// The report's lines as `metalroute validate` prints them: `<kind> <ns>/<name>: ok`, or one
    /// line per error, then one line per warning.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.outcome {
            Outcome::Skipped => out.push(format!(
                "{}: skipped ({} is not read by metalroute)",
                self.label(),
                self.api_version
            )),
            Outcome::Unknown => {}
            Outcome::Checked if self.errors.is_empty() => out.push(format!("{}: ok", self.label())),
            Outcome::Checked => {}
        }
        for e in &self.errors {
            out.push(format!("{}: {e}", self.label()));
        }
        for w in &self.warnings {
            out.push(format!("{}: warning: {w}", self.label()));
        }
        out
    }
}
