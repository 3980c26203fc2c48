//! ExaBGP 4 running inside a test namespace: a scriptable peer whose routes come from its
//! configuration or, at run time, from `announce …`/`withdraw …` lines fed through a FIFO.

use crate::netns::{ChildGuard, Netns};
use crate::wait::wait_for_ok;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Counter making directory names unique within the process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running ExaBGP inside a namespace; stopped and its directory removed on drop (log tail
/// printed when the test is panicking).
#[derive(Debug)]
pub struct Exabgp {
    dir: PathBuf,
    fifo: Option<PathBuf>,
    child: Option<ChildGuard>,
}

impl Exabgp {
    /// Name of the API process the harness defines when started with a command pipe; reference
    /// it from a neighbor: `api { processes [ harness ]; }`.
    pub const PROCESS: &'static str = "harness";

    /// Writes `conf` (ExaBGP 4 syntax: `neighbor X { router-id …; local-address …;
    /// local-as …; peer-as …; static { route … next-hop self; } }`) and starts ExaBGP inside
    /// `ns`. With `command_pipe`, the harness also defines `process harness` (text encoder)
    /// fed by [`Exabgp::send`]; add `api { processes [ harness ]; }` to the neighbor.
    ///
    /// Environment: `exabgp_daemon_user=root exabgp_daemon_drop=false`, acks off, CLI pipe off,
    /// log to `<dir>/exabgp.log`.
    ///
    /// # Panics
    /// If ExaBGP exits within its first second (bad configuration), with its log.
    pub fn start(ns: &Netns, conf: &str, command_pipe: bool) -> Exabgp {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("metalroute-exabgp-{}-{n}", ns.name()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let mut text = String::new();
        let fifo = if command_pipe {
            let fifo = dir.join("commands.fifo");
            let c = match std::ffi::CString::new(fifo.display().to_string()) {
                Ok(c) => c,
                Err(e) => panic!("fifo path {}: {e}", fifo.display()),
            };
            // SAFETY: mkfifo with a valid NUL-terminated path.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
                panic!(
                    "mkfifo {}: {}",
                    fifo.display(),
                    std::io::Error::last_os_error()
                );
            }
            // The reader opens the FIFO read-write so it never sees end-of-file between writers.
            let script = dir.join("feed.sh");
            let body = format!("#!/bin/sh\nexec cat <> '{}'\n", fifo.display());
            if let Err(e) = std::fs::write(&script, body).and_then(|_| {
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            }) {
                panic!("cannot write {}: {e}", script.display());
            }
            text.push_str(&format!(
                "process {} {{\n    run {};\n    encoder text;\n}}\n\n",
                Self::PROCESS,
                script.display()
            ));
            Some(fifo)
        } else {
            None
        };
        text.push_str(conf);
        let conf_path = dir.join("exabgp.conf");
        if let Err(e) = std::fs::write(&conf_path, text) {
            panic!("cannot write {}: {e}", conf_path.display());
        }
        let log = dir.join("exabgp.log");
        let mut cmd = ns.command(&["exabgp".to_owned(), conf_path.display().to_string()]);
        cmd.current_dir(&dir)
            .env("exabgp_daemon_user", "root")
            .env("exabgp_daemon_drop", "false")
            .env("exabgp_daemon_daemonize", "false")
            .env("exabgp_api_ack", "false")
            .env("exabgp_api_cli", "false")
            .env("exabgp_log_destination", log.display().to_string())
            .stdout(crate::netns::open_log(&dir.join("exabgp.stdout")))
            .stderr(crate::netns::open_log(&dir.join("exabgp.stderr")));
        let mut child = ChildGuard::spawn(cmd);
        if let Some(st) = child.wait_timeout(Duration::from_secs(1)) {
            panic!(
                "ExaBGP exited at start ({st}):\n{}\n{}\n{}",
                std::fs::read_to_string(dir.join("exabgp.stdout")).unwrap_or_default(),
                std::fs::read_to_string(dir.join("exabgp.stderr")).unwrap_or_default(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Exabgp {
            dir,
            fifo,
            child: Some(child),
        }
    }

    /// The private directory (configuration, FIFO, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// ExaBGP's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("exabgp.log")
    }

    /// Sends one API line, e.g. `"announce route 203.0.113.0/24 next-hop self"` or
    /// `"withdraw route 203.0.113.0/24"` (waits up to 10 s for the API process to be running).
    ///
    /// # Panics
    /// If ExaBGP was started without a command pipe, or the line cannot be delivered.
    pub fn send(&self, line: &str) {
        let Some(fifo) = &self.fifo else {
            panic!("Exabgp::send: started without command_pipe");
        };
        let mut f = wait_for_ok(
            "ExaBGP API process reading its FIFO",
            Duration::from_secs(10),
            || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(fifo)
            },
        );
        if let Err(e) = f.write_all(format!("{}\n", line.trim_end()).as_bytes()) {
            panic!("writing to {}: {e}", fifo.display());
        }
    }
}

impl Drop for Exabgp {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            for f in ["exabgp.log", "exabgp.stdout", "exabgp.stderr"] {
                let p = self.dir.join(f);
                let t = std::fs::read_to_string(&p).unwrap_or_default();
                let lines: Vec<&str> = t.lines().collect();
                eprintln!(
                    "--- ExaBGP {} tail:\n{}",
                    p.display(),
                    lines[lines.len().saturating_sub(40)..].join("\n")
                );
            }
        }
        self.child.take();
        if !panicking {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
