//! BFD failover benchmark (not a test). One FRR router (zebra + bgpd + bfdd) and two nodes, each
//! on its own veth: node M runs `metalroute run` (file mode, BGPPeer with `bfdProfile`, one
//! LoadBalancer Service), node F runs FRR (bgpd + bfdd, `network X/32`, `neighbor R bfd profile
//! P`). For each timer setting and repetition, an nftables set element on the node starts
//! dropping every packet to and from the router (the link stays up), and the router's bgpd vty
//! socket is polled every ~1 ms for (1) the session to that node leaving Established and (2) the
//! node's prefix gone from bgpd's RIB. The rule is then removed and the bench waits until both
//! are back. Cuts of M and F are interleaved, so both see the same machine load.
//!
//! ```text
//!  node M 192.0.2.11 (metalroute, AS 64500) ── 192.0.2.1    router (FRR, AS 64501)
//!  node F 198.51.100.12 (FRR, AS 64502)     ── 198.51.100.1
//! ```
//!
//! Usage (root): `cargo run --release -- [REPS=20] [--no-reference]`; the `metalroute` binary is
//! `$METALROUTE_BIN`, else `$CARGO_TARGET_DIR/release/metalroute`, else the repository's
//! `target/release/metalroute`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use metalroute_netns::{addr, prerequisites, veth, wait_for, ChildGuard, Daemon, Frr, Need, Netns};
use serde_json::Value;

/// nftables table (in each node namespace) whose set `peers` holds the addresses being cut.
const CUT_TABLE: &str = "failover_cut";
/// AS numbers: router, metalroute node, FRR node.
const ROUTER_AS: u32 = 64501;
const M_AS: u32 = 64500;
const F_AS: u32 = 64502;
/// Longest wait for Established + prefix, at start and after each restore.
const UP_DEADLINE: Duration = Duration::from_secs(60);

/// The two kinds of node measured against the same router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    /// `metalroute run` in file mode.
    Metalroute,
    /// FRR bgpd + bfdd.
    Frr,
}

impl Node {
    fn name(self) -> &'static str {
        match self {
            Node::Metalroute => "metalroute",
            Node::Frr => "frr",
        }
    }
    /// The node's address (the router's BGP neighbor).
    fn addr(self) -> &'static str {
        match self {
            Node::Metalroute => "192.0.2.11",
            Node::Frr => "198.51.100.12",
        }
    }
    /// The router's address on the node's link.
    fn router_addr(self) -> &'static str {
        match self {
            Node::Metalroute => "192.0.2.1",
            Node::Frr => "198.51.100.1",
        }
    }
    /// The /32 the node announces.
    fn prefix(self) -> &'static str {
        match self {
            Node::Metalroute => "203.0.113.10/32",
            Node::Frr => "203.0.113.20/32",
        }
    }
}

/// Failure detection used in one lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timers {
    /// BFD with the same profile everywhere: interval (ms) × multiplier; BGP hold 90 s.
    Bfd { ms: u64, mult: u8 },
    /// No BFD; BGP keepalive 3 s, hold 9 s.
    Hold9s,
}

impl Timers {
    fn label(self) -> String {
        match self {
            Timers::Bfd { ms, mult } => format!("{ms}msx{mult}"),
            Timers::Hold9s => "nobfd-hold9s".to_owned(),
        }
    }
    /// Longest wait for one failure to be seen after the cut.
    fn detect_deadline(self) -> Duration {
        match self {
            Timers::Bfd { .. } => Duration::from_secs(10),
            Timers::Hold9s => Duration::from_secs(30),
        }
    }
}

/// A vty connection to one FRR daemon (`enable` already sent): command + NUL out, reply up to
/// three NULs and a status byte back.
struct Vty {
    s: UnixStream,
    buf: Vec<u8>,
}

impl Vty {
    fn connect(frr: &Frr, d: Daemon) -> Vty {
        let path = Path::new("/var/run/frr")
            .join(frr.pathspace())
            .join(format!("{}.vty", d.name()));
        let s = UnixStream::connect(&path)
            .unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        let t = Some(Duration::from_secs(10));
        s.set_read_timeout(t)
            .and_then(|_| s.set_write_timeout(t))
            .unwrap_or_else(|e| panic!("timeouts on {}: {e}", path.display()));
        let mut v = Vty {
            s,
            buf: Vec::with_capacity(1 << 16),
        };
        v.cmd("enable");
        v
    }

