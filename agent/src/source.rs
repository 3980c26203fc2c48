//! The file source of `metalroute run --config DIR`: reads every `.yaml`/`.yml`/`.json` file of
//! the directory into one validated [`Snapshot`].
//!
//! Files are parsed one by one and the last good parse of each file is remembered, so a YAML
//! syntax error in one file (an editor's half-written save, a typo) keeps that file's previous
//! objects and never drops what the other files configure. A file that is deleted drops its
//! objects. Objects that parse but fail validation are reported by the snapshot and left out by
//! the planner; the rest keeps working — and an object that was valid before and is invalid
//! now (an edit with a typo) keeps its last valid version, so a broken edit of a BGPPeer never
//! tears down its session: announced routes stay until a valid configuration withdraws them.

use crate::error::AgentError;
use metalroute_crds::loader::load_str;
use metalroute_crds::object::{LoadedObject, Object, ReadOptions};
use metalroute_crds::report::ObjectKey;
use metalroute_crds::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one file contributed.
#[derive(Debug, Clone, Default)]
struct FileState {
    /// The objects of the last parse without syntax errors.
    objects: Vec<LoadedObject>,
    /// The current problem with the file (syntax error, unreadable), when there is one.
    problem: Option<String>,
    /// The text last parsed successfully, to skip re-parsing unchanged files.
    text: String,
    /// Whether `objects` ever held a good parse.
    parsed: bool,
}

/// One read of the directory.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The validated objects of every file (the last good parse of files that are broken now).
    pub snapshot: Snapshot,
    /// Files that could not be read or parsed this time, with the reason (their previous
    /// objects, if any, are still in the snapshot), and objects whose new version is invalid
    /// (their last valid version is in the snapshot).
    pub file_problems: Vec<String>,
}

/// Reads a configuration directory, remembering each file's last good parse.
#[derive(Debug)]
pub struct FileSource {
    dir: PathBuf,
    opts: ReadOptions,
    files: BTreeMap<PathBuf, FileState>,
    last_valid: BTreeMap<ObjectKey, LoadedObject>,
}

/// True for the file names the loader reads.
pub fn is_config_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

impl FileSource {
    /// A source over `dir` (not read yet).
    pub fn new(dir: &Path, opts: ReadOptions) -> FileSource {
        FileSource {
            dir: dir.to_path_buf(),
            opts,
            files: BTreeMap::new(),
            last_valid: BTreeMap::new(),
        }
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the directory again. Fails only when the directory itself cannot be listed; the
    /// caller then keeps its last plan.
    pub fn read(&mut self) -> Result<Reading, AgentError> {
        let io = |source| AgentError::ConfigDir {
            path: self.dir.clone(),
            source,
        };
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            // Editors' and kubectl's temporary files start with a dot: never read them.
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if is_config_file(&path) && !hidden && path.is_file() {
                present.push(path);
            }
        }
        present.sort();
        self.files.retain(|p, _| present.binary_search(p).is_ok());
        for path in &present {
            let state = self.files.entry(path.clone()).or_default();
            match std::fs::read_to_string(path) {
                Err(e) => state.problem = Some(format!("{}: {e}", path.display())),
                Ok(text) if state.parsed && text == state.text => state.problem = None,
                Ok(text) => {
                    let loaded = load_str(&text, Some(path), &self.opts);
                    if loaded.errors.is_empty() {
                        state.objects = loaded.objects;
                        state.text = text;
                        state.parsed = true;
                        state.problem = None;
                    } else {
                        let msgs: Vec<String> =
                            loaded.errors.iter().map(ToString::to_string).collect();
                        state.problem = Some(msgs.join("; "));
                    }
                }
            }
        }
        let mut objects = Vec::new();
        let mut file_problems = Vec::new();
        for state in self.files.values() {
            objects.extend(state.objects.iter().cloned());
            if let Some(p) = &state.problem {
                let kept = if state.parsed {
                    "its previous objects are kept"
                } else {
                    "nothing read from it"
                };
                file_problems.push(format!("{p} ({kept})"));
            }
        }
        self.keep_deleted_bfd_profiles(&mut objects, &mut file_problems);
        let mut snapshot = Snapshot::from_objects(objects.clone(), &self.opts);
        let mut kept = 0;
        for r in snapshot.invalid() {
            let Some(old) = self.last_valid.get(&r.key) else {
                continue;
            };
            if let Some(slot) = objects.iter_mut().find(|o| o.key == r.key) {
                *slot = old.clone();
                kept += 1;
                let errors: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
                file_problems.push(format!(
                    "{}: the new version is invalid ({}); its last valid version is kept",
                    r.key,
                    errors.join("; ")
                ));
            }
        }
        if kept > 0 {
            snapshot = Snapshot::from_objects(objects.clone(), &self.opts);
        }
        // Remember valid versions; objects that are gone are forgotten.
        let present: std::collections::BTreeSet<&ObjectKey> =
            objects.iter().map(|o| &o.key).collect();
        self.last_valid.retain(|k, _| present.contains(k));
        // One pass over the reports (a lookup per object would be quadratic in the object count).
        let valid: std::collections::HashSet<&ObjectKey> = snapshot
            .reports
            .iter()
            .filter(|r| r.is_valid())
            .map(|r| &r.key)
            .collect();
        for o in &objects {
            if valid.contains(&o.key) {
                self.last_valid.insert(o.key.clone(), o.clone());
            }
        }
        Ok(Reading {
            snapshot,
            file_problems,
        })
    }
}

