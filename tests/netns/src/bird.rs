//! BIRD 2 running inside a test namespace with a private configuration, control socket and
//! log, queried with `birdc`.

use crate::cmd::{output_of, stdout_of};
use crate::netns::{ChildGuard, Netns};
use crate::wait::wait_for_ok;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Counter making directory names unique within the process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running BIRD (`bird -f -c bird.conf -s bird.ctl -P bird.pid`) inside a namespace; stopped
/// and its directory removed on drop (log tail printed when the test is panicking).
#[derive(Debug)]
pub struct Bird {
    dir: PathBuf,
    child: Option<ChildGuard>,
}

impl Bird {
    /// Writes `conf` (a complete bird.conf: `router id`, protocols…) and starts BIRD inside
    /// `ns`; the harness prepends `log "<dir>/bird.log" all;`. Waits until `birdc` answers.
    /// For fast sessions use `connect delay time 0; connect retry time 1;` and explicit
    /// `import`/`export` filters (eBGP requires them).
    ///
    /// # Panics
    /// If BIRD rejects the configuration, exits, or does not answer within 20 s.
    pub fn start(ns: &Netns, conf: &str) -> Bird {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("metalroute-bird-{}-{n}", ns.name()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let conf_path = dir.join("bird.conf");
        let text = format!("log \"{}\" all;\n{conf}\n", dir.join("bird.log").display());
        if let Err(e) = std::fs::write(&conf_path, text) {
            panic!("cannot write {}: {e}", conf_path.display());
        }
        let check = output_of(Command::new("bird").arg("-p").arg("-c").arg(&conf_path));
        if !check.status.success() {
            panic!(
                "BIRD rejects its configuration {}: {}{}",
                conf_path.display(),
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
        }
        let argv = [
            "bird".to_owned(),
            "-f".into(),
            "-c".into(),
            conf_path.display().to_string(),
            "-s".into(),
            dir.join("bird.ctl").display().to_string(),
            "-P".into(),
            dir.join("bird.pid").display().to_string(),
        ];
        let child = ns.spawn_logged(&argv, &dir.join("bird.stdout"));
        let mut bird = Bird {
            dir,
            child: Some(child),
        };
        wait_for_ok("BIRD control socket", Duration::from_secs(20), || {
            if let Some(st) = bird.child.as_mut().and_then(ChildGuard::try_wait) {
                panic!(
                    "BIRD exited ({st}): {}",
                    std::fs::read_to_string(bird.dir.join("bird.stdout")).unwrap_or_default()
                );
            }
            let out = output_of(
                Command::new("birdc")
                    .arg("-s")
                    .arg(bird.socket())
                    .arg("show status"),
            );
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && text.contains("Daemon is up") {
                Ok(())
            } else {
                Err(text)
            }
        });
        bird
    }

    /// The control socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    /// The private directory (configuration, socket, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// BIRD's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("bird.log")
    }

    /// Runs a birdc command (e.g. `"show protocols all"`, `"show route all"`, `"configure"`)
    /// and returns its output.
    ///
    /// # Panics
    /// If birdc fails.
    pub fn birdc(&self, cmd: &str) -> String {
        stdout_of(
            Command::new("birdc")
                .arg("-s")
                .arg(self.socket())
                .args(cmd.split_whitespace()),
        )
    }

    /// Replaces the configuration with `conf` (the harness re-adds its `log` line) and runs
    /// `birdc configure`.
    ///
    /// # Panics
    /// If BIRD rejects the new configuration.
    pub fn reconfigure(&self, conf: &str) {
        let conf_path = self.dir.join("bird.conf");
        let text = format!("log \"{}\" all;\n{conf}\n", self.log_path().display());
        if let Err(e) = std::fs::write(&conf_path, text) {
            panic!("cannot write {}: {e}", conf_path.display());
        }
        let out = self.birdc("configure");
        if !out.contains("Reconfigured") && !out.contains("Reconfiguration in progress") {
            panic!("BIRD rejected the new configuration: {out}");
        }
    }

    /// The `BGP state:` of protocol `name` (e.g. `"Established"`, `"Active"`, `"Connect"`),
    /// or `None` if BIRD does not report one.
    pub fn protocol_state(&self, name: &str) -> Option<String> {
        let text = self.birdc(&format!("show protocols all {name}"));
        text.lines()
            .find_map(|l| l.trim().strip_prefix("BGP state:"))
            .map(|s| s.trim().to_owned())
    }

    /// Waits until BGP protocol `name` is Established.
    ///
    /// # Panics
    /// After `deadline`, with the last state seen.
    pub fn wait_established(&self, name: &str, deadline: Duration) {
        wait_for_ok(
            &format!("BIRD protocol {name} Established"),
            deadline,
            || match self.protocol_state(name) {
                Some(s) if s == "Established" => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    }

    /// Prefixes BIRD has in its tables (`show route`), sorted and deduplicated.
    pub fn prefixes(&self) -> Vec<String> {
        let text = self.birdc("show route");
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with([' ', '\t']))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_hexdigit()))
            .map(str::to_owned)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- BIRD log tail ({}):\n{}",
                self.log_path().display(),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        self.child.take();
        if !panicking {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