    /// Sends `cmd` and returns its output (panics on I/O error or a non-zero status).
    fn cmd(&mut self, cmd: &str) -> String {
        let mut msg = cmd.as_bytes().to_vec();
        msg.push(0);
        self.s
            .write_all(&msg)
            .unwrap_or_else(|e| panic!("vty write `{cmd}`: {e}"));
        self.buf.clear();
        let mut chunk = [0u8; 65536];
        loop {
            let n = self
                .s
                .read(&mut chunk)
                .unwrap_or_else(|e| panic!("vty read `{cmd}`: {e}"));
            assert!(n > 0, "vty closed the connection during `{cmd}`");
            self.buf.extend_from_slice(&chunk[..n]);
            let len = self.buf.len();
            if len >= 4 && self.buf[len - 4..len - 1] == [0, 0, 0] {
                let status = self.buf[len - 1];
                let text = String::from_utf8_lossy(&self.buf[..len - 4]).into_owned();
                assert_eq!(status, 0, "vty rejected `{cmd}`: {text}");
                return text;
            }
        }
    }

    fn json(&mut self, cmd: &str) -> Value {
        let text = self.cmd(cmd);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Whether the router's session to `peer` is Established.
    fn established(&mut self, peer: &str) -> bool {
        let js = self.json(&format!("show bgp neighbors {peer} json"));
        js[peer]["bgpState"] == "Established"
    }

    /// Whether bgpd's RIB has at least one path for `prefix`.
    fn has_prefix(&mut self, prefix: &str) -> bool {
        let js = self.json(&format!("show bgp ipv4 unicast {prefix} json"));
        js["paths"].as_array().is_some_and(|p| !p.is_empty())
    }
}

/// A private directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything of one timer setting. Field order is drop order: processes before namespaces.
struct Lab {
    timers: Timers,
    agent: ChildGuard,
    _node_frr: Frr,
    router_frr: Frr,
    vty: Vty,
    _dir: TempDir,
    m: Netns,
    f: Netns,
    _router: Netns,
}

fn bfdd_conf(t: Timers) -> Option<String> {
    match t {
        Timers::Bfd { ms, mult } => Some(format!(
            "bfd\n profile p\n  detect-multiplier {mult}\n  receive-interval {ms}\n  transmit-interval {ms}\n !\n!\n"
        )),
        Timers::Hold9s => None,
    }
}

/// Per-neighbor lines for FRR: timers, and BFD with profile `p` when used.
fn frr_neighbor(t: Timers, peer: &str, remote_as: u32) -> String {
    let (ka, hold, bfd) = match t {
        Timers::Bfd { .. } => (30, 90, format!(" neighbor {peer} bfd profile p\n")),
        Timers::Hold9s => (3, 9, String::new()),
    };
    format!(
        " neighbor {peer} remote-as {remote_as}\n neighbor {peer} timers connect 1\n neighbor {peer} timers {ka} {hold}\n{bfd}"
    )
}

fn metalroute_config(t: Timers) -> String {
    let (timers, bfd) = match t {
        Timers::Bfd { ms, mult } => (
            "  holdTime: 90s\n  keepaliveTime: 30s\n  bfdProfile: p\n",
            format!(
                "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{namespace: metallb-system, name: p}}\nspec: {{receiveInterval: {ms}, transmitInterval: {ms}, detectMultiplier: {mult}}}\n"
            ),
        ),
        Timers::Hold9s => ("  holdTime: 9s\n  keepaliveTime: 3s\n", String::new()),
    };
    format!(
        r#"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{namespace: metallb-system, name: web}}
spec:
  addresses: [203.0.113.0/28]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{namespace: metallb-system, name: web}}
spec:
  ipAddressPools: [web]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{namespace: metallb-system, name: router}}
spec:
  peerAddress: 192.0.2.1
  peerASN: {ROUTER_AS}
  myASN: {M_AS}
  connectTime: 1s
{timers}{bfd}---
apiVersion: v1
kind: Service
metadata: {{namespace: default, name: web}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  ports: [{{port: 8080, protocol: TCP}}]
status:
  loadBalancer:
    ingress: [{{ip: 203.0.113.10}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: web-1
  labels: {{kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
  - addresses: [10.244.0.5]
    nodeName: node-1
    conditions: {{ready: true}}
ports: [{{port: 8080, protocol: TCP}}]
"#
    )
}

/// Creates the cut table in `ns`: an empty set `peers` and input/output drop rules on it, so a
/// cut is one `nft add element` (one transaction) and a restore one `nft flush set`.
fn prepare_cut(ns: &Netns, dir: &Path) {
    let file = dir.join(format!("cut-{}.nft", ns.name()));
    let text = format!(
        "table inet {CUT_TABLE} {{\n set peers {{ type ipv4_addr; }}\n chain in {{ type filter hook input priority 0; ip saddr @peers drop; }}\n chain out {{ type filter hook output priority 0; ip daddr @peers drop; }}\n}}\n"
    );
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    let path = file.display().to_string();
    ns.exec(&["nft", "-f", &path]);
}

/// Runs `nft args` in `ns` and returns the instant it exited (the change is in force then).
fn nft_at(ns: &Netns, args: &[&str]) -> (Instant, Duration) {
    ns.run(|| {
        let t = Instant::now();
        let st = Command::new("nft")
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("nft {args:?}: {e}"));
        assert!(st.success(), "nft {args:?}: {st}");
        let end = Instant::now();
        (end, end - t)
    })
}

fn metalroute_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("METALROUTE_BIN") {
        return PathBuf::from(p);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let p = PathBuf::from(t).join("release/metalroute");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/release/metalroute"
    ))
}

fn start_lab(timers: Timers, bin: &Path) -> Lab {
    let router = Netns::new("bfo-r");
    let m = Netns::new("bfo-m");
    let f = Netns::new("bfo-f");
    veth(&router, "to-m", &m, "eth0");
    veth(&router, "to-f", &f, "eth0");
    addr(&router, "to-m", "192.0.2.1/24");
    addr(&m, "eth0", "192.0.2.11/24");
    addr(&router, "to-f", "198.51.100.1/24");
    addr(&f, "eth0", "198.51.100.12/24");
    let dir = std::env::temp_dir().join(format!(
        "metalroute-bench-failover-{}-{}",
        std::process::id(),
        timers.label()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let conf_dir = dir.join("config");
    std::fs::create_dir_all(&conf_dir)
        .unwrap_or_else(|e| panic!("create {}: {e}", conf_dir.display()));
    let dir = TempDir(dir);
    prepare_cut(&m, &dir.0);
    prepare_cut(&f, &dir.0);

    let router_bgp = format!(
        "frr defaults traditional\nrouter bgp {ROUTER_AS}\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n{}{} address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n",
        frr_neighbor(timers, Node::Metalroute.addr(), M_AS),
        frr_neighbor(timers, Node::Frr.addr(), F_AS),
    );
    let bfdd = bfdd_conf(timers);
    let router_frr = Frr::start(&router, &router_bgp, bfdd.as_deref());
    let node_bgp = format!(
        "frr defaults traditional\nrouter bgp {F_AS}\n bgp router-id 198.51.100.12\n no bgp ebgp-requires-policy\n no bgp network import-check\n{} address-family ipv4 unicast\n  network {}\n exit-address-family\n",
        frr_neighbor(timers, Node::Frr.router_addr(), ROUTER_AS),
        Node::Frr.prefix(),
    );
    let node_frr = Frr::start(&f, &node_bgp, bfdd.as_deref());

    let cfg = conf_dir.join("config.yaml");
    std::fs::write(&cfg, metalroute_config(timers))
        .unwrap_or_else(|e| panic!("write {}: {e}", cfg.display()));
    let bin_s = bin.display().to_string();
    let conf_s = conf_dir.display().to_string();
    let sock_s = dir.0.join("admin.sock").display().to_string();
    let argv = [
        bin_s.as_str(),
        "run",
        "--node-name",
        "node-1",
        "--config",
        &conf_s,
        "--admin-socket",
        &sock_s,
    ];
    let agent = m.spawn_logged(&argv, &dir.0.join("agent.log"));
    let vty = Vty::connect(&router_frr, Daemon::Bgpd);
    Lab {
        timers,
        agent,
        _node_frr: node_frr,
        router_frr,
        vty,
        _dir: dir,
        m,
        f,
        _router: router,
    }
}

impl Lab {
    fn ns(&self, n: Node) -> &Netns {
        match n {
            Node::Metalroute => &self.m,
            Node::Frr => &self.f,
        }
    }

    /// Whether the router's BFD session to `n` is up with the profile's timers on both ends.
    fn bfd_ready(&self, n: Node) -> bool {
        let Timers::Bfd { ms, .. } = self.timers else {
            return true;
        };
        let peers = self.router_frr.bfd_peers();
        let Some(list) = peers.as_array() else {
            return false;
        };
        list.iter().any(|p| {
            p["peer"] == n.addr()
                && p["status"] == "up"
                && p["remote-receive-interval"].as_u64() == Some(ms)
                && p["remote-transmit-interval"].as_u64() == Some(ms)
        })
    }

    /// Waits until the router has the session to `n` Established, its prefix, and (with BFD)
    /// the BFD session up at the profile's rate; returns how long that took.
    fn wait_ready(&mut self, n: Node) -> Duration {
        let t = Instant::now();
        let what = format!(
            "{} node up at the router ({})",
            n.name(),
            self.timers.label()
        );
        wait_for(&what, UP_DEADLINE, || {
            if let Some(st) = self.agent.try_wait() {
                panic!("metalroute run exited: {st}");
            }
            let ok = self.vty.established(n.addr())
                && self.vty.has_prefix(n.prefix())
                && self.bfd_ready(n);
            if ok {
                Some(())
            } else {
                std::thread::sleep(Duration::from_millis(20));
                None
            }
        });
        t.elapsed()
    }

    /// One cut of node `n`: returns (session down, prefix gone) after the cut, `None` for a
    /// measure not seen within the deadline, and the nft command's own duration.
    fn cut(&mut self, n: Node) -> (Option<Duration>, Option<Duration>, Duration) {
        let elem = format!("{{ {} }}", n.router_addr());
        let (t0, nft) = nft_at(
            self.ns(n),
            &["add", "element", "inet", CUT_TABLE, "peers", &elem],
        );
        let deadline = self.timers.detect_deadline();
        let (mut down, mut gone) = (None, None);
        let mut next = t0;
        while (down.is_none() || gone.is_none()) && t0.elapsed() < deadline {
            if down.is_none() && !self.vty.established(n.addr()) {
                down = Some(t0.elapsed());
            }
            if gone.is_none() && !self.vty.has_prefix(n.prefix()) {
                gone = Some(t0.elapsed());
            }
            next += Duration::from_millis(1);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
        nft_at(self.ns(n), &["flush", "set", "inet", CUT_TABLE, "peers"]);
        (down, gone, nft)
    }
}

/// Nearest-rank percentile `p` (0–100) of sorted `v`.
fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[derive(Default)]
struct Samples {
    down: Vec<f64>,
    gone: Vec<f64>,
    misses: u32,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run_setting(
    timers: Timers,
    reps: u32,
    bin: &Path,
    results: &mut BTreeMap<(Timers, Node), Samples>,
) {
    let t_lab = Instant::now();
    let mut lab = start_lab(timers, bin);
    for n in [Node::Metalroute, Node::Frr] {
        lab.wait_ready(n);
    }
    eprintln!(
        "# {}: lab up in {:.1} s",
        timers.label(),
        t_lab.elapsed().as_secs_f64()
    );
    for rep in 0..reps {
        for n in [Node::Metalroute, Node::Frr] {
            // De-phase the cut from the BFD transmit timers.
            let jitter = 300 + u64::from((rep * 37 + n as u32 * 101) % 250);
            std::thread::sleep(Duration::from_millis(jitter));
            let (down, gone, nft) = lab.cut(n);
            let recover = lab.wait_ready(n);
            let s = results.entry((timers, n)).or_default();
            let fmt =
                |d: Option<Duration>| d.map_or("timeout".to_owned(), |d| format!("{:.1}", ms(d)));
            eprintln!(
                "  {} rep {:>2} {:<10} down {:>8} ms  gone {:>8} ms  (nft {:.1} ms, back in {:.1} s)",
                timers.label(),
                rep + 1,
                n.name(),
                fmt(down),
                fmt(gone),
                ms(nft),
                recover.as_secs_f64()
            );
            match (down, gone) {
                (Some(d), Some(g)) => {
                    s.down.push(ms(d));
                    s.gone.push(ms(g));
                }
                _ => s.misses += 1,
            }
        }
    }
}

fn main() {
    let reps: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let reference = !std::env::args().any(|a| a == "--no-reference");
    if !prerequisites(
        "bench-bfd-failover",
        &[
            Need::Root,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
            Need::Binary("/usr/lib/frr/bfdd"),
            Need::Binary("nft"),
        ],
    ) {
        eprintln!("bench-bfd-failover needs root, FRR (zebra, bgpd, bfdd) and nft");
        std::process::exit(2);
    }
    let bin = metalroute_bin();
    if !bin.exists() {
        eprintln!(
            "metalroute binary not found at {} (build it: cargo build --release -p metalroute-agent, or set METALROUTE_BIN)",
            bin.display()
        );
        std::process::exit(2);
    }
    let started = Instant::now();
    let mut results = BTreeMap::new();
    let settings = [
        Timers::Bfd { ms: 300, mult: 3 },
        Timers::Bfd { ms: 50, mult: 3 },
    ];
    for t in settings {
        run_setting(t, reps, &bin, &mut results);
    }
    if reference {
        run_setting(Timers::Hold9s, 1, &bin, &mut results);
    }

    println!();
    println!(
        "BFD failover, {reps} cuts per (node, timers), router FRR bgpd+bfdd; times from the nft cut (ms)"
    );
    println!("| node       | timers       | n  | miss | down median | down p90 | gone median | gone p90 |");
    println!("|------------|--------------|----|------|-------------|----------|-------------|----------|");
    let mut sorted = BTreeMap::new();
    for ((t, n), s) in &mut results {
        s.down.sort_by(f64::total_cmp);
        s.gone.sort_by(f64::total_cmp);
        let row = (
            pct(&s.down, 50.0),
            pct(&s.down, 90.0),
            pct(&s.gone, 50.0),
            pct(&s.gone, 90.0),
        );
        println!(
            "| {:<10} | {:<12} | {:>2} | {:>4} | {:>11.1} | {:>8.1} | {:>11.1} | {:>8.1} |",
            n.name(),
            t.label(),
            s.down.len(),
            s.misses,
            row.0,
            row.1,
            row.2,
            row.3
        );
        sorted.insert((*t, *n), row);
    }
    println!();
    for t in settings
        .iter()
        .copied()
        .chain(reference.then_some(Timers::Hold9s))
    {
        if let (Some(m), Some(f)) = (
            sorted.get(&(t, Node::Metalroute)),
            sorted.get(&(t, Node::Frr)),
        ) {
            println!(
                "ratio metalroute/frr at {}: down median {:.2}, gone median {:.2}, down p90 {:.2}, gone p90 {:.2}",
                t.label(),
                m.0 / f.0,
                m.2 / f.2,
                m.1 / f.1,
                m.3 / f.3
            );
        }
    }
    for ((t, n), row) in &sorted {
        println!(
            "RESULT scenario=bfd-failover node={} timers={} down_ms={:.1} gone_ms={:.1} down_p90_ms={:.1} gone_p90_ms={:.1} n={}",
            n.name(),
            t.label(),
            row.0,
            row.2,
            row.1,
            row.3,
            results.get(&(*t, *n)).map_or(0, |s| s.down.len())
        );
    }
    println!("total run time {:.0} s", started.elapsed().as_secs_f64());
}
