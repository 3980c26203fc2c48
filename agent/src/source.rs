//! The file source of `metalroute run --config DIR`: reads every `.yaml`/`.yml`/`.json` file of
//! the directory into one validated [`Snapshot`], and keeps it current as files change.
//!
//! Files are parsed one by one and the last good parse of each file is remembered, so a YAML
//! syntax error in one file (an editor's half-written save, a typo) keeps that file's previous
//! objects and never drops what the other files configure. A file that is deleted drops its
//! objects. Objects that parse but fail validation are reported by the snapshot and left out by
//! the planner; the rest keeps working — and an object that was valid before and is invalid
//! now (an edit with a typo) keeps its last valid version, so a broken edit of a BGPPeer never
//! tears down its session: announced routes stay until a valid configuration withdraws them.
//! Likewise an object deleted while another still names it — a BFDProfile or a passwordSecret
//! Secret named by a BGPPeer, a Community whose alias a BGPAdvertisement uses — keeps its last
//! version (reported), so deleting it neither drops a session nor withdraws routes.
//!
//! Changes are cheap: only the files named by the watcher are read again
//! ([`FileSource::read_paths`]; [`FileSource::read`] reads the whole directory), only the files
//! whose objects changed are handled, and when they hold only Services and EndpointSlices the
//! snapshot is updated in place ([`Snapshot::splice_leaf_objects`]) instead of validating every
//! object again. Any other change validates the whole set, as the first read does. Both ways
//! give the same snapshot (tested in `agent/tests/source_incremental.rs`).

use crate::error::AgentError;
use metalroute_crds::loader::load_str;
use metalroute_crds::object::{LoadedObject, Object, ReadOptions};
use metalroute_crds::report::ObjectKey;
use metalroute_crds::snapshot::{Snapshot, SpliceIndex};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A parsed object, shared between a file's parse, the validated view and the last valid
/// versions (never copied per change).
type Obj = Arc<LoadedObject>;

/// What one file contributed.
#[derive(Debug, Clone, Default)]
struct FileState {
    /// The objects of the last parse without syntax errors.
    objects: Vec<Obj>,
    /// The current problem with the file (syntax error, unreadable), when there is one.
    problem: Option<String>,
    /// A digest of the text last parsed successfully, to skip re-parsing unchanged files (the
    /// text itself is not kept: with 100,000 Services it would be 70 MB).
    digest: Option<TextDigest>,
    /// Whether `objects` ever held a good parse.
    parsed: bool,
}

/// The objects validated and their snapshot.
#[derive(Debug, Default)]
struct View {
    snapshot: Snapshot,
    /// Per file, the objects validated in its place, in file order: the file's objects with an
    /// invalid object replaced by its last valid version (as many as the file has). Object `i`
    /// of the concatenation has `snapshot.reports[i]`.
    effective: BTreeMap<PathBuf, Vec<Obj>>,
    /// Objects deleted while others name them, validated after every file's objects, each with
    /// the line reporting it.
    kept_deleted: Vec<(Obj, String)>,
    /// Objects whose current version is invalid and whose last valid version is used: the line
    /// reporting it.
    kept_invalid: BTreeMap<ObjectKey, String>,
    /// The index splices of `snapshot` use (built at the first splice after a validation of
    /// the whole set, then kept up to date by each splice).
    splice_index: Option<SpliceIndex>,
}

/// How the snapshot was brought up to date, counted since the source was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Validations of the whole object set.
    pub full: u64,
    /// Changes applied in place (Services and EndpointSlices only).
    pub incremental: u64,
    /// Files read and parsed again.
    pub parsed_files: u64,
}

/// One read of the directory.
#[derive(Debug, Clone)]
pub struct Reading<'a> {
    /// The validated objects of every file (the last good parse of files that are broken now).
    pub snapshot: &'a Snapshot,
    /// Files that could not be read or parsed this time, with the reason (their previous
    /// objects, if any, are still in the snapshot), objects whose new version is invalid
    /// (their last valid version is in the snapshot), and deleted objects kept because another
    /// object names them.
    pub file_problems: Vec<String>,
    /// False when no object changed since the previous read (the snapshot is the same).
    pub changed: bool,
    /// True when the change was applied in place: only Services and EndpointSlices differ from
    /// the previous read's snapshot (the planner may then patch the previous plan).
    pub leaf_only: bool,
}

