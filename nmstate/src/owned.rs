//! The record of links metalroute created. Netlink has no owner tag for links (routes and rules
//! carry a protocol number instead), so the names are kept in a small JSON file — under /run so
//! that a reboot, which removes the links too, also forgets them — and a restarted agent still
//! knows which links are its own to change or delete.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Default location of the record for the agent.
pub const DEFAULT_RECORD_PATH: &str = "/run/metalroute/nmstate-owned.json";

/// Names of links metalroute created, optionally persisted to a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedRecord {
    links: BTreeSet<String>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

impl OwnedRecord {
    /// An empty record kept in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Loads the record from `path` (empty when the file does not exist yet); later changes are
    /// written back there.
    pub fn load(path: &Path) -> Result<Self> {
        let mut rec = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice::<OwnedRecord>(&bytes).map_err(|e| Error::Record {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OwnedRecord::default(),
            Err(e) => {
                return Err(Error::Record {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })
            }
        };
        rec.path = Some(path.to_path_buf());
        Ok(rec)
    }

    /// Whether metalroute created link `name`.
    pub fn owns(&self, name: &str) -> bool {
        self.links.contains(name)
    }

    /// The owned link names.
    pub fn links(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(String::as_str)
    }

    /// Records a created link.
    pub fn insert(&mut self, name: &str) {
        self.links.insert(name.to_string());
    }

    /// Forgets a deleted link.
    pub fn remove(&mut self, name: &str) {
        self.links.remove(name);
    }

    /// Replaces the set of names (restoring a checkpoint), keeping the file location.
    pub fn set_links(&mut self, links: BTreeSet<String>) {
        self.links = links;
    }

    /// The set of names.
    pub fn link_set(&self) -> &BTreeSet<String> {
        &self.links
    }

    /// Writes the record to its file, atomically (temporary file + rename). No-op in memory.
    pub fn save(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let err = |e: std::io::Error| Error::Record {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(self).map_err(|e| Error::Record {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        std::fs::write(&tmp, body).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}
