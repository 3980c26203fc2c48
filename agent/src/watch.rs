//! Watches the configuration directory with inotify (through the `notify` crate) and turns
//! bursts of file events into one wake-up of the agent loop. The debounce is a few
//! milliseconds — enough to coalesce an editor's write + rename — never seconds.

use crate::error::AgentError;
use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long to wait after an event for the rest of its burst.
pub const DEBOUNCE: Duration = Duration::from_millis(5);

/// A running watch; dropping it stops watching.
pub struct DirWatch {
    _watcher: notify::RecommendedWatcher,
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
        let err = |e: notify::Error| AgentError::Watch {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let relevant = match &res {
                Ok(ev) => !ev.kind.is_access(),
                Err(_) => true,
            };
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
            rx,
        })
    }

    /// Waits for the next change, then for the rest of its burst. `None` when the watcher died.
    pub async fn changed(&mut self) -> Option<()> {
        self.rx.recv().await?;
        loop {
            match tokio::time::timeout(DEBOUNCE, self.rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return None,
                Err(_) => return Some(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_and_a_rename_wake_the_loop_once_each_burst() {
        let d = std::env::temp_dir().join(format!("metalroute-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let mut w = DirWatch::start(&d).unwrap();
        std::fs::write(d.join(".a.yaml.tmp"), "x: 1\n").unwrap();
        std::fs::rename(d.join(".a.yaml.tmp"), d.join("a.yaml")).unwrap();
        let woke = tokio::time::timeout(Duration::from_secs(5), w.changed()).await;
        assert_eq!(woke, Ok(Some(())), "no wake-up for a write + rename");
        // The burst was coalesced: nothing more is pending.
        let again = tokio::time::timeout(Duration::from_millis(200), w.changed()).await;
        assert!(again.is_err(), "a second wake-up for the same burst");
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        let woke = tokio::time::timeout(Duration::from_secs(5), w.changed()).await;
        assert_eq!(woke, Ok(Some(())), "no wake-up for a removal");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