/// Reads a configuration directory, remembering each file's last good parse.
#[derive(Debug)]
pub struct FileSource {
    dir: PathBuf,
    opts: ReadOptions,
    files: BTreeMap<PathBuf, FileState>,
    last_valid: HashMap<ObjectKey, Obj>,
    view: View,
    /// False until the first read built `view`.
    read_once: bool,
    /// Whether changes of Services and EndpointSlices are applied in place.
    incremental: bool,
    stats: SourceStats,
    digester: Digester,
}

/// A file's length and two 64-bit SipHash digests of its text under two secret keys drawn at
/// start: two different texts compare equal with a probability of about 2^-128, and nobody
/// who does not know the keys can make them collide on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TextDigest {
    len: usize,
    hashes: [u64; 2],
}

/// The keyed hashers behind [`TextDigest`] (keys random per process).
#[derive(Debug, Clone)]
struct Digester([std::collections::hash_map::RandomState; 2]);

impl Digester {
    fn new() -> Digester {
        use std::collections::hash_map::RandomState;
        Digester([RandomState::new(), RandomState::new()])
    }

    fn digest(&self, text: &str) -> TextDigest {
        use std::hash::BuildHasher;
        TextDigest {
            len: text.len(),
            hashes: [self.0[0].hash_one(text), self.0[1].hash_one(text)],
        }
    }
}

/// True for the file names the loader reads.
pub fn is_config_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

/// True for names starting with a dot: editors' and kubectl's temporary files, never read.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

