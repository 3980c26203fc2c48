//! GoBGP (gobgpd) running inside a test namespace with a private TOML configuration and API
//! port, queried with the `gobgp` CLI from inside the namespace.

use crate::netns::{ChildGuard, Netns};
use crate::wait::wait_for_ok;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::Duration;

/// Counter making directory names unique within the process.
static COUNTER: AtomicU32 = AtomicU32::new(0);
/// Next gRPC API port (each namespace has its own loopback, so ports only need to differ
/// between instances sharing a namespace).
static PORT: AtomicU16 = AtomicU16::new(50051);

/// A running gobgpd inside a namespace, API on `127.0.0.1:<port>` of that namespace; stopped
/// and its directory removed on drop (log tail printed when the test is panicking).
#[derive(Debug)]
pub struct Gobgp {
    netns: String,
    dir: PathBuf,
    port: u16,
    child: Option<ChildGuard>,
}

impl Gobgp {
    /// Writes `toml` (a gobgpd configuration: `[global.config] as = …  router-id = …`,
    /// `[[neighbors]]` …) and starts gobgpd inside `ns`; waits until its API answers.
    /// Note: GoBGP waits 5–10 s before its own first connect; sessions come up fast when the
    /// other side dials.
    ///
    /// # Panics
    /// If gobgpd exits or its API does not answer within 20 s.
    pub fn start(ns: &Netns, toml: &str) -> Gobgp {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let port = PORT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("metalroute-gobgp-{}-{n}", ns.name()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let conf = dir.join("gobgpd.toml");
        if let Err(e) = std::fs::write(&conf, toml) {
            panic!("cannot write {}: {e}", conf.display());
        }
        let argv = [
            "gobgpd".to_owned(),
            "-f".into(),
            conf.display().to_string(),
            "-t".into(),
            "toml".into(),
            "--api-hosts".into(),
            format!("127.0.0.1:{port}"),
            "-p".into(),
            "--pprof-disable".into(),
        ];
        let child = ns.spawn_logged(&argv, &dir.join("gobgpd.log"));
        let mut g = Gobgp {
            netns: ns.name().to_owned(),
            dir,
            port,
            child: Some(child),
        };
        wait_for_ok("gobgpd API", Duration::from_secs(20), || {
            if let Some(st) = g.child.as_mut().and_then(ChildGuard::try_wait) {
                panic!(
                    "gobgpd exited ({st}): {}",
                    std::fs::read_to_string(g.log_path()).unwrap_or_default()
                );
            }
            g.try_gobgp(&["global"])
        });
        g
    }

    /// The API port (inside the namespace).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The private directory (configuration, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// gobgpd's log (stdout and stderr, plain format).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("gobgpd.log")
    }

    /// Runs `gobgp -p PORT args…` inside the namespace; `Err` has stderr on failure.
    pub fn try_gobgp(&self, args: &[&str]) -> Result<String, String> {
        let port = self.port.to_string();
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, "gobgp", "-p", &port])
            .args(args);
        let out = crate::cmd::output_of(&mut cmd);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "gobgp {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Runs `gobgp -p PORT args…` (e.g. `["global", "rib", "add", "198.51.100.0/24"]`).
    ///
    /// # Panics
    /// If the command fails.
    pub fn gobgp(&self, args: &[&str]) -> String {
        match self.try_gobgp(args) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// Runs `gobgp -p PORT args… -j` and parses the JSON.
    ///
    /// # Panics
    /// If the command fails or does not print JSON.
    pub fn gobgp_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("-j");
        let text = self.gobgp(&a);
        if text.trim().is_empty() {
            return Value::Null;
        }
        match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("gobgp {}: not JSON ({e}): {text}", a.join(" ")),
        }
    }

    /// Session state of neighbor `addr`, lower case without prefix (`"established"`,
    /// `"active"`, `"idle"`, …), or `None` if unknown.
    pub fn neighbor_state(&self, addr: &str) -> Option<String> {
        let text = self.try_gobgp(&["neighbor", addr, "-j"]).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        let st = v.get("state")?.get("session_state")?;
        let s = match st {
            Value::String(s) => s.to_ascii_lowercase(),
            Value::Number(n) => match n.as_u64()? {
                1 => "idle".into(),
                2 => "connect".into(),
                3 => "active".into(),
                4 => "opensent".into(),
                5 => "openconfirm".into(),
                6 => "established".into(),
                other => format!("unknown({other})"),
            },
            _ => return None,
        };
        Some(s.trim_start_matches("session_state_").to_owned())
    }

    /// Waits until neighbor `addr` is established.
    ///
    /// # Panics
    /// After `deadline`, with the last state seen.
    pub fn wait_established(&self, addr: &str, deadline: Duration) {
        wait_for_ok(
            &format!("gobgp neighbor {addr} established"),
            deadline,
            || match self.neighbor_state(addr) {
                Some(s) if s == "established" => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
    }

    /// The global IPv4 RIB (`gobgp global rib -a ipv4 -j`): prefix → array of paths.
    pub fn rib_v4(&self) -> Value {
        self.gobgp_json(&["global", "rib", "-a", "ipv4"])
    }

    /// The global IPv6 RIB (`gobgp global rib -a ipv6 -j`).
    pub fn rib_v6(&self) -> Value {
        self.gobgp_json(&["global", "rib", "-a", "ipv6"])
    }

    /// Prefixes in the global RIB of the address family of `v6`, sorted.
    pub fn prefixes(&self, v6: bool) -> Vec<String> {
        let rib = if v6 { self.rib_v6() } else { self.rib_v4() };
        let mut k: Vec<String> = rib
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }
}

impl Drop for Gobgp {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- gobgpd log tail ({}):\n{}",
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