impl FileSource {
    /// A BFDProfile deleted while a BGPPeer still names it keeps its last valid version: the
    /// peer's session keeps its last BFD timers (reported) until the peer stops naming the
    /// profile or the profile comes back, instead of the peer turning invalid and its BGP
    /// session being removed.
    fn keep_deleted_bfd_profiles(
        &self,
        objects: &mut Vec<LoadedObject>,
        problems: &mut Vec<String>,
    ) {
        let mut restore: BTreeMap<ObjectKey, ObjectKey> = BTreeMap::new();
        for o in objects.iter() {
            let Some(Object::BGPPeer(peer)) = &o.object else {
                continue;
            };
            let Some(name) = peer.spec.bfd_profile.as_deref() else {
                continue;
            };
            let key = ObjectKey::new("BFDProfile", o.key.namespace.as_deref(), name);
            if self.last_valid.contains_key(&key) && !objects.iter().any(|x| x.key == key) {
                restore.entry(key).or_insert_with(|| o.key.clone());
            }
        }
        for (key, user) in restore {
            if let Some(old) = self.last_valid.get(&key) {
                problems.push(format!(
                    "{key} was deleted while {user} uses it; its last version is kept until no BGPPeer names it"
                ));
                objects.push(old.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p1\n  namespace: metallb-system\nspec:\n  addresses: [192.0.2.0/28]\n";
    const POOL2: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p2\n  namespace: metallb-system\nspec:\n  addresses: [198.51.100.0/28]\n";

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("metalroute-source-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn deleted_bfd_profile_in_use_keeps_its_last_version_until_no_peer_names_it() {
        let d = dir("bfdgone");
        let peer = |bfd: &str| {
            format!("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: r1\n  namespace: metallb-system\nspec:\n  peerAddress: 192.0.2.1\n  peerASN: 64501\n  myASN: 64500\n  routerID: 192.0.2.11\n{bfd}")
        };
        std::fs::write(d.join("peer.yaml"), peer("  bfdProfile: fast\n")).unwrap();
        std::fs::write(d.join("bfd.yaml"), "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: fast\n  namespace: metallb-system\nspec:\n  receiveInterval: 50\n").unwrap();
        let mut src = FileSource::new(&d, ReadOptions::default());
        let r = src.read().unwrap();
        assert!(r.snapshot.is_valid());
        assert_eq!(r.snapshot.config.peers.len(), 1);

        std::fs::remove_file(d.join("bfd.yaml")).unwrap();
        let r = src.read().unwrap();
        assert_eq!(r.snapshot.config.peers.len(), 1, "the peer stays valid");
        assert_eq!(
            r.snapshot.config.bfd_profiles.len(),
            1,
            "with the last profile"
        );
        assert!(
            r.file_problems
                .iter()
                .any(|p| p.contains("BFDProfile") && p.contains("deleted")),
            "{:?}",
            r.file_problems
        );
        // Kept across further reads while the peer names it.
        assert_eq!(src.read().unwrap().snapshot.config.bfd_profiles.len(), 1);

        std::fs::write(d.join("peer.yaml"), peer("")).unwrap();
        let r = src.read().unwrap();
        assert_eq!(r.snapshot.config.peers.len(), 1);
        assert!(
            r.snapshot.config.bfd_profiles.is_empty(),
            "no peer names it: gone"
        );
        assert!(r.file_problems.is_empty(), "{:?}", r.file_problems);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn syntax_error_keeps_the_files_previous_objects_and_the_others() {
        let d = dir("syntax");
        std::fs::write(d.join("a.yaml"), POOL).unwrap();
        std::fs::write(d.join("b.yaml"), POOL2).unwrap();
        let mut src = FileSource::new(&d, ReadOptions::default());
        let r = src.read().unwrap();
        assert_eq!(r.snapshot.config.pools.len(), 2);
        assert!(r.file_problems.is_empty());
        std::fs::write(d.join("a.yaml"), "kind: [unclosed\n").unwrap();
        let r = src.read().unwrap();
        assert_eq!(
            r.snapshot.config.pools.len(),
            2,
            "a.yaml's last good parse is kept"
        );
        assert_eq!(r.file_problems.len(), 1);
        assert!(
            r.file_problems[0].contains("a.yaml"),
            "{:?}",
            r.file_problems
        );
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        let r = src.read().unwrap();
        assert_eq!(
            r.snapshot.config.pools.len(),
            1,
            "a deleted file drops its objects"
        );
        assert!(r.file_problems.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn new_broken_file_contributes_nothing_and_hidden_files_are_ignored() {
        let d = dir("broken");
        std::fs::write(d.join("a.yaml"), POOL).unwrap();
        std::fs::write(d.join("b.yaml"), "a: b: c\n").unwrap();
        std::fs::write(d.join(".a.yaml.swp"), POOL2).unwrap();
        let mut src = FileSource::new(&d, ReadOptions::default());
        let r = src.read().unwrap();
        assert_eq!(r.snapshot.config.pools.len(), 1);
        assert!(
            r.file_problems[0].contains("nothing read"),
            "{:?}",
            r.file_problems
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_object_made_invalid_keeps_its_last_valid_version() {
        let d = dir("sticky");
        let peer = |hold: &str| {
            format!("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{namespace: metallb-system, name: r1}}\nspec: {{peerAddress: 192.0.2.1, peerASN: 64501, myASN: 64500, holdTime: {hold}}}\n")
        };
        std::fs::write(d.join("peer.yaml"), peer("9s")).unwrap();
        let mut src = FileSource::new(&d, ReadOptions::default());
        let r = src.read().unwrap();
        assert_eq!(r.snapshot.config.peers.len(), 1);
        // holdTime 1s is invalid: the 9s version stays, and the problem is reported.
        std::fs::write(d.join("peer.yaml"), peer("1s")).unwrap();
        let r = src.read().unwrap();
        assert_eq!(r.snapshot.config.peers.len(), 1, "{:?}", r.file_problems);
        assert!(
            r.file_problems[0].contains("last valid version is kept"),
            "{:?}",
            r.file_problems
        );
        // A valid edit takes over; deleting the object drops it.
        std::fs::write(d.join("peer.yaml"), peer("30s")).unwrap();
        let r = src.read().unwrap();
        assert!(r.file_problems.is_empty());
        std::fs::write(d.join("peer.yaml"), POOL).unwrap();
        let r = src.read().unwrap();
        assert!(r.snapshot.config.peers.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let mut src = FileSource::new(Path::new("/nonexistent/metalroute"), ReadOptions::default());
        let e = src.read().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/metalroute"), "{e}");
    }
}
