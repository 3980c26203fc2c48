//! Change-latency benchmark (issue 5, `bench/`): how long a new LoadBalancer IP takes to reach a
//! router's BGP RIB, metalroute versus the path MetalLB's FRR mode uses, in one run.
//!
//! ```text
//!  router (FRR zebra+bgpd, AS 64501) br0 192.0.2.1/24
//!     ├── node-a 192.0.2.11  `metalroute run` in file mode (AS 64500), Services 198.18.0.0/16
//!     └── node-b 192.0.2.12  FRR bgpd as MetalLB's FRR-mode speaker (AS 64500), 198.19.0.0/16
//! ```
//!
//! Both speakers start with the same number of Services already announced (default 1,000 each,
//! distinct IPs per node). Then, one change at a time:
//! - metalroute: a new Service + EndpointSlice file is staged next to the watched directory and
//!   renamed into it (atomic, as kubelet/ConfigMap updates do); the clock starts just before the
//!   rename.
//! - FRR: the full frr.conf is rendered with one more `network X/32` line and applied with
//!   `frr-reload.py --reload --daemon bgpd …`; the clock starts before rendering.
//!
//! The clock stops when the router's bgpd answers `show bgp ipv4 unicast X/32 json` with a path
//! via the right node, asked over bgpd's vty socket directly (command + NUL; the reply ends with
//! three NULs and a status byte), about every 0.5 ms.
//!
//! Usage (root): `metalroute-bench-agent-latency [--agent PATH] [--services N] [--changes N]
//! [--frr-changes N] [--frr-budget-secs S]`.

use metalroute_netns::{addr, prerequisites, veth, wait_for, ChildGuard, Frr, Need, Netns};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The router's address on the nodes' LAN.
const ROUTER: &str = "192.0.2.1";
/// node-a, running metalroute.
const NODE_A: &str = "192.0.2.11";
/// node-b, running FRR as MetalLB's FRR mode does.
const NODE_B: &str = "192.0.2.12";
/// First Service IP of node-a: 198.18.0.1 (RFC 2544 benchmarking range).
const FIRST_A: u32 = 0xC612_0001;
/// First Service IP of node-b: 198.19.0.1.
const FIRST_B: u32 = 0xC613_0001;
/// Pause between polls of the router's RIB.
const POLL: Duration = Duration::from_micros(500);
/// Quiet time before each change, so changes do not overlap.
const GAP: Duration = Duration::from_millis(30);
/// The longest one change may take before the run fails.
const CHANGE_DEADLINE: Duration = Duration::from_secs(60);
/// frr-reload.py as Debian's frr-pythontools installs it.
const FRR_RELOAD: &str = "/usr/lib/frr/frr-reload.py";

/// The router: eBGP to both nodes, sends them nothing (speakers accept nothing anyway).
const ROUTER_CONF: &str = "frr defaults traditional
hostname router
router bgp 64501
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 neighbor 192.0.2.11 remote-as 64500
 neighbor 192.0.2.11 timers connect 1
 neighbor 192.0.2.12 remote-as 64500
 neighbor 192.0.2.12 timers connect 1
 address-family ipv4 unicast
  neighbor 192.0.2.11 route-map NOTHING out
  neighbor 192.0.2.12 route-map NOTHING out
 exit-address-family
!
route-map NOTHING deny 10
";

/// metalroute's pool, advertisement and peer.
const BASE_A: &str = r#"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: bench}
spec:
  addresses: [198.18.0.0/16]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: bench}
spec:
  ipAddressPools: [bench]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64501
  myASN: 64500
  connectTime: 1s
"#;

/// Command-line settings.
#[derive(Debug)]
struct Settings {
    /// The release `metalroute` binary.
    agent: PathBuf,
    /// Services announced by each speaker before measuring.
    services: u32,
    /// Changes measured for metalroute.
    changes: u32,
    /// Changes measured for FRR at most.
    frr_changes: u32,
    /// Wall-clock budget for the FRR changes; fewer are measured when it runs out.
    frr_budget: Duration,
    /// Run `frr-reload.py --test` before each `--reload`, as MetalLB's frr-reloader.sh does.
    test_first: bool,
    /// Preload all Services into one file instead of one file per Service.
    one_file: bool,
}

