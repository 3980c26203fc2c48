//! Helpers shared by the agent's end-to-end tests (`run_e2e`, `run_e2e_ipv6`, `run_unnumbered`,
//! `nmstate_cli`): a node namespace running the built `metalroute run` with its config directory
//! and admin socket ([`Node`]), a TCP [`responder`] answering its node name, client requests
//! through the router ([`who_answers`], [`ask`]) and queries of FRR's BGP RIB ([`rib_paths`]).
//! Each test file includes it with `mod common;`; not every file uses every item.

use metalroute_netns::{addr, route, sysctl, veth, wait_for, ChildGuard, Frr, Need, Netns};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The deadline of every wait in the end-to-end tests.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// The `metalroute` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_metalroute");
/// The prerequisites of a test running FRR's bgpd (with zebra) as the router.
pub const FRR_BGP: &[Need] = &[
    Need::Root,
    Need::Binary("/usr/lib/frr/bgpd"),
    Need::Binary("/usr/lib/frr/zebra"),
];
/// The agent's metrics and health endpoint inside each node namespace.
pub const METRICS_ADDR: &str = "127.0.0.1:7472";

/// A node namespace, its agent, its configuration directory and admin socket; on drop it stops
/// the node's responder, removes the directory and, if the test panics, prints the agent's log.
pub struct Node {
    /// The node's network namespace.
    pub ns: Netns,
    /// The Kubernetes node name the agent runs as (and the responder answers).
    pub name: String,
    /// The agent's `--config` directory.
    pub dir: PathBuf,
    /// The agent's `--admin-socket`.
    pub sock: PathBuf,
    /// The running agent, once started.
    pub agent: Option<ChildGuard>,
    /// Stops the node's responder.
    pub stop: Arc<AtomicBool>,
}

impl Node {
    /// A node `name` in `ns` with a fresh configuration directory under the temp dir named
    /// `metalroute-{tag}-{pid}`, and no responder.
    pub fn new(ns: Netns, name: &str, tag: &str) -> Node {
        let dir = std::env::temp_dir().join(format!("metalroute-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Node {
            sock: dir.with_extension("sock"),
            ns,
            name: name.to_string(),
            dir,
            agent: None,
            stop: Arc::new(AtomicBool::new(true)),
        }
    }

    /// [`Node::new`] with a [`responder`] on `bind` (port 8080) answering the node's name.
    pub fn with_responder(ns: Netns, name: &str, tag: &str, bind: &str) -> Node {
        let mut node = Node::new(ns, name, tag);
        node.stop = Arc::new(AtomicBool::new(false));
        responder(&node.ns, bind, name, node.stop.clone());
        node
    }

    /// The agent's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    /// Writes `file` in the config directory: write then rename, as kubectl/ConfigMap updates do.
    pub fn write(&self, file: &str, text: &str) {
        let tmp = self.dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.join(file)).unwrap();
    }

    /// Writes every `(file, text)` of `files`.
    pub fn write_all(&self, files: &[(&str, String)]) {
        for (f, t) in files {
            self.write(f, t);
        }
    }

    /// Starts `metalroute run` in the node's namespace, logging to [`Node::log`].
    pub fn start_agent(&mut self) {
        let argv = [
            BIN,
            "run",
            "--node-name",
            &self.name,
            "--config",
            self.dir.to_str().unwrap(),
            "--admin-socket",
            self.sock.to_str().unwrap(),
            "--metrics-addr",
            METRICS_ADDR,
        ];
        self.agent = Some(self.ns.spawn_logged(&argv, &self.log()));
        // The agent opens its admin socket before anything else; a `show` issued before that
        // would fail, so every test starts from an agent that answers.
        wait_for("the agent's admin socket", DEADLINE, || {
            self.sock.exists().then_some(())
        });
        // Nor does a test ask for the plan before the agent read its directory once (the
        // socket opens before the first read; a loaded machine can make that gap long).
        wait_for("the agent's first plan", DEADLINE, || {
            (self.show(&["plan"]) != "no plan yet\n").then_some(())
        });
    }

    /// The output of `metalroute show ARGS` through the node's admin socket (must succeed).
    pub fn show(&self, args: &[&str]) -> String {
        show(&self.sock, args)
    }

    /// `metalroute show --json ARGS`, parsed.
    pub fn show_json(&self, args: &[&str]) -> Value {
        show_json(&self.sock, args)
    }