impl FileSource {
    /// A source over `dir` (not read yet).
    pub fn new(dir: &Path, opts: ReadOptions) -> FileSource {
        FileSource {
            dir: dir.to_path_buf(),
            opts,
            files: BTreeMap::new(),
            last_valid: HashMap::new(),
            view: View::default(),
            read_once: false,
            incremental: true,
            stats: SourceStats::default(),
            digester: Digester::new(),
        }
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// With `false`, every change validates the whole object set (the reference the in-place
    /// updates are tested against); `true` is the default.
    pub fn set_incremental(&mut self, on: bool) {
        self.incremental = on;
    }

    /// How the snapshot was kept up to date so far.
    pub fn stats(&self) -> SourceStats {
        self.stats
    }

    /// Reads the whole directory again (files whose text did not change are not parsed again).
    /// Fails only when the directory itself cannot be listed; the caller then keeps its last
    /// plan.
    pub fn read(&mut self) -> Result<Reading<'_>, AgentError> {
        let io = |source| AgentError::ConfigDir {
            path: self.dir.clone(),
            source,
        };
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if is_config_file(&path) && !is_hidden(&path) && path.is_file() {
                present.push(path);
            }
        }
        present.sort();
        let mut changed: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| present.binary_search(p).is_err())
            .cloned()
            .collect();
        for p in &changed {
            self.files.remove(p);
        }
        for path in present {
            if self.refresh(&path) {
                changed.push(path);
            }
        }
        Ok(self.settle(changed))
    }

    /// Reads only `paths` again (the files a watcher saw change: written, renamed in or out,
    /// deleted); paths that are not configuration files of the directory are ignored. The
    /// first read of a source reads the whole directory, and so does a path starting with `..`
    /// (Kubernetes swapping the `..data` directory of a mounted ConfigMap).
    pub fn read_paths<'p, I>(&mut self, paths: I) -> Result<Reading<'_>, AgentError>
    where
        I: IntoIterator<Item = &'p Path>,
    {
        if !self.read_once {
            return self.read();
        }
        let wanted: BTreeSet<&Path> = paths.into_iter().collect();
        // Kubernetes mounts a ConfigMap or Secret through symlinks into a `..data` directory
        // that it swaps atomically: then any file may have changed, though none is named.
        let swapped = wanted.iter().any(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".."))
        });
        if swapped {
            return self.read();
        }
        let mut changed = Vec::new();
        for path in wanted {
            if path.parent() != Some(self.dir.as_path()) || !is_config_file(path) || is_hidden(path)
            {
                continue;
            }
            if path.is_file() {
                if self.refresh(path) {
                    changed.push(path.to_path_buf());
                }
            } else if self.files.remove(path).is_some() {
                changed.push(path.to_path_buf());
            }
        }
        Ok(self.settle(changed))
    }

    /// Reads and parses one file; true when its objects changed.
    fn refresh(&mut self, path: &Path) -> bool {
        let state = self.files.entry(path.to_path_buf()).or_default();
        let read = std::fs::read_to_string(path).map(|text| {
            let digest = self.digester.digest(&text);
            (text, digest)
        });
        match read {
            Err(e) => {
                state.problem = Some(format!("{}: {e}", path.display()));
                false
            }
            Ok((_, digest)) if state.parsed && state.digest == Some(digest) => {
                state.problem = None;
                false
            }
            Ok((text, digest)) => {
                self.stats.parsed_files += 1;
                let loaded = load_str(&text, Some(path), &self.opts);
                if !loaded.errors.is_empty() {
                    let msgs: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
                    state.problem = Some(msgs.join("; "));
                    return false;
                }
                let same = state.parsed
                    && state.objects.len() == loaded.objects.len()
                    && state
                        .objects
                        .iter()
                        .zip(&loaded.objects)
                        .all(|(a, b)| **a == *b);
                if !same {
                    state.objects = loaded.objects.into_iter().map(Arc::new).collect();
                }
                state.digest = Some(digest);
                state.parsed = true;
                state.problem = None;
                !same
            }
        }
    }

    /// Brings the view up to date after the objects of `changed` files changed.
    fn settle(&mut self, changed: Vec<PathBuf>) -> Reading<'_> {
        let any = !changed.is_empty() || !self.read_once;
        let mut leaf_only = false;
        if any {
            let incremental = self.read_once
                && self.incremental
                && changed.iter().all(|path| self.apply_leaf_change(path));
            if incremental {
                self.stats.incremental += 1;
                leaf_only = true;
            } else {
                self.rebuild();
            }
            self.read_once = true;
        }
        Reading {
            file_problems: self.problems(),
            snapshot: &self.view.snapshot,
            changed: any,
            leaf_only,
        }
    }

    /// Applies one file's new objects in place when they and the objects they replace are
    /// Services and EndpointSlices only; false when the whole set must be validated again (the
    /// view is then rebuilt, so a partial update is never used).
    fn apply_leaf_change(&mut self, path: &Path) -> bool {
        let view = &mut self.view;
        let start: usize = view
            .effective
            .iter()
            .take_while(|(p, _)| p.as_path() < path)
            .map(|(_, v)| v.len())
            .sum();
        let old: Vec<Obj> = view.effective.get(path).cloned().unwrap_or_default();
        let mut new: Vec<Obj> = self
            .files
            .get(path)
            .map(|f| f.objects.clone())
            .unwrap_or_default();
        let refs: Vec<&LoadedObject> = new.iter().map(|o| &**o).collect();
        let old_refs: Vec<&LoadedObject> = old.iter().map(|o| &**o).collect();
        let index = view
            .splice_index
            .get_or_insert_with(|| SpliceIndex::of(&view.snapshot));
        if !view.snapshot.splice_leaf_objects_indexed(
            index,
            start..start + old.len(),
            &old_refs,
            &refs,
        ) {
            return false;
        }
        drop((refs, old_refs));
        // An invalid new version keeps its last valid one, as `rebuild` does.
        let mut kept = Vec::new();
        let mut last_versions = Vec::new();
        for (i, r) in view.snapshot.reports[start..start + new.len()]
            .iter()
            .enumerate()
        {
            if r.errors.is_empty() {
                continue;
            }
            if let Some(last) = self.last_valid.get(&r.key) {
                kept.push((r.key.clone(), kept_invalid_line(r)));
                last_versions.push((i, last.clone()));
            }
        }
        if !kept.is_empty() {
            // The objects just spliced in leave again, for their last valid versions.
            let placed_objects = new.clone();
            for (i, last) in last_versions {
                new[i] = last;
            }
            let placed: Vec<&LoadedObject> = placed_objects.iter().map(|o| &**o).collect();
            let refs: Vec<&LoadedObject> = new.iter().map(|o| &**o).collect();
            let index = view
                .splice_index
                .get_or_insert_with(|| SpliceIndex::of(&view.snapshot));
            if !view.snapshot.splice_leaf_objects_indexed(
                index,
                start..start + new.len(),
                &placed,
                &refs,
            ) {
                return false;
            }
        }
        for o in &old {
            view.kept_invalid.remove(&o.key);
        }
        for o in &new {
            view.kept_invalid.remove(&o.key);
        }
        view.kept_invalid.extend(kept);
        // Remember valid versions; objects that are gone are forgotten.
        let now: HashSet<&ObjectKey> = new.iter().map(|o| &o.key).collect();
        for o in &old {
            if !now.contains(&o.key) {
                self.last_valid.remove(&o.key);
            }
        }
        for (o, r) in new
            .iter()
            .zip(&view.snapshot.reports[start..start + new.len()])
        {
            if r.is_valid() {
                remember(&mut self.last_valid, o);
            }
        }
        if new.is_empty() {
            view.effective.remove(path);
        } else {
            view.effective.insert(path.to_path_buf(), new);
        }
        true
    }

    /// Validates every object again: each file's objects, deleted objects still named by
    /// others, and the last valid version of each object whose new version is invalid.
    fn rebuild(&mut self) {
        self.stats.full += 1;
        let mut effective: BTreeMap<PathBuf, Vec<Obj>> = self
            .files
            .iter()
            .filter(|(_, s)| !s.objects.is_empty())
            .map(|(p, s)| (p.clone(), s.objects.clone()))
            .collect();
        let mut kept_deleted = self.keep_deleted(&effective);
        let validate = |effective: &BTreeMap<PathBuf, Vec<Obj>>, kept: &[(Obj, String)]| {
            Snapshot::from_refs(
                effective
                    .values()
                    .flatten()
                    .chain(kept.iter().map(|(o, _)| o))
                    .map(|o| &**o),
                &self.opts,
            )
        };
        let mut snapshot = validate(&effective, &kept_deleted);
        let mut kept_invalid = BTreeMap::new();
        // A duplicate is a second definition, not a new version: it keeps no last version.
        let mut defined: std::collections::HashMap<&ObjectKey, usize> =
            std::collections::HashMap::new();
        for o in effective
            .values()
            .flatten()
            .chain(kept_deleted.iter().map(|(o, _)| o))
        {
            *defined.entry(&o.key).or_default() += 1;
        }
        let once: HashSet<ObjectKey> = snapshot
            .invalid()
            .filter(|r| defined.get(&r.key) == Some(&1))
            .map(|r| r.key.clone())
            .collect();
        drop(defined);
        {
            let slots = effective
                .values_mut()
                .flatten()
                .chain(kept_deleted.iter_mut().map(|(o, _)| o));
            for (slot, r) in slots.zip(&snapshot.reports) {
                if r.errors.is_empty() || !once.contains(&r.key) {
                    continue;
                }
                if let Some(last) = self.last_valid.get(&r.key) {
                    kept_invalid.insert(r.key.clone(), kept_invalid_line(r));
                    *slot = last.clone();
                }
            }
        }
        if !kept_invalid.is_empty() {
            snapshot = validate(&effective, &kept_deleted);
        }
        // Remember valid versions; objects that are gone are forgotten.
        let all = || {
            effective
                .values()
                .flatten()
                .chain(kept_deleted.iter().map(|(o, _)| o))
        };
        let present: HashSet<&ObjectKey> = all().map(|o| &o.key).collect();
        self.last_valid.retain(|k, _| present.contains(k));
        for (o, r) in all().zip(&snapshot.reports) {
            if r.is_valid() {
                remember(&mut self.last_valid, o);
            }
        }
        self.view = View {
            snapshot,
            effective,
            kept_deleted,
            kept_invalid,
            splice_index: None,
        };
    }

    /// The problems to report now, in a fixed order: files (in name order), deleted objects
    /// kept, invalid new versions replaced by their last valid one (by object).
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for state in self.files.values() {
            if let Some(p) = &state.problem {
                let kept = if state.parsed {
                    "its previous objects are kept"
                } else {
                    "nothing read from it"
                };
                out.push(format!("{p} ({kept})"));
            }
        }
        out.extend(self.view.kept_deleted.iter().map(|(_, line)| line.clone()));
        out.extend(self.view.kept_invalid.values().cloned());
        out
    }

    /// Objects deleted while a present object names them, restored from their last valid
    /// version so the objects naming them stay valid: a BFDProfile or a `passwordSecret`
    /// Secret named by a BGPPeer (its session keeps its BFD timers and password instead of
    /// being removed), and a Community defining an alias a BGPAdvertisement uses (its routes
    /// stay with their communities instead of being withdrawn). Each is kept until nothing
    /// names it or it comes back.
    fn keep_deleted(&self, effective: &BTreeMap<PathBuf, Vec<Obj>>) -> Vec<(Obj, String)> {
        let objects = || effective.values().flatten();
        let present: HashSet<&ObjectKey> = objects().map(|o| &o.key).collect();
        let ns = self.opts.metallb_namespace.as_str();
        // (object named, the object naming it)
        let mut named: Vec<(ObjectKey, &ObjectKey)> = Vec::new();
        let mut defined: HashSet<&str> = HashSet::new();
        let mut used: BTreeMap<&str, &ObjectKey> = BTreeMap::new();
        for o in objects() {
            match &o.object {
                Some(Object::BGPPeer(peer)) => {
                    if let Some(name) = peer.spec.bfd_profile.as_deref().filter(|n| !n.is_empty()) {
                        named.push((
                            ObjectKey::new("BFDProfile", o.key.namespace.as_deref(), name),
                            &o.key,
                        ));
                    }
                    if let Some(r) = &peer.spec.password_secret {
                        let name = r.name.as_deref().filter(|n| !n.is_empty());
                        let other_ns = r
                            .namespace
                            .as_deref()
                            .is_some_and(|n| !n.is_empty() && n != ns);
                        if let (Some(name), false) = (name, other_ns) {
                            named.push((ObjectKey::new("Secret", Some(ns), name), &o.key));
                        }
                    }
                }
                Some(Object::BGPAdvertisement(ad)) => {
                    for c in &ad.spec.communities {
                        used.entry(c.as_str()).or_insert(&o.key);
                    }
                }
                Some(Object::Community(c)) => {
                    defined.extend(c.spec.communities.iter().map(|a| a.name.as_str()));
                }
                _ => {}
            }
        }
        let mut restore: BTreeMap<ObjectKey, &ObjectKey> = BTreeMap::new();
        for (key, user) in named {
            if self.last_valid.contains_key(&key) && !present.contains(&key) {
                restore.entry(key).or_insert(user);
            }
        }
        // Aliases in use that no present Community defines: a deleted Community defining one
        // comes back. (Community values such as 65535:65282 are never defined as aliases.)
        used.retain(|alias, _| !defined.contains(alias));
        if !used.is_empty() {
            // Every remembered Community (a pass over the map: this runs only when a whole
            // validation does).
            for (key, last) in &self.last_valid {
                if key.kind != "Community" || present.contains(key) {
                    continue;
                }
                let Some(Object::Community(c)) = &last.object else {
                    continue;
                };
                if let Some(user) = c
                    .spec
                    .communities
                    .iter()
                    .find_map(|a| used.get(a.name.as_str()).copied())
                {
                    restore.entry(key.clone()).or_insert(user);
                }
            }
        }
        restore
            .into_iter()
            .filter_map(|(key, user)| {
                let last = self.last_valid.get(&key)?;
                let line = format!(
                    "{key} was deleted while {user} uses it; its last version is kept until no {} names it",
                    user.kind
                );
                Some((last.clone(), line))
            })
            .collect()
    }
}

