//! FRR (zebra + bgpd, optionally bfdd) running inside a test namespace with a private
//! configuration directory and pathspace, queried over the daemons' vty sockets.

use crate::netns::{ChildGuard, Netns};
use crate::prereq::find_binary;
use crate::wait::wait_for_ok;
use serde_json::Value;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Counter making pathspace names unique within the process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long a daemon may take to open its sockets.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// One of the FRR daemons the harness runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// zebra: interfaces, kernel routes (`show ip route`, `show interface`).
    Zebra,
    /// bgpd: BGP.
    Bgpd,
    /// bfdd: BFD (started only when a bfdd configuration is given).
    Bfdd,
}

impl Daemon {
    /// The daemon's program name.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Zebra => "zebra",
            Daemon::Bgpd => "bgpd",
            Daemon::Bfdd => "bfdd",
        }
    }

    /// Which daemon answers a vtysh command (what `vtysh` itself would route it to).
    pub fn for_command(cmd: &str) -> Daemon {
        let c = cmd.trim_start();
        if c.starts_with("show bfd") || c.starts_with("clear bfd") {
            Daemon::Bfdd
        } else if [
            "show ip route",
            "show ipv6 route",
            "show interface",
            "show zebra",
            "show ip nht",
            "show ipv6 nht",
            "show nexthop-group",
        ]
        .iter()
        .any(|p| c.starts_with(p))
        {
            Daemon::Zebra
        } else {
            Daemon::Bgpd
        }
    }
}

/// A running FRR instance (zebra + bgpd [+ bfdd]) inside a namespace; stopped and its files
/// removed on drop (log tails are printed when the test is panicking).
///
/// Files: config and logs in `$TMPDIR/metalroute-frr-<pathspace>/` (`zebra.log`, `bgpd.log`,
/// `bfdd.log`), sockets and pid files in `/var/run/frr/<pathspace>/`.
#[derive(Debug)]
pub struct Frr {
    pathspace: String,
    dir: PathBuf,
    rundir: PathBuf,
    netns: String,
    // Drop order: bfdd, bgpd, then zebra.
    bfdd: Option<ChildGuard>,
    bgpd: Option<ChildGuard>,
    zebra: Option<ChildGuard>,
}

/// uid and gid of user `frr`.
fn frr_ids() -> (libc::uid_t, libc::gid_t) {
    let name = CString::new("frr").unwrap_or_default();
    // SAFETY: getpwnam with a valid NUL-terminated string; the result is read immediately,
    // before any other call that could overwrite the static buffer.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            panic!("user frr does not exist: is the frr package installed? (scripts/install-deps)");
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    }
}

fn chown(path: &Path, uid: libc::uid_t, gid: libc::gid_t) {
    if let Err(e) = std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
        panic!("chown frr:frr {}: {e}", path.display());
    }
}

fn write_file(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        panic!("cannot write {}: {e}", path.display());
    }
}

fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let v: Vec<&str> = t.lines().collect();
            v[v.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

impl Frr {
    /// Starts zebra and bgpd (and bfdd when `bfdd_conf` is given) inside `ns`, with
    /// `bgpd_conf` as bgpd's configuration, and waits until each daemon's vty answers.
    ///
    /// The harness appends `log timestamp precision 6` and logs each daemon to its own file
    /// (`--log file:…`); do not put `log file` lines in the configuration. Remember
    /// `no bgp ebgp-requires-policy` for eBGP and `neighbor X timers connect 1` for fast retries.
    ///
    /// # Panics
    /// If FRR is not installed, a daemon exits or does not open its vty socket within 30 s
    /// (the message includes the daemon's log).
    pub fn start(ns: &Netns, bgpd_conf: &str, bfdd_conf: Option<&str>) -> Frr {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pathspace = format!("{}-{n}", ns.name());
        let dir = std::env::temp_dir().join(format!("metalroute-frr-{pathspace}"));
        let rundir = Path::new("/var/run/frr").join(&pathspace);
        let (uid, gid) = frr_ids();
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&rundir);
        if !Path::new("/var/run/frr").exists() {
            if let Err(e) = std::fs::create_dir_all("/var/run/frr") {
                panic!("cannot create /var/run/frr: {e}");
            }
            chown(Path::new("/var/run/frr"), uid, gid);
        }
        for d in [&dir, &rundir] {
            if let Err(e) = std::fs::create_dir_all(d) {
                panic!("cannot create {}: {e}", d.display());
            }
            chown(d, uid, gid);
        }
        let mut frr = Frr {
            pathspace,
            dir,
            rundir,
            netns: ns.name().to_owned(),
            bfdd: None,
            bgpd: None,
            zebra: None,
        };
        let common = "\n!\nlog timestamp precision 6\n";
        frr.write_conf("zebra.conf", &format!("hostname {}{common}", frr.pathspace));
        frr.write_conf("bgpd.conf", &format!("{bgpd_conf}{common}"));
        frr.zebra = Some(frr.spawn_daemon(ns, Daemon::Zebra));
        frr.wait_socket(Daemon::Zebra, "zserv.api");
        frr.wait_vty(Daemon::Zebra);
        if let Some(conf) = bfdd_conf {
            frr.write_conf("bfdd.conf", &format!("{conf}{common}"));
            frr.bfdd = Some(frr.spawn_daemon(ns, Daemon::Bfdd));
            frr.wait_vty(Daemon::Bfdd);
        }
        frr.bgpd = Some(frr.spawn_daemon(ns, Daemon::Bgpd));
        frr.wait_vty(Daemon::Bgpd);
        frr
    }

    fn write_conf(&self, file: &str, text: &str) {
        let path = self.dir.join(file);
        write_file(&path, text);
        let (uid, gid) = frr_ids();
        chown(&path, uid, gid);
    }

    fn spawn_daemon(&self, ns: &Netns, d: Daemon) -> ChildGuard {
        let bin = match find_binary(&format!("/usr/lib/frr/{}", d.name())) {
            Some(b) => b,
            None => panic!(
                "/usr/lib/frr/{} not installed (scripts/install-deps)",
                d.name()
            ),
        };
        let conf = self.dir.join(format!("{}.conf", d.name()));
        let pid = self.rundir.join(format!("{}.pid", d.name()));
        let log = self.log_path_of(d);
        let argv: Vec<String> = vec![
            bin.display().to_string(),
            "-N".into(),
            self.pathspace.clone(),
            "-f".into(),
            conf.display().to_string(),
            "-P".into(),
            "0".into(),
            "-i".into(),
            pid.display().to_string(),
            "--log".into(),
            format!("file:{}", log.display()),
        ];
        ns.spawn_logged(&argv, &self.dir.join(format!("{}.stdout", d.name())))
    }

    fn guard_mut(&mut self, d: Daemon) -> Option<&mut ChildGuard> {
        match d {
            Daemon::Zebra => self.zebra.as_mut(),
            Daemon::Bgpd => self.bgpd.as_mut(),
            Daemon::Bfdd => self.bfdd.as_mut(),
        }
    }

    /// Panics with the daemon's output if it has exited.
    fn check_alive(&mut self, d: Daemon) -> Result<(), String> {
        let exited = self.guard_mut(d).and_then(|g| g.try_wait());
        if let Some(st) = exited {
            panic!(
                "FRR {} in netns {} exited ({st}).\nstdout/stderr:\n{}\nlog:\n{}",
                d.name(),
                self.netns,
                tail(&self.dir.join(format!("{}.stdout", d.name())), 40),
                tail(&self.log_path_of(d), 40)
            );
        }
        Ok(())
    }

    fn wait_socket(&mut self, d: Daemon, file: &str) {
        let path = self.rundir.join(file);
        let what = format!("FRR {} socket {}", d.name(), path.display());
        wait_for_ok(&what, START_DEADLINE, || {
            self.check_alive(d)?;
            if path.exists() {
                Ok(())
            } else {
                Err("socket not there yet".to_owned())
            }
        });
    }

    fn wait_vty(&mut self, d: Daemon) {
        let what = format!("FRR {} vty in netns {}", d.name(), self.netns);
        wait_for_ok(&what, START_DEADLINE, || {
            self.check_alive(d)?;
            self.try_vty(d, "show version").map(|_| ())
        });
    }

    /// The pathspace (`-N`) name; sockets are in `/var/run/frr/<pathspace>/`.
    pub fn pathspace(&self) -> &str {
        &self.pathspace
    }

    /// The private directory holding configuration files and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// bgpd's log file (`%ADJCHANGE` lines mark session changes).
    pub fn log_path(&self) -> PathBuf {
        self.log_path_of(Daemon::Bgpd)
    }

    /// A daemon's log file.
    pub fn log_path_of(&self, d: Daemon) -> PathBuf {
        self.dir.join(format!("{}.log", d.name()))
    }

    /// A daemon's process id, if it was started.
    pub fn pid(&self, d: Daemon) -> Option<u32> {
        match d {
            Daemon::Zebra => self.zebra.as_ref(),
            Daemon::Bgpd => self.bgpd.as_ref(),
            Daemon::Bfdd => self.bfdd.as_ref(),
        }
        .map(ChildGuard::id)
    }

    /// Sends signal `sig` (e.g. `libc::SIGKILL` to simulate a crash) to daemon `d`.
    ///
    /// # Panics
    /// If that daemon was not started.
    pub fn signal(&self, d: Daemon, sig: i32) {
        match d {
            Daemon::Zebra => self.zebra.as_ref(),
            Daemon::Bgpd => self.bgpd.as_ref(),
            Daemon::Bfdd => self.bfdd.as_ref(),
        }
        .unwrap_or_else(|| panic!("FRR {}: {} not started", self.pathspace, d.name()))
        .signal(sig);
    }

    /// Stops daemon `d` now (SIGTERM, grace, SIGKILL) and returns its exit status; e.g. stop
    /// bgpd to make peers see the session go down. The other daemons keep running.
    pub fn stop_daemon(&mut self, d: Daemon) -> Option<std::process::ExitStatus> {
        let mut g = match d {
            Daemon::Zebra => self.zebra.take(),
            Daemon::Bgpd => self.bgpd.take(),
            Daemon::Bfdd => self.bfdd.take(),
        }?;
        g.stop()
    }

    /// Runs `cmds` in order on one vty session with daemon `d` (after `enable`) and returns
    /// the last command's output; `Err` carries the first failing command and its output.
    pub fn try_vty_session(&self, d: Daemon, cmds: &[&str]) -> Result<String, String> {
        let path = self.rundir.join(format!("{}.vty", d.name()));
        let mut s =
            UnixStream::connect(&path).map_err(|e| format!("connect {}: {e}", path.display()))?;
        let timeout = Some(Duration::from_secs(15));
        s.set_read_timeout(timeout)
            .and_then(|_| s.set_write_timeout(timeout))
            .map_err(|e| format!("socket timeout on {}: {e}", path.display()))?;
        let mut last = String::new();
        for cmd in std::iter::once("enable").chain(cmds.iter().copied()) {
            let (status, text) =
                vty_roundtrip(&mut s, cmd).map_err(|e| format!("{} vty `{cmd}`: {e}", d.name()))?;
            if status != 0 {
                return Err(format!(
                    "{} rejected `{cmd}` (status {status}): {}",
                    d.name(),
                    text.trim_end()
                ));
            }
            last = text;
        }
        Ok(last)
    }

    /// Runs one command on daemon `d`'s vty; `Err` if it fails.
    pub fn try_vty(&self, d: Daemon, cmd: &str) -> Result<String, String> {
        self.try_vty_session(d, &[cmd])
    }

    /// Runs one command on daemon `d`'s vty and returns its output.
    ///
    /// # Panics
    /// If the daemon rejects the command.
    pub fn vty(&self, d: Daemon, cmd: &str) -> String {
        match self.try_vty(d, cmd) {
            Ok(t) => t,
            Err(e) => panic!("FRR {}: {e}", self.pathspace),
        }
    }

    /// Runs a vtysh command, sent straight to the daemon that owns it (see
    /// [`Daemon::for_command`]): `show bfd …` → bfdd, `show ip route …`/`show interface …` →
    /// zebra, everything else → bgpd. About 0.2 ms a call.
    ///
    /// # Panics
    /// If the daemon rejects the command.
    pub fn vtysh(&self, cmd: &str) -> String {
        self.vty(Daemon::for_command(cmd), cmd)
    }

    /// [`Frr::vtysh`] with the output parsed as JSON (append `json` to the command yourself).
    ///
    /// # Panics
    /// If the command fails or its output is not JSON.
    pub fn vtysh_json(&self, cmd: &str) -> Value {
        let text = self.vtysh(cmd);
        match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!(
                "FRR {}: `{cmd}` did not return JSON ({e}): {text}",
                self.pathspace
            ),
        }
    }

    /// Runs a command through the real `vtysh -N <pathspace> -c CMD` binary (slower, ~45 ms;
    /// handles commands spanning daemons, e.g. `show running-config`).
    ///
    /// # Panics
    /// If vtysh fails.
    pub fn vtysh_cli(&self, cmd: &str) -> String {
        crate::cmd::stdout_of(Command::new("vtysh").args(["-N", &self.pathspace, "-c", cmd]))
    }

    /// Applies configuration `lines` to daemon `d` (`configure terminal`, lines, `end`).
    ///
    /// # Panics
    /// If a line is rejected.
    pub fn configure(&self, d: Daemon, lines: &[&str]) {
        let mut cmds = vec!["configure terminal"];
        cmds.extend_from_slice(lines);
        cmds.push("end");
        if let Err(e) = self.try_vty_session(d, &cmds) {
            panic!("FRR {}: configuring {}: {e}", self.pathspace, d.name());
        }
    }

    /// BGP state of neighbor `peer` (address or interface name) as bgpd reports it
    /// (`"Established"`, `"Active"`, `"Connect"`, `"Idle"`, …), or `None` if unknown.
    pub fn bgp_neighbor_state(&self, peer: &str) -> Option<String> {
        let text = self
            .try_vty(Daemon::Bgpd, &format!("show bgp neighbors {peer} json"))
            .ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        let n = v
            .get(peer)
            .or_else(|| v.as_object().and_then(|m| m.values().next()))?;
        n.get("bgpState")?.as_str().map(str::to_owned)
    }

    /// Waits until neighbor `peer` is Established.
    ///
    /// # Panics
    /// After `deadline`, with the last state seen and the tail of bgpd's log.
    pub fn wait_established(&self, peer: &str, deadline: Duration) {
        let what = format!("FRR {} neighbor {peer} Established", self.pathspace);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for_ok(&what, deadline, || match self.bgp_neighbor_state(peer) {
                Some(s) if s == "Established" => Ok(()),
                other => Err(format!("state {other:?}")),
            })
        }));
        if let Err(p) = r {
            eprintln!("bgpd log tail:\n{}", tail(&self.log_path(), 30));
            std::panic::resume_unwind(p);
        }
    }

    /// `show bgp summary json`.
    pub fn bgp_summary(&self) -> Value {
        self.vtysh_json("show bgp summary json")
    }

    /// The IPv4 unicast Loc-RIB: `show bgp ipv4 unicast json`'s `routes` object, mapping each
    /// prefix (`"198.51.100.0/24"`) to an array of paths (with `nexthops`, `path`, `origin`,
    /// `valid`, `bestpath`, …). Empty object when there are no routes.
    pub fn rib_v4(&self) -> Value {
        self.rib("show bgp ipv4 unicast json")
    }

    /// The IPv6 unicast Loc-RIB, like [`Frr::rib_v4`].
    pub fn rib_v6(&self) -> Value {
        self.rib("show bgp ipv6 unicast json")
    }

    fn rib(&self, cmd: &str) -> Value {
        let v = self.vtysh_json(cmd);
        v.get("routes")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()))
    }

    /// Prefixes in the IPv4 Loc-RIB, sorted.
    pub fn prefixes_v4(&self) -> Vec<String> {
        keys(&self.rib_v4())
    }

    /// Prefixes in the IPv6 Loc-RIB, sorted.
    pub fn prefixes_v6(&self) -> Vec<String> {
        keys(&self.rib_v6())
    }

    /// Detailed paths for one prefix: `show bgp ipv4|ipv6 unicast PREFIX json` (communities,
    /// large communities, local-pref, MED, AS path, next hops…).
    pub fn route_detail(&self, prefix: &str) -> Value {
        let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.vtysh_json(&format!("show bgp {afi} unicast {prefix} json"))
    }

    /// Routes zebra knows: `show ip route json` (or `show ipv6 route json` when `v6`).
    pub fn zebra_routes(&self, v6: bool) -> Value {
        self.vtysh_json(if v6 {
            "show ipv6 route json"
        } else {
            "show ip route json"
        })
    }

    /// `show bfd peers json` from bfdd (an array of sessions with `peer`, `status`, …).
    ///
    /// # Panics
    /// If bfdd was not started.
    pub fn bfd_peers(&self) -> Value {
        self.vtysh_json("show bfd peers json")
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Sends one command (plus NUL) and reads the reply up to the terminator: three NUL bytes and
/// a status byte. Returns (status, text).
fn vty_roundtrip(s: &mut UnixStream, cmd: &str) -> std::io::Result<(u8, String)> {
    let mut msg = cmd.as_bytes().to_vec();
    msg.push(0);
    s.write_all(&msg)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "vty closed the connection",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let len = buf.len();
        if len >= 4 && buf[len - 4..len - 1] == [0, 0, 0] {
            let status = buf[len - 1];
            buf.truncate(len - 4);
            return Ok((status, String::from_utf8_lossy(&buf).into_owned()));
        }
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            for d in [Daemon::Zebra, Daemon::Bgpd, Daemon::Bfdd] {
                let p = self.log_path_of(d);
                if p.exists() {
                    eprintln!(
                        "--- FRR {} {} log tail ({}):\n{}",
                        self.pathspace,
                        d.name(),
                        p.display(),
                        tail(&p, 40)
                    );
                }
            }
        }
        self.bfdd.take();
        self.bgpd.take();
        self.zebra.take();
        let _ = std::fs::remove_dir_all(&self.rundir);
        if !panicking {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
