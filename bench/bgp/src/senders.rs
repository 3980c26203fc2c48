//! The senders: how each speaker is started in the sender namespace with its routes preloaded
//! (AS 64500, passive where it can be, one session per receiver link), which process is its
//! speaker, and its natural incremental path for a churn (`start_change` / `finish`).

use crate::gobgp_api;
use crate::procfs::find_pid;
use crate::receivers::LINKS;
use metalroute_bench_bgp::{addr, format_set, indices, prefix, Fam};
use metalroute_netns::{enter_netns_path, Bird, ChildGuard, Daemon, Exabgp, Frr, Gobgp, Netns};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A route set: `(first index, count)` ranges.
pub type Set = Vec<(u32, u32)>;

/// frr-reload.py as Debian's frr-pythontools installs it.
pub const FRR_RELOAD: &str = "/usr/lib/frr/frr-reload.py";
/// Services per file of the agent's configuration directory.
const AGENT_CHUNK: u32 = 1000;
/// How long a helper may take to take its initial routes or answer a command.
const HELPER_DEADLINE: Duration = Duration::from_secs(300);

/// The speakers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// metalroute's speaker driven through its API (`mr-speaker`).
    MrApi,
    /// `metalroute run` in file mode with generated Services.
    MrAgent,
    /// gobgpd, routes through its gRPC API.
    Gobgp,
    /// BIRD 2, routes from a static protocol.
    Bird,
    /// FRR bgpd, `network` statements, default timers.
    Frr,
    /// FRR bgpd with `coalesce-time 0`.
    FrrC0,
    /// ExaBGP, routes through its API pipe.
    Exabgp,
}

/// Every kind, in the order they run.
pub const ALL: [Kind; 7] = [
    Kind::MrApi,
    Kind::MrAgent,
    Kind::Gobgp,
    Kind::Bird,
    Kind::Frr,
    Kind::FrrC0,
    Kind::Exabgp,
];