/// Remembers `o` as the last valid version of its key (no copy when it already is).
fn remember(last_valid: &mut HashMap<ObjectKey, Obj>, o: &Obj) {
    match last_valid.get(&o.key) {
        Some(l) if Arc::ptr_eq(l, o) => {}
        _ => {
            last_valid.insert(o.key.clone(), o.clone());
        }
    }
}

/// The line reporting that an object's new version is invalid and its last valid one is used.
fn kept_invalid_line(r: &metalroute_crds::report::ObjectReport) -> String {
    let errors: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
    format!(
        "{}: the new version is invalid ({}); its last valid version is kept",
        r.key,
        errors.join("; ")
    )
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
    fn a_swapped_kubernetes_data_directory_reads_everything() {
        let d = dir("configmap");
        std::fs::write(d.join("a.yaml"), POOL).unwrap();
        let mut src = FileSource::new(&d, ReadOptions::default());
        assert_eq!(src.read().unwrap().snapshot.config.pools.len(), 1);
        std::fs::write(d.join("a.yaml"), POOL2).unwrap();
        // Only `..data` is named, as when the kubelet swaps the mounted ConfigMap.
        let r = src.read_paths([d.join("..data").as_path()]).unwrap();
        assert!(r.changed);
        assert!(r.snapshot.config.pools.contains_key("p2"));
        // Any other unnamed change is not seen until a full read.
        std::fs::write(d.join("a.yaml"), POOL).unwrap();
        let r = src.read_paths([d.join(".a.yaml.swp").as_path()]).unwrap();
        assert!(!r.changed);
        assert!(src.read().unwrap().snapshot.config.pools.contains_key("p1"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let mut src = FileSource::new(Path::new("/nonexistent/metalroute"), ReadOptions::default());
        let e = src.read().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/metalroute"), "{e}");
    }
}
