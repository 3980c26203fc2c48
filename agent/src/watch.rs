//! Watches the configuration directory with inotify (through the `notify` crate) and turns
//! bursts of file events into one wake-up of the agent loop, naming the files that changed so
//! that only those are read again.
//!
//! A file renamed into the directory, closed after writing, or deleted is complete: when every
//! file of a burst is, the loop wakes at once. A file still being written (created or modified
//! but not closed yet) waits for the rest of its burst: [`DEBOUNCE`] without events — a few
//! milliseconds, never seconds. Lost events (inotify queue overflow, a watcher error) or a
//! change of the directory itself ask for a full re-read.

use crate::error::AgentError;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long to wait after an event of a file still being written for the rest of its burst.
pub const DEBOUNCE: Duration = Duration::from_millis(5);

/// What changed in the directory since the last wake-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Files created, written, renamed in or out, or deleted.
    pub paths: BTreeSet<PathBuf>,
    /// Events were lost or the directory itself changed: read the whole directory again.
    pub rescan: bool,
}

impl Changes {
    /// Adds `other` (a later burst) to these changes.
    pub fn merge(&mut self, other: Changes) {
        self.paths.extend(other.paths);
        self.rescan |= other.rescan;
    }
}

/// Whether a file's last event says it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileEvent {
    /// Renamed in or out, closed after writing, deleted.
    Complete,
    /// Created, or its data or metadata modified: more may follow.
    InProgress,
}

/// Events gathered since the last wake-up (shared with notify's thread).
#[derive(Debug, Default)]
struct Pending {
    files: BTreeMap<PathBuf, FileEvent>,
    rescan: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.files.is_empty() && !self.rescan
    }

    fn settled(&self) -> bool {
        !self.rescan && self.files.values().all(|e| *e == FileEvent::Complete)
    }

    fn take(&mut self) -> Changes {
        let p = std::mem::take(self);
        Changes {
            paths: p.files.into_keys().collect(),
            rescan: p.rescan,
        }
    }

    /// Records one notify event for the watched directory `dir`.
    fn record(&mut self, dir: &Path, res: notify::Result<notify::Event>) -> bool {
        let ev = match res {
            Ok(ev) => ev,
            Err(_) => {
                self.rescan = true;
                return true;
            }
        };
        if ev.need_rescan() {
            self.rescan = true;
            return true;
        }
        let what = match ev.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => FileEvent::Complete,
            EventKind::Access(_) => return false,
            EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => FileEvent::Complete,
            _ => FileEvent::InProgress,
        };
        let mut relevant = false;
        for p in ev.paths {
            if p.parent() == Some(dir) {
                self.files.insert(p, what);
                relevant = true;
            } else if p == dir {
                // The directory itself was moved, deleted or changed.
                self.rescan = true;
                relevant = true;
            }
        }
        if !relevant && matches!(ev.kind, EventKind::Other | EventKind::Any) {
            self.rescan = true;
            relevant = true;
        }
        relevant
    }
}

/// A running watch; dropping it stops watching.
pub struct DirWatch {
    _watcher: notify::RecommendedWatcher,
    pending: Arc<Mutex<Pending>>,
    rx: mpsc::Receiver<()>,
}

impl std::fmt::Debug for DirWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirWatch")
    }
}