    /// The full HTTP response of `GET path` from the agent's metrics endpoint.
    pub fn http_get(&self, path: &str) -> String {
        self.ns.run(|| {
            let mut s = TcpStream::connect(METRICS_ADDR).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            body
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if std::thread::panicking() {
            eprintln!(
                "--- agent log of {} ---\n{}",
                self.name,
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.log());
    }
}

/// `metalroute show --json ARGS` on `sock`, parsed (must succeed and be JSON).
pub fn show_json(sock: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = show(sock, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("show {args:?}: not JSON ({e}): {out}"))
}

/// The output of `metalroute show ARGS` through the admin socket `sock` (must succeed).
pub fn show(sock: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("show")
        .args(args)
        .arg("--admin-socket")
        .arg(sock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "metalroute show {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The router's LAN: bridge `br0` with 192.0.2.1/24 (and 2001:db8::1/64 when `ipv6`),
/// forwarding on and ECMP hashing on ports, for IPv4 (and IPv6 when `ipv6`).
pub fn router_lan(router: &Netns, ipv6: bool) {
    router.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
    router.exec(&["ip", "link", "set", "br0", "up"]);
    addr(router, "br0", "192.0.2.1/24");
    sysctl(router, "net.ipv4.ip_forward", "1");
    sysctl(router, "net.ipv4.fib_multipath_hash_policy", "1");
    if ipv6 {
        addr(router, "br0", "2001:db8::1/64");
        sysctl(router, "net.ipv6.conf.all.forwarding", "1");
        sysctl(router, "net.ipv6.fib_multipath_hash_policy", "1");
    }
}

/// A node namespace `{prefix}n{i}` whose `eth0` is a port `n{i}` of the router's `br0`
/// (see [`router_lan`]); addresses are the caller's.
pub fn lan_node(router: &Netns, prefix: &str, i: usize) -> Netns {
    let ns = Netns::new(&format!("{prefix}n{i}"));
    veth(&ns, "eth0", router, &format!("n{i}"));
    router.exec(&["ip", "link", "set", &format!("n{i}"), "master", "br0"]);
    ns
}

/// Links `client` to `router`: client `eth0` 198.51.100.2/24 to router `c0` 198.51.100.1/24,
/// with the client's default route through the router.
pub fn client_link(router: &Netns, client: &Netns) {
    veth(client, "eth0", router, "c0");
    addr(client, "eth0", "198.51.100.2/24");
    addr(router, "c0", "198.51.100.1/24");
    route(client, "default via 198.51.100.1");
}

/// A TCP responder in `ns` on `bind` answering `name` to every connection until `stop`.
/// `[::]:8080` (without IPV6_V6ONLY, Linux's default) accepts IPv4 connections too.
pub fn responder(ns: &Netns, bind: &str, name: &str, stop: Arc<AtomicBool>) {
    let path = ns.path();
    let bind = bind.to_string();
    let name = name.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        metalroute_netns::enter_netns_path(&path);
        let l = TcpListener::bind(&bind).unwrap();
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        while !stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(format!("{name}\n").as_bytes());
                    let _ = s.shutdown(Shutdown::Both);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    // Generous: the VM stage runs under software emulation.
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
}

/// `ip:8080` (IPv4) or `[ip]:8080` (IPv6).
fn port_8080(ip: &str) -> SocketAddr {
    if ip.contains(':') {
        format!("[{ip}]:8080")
    } else {
        format!("{ip}:8080")
    }
    .parse()
    .unwrap()
}

/// Connects from `client` to port 8080 of `ip` `n` times (a new source port each time) and
/// returns the set of node names that answered.
pub fn who_answers(client: &Netns, ip: &str, n: usize) -> BTreeSet<String> {
    let target = port_8080(ip);
    client.run(|| {
        let mut seen = BTreeSet::new();
        for _ in 0..n {
            if let Ok(mut s) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut body = String::new();
                let _ = s.read_to_string(&mut body);
                seen.insert(body.trim().to_string());
            }
        }
        seen
    })
}

/// Connects once from `client` to port 8080 of `ip` and returns what answered.
pub fn ask(client: &Netns, ip: &str) -> Option<String> {
    let target = port_8080(ip);
    client.run(|| {
        let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(2)).ok()?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body.trim().to_string())
    })
}

/// The router's BGP paths for `prefix` (IPv4 or IPv6 RIB by the prefix), empty when absent.
pub fn rib_paths(frr: &Frr, prefix: &str) -> Vec<Value> {
    let rib = if prefix.contains(':') {
        frr.rib_v6()
    } else {
        frr.rib_v4()
    };
    rib.get(prefix)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The first-hop next hops of the router's paths for `prefix` (empty when absent).
pub fn next_hops(frr: &Frr, prefix: &str) -> Vec<String> {
    rib_paths(frr, prefix)
        .iter()
        .filter_map(|p| p["nexthops"][0]["ip"].as_str().map(str::to_string))
        .collect()
}

/// A set of owned strings from `names`.
pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}