impl Settings {
    /// Parses `std::env::args`; exits with a usage message on bad input.
    fn from_args() -> Settings {
        let default_agent = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("release/metalroute");
        let mut s = Settings {
            agent: default_agent,
            services: 1000,
            changes: 200,
            frr_changes: 200,
            frr_budget: Duration::from_secs(300),
            test_first: false,
            one_file: false,
        };
        let usage = "usage: metalroute-bench-agent-latency [--agent PATH] [--services N] \
                     [--changes N] [--frr-changes N] [--frr-budget-secs S] [--test-first] [--one-file]";
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            if flag == "--test-first" {
                s.test_first = true;
                continue;
            }
            if flag == "--one-file" {
                s.one_file = true;
                continue;
            }
            let Some(value) = args.next() else {
                eprintln!("{flag} needs a value\n{usage}");
                std::process::exit(2);
            };
            let num = |v: &str| -> u32 {
                v.parse().unwrap_or_else(|_| {
                    eprintln!("{flag}: {v:?} is not a number\n{usage}");
                    std::process::exit(2)
                })
            };
            match flag.as_str() {
                "--agent" => s.agent = PathBuf::from(value),
                "--services" => s.services = num(&value),
                "--changes" => s.changes = num(&value),
                "--frr-changes" => s.frr_changes = num(&value),
                "--frr-budget-secs" => s.frr_budget = Duration::from_secs(num(&value).into()),
                _ => {
                    eprintln!("unknown flag {flag}\n{usage}");
                    std::process::exit(2);
                }
            }
        }
        if s.services + s.changes.max(s.frr_changes) > 60_000 {
            eprintln!("too many Services for one /16 per node");
            std::process::exit(2);
        }
        s
    }
}

/// node-a's i-th Service IP.
fn ip_a(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(FIRST_A + i)
}

/// node-b's i-th Service IP.
fn ip_b(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(FIRST_B + i)
}