impl DirWatch {
    /// Starts watching `dir` (not recursively, like the loader reads it).
    pub fn start(dir: &Path) -> Result<DirWatch, AgentError> {
        // Capacity 1: a pending wake-up already covers every later event.
        let (tx, rx) = mpsc::channel(1);
        let pending = Arc::new(Mutex::new(Pending::default()));
        let err = |e: notify::Error| AgentError::Watch {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        let shared = pending.clone();
        let watched = dir.to_path_buf();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // The lock is only held to update the set: a poisoned one still holds a usable set.
            let relevant = shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(&watched, res);
            if relevant {
                let _ = tx.try_send(());
            }
        })
        .map_err(err)?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(err)?;
        Ok(DirWatch {
            _watcher: watcher,
            pending,
            rx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the next change; returns at once when every file of it is complete, else
    /// after [`DEBOUNCE`] without events. `None` when the watcher died.
    ///
    /// Cancel-safe (the agent's loop races it against BGP and BFD events in `select!`): changes
    /// stay in the shared pending set until they are returned, and a call that finds changes
    /// already pending — because an earlier, cancelled call consumed their wake-up — does not
    /// wait for another one.
    pub async fn changed(&mut self) -> Option<Changes> {
        while self.lock().is_empty() {
            self.rx.recv().await?;
        }
        loop {
            if self.lock().settled() {
                return Some(self.lock().take());
            }
            match tokio::time::timeout(DEBOUNCE, self.rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return None,
                Err(_) => return Some(self.lock().take()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("metalroute-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    async fn next(w: &mut DirWatch) -> Changes {
        tokio::time::timeout(Duration::from_secs(5), w.changed())
            .await
            .expect("no wake-up within 5 s")
            .expect("the watcher died")
    }

    #[tokio::test]
    async fn a_write_and_a_rename_wake_the_loop_naming_the_file() {
        let d = dir("burst");
        let mut w = DirWatch::start(&d).unwrap();
        std::fs::write(d.join(".a.yaml.tmp"), "x: 1\n").unwrap();
        std::fs::rename(d.join(".a.yaml.tmp"), d.join("a.yaml")).unwrap();
        let mut c = next(&mut w).await;
        // The temporary file's events may come in an earlier wake-up than the rename's.
        while !c.paths.contains(&d.join("a.yaml")) {
            c = next(&mut w).await;
        }
        assert!(!c.rescan);
        // What may still come for this burst (notify reports a rename as from/to/both events,
        // which a loaded machine can deliver across two wake-ups) names only the same two files
        // and never asks for a full re-read.
        let burst = BTreeSet::from([d.join(".a.yaml.tmp"), d.join("a.yaml")]);
        while let Ok(again) = tokio::time::timeout(Duration::from_millis(200), w.changed()).await {
            let again = again.expect("the watcher died");
            assert!(!again.rescan, "a full re-read for a single-file burst");
            assert!(
                again.paths.is_subset(&burst),
                "a later wake-up names other files: {:?}",
                again.paths
            );
        }
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        let c = next(&mut w).await;
        assert_eq!(c.paths, BTreeSet::from([d.join("a.yaml")]));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[tokio::test]
    async fn a_file_renamed_in_wakes_the_loop_without_the_debounce() {
        let d = dir("rename");
        let outside = dir("rename-staging");
        let mut w = DirWatch::start(&d).unwrap();
        std::fs::write(outside.join("b.yaml"), "x: 1\n").unwrap();
        std::fs::rename(outside.join("b.yaml"), d.join("b.yaml")).unwrap();
        let c = next(&mut w).await;
        assert_eq!(c.paths, BTreeSet::from([d.join("b.yaml")]));
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[tokio::test]
    async fn a_change_whose_wait_was_cancelled_is_returned_by_the_next_call() {
        let d = dir("cancel");
        let mut w = DirWatch::start(&d).unwrap();
        // A file still open for writing: its change is in progress, so a wait for it sits in
        // the debounce. Keep it open so no further event (close) arrives during the test.
        let _open = std::fs::File::create(d.join("c.yaml")).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while w.lock().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "no event for the new file"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // This call takes the wake-up and is cancelled in the debounce, as `select!` does
        // when another branch wins.
        let first = tokio::time::timeout(DEBOUNCE / 5, w.changed()).await;
        assert!(
            first.is_err(),
            "an in-progress change returned before the debounce"
        );
        // No new event arrives, yet the next call returns the pending change.
        let c = next(&mut w).await;
        assert_eq!(c.paths, BTreeSet::from([d.join("c.yaml")]));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn events_are_classified() {
        use notify::event::{CreateKind, DataChange, RemoveKind, RenameMode};
        let d = Path::new("/cfg");
        let ev = |kind: EventKind, p: &str| Ok(notify::Event::new(kind).add_path(PathBuf::from(p)));
        let mut p = Pending::default();
        assert!(p.record(d, ev(EventKind::Create(CreateKind::File), "/cfg/a.yaml")));
        assert!(!p.settled(), "a created file may still be written");
        assert!(p.record(
            d,
            ev(
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                "/cfg/a.yaml"
            )
        ));
        assert!(!p.settled());
        assert!(p.record(
            d,
            ev(
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                "/cfg/a.yaml"
            )
        ));
        assert!(p.settled(), "closed after writing: complete");
        assert!(!p.record(
            d,
            ev(
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                "/cfg/b.yaml"
            )
        ));
        assert!(p.record(
            d,
            ev(
                EventKind::Modify(ModifyKind::Name(RenameMode::To)),
                "/cfg/c.yaml"
            )
        ));
        assert!(p.record(d, ev(EventKind::Remove(RemoveKind::File), "/cfg/d.yaml")));
        assert!(p.settled());
        let c = p.take();
        assert_eq!(c.paths.len(), 3);
        assert!(!c.rescan);
        assert!(p.is_empty());
        // Lost events and the directory itself ask for a full re-read.
        assert!(p.record(d, Err(notify::Error::generic("boom"))));
        assert!(p.take().rescan);
        assert!(p.record(
            d,
            Ok(notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan))
        ));
        assert!(!p.settled(), "a rescan waits for the burst to end");
        assert!(p.take().rescan);
        assert!(p.record(d, ev(EventKind::Remove(RemoveKind::Folder), "/cfg")));
        assert!(p.take().rescan);
        // Files outside the directory are not ours.
        assert!(!p.record(
            d,
            ev(
                EventKind::Modify(ModifyKind::Name(RenameMode::To)),
                "/other/x.yaml"
            )
        ));
        assert!(p.is_empty());
    }
}