impl Kind {
    /// The name in tables and RESULT lines.
    pub fn name(self) -> &'static str {
        match self {
            Kind::MrApi => "metalroute-api",
            Kind::MrAgent => "metalroute-agent",
            Kind::Gobgp => "gobgp",
            Kind::Bird => "bird",
            Kind::Frr => "frr",
            Kind::FrrC0 => "frr-c0",
            Kind::Exabgp => "exabgp",
        }
    }

    /// Parses a name of [`Kind::name`].
    pub fn parse(s: &str) -> Option<Kind> {
        ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How a churn is applied: the sender's own incremental path, or (FRR) MetalLB's full reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnPath {
    /// The natural path of the sender (API call, `birdc configure`, one vtysh call, API pipe,
    /// file rename).
    Native,
    /// FRR only: render the whole configuration and run `frr-reload.py --reload`.
    FrrReload,
}

/// A change handed to a sender and not yet confirmed by it.
pub enum Pending {
    /// Nothing to wait for.
    Done,
    /// `mr-speaker` answers `ok`.
    Ack,
    /// A helper process (vtysh, frr-reload.py) must exit successfully; its output goes to the
    /// file (never a pipe nobody reads: frr-reload.py logs a lot and would block).
    Child(std::process::Child, String, PathBuf),
    /// A thread (gRPC call, BIRD configure, FIFO write) must succeed.
    Thread(JoinHandle<Result<(), String>>),
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates (or empties) `$TMPDIR/<name>`.
    pub fn new(name: &str) -> Result<TempDir, String> {
        let p = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("create {}: {e}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running speaker of one kind.
enum Inner {
    /// `mr-speaker` and the lines it prints.
    MrApi {
        /// The process.
        _child: ChildGuard,
        /// Its standard input (commands).
        stdin: std::process::ChildStdin,
        /// Lines from its standard output.
        lines: mpsc::Receiver<String>,
    },
    /// `metalroute run` and its configuration directory.
    MrAgent {
        /// The process.
        _child: ChildGuard,
        /// Scratch directory: `config/` (watched) and `staging/`.
        work: TempDir,
    },
    /// gobgpd.
    Gobgp {
        /// The daemon.
        g: Gobgp,
    },
    /// BIRD.
    Bird {
        /// The daemon.
        b: Bird,
    },
    /// FRR (zebra + bgpd).
    Frr {
        /// The daemons.
        f: Frr,
        /// `coalesce-time 0` is configured.
        c0: bool,
        /// Scratch directory for frr-reload.py (rendered configuration, rundir).
        work: TempDir,
    },
    /// ExaBGP.
    Exabgp {
        /// The daemon.
        e: Exabgp,
    },
}

/// A sender with its routes loaded.
pub struct Sender {
    /// Which speaker.
    pub kind: Kind,
    /// The family of its sessions and routes.
    fam: Fam,
    /// The process measured (RSS, CPU).
    pub pid: u32,
    /// The daemon and its handles.
    inner: Inner,
    /// The namespace handle path (threads enter it for API calls).
    netns_path: PathBuf,
    /// The route set it currently announces.
    pub current: Set,
}

/// Indices of `a` not in `b`, as ranges.
pub fn minus(a: &[(u32, u32)], b: &[(u32, u32)]) -> Set {
    let bs: HashSet<u32> = indices(b).collect();
    let mut out: Set = Vec::new();
    for i in indices(a).filter(|i| !bs.contains(i)) {
        match out.last_mut() {
            Some((s, c)) if *s + *c == i => *c += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

/// Opens (truncating) a helper's output file.
fn output_file(path: &Path) -> Result<Stdio, String> {
    std::fs::File::create(path)
        .map(Stdio::from)
        .map_err(|e| format!("create {}: {e}", path.display()))
}

/// Reads lines from `r` on a thread and forwards them.
fn line_channel<R: std::io::Read + Send + 'static>(r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the line `want` from a helper.
fn expect_line(lines: &mpsc::Receiver<String>, want: &str) -> Result<(), String> {
    match lines.recv_timeout(HELPER_DEADLINE) {
        Ok(l) if l == want => Ok(()),
        Ok(l) => Err(format!("mr-speaker said {l:?}, expected {want:?}")),
        Err(e) => Err(format!(
            "mr-speaker did not say {want:?} within {HELPER_DEADLINE:?} ({e})"
        )),
    }
}

/// Runs `f` on a new thread inside the namespace at `path`, on a current-thread runtime.
fn ns_thread<F, Fut>(path: PathBuf, f: F) -> JoinHandle<Result<(), String>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    std::thread::spawn(move || {
        enter_netns_path(&path);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        rt.block_on(f())
    })
}

/// Waits for a pending change to be confirmed by the sender, up to `deadline`.
fn finish_pending(p: Pending, lines: Option<&mpsc::Receiver<String>>) -> Result<(), String> {
    match p {
        Pending::Done => Ok(()),
        Pending::Ack => match lines {
            Some(l) => expect_line(l, "ok"),
            None => Err("no helper to acknowledge".into()),
        },
        Pending::Child(mut child, what, log) => {
            let start = std::time::Instant::now();
            loop {
                crate::check_interrupted();
                match child.try_wait() {
                    Ok(Some(st)) => {
                        return if st.success() {
                            Ok(())
                        } else {
                            let out = std::fs::read_to_string(&log).unwrap_or_default();
                            let tail: Vec<&str> = out.lines().rev().take(5).collect();
                            Err(format!(
                                "{what} failed ({st}), {}: {}",
                                log.display(),
                                tail.join(" / ")
                            ))
                        };
                    }
                    Ok(None) if start.elapsed() > HELPER_DEADLINE => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!("{what} still running after {HELPER_DEADLINE:?}"));
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    Err(e) => return Err(format!("wait for {what}: {e}")),
                }
            }
        }
        Pending::Thread(h) => {
            let start = std::time::Instant::now();
            while !h.is_finished() {
                crate::check_interrupted();
                if start.elapsed() > HELPER_DEADLINE {
                    return Err(format!("change still running after {HELPER_DEADLINE:?}"));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            h.join()
                .map_err(|_| "change thread panicked".to_owned())
                .and_then(|r| r)
        }
    }
}

/// Starts a sender of `kind` in `ns` announcing `set` of family `fam` to both receivers.
/// Returns once it has been handed every route (loading may still go on: wait for idle).
pub fn start(
    kind: Kind,
    ns: &Netns,
    fam: Fam,
    set: &[(u32, u32)],
    agent: &Path,
) -> Result<Sender, String> {
    let netns_path = ns.path();
    let (inner, pid) = match kind {
        Kind::MrApi => start_mr_api(ns, fam, set)?,
        Kind::MrAgent => start_agent(ns, fam, set, agent)?,
        Kind::Gobgp => {
            let g = Gobgp::start(ns, &gobgp_toml(fam));
            let pid = find_pid(&ns.pids(), "gobgpd", &[]).ok_or("gobgpd process not found")?;
            let port = g.port();
            let msgs = gobgp_api::requests(fam, set, &[]);
            let h = ns_thread(netns_path.clone(), move || {
                gobgp_api::add_path_stream(port, msgs)
            });
            finish_pending(Pending::Thread(h), None)?;
            (Inner::Gobgp { g }, pid)
        }
        Kind::Bird => {
            let b = Bird::start(ns, &bird_conf(fam, set));
            let pid = find_pid(&ns.pids(), "bird", &["birdc"]).ok_or("bird process not found")?;
            (Inner::Bird { b }, pid)
        }
        Kind::Frr | Kind::FrrC0 => {
            let c0 = kind == Kind::FrrC0;
            let f = Frr::start(ns, &frr_conf(fam, set, c0, false), None);
            let pid = f.pid(Daemon::Bgpd).ok_or("bgpd not started")?;
            let work = TempDir::new(&format!(
                "metalroute-bench-bgp-frr-{}-{}",
                std::process::id(),
                kind.name()
            ))?;
            (Inner::Frr { f, c0, work }, pid)
        }
        Kind::Exabgp => {
            let e = Exabgp::start(ns, &exabgp_conf(fam), true);
            let pid =
                find_pid(&ns.pids(), "exabgp", &["feed.sh"]).ok_or("exabgp process not found")?;
            let fifo = e.dir().join("commands.fifo");
            let text = exabgp_lines(fam, set, &[]);
            finish_pending(Pending::Thread(fifo_writer(fifo, text)), None)?;
            (Inner::Exabgp { e }, pid)
        }
    };
    Ok(Sender {
        kind,
        fam,
        pid,
        inner,
        netns_path,
        current: set.to_vec(),
    })
}

/// Starts `mr-speaker` (next to this executable) and waits for `ready`.
fn start_mr_api(ns: &Netns, fam: Fam, set: &[(u32, u32)]) -> Result<(Inner, u32), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let bin = exe.with_file_name("mr-speaker");
    if !bin.is_file() {
        return Err(format!(
            "{} not found (cargo build --release builds it with the benchmark)",
            bin.display()
        ));
    }
    let mut argv = vec![
        bin.display().to_string(),
        "--family".into(),
        fam.name().into(),
        "--set".into(),
        format_set(set),
    ];
    for l in LINKS {
        argv.push("--peer".into());
        argv.push(l.recv(fam).into());
    }
    let mut cmd = ns.command(&argv);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(cmd);
    let stdin = child
        .child_mut()
        .stdin
        .take()
        .ok_or("mr-speaker stdin not piped")?;
    let stdout = child
        .child_mut()
        .stdout
        .take()
        .ok_or("mr-speaker stdout not piped")?;
    let lines = line_channel(stdout);
    expect_line(&lines, "ready")?;
    let pid = child.id();
    Ok((
        Inner::MrApi {
            _child: child,
            stdin,
            lines,
        },
        pid,
    ))
}

/// The agent's pool, advertisement and one BGPPeer per receiver.
fn agent_base(fam: Fam) -> String {
    let pool = match fam {
        Fam::V4 => "198.18.0.0/15",
        Fam::V6 => "2001:db8:100::/64",
    };
    let mut s = format!(
        "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{namespace: metallb-system, name: bench}}
spec:
  addresses: [{pool}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{namespace: metallb-system, name: bench}}
spec:
  ipAddressPools: [bench]
"
    );
    for (i, l) in LINKS.iter().enumerate() {
        s.push_str(&format!(
            "---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{namespace: metallb-system, name: recv-{i}}}
spec:
  peerAddress: {}
  peerASN: 64501
  myASN: 64500
  connectTime: 1s
",
            l.recv(fam)
        ));
    }
    s
}

/// Services `start..start+count` with their EndpointSlices (a ready endpoint on node-a, ETP
/// Cluster), one YAML stream.
fn agent_services(fam: Fam, start: u32, count: u32) -> String {
    let (family, ep) = match fam {
        Fam::V4 => ("IPv4", "10.244.0.5"),
        Fam::V6 => ("IPv6", "2001:db8:ff::5"),
    };
    let mut s = String::with_capacity(count as usize * 700);
    for i in start..start + count {
        let ip = addr(fam, i);
        s.push_str(&format!(
            "---
apiVersion: v1
kind: Service
metadata: {{namespace: default, name: svc-{i}}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  ipFamilies: [{family}]
  ports: [{{port: 80, protocol: TCP}}]
status:
  loadBalancer:
    ingress: [{{ip: \"{ip}\"}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: svc-{i}-1
  labels: {{kubernetes.io/service-name: svc-{i}}}
addressType: {family}
endpoints:
  - addresses: [\"{ep}\"]
    nodeName: node-a
    conditions: {{ready: true}}
ports: [{{port: 80, protocol: TCP}}]
"
        ));
    }
    s
}

/// The agent's file for Services `start..start+count`.
fn agent_file(start: u32) -> String {
    format!("svc-{start:06}.yaml")
}

/// Splits a route set into the agent's files of at most [`AGENT_CHUNK`] Services.
fn agent_chunks(set: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &(start, count) in set {
        let mut s = start;
        while s < start + count {
            let c = AGENT_CHUNK.min(start + count - s);
            out.push((s, c));
            s += c;
        }
    }
    out
}

/// Writes the agent's configuration and starts `metalroute run`.
fn start_agent(
    ns: &Netns,
    fam: Fam,
    set: &[(u32, u32)],
    agent: &Path,
) -> Result<(Inner, u32), String> {
    if !agent.is_file() {
        return Err(format!(
            "metalroute binary {} not found: build it with `cargo build --release -p metalroute-agent` \
             (same CARGO_TARGET_DIR) or pass --agent PATH",
            agent.display()
        ));
    }
    let work = TempDir::new(&format!(
        "metalroute-bench-bgp-agent-{}",
        std::process::id()
    ))?;
    let dir = work.0.join("config");
    let staging = work.0.join("staging");
    for d in [&dir, &staging] {
        std::fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    let write = |p: PathBuf, t: &str| {
        std::fs::write(&p, t).map_err(|e| format!("write {}: {e}", p.display()))
    };
    write(dir.join("00-base.yaml"), &agent_base(fam))?;
    for (s, c) in agent_chunks(set) {
        write(dir.join(agent_file(s)), &agent_services(fam, s, c))?;
    }
    let argv: Vec<String> = vec![
        agent.display().to_string(),
        "run".into(),
        "--node-name".into(),
        "node-a".into(),
        "--config".into(),
        dir.display().to_string(),
        "--admin-socket".into(),
        work.0.join("admin.sock").display().to_string(),
        "--router-id".into(),
        "192.0.2.1".into(),
    ];
    let child = ns.spawn_logged(&argv, &work.0.join("agent.log"));
    let pid = child.id();
    Ok((
        Inner::MrAgent {
            _child: child,
            work,
        },
        pid,
    ))
}

/// gobgpd's configuration: one passive neighbor per receiver.
fn gobgp_toml(fam: Fam) -> String {
    let afi = match fam {
        Fam::V4 => "ipv4-unicast",
        Fam::V6 => "ipv6-unicast",
    };
    let mut s =
        "[global.config]\n  as = 64500\n  router-id = \"192.0.2.1\"\n  port = 179\n".to_owned();
    for l in LINKS {
        s.push_str(&format!(
            "
[[neighbors]]
  [neighbors.config]
    neighbor-address = \"{}\"
    peer-as = 64501
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = \"{afi}\"
",
            l.recv(fam)
        ));
    }
    s
}

/// BIRD's configuration: a static protocol with the route set, exported to one passive BGP
/// protocol per receiver.
fn bird_conf(fam: Fam, set: &[(u32, u32)]) -> String {
    let ch = match fam {
        Fam::V4 => "ipv4",
        Fam::V6 => "ipv6",
    };
    let mut s = String::with_capacity(indices(set).count() * 40 + 1024);
    s.push_str(&format!(
        "router id 192.0.2.1;\nprotocol device {{ }}\nprotocol static st {{\n  {ch};\n"
    ));
    for i in indices(set) {
        s.push_str(&format!("  route {} blackhole;\n", prefix(fam, i)));
    }
    s.push_str("}\n");
    for (n, l) in LINKS.iter().enumerate() {
        s.push_str(&format!(
            "protocol bgp r{n} {{\n  local {} as 64500;\n  neighbor {} as 64501;\n  passive on;\n  {ch} {{ import none; export all; }};\n}}\n",
            l.sender(fam),
            l.recv(fam)
        ));
    }
    s
}

/// FRR bgpd's configuration: `network` statements, one passive neighbor per receiver;
/// `with_log` adds the line the harness appends at start (for frr-reload.py's full file).
fn frr_conf(fam: Fam, set: &[(u32, u32)], c0: bool, with_log: bool) -> String {
    let mut s = String::with_capacity(indices(set).count() * 40 + 1024);
    s.push_str(
        "frr defaults traditional\nhostname sender\n!\nrouter bgp 64500\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n",
    );
    if c0 {
        s.push_str(" coalesce-time 0\n");
    }
    for l in LINKS {
        s.push_str(&format!(
            " neighbor {p} remote-as 64501\n neighbor {p} passive\n",
            p = l.recv(fam)
        ));
    }
    let afi = match fam {
        Fam::V4 => "ipv4",
        Fam::V6 => "ipv6",
    };
    s.push_str(&format!(" !\n address-family {afi} unicast\n"));
    for i in indices(set) {
        s.push_str(&format!("  network {}\n", prefix(fam, i)));
    }
    for l in LINKS {
        s.push_str(&format!("  neighbor {} activate\n", l.recv(fam)));
    }
    s.push_str(" exit-address-family\n!\n");
    if with_log {
        s.push_str("log timestamp precision 6\n!\n");
    }
    s
}

/// ExaBGP's configuration: one neighbor per receiver, routes through the API pipe.
fn exabgp_conf(fam: Fam) -> String {
    let f = match fam {
        Fam::V4 => "ipv4 unicast",
        Fam::V6 => "ipv6 unicast",
    };
    LINKS
        .iter()
        .map(|l| {
            format!(
                "neighbor {} {{\n  router-id 192.0.2.1;\n  local-address {};\n  local-as 64500;\n  peer-as 64501;\n  family {{ {f}; }}\n  api {{ processes [ {} ]; }}\n}}\n",
                l.recv(fam),
                l.sender(fam),
                Exabgp::PROCESS
            )
        })
        .collect()
}

/// Prefixes per ExaBGP API line.
const EXABGP_BATCH: usize = 1_000;

/// ExaBGP API lines: withdrawals, then announcements, [`EXABGP_BATCH`] prefixes per line in
/// its bulk form (`announce attributes next-hop self nlri P1 P2 …`) — one `announce route`
/// line per prefix costs ExaBGP about 0.5 ms of parsing each (52 s for 100k routes), which
/// would time its API parser instead of its BGP.
fn exabgp_lines(fam: Fam, announce: &[(u32, u32)], withdraw: &[(u32, u32)]) -> String {
    let mut s = String::new();
    for (verb, set) in [("withdraw", withdraw), ("announce", announce)] {
        let all: Vec<u32> = indices(set).collect();
        for chunk in all.chunks(EXABGP_BATCH) {
            s.push_str(verb);
            s.push_str(" attributes next-hop self nlri");
            for &i in chunk {
                s.push(' ');
                s.push_str(&prefix(fam, i));
            }
            s.push('\n');
        }
    }
    s
}

/// Writes `text` to the FIFO ExaBGP's API process reads, on a thread.
fn fifo_writer(fifo: PathBuf, text: String) -> JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .map_err(|e| format!("open {}: {e}", fifo.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| format!("write {}: {e}", fifo.display()))
    })
}

impl Sender {
    /// The family of the sender's sessions.
    pub fn fam(&self) -> Fam {
        self.fam
    }

    /// A short description of where the speaker's log is, for error messages.
    pub fn log_hint(&self) -> String {
        match &self.inner {
            Inner::MrApi { .. } => "mr-speaker stderr".into(),
            Inner::MrAgent { work, .. } => work.0.join("agent.log").display().to_string(),
            Inner::Gobgp { g } => g.log_path().display().to_string(),
            Inner::Bird { b } => b.log_path().display().to_string(),
            Inner::Frr { f, .. } => f.log_path().display().to_string(),
            Inner::Exabgp { e } => e.log_path().display().to_string(),
        }
    }

    /// The churn paths this sender supports.
    pub fn churn_paths(&self) -> Vec<ChurnPath> {
        match self.kind {
            Kind::Frr => vec![ChurnPath::Native, ChurnPath::FrrReload],
            _ => vec![ChurnPath::Native],
        }
    }

    /// Prepares a churn path that needs it (frr-reload.py: one unmeasured reload of the
    /// current configuration so the measured ones change only `network` lines).
    pub fn prepare(&mut self, path: ChurnPath) -> Result<(), String> {
        if path != ChurnPath::FrrReload {
            return Ok(());
        }
        let cur = self.current.clone();
        let p = self.start_change(path, &cur)?;
        finish_pending(p, None)
    }

    /// Hands the sender the change from [`Sender::current`] to `to` along `path`; returns
    /// what must still be confirmed ([`Sender::finish`]). The clock runs from before this call.
    pub fn start_change(&mut self, path: ChurnPath, to: &[(u32, u32)]) -> Result<Pending, String> {
        let fam = self.fam;
        let add = minus(to, &self.current);
        let del = minus(&self.current, to);
        let pending = match (&mut self.inner, path) {
            (Inner::MrApi { stdin, .. }, ChurnPath::Native) => {
                writeln!(stdin, "set {}", format_set(to))
                    .and_then(|_| stdin.flush())
                    .map_err(|e| format!("write to mr-speaker: {e}"))?;
                Pending::Ack
            }
            (Inner::MrAgent { work, .. }, ChurnPath::Native) => {
                // Stage the new files first, then remove and rename (each atomic).
                let dir = work.0.join("config");
                let staging = work.0.join("staging");
                let new = agent_chunks(&add);
                for &(s, c) in &new {
                    let p = staging.join(agent_file(s));
                    std::fs::write(&p, agent_services(fam, s, c))
                        .map_err(|e| format!("write {}: {e}", p.display()))?;
                }
                for (s, _) in agent_chunks(&del) {
                    let p = dir.join(agent_file(s));
                    std::fs::remove_file(&p).map_err(|e| format!("remove {}: {e}", p.display()))?;
                }
                for (s, _) in new {
                    std::fs::rename(staging.join(agent_file(s)), dir.join(agent_file(s)))
                        .map_err(|e| format!("rename into {}: {e}", dir.display()))?;
                }
                Pending::Done
            }
            (Inner::Gobgp { g }, ChurnPath::Native) => {
                let port = g.port();
                let msgs = gobgp_api::requests(fam, &add, &del);
                Pending::Thread(ns_thread(self.netns_path.clone(), move || {
                    gobgp_api::add_path_stream(port, msgs)
                }))
            }
            (Inner::Bird { b }, ChurnPath::Native) => {
                let conf_path = b.dir().join("bird.conf");
                let text = format!(
                    "log \"{}\" all;\n{}\n",
                    b.log_path().display(),
                    bird_conf(fam, to)
                );
                let sock = b.socket();
                Pending::Thread(std::thread::spawn(move || {
                    std::fs::write(&conf_path, text)
                        .map_err(|e| format!("write {}: {e}", conf_path.display()))?;
                    let mut c = crate::ctl::Birdc::connect(&sock)?;
                    let reply = c.cmd("configure")?;
                    if reply.iter().any(|l| l.contains("Reconfigured")) {
                        Ok(())
                    } else {
                        Err(format!("birdc configure: {}", reply.join(" / ")))
                    }
                }))
            }
            (Inner::Frr { f, work, .. }, ChurnPath::Native) => {
                let afi = match fam {
                    Fam::V4 => "ipv4",
                    Fam::V6 => "ipv6",
                };
                let mut cmd = Command::new("vtysh");
                cmd.args(["-N", f.pathspace()])
                    .args(["-c", "configure terminal", "-c", "router bgp 64500"])
                    .args(["-c", &format!("address-family {afi} unicast")]);
                for i in indices(&del) {
                    cmd.args(["-c", &format!("no network {}", prefix(fam, i))]);
                }
                for i in indices(&add) {
                    cmd.args(["-c", &format!("network {}", prefix(fam, i))]);
                }
                let log = work.0.join("vtysh.out");
                cmd.stdin(Stdio::null())
                    .stdout(output_file(&log)?)
                    .stderr(output_file(&work.0.join("vtysh.err"))?);
                let child = cmd.spawn().map_err(|e| format!("start vtysh: {e}"))?;
                Pending::Child(child, "vtysh".into(), log)
            }
            (Inner::Frr { f, c0, work }, ChurnPath::FrrReload) => {
                let conf = work.0.join("frr.conf");
                let rundir = work.0.join("run");
                std::fs::create_dir_all(&rundir)
                    .map_err(|e| format!("create {}: {e}", rundir.display()))?;
                std::fs::write(&conf, frr_conf(fam, to, *c0, true))
                    .map_err(|e| format!("write {}: {e}", conf.display()))?;
                let child = Command::new(FRR_RELOAD)
                    .args(["--reload", "--daemon", "bgpd", "--pathspace", f.pathspace()])
                    .arg("--confdir")
                    .arg(f.dir())
                    .arg("--rundir")
                    .arg(&rundir)
                    .args(["--bindir", "/usr/bin"])
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(output_file(&work.0.join("reload.out"))?)
                    .stderr(output_file(&work.0.join("reload.err"))?)
                    .spawn()
                    .map_err(|e| format!("start {FRR_RELOAD}: {e}"))?;
                Pending::Child(child, "frr-reload.py".into(), work.0.join("reload.err"))
            }
            (Inner::Exabgp { e }, ChurnPath::Native) => Pending::Thread(fifo_writer(
                e.dir().join("commands.fifo"),
                exabgp_lines(fam, &add, &del),
            )),
            (_, path) => return Err(format!("{} has no churn path {path:?}", self.kind.name())),
        };
        self.current = to.to_vec();
        Ok(pending)
    }

    /// Waits until the sender has confirmed a change (helper exited, API answered).
    pub fn finish(&mut self, p: Pending) -> Result<(), String> {
        let lines = match &self.inner {
            Inner::MrApi { lines, .. } => Some(lines),
            _ => None,
        };
        finish_pending(p, lines)
    }
}