/// One Service (ETP Cluster, IP in its status) and its EndpointSlice with a ready endpoint on
/// node-a, so it qualifies for announcement.
fn service_yaml(i: u32) -> String {
    let ip = ip_a(i);
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{namespace: default, name: svc-{i}}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  ports: [{{port: 80, protocol: TCP}}]
status:
  loadBalancer:
    ingress: [{{ip: {ip}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: svc-{i}-1
  labels: {{kubernetes.io/service-name: svc-{i}}}
addressType: IPv4
endpoints:
  - addresses: [10.244.0.5]
    nodeName: node-a
    conditions: {{ready: true}}
ports: [{{port: 80, protocol: TCP}}]
"#
    )
}

/// The file name of Service `i` in node-a's configuration directory.
fn service_file(i: u32) -> String {
    format!("svc-{i:05}.yaml")
}

/// node-b's full bgpd configuration, shaped like MetalLB's FRR-mode template: per-peer
/// route-maps (deny in, permit out) and one `network` line per Service IP.
fn render_frr(count: u32) -> String {
    let mut c = String::with_capacity(64 * count as usize + 1024);
    c.push_str(
        "frr defaults traditional
hostname node-b
log timestamp precision 6
!
route-map 192.0.2.1-in deny 20
!
route-map 192.0.2.1-out permit 1
!
router bgp 64500
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 bgp router-id 192.0.2.12
 neighbor 192.0.2.1 remote-as 64501
 neighbor 192.0.2.1 timers connect 1
 !
 address-family ipv4 unicast
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map 192.0.2.1-in in
  neighbor 192.0.2.1 route-map 192.0.2.1-out out
",
    );
    for i in 0..count {
        c.push_str(&format!("  network {}/32\n", ip_b(i)));
    }
    c.push_str(" exit-address-family\n!\n");
    c
}

/// A persistent session on a daemon's vty socket.
struct Vty {
    /// The connection to `/var/run/frr/<pathspace>/<daemon>.vty`.
    sock: UnixStream,
}

impl Vty {
    /// Connects and enters the enable node.
    fn connect(path: &Path) -> Vty {
        let sock =
            UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        let t = Some(Duration::from_secs(15));
        sock.set_read_timeout(t).expect("set a socket timeout");
        sock.set_write_timeout(t).expect("set a socket timeout");
        let mut v = Vty { sock };
        v.cmd("enable");
        v
    }

    /// Sends `cmd` + NUL and reads the reply up to its terminator (three NULs + status byte).
    /// Returns the status byte and the text.
    fn cmd(&mut self, cmd: &str) -> (u8, String) {
        let mut msg = cmd.as_bytes().to_vec();
        msg.push(0);
        self.sock
            .write_all(&msg)
            .unwrap_or_else(|e| panic!("vty write `{cmd}`: {e}"));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            let n = self
                .sock
                .read(&mut chunk)
                .unwrap_or_else(|e| panic!("vty read `{cmd}`: {e}"));
            assert!(n > 0, "vty closed the connection during `{cmd}`");
            buf.extend_from_slice(&chunk[..n]);
            let len = buf.len();
            if len >= 4 && buf[len - 4..len - 1] == [0, 0, 0] {
                let status = buf[len - 1];
                buf.truncate(len - 4);
                return (status, String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }

    /// `cmd` parsed as JSON (`null` when the daemon rejects it or answers something else).
    fn json(&mut self, cmd: &str) -> Value {
        let (status, text) = self.cmd(cmd);
        if status != 0 {
            return Value::Null;
        }
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Whether the RIB holds `prefix` with a path via `next_hop`.
    fn has_path(&mut self, prefix: &str, next_hop: &str) -> bool {
        let v = self.json(&format!("show bgp ipv4 unicast {prefix} json"));
        v["paths"].as_array().is_some_and(|paths| {
            paths
                .iter()
                .any(|p| p["nexthops"][0]["ip"].as_str() == Some(next_hop))
        })
    }

    /// Prefixes received from `peer` (`pfxRcd` of `show bgp ipv4 unicast summary json`).
    fn received(&mut self, peer: &str) -> u64 {
        let v = self.json("show bgp ipv4 unicast summary json");
        v["peers"][peer]["pfxRcd"].as_u64().unwrap_or(0)
    }

    /// How many times the session with `peer` has been Established.
    fn established_count(&mut self, peer: &str) -> u64 {
        let v = self.json(&format!("show bgp neighbors {peer} json"));
        v[peer]["connectionsEstablished"].as_u64().unwrap_or(0)
    }

    /// Polls until `prefix` is in the RIB via `next_hop`; returns the time since `t0` at the
    /// first reply that shows it.
    fn wait_path(&mut self, prefix: &str, next_hop: &str, t0: Instant) -> Duration {
        loop {
            if self.has_path(prefix, next_hop) {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < CHANGE_DEADLINE,
                "{prefix} via {next_hop} did not reach the router within {CHANGE_DEADLINE:?}"
            );
            std::thread::sleep(POLL);
        }
    }
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    /// Creates (or empties) `$TMPDIR/<name>`.
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// p50, p99 and max of `samples` (nearest rank), in milliseconds.
fn stats(samples: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1;
        ms[i]
    };
    (rank(0.50), rank(0.99), ms[ms.len() - 1])
}

/// The load average line of the machine.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Runs frr-reload.py (`mode` is `--reload` or `--test`) against node-b's bgpd with `conf`;
/// returns the child (not waited for).
fn spawn_reload(frr: &Frr, mode: &str, conf: &Path, rundir: &Path) -> std::process::Child {
    Command::new(FRR_RELOAD)
        .args([mode, "--daemon", "bgpd", "--pathspace", frr.pathspace()])
        .arg("--confdir")
        .arg(frr.dir())
        .arg("--rundir")
        .arg(rundir)
        .args(["--bindir", "/usr/bin"])
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {FRR_RELOAD}: {e}"))
}

/// Waits for a frr-reload.py run and fails the benchmark if it failed.
fn finish_reload(child: std::process::Child) {
    let out = child.wait_with_output().expect("wait for frr-reload.py");
    assert!(
        out.status.success(),
        "frr-reload.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `text` to `path` (frr-reload.py runs as root and reads it).
fn write_conf(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn main() {
    let s = Settings::from_args();
    // Everything that needs cleaning up lives in `run`, so it is dropped before exiting.
    if !run(&s) {
        std::process::exit(1);
    }
}

/// Sets up, measures and prints; returns whether the run is sound. Panics (unwinding, so the
/// namespaces and daemons are removed) when something fails on the way.
fn run(s: &Settings) -> bool {
    if !prerequisites(
        "bench-agent-latency",
        &[
            Need::Root,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
            Need::Binary(FRR_RELOAD),
            Need::Binary("vtysh"),
        ],
    ) {
        return false;
    }
    if !s.agent.is_file() {
        eprintln!(
            "metalroute binary {} not found: build it with `cargo build --release -p metalroute-agent` \
             (same CARGO_TARGET_DIR) or pass --agent PATH",
            s.agent.display()
        );
        return false;
    }
    println!(
        "change latency: {} Services preloaded per speaker, {} changes for metalroute, up to {} for frr-reload.py (budget {:?})",
        s.services, s.changes, s.frr_changes, s.frr_budget
    );
    println!("agent: {}", s.agent.display());
    println!(
        "FRR path: frr-reload.py {}--reload --daemon bgpd (MetalLB's frr-reloader.sh also runs --test first{})",
        if s.test_first { "--test, then " } else { "" },
        if s.test_first { ": included" } else { "; pass --test-first to include it" }
    );
    println!(
        "metalroute preload layout: {}",
        if s.one_file {
            "one file with every Service (--one-file)"
        } else {
            "one file per Service"
        }
    );
    println!("load average at start: {}", loadavg());

    // Namespaces: router with a bridge, two nodes on it.
    let router = Netns::new("mrlat-r");
    let na = Netns::new("mrlat-a");
    let nb = Netns::new("mrlat-b");
    router.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
    router.exec(&["ip", "link", "set", "br0", "up"]);
    addr(&router, "br0", &format!("{ROUTER}/24"));
    for (ns, ip, port) in [(&na, NODE_A, "na"), (&nb, NODE_B, "nb")] {
        veth(ns, "eth0", &router, port);
        router.exec(&["ip", "link", "set", port, "master", "br0"]);
        addr(ns, "eth0", &format!("{ip}/24"));
    }

    // Files: node-a's watched directory and its staging directory (same filesystem, so the
    // rename is atomic), node-b's rendered configurations.
    let work = TempDir::new(&format!("metalroute-bench-latency-{}", std::process::id()));
    let dir = work.0.join("config");
    let staging = work.0.join("staging");
    let frr_files = work.0.join("frr");
    for d in [&dir, &staging, &frr_files] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    }
    std::fs::write(dir.join("00-base.yaml"), BASE_A).expect("write 00-base.yaml");
    if s.one_file {
        let all: Vec<String> = (0..s.services).map(service_yaml).collect();
        std::fs::write(dir.join("10-services.yaml"), all.join("---\n")).expect("write Services");
    } else {
        for i in 0..s.services {
            std::fs::write(dir.join(service_file(i)), service_yaml(i)).expect("write a Service");
        }
    }

    // Routers and speakers. Locals drop in reverse order: agent, FRRs, then namespaces.
    let router_frr = Frr::start(&router, ROUTER_CONF, None);
    let b_frr = Frr::start(&nb, &render_frr(s.services), None);
    let t_start = Instant::now();
    let agent_log = work.0.join("agent.log");
    let agent_argv: Vec<String> = vec![
        s.agent.display().to_string(),
        "run".into(),
        "--node-name".into(),
        "node-a".into(),
        "--config".into(),
        dir.display().to_string(),
        "--admin-socket".into(),
        work.0.join("admin.sock").display().to_string(),
    ];
    let mut agent: ChildGuard = na.spawn_logged(&agent_argv, &agent_log);

    router_frr.wait_established(NODE_A, Duration::from_secs(60));
    router_frr.wait_established(NODE_B, Duration::from_secs(60));
    let mut vty = Vty::connect(
        &Path::new("/var/run/frr")
            .join(router_frr.pathspace())
            .join("bgpd.vty"),
    );
    let want = u64::from(s.services);
    let mut last = (0, 0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            "router RIB holds every preloaded Service of both nodes",
            Duration::from_secs(180),
            || {
                last = (vty.received(NODE_A), vty.received(NODE_B));
                (last == (want, want)).then_some(())
            },
        )
    }));
    if let Err(panic) = r {
        eprintln!(
            "router received {} from node-a, {} from node-b; agent log:\n{}",
            last.0,
            last.1,
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        std::panic::resume_unwind(panic);
    }
    println!(
        "router RIB holds {} prefixes ({} per node) {:.1} s after the agent started",
        2 * want,
        want,
        t_start.elapsed().as_secs_f64()
    );
    let est_before = (vty.established_count(NODE_A), vty.established_count(NODE_B));

    // metalroute: one new Service file per change.
    let mut mr = Vec::with_capacity(s.changes as usize);
    for k in 0..s.changes {
        let i = s.services + k;
        let staged = staging.join(service_file(i));
        std::fs::write(&staged, service_yaml(i)).expect("stage a Service");
        std::thread::sleep(GAP);
        let prefix = format!("{}/32", ip_a(i));
        let t0 = Instant::now();
        std::fs::rename(&staged, dir.join(service_file(i))).expect("rename into the watched dir");
        mr.push(vty.wait_path(&prefix, NODE_A, t0));
    }
    if let Some(st) = agent.try_wait() {
        panic!("metalroute exited during the run ({st})");
    }

    // FRR: render the whole configuration with one more network line, frr-reload.py it.
    let rundir = work.0.join("reload-run");
    std::fs::create_dir_all(&rundir).expect("create the frr-reload rundir");
    let conf = frr_files.join("frr.conf");
    // Warm-up: reload the unchanged configuration once (not measured), so the first measured
    // reload does not also remove lines the harness added at start-up.
    write_conf(&conf, &render_frr(s.services));
    let t = Instant::now();
    finish_reload(spawn_reload(&b_frr, "--reload", &conf, &rundir));
    println!(
        "frr-reload.py of the unchanged configuration ({} network lines): {:.0} ms",
        s.services,
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut fr = Vec::new();
    let mut fr_proc = Vec::new();
    let frr_start = Instant::now();
    for k in 0..s.frr_changes {
        if frr_start.elapsed() >= s.frr_budget {
            break;
        }
        let i = s.services + k;
        std::thread::sleep(GAP);
        let prefix = format!("{}/32", ip_b(i));
        let t0 = Instant::now();
        write_conf(&conf, &render_frr(i + 1));
        if s.test_first {
            finish_reload(spawn_reload(&b_frr, "--test", &conf, &rundir));
        }
        let child = spawn_reload(&b_frr, "--reload", &conf, &rundir);
        fr.push(vty.wait_path(&prefix, NODE_B, t0));
        finish_reload(child);
        fr_proc.push(t0.elapsed());
    }

    // Checks: every change arrived, nothing else moved, no session was reset.
    let got = (vty.received(NODE_A), vty.received(NODE_B));
    let expect = (
        u64::from(s.services + s.changes),
        u64::from(s.services) + fr.len() as u64,
    );
    let est_after = (vty.established_count(NODE_A), vty.established_count(NODE_B));
    println!("load average at end: {}", loadavg());
    println!(
        "router received {} prefixes from node-a (expected {}), {} from node-b (expected {}); \
         sessions established before/after: node-a {}/{}, node-b {}/{}",
        got.0, expect.0, got.1, expect.1, est_before.0, est_after.0, est_before.1, est_after.1
    );
    let sound = got == expect && est_before == est_after;

    let (m50, m99, mmax) = stats(&mr);
    let (f50, f99, fmax) = stats(&fr);
    let (p50, p99, pmax) = stats(&fr_proc);
    println!();
    println!(
        "metalroute   (rename of a Service file -> router RIB): n={} p50={m50:.2} ms p99={m99:.2} ms max={mmax:.2} ms",
        mr.len()
    );
    println!(
        "frr-reload.py (render frr.conf + reload -> router RIB): n={} p50={f50:.2} ms p99={f99:.2} ms max={fmax:.2} ms",
        fr.len()
    );
    println!(
        "frr-reload.py process until exit:                       n={} p50={p50:.2} ms p99={p99:.2} ms max={pmax:.2} ms",
        fr_proc.len()
    );
    if fr.len() < mr.len() {
        println!(
            "note: {} FRR changes (not {}) to keep the run short; p99 of n={} is close to its max",
            fr.len(),
            mr.len(),
            fr.len()
        );
    }
    println!(
        "ratio frr-reload/metalroute: p50 {:.1}x, p99 {:.1}x",
        f50 / m50,
        f99 / m99
    );
    println!(
        "target p50 <= 20 ms: {}",
        if m50 <= 20.0 { "met" } else { "NOT met" }
    );
    println!(
        "RESULT scenario=change-latency sender=metalroute n={} p50_ms={m50:.2} p99_ms={m99:.2} max_ms={mmax:.2}",
        mr.len()
    );
    println!(
        "RESULT scenario=change-latency sender=frr-reload n={} p50_ms={f50:.2} p99_ms={f99:.2} max_ms={fmax:.2}",
        fr.len()
    );
    if !sound {
        eprintln!("the run is not sound (missing prefixes or a session reset): see above");
    }
    sound
}
