//! Links, addresses, routes and sysctls inside test namespaces (through `ip`, which is fine in
//! test code), plus `ip -j` queries for assertions.

use crate::cmd::{output_of, run_checked};
use crate::netns::Netns;
use std::process::Command;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

fn check_ifname(ifname: &str) {
    assert!(
        !ifname.is_empty() && ifname.len() <= IFNAME_MAX && !ifname.contains(['/', ' ']),
        "interface name {ifname:?} must be 1..=15 characters without '/' or spaces"
    );
}

/// `ip -n NS args...`, which must succeed; returns stdout.
fn ip(ns: &Netns, args: &[&str]) -> String {
    let out = run_checked(Command::new("ip").arg("-n").arg(ns.name()).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates a veth pair `a_if` (in `a`) ↔ `b_if` (in `b`) and sets both ends up.
/// IPv6 DAD is off on both ends.
///
/// # Panics
/// If a name is longer than 15 characters or `ip link add` fails (e.g. name taken).
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    check_ifname(a_if);
    check_ifname(b_if);
    ip(
        a,
        &[
            "link",
            "add",
            a_if,
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name(),
        ],
    );
    sysctl(a, &format!("net/ipv6/conf/{a_if}/accept_dad"), "0");
    sysctl(b, &format!("net/ipv6/conf/{b_if}/accept_dad"), "0");
    link_up(a, a_if);
    link_up(b, b_if);
}

/// Adds address `cidr` (e.g. `"192.0.2.1/24"` or `"2001:db8::1/64"`) to `ifname`; IPv6
/// addresses get `nodad`, so they are usable immediately.
pub fn addr(ns: &Netns, ifname: &str, cidr: &str) {
    check_ifname(ifname);
    let mut args = vec!["addr", "add", cidr, "dev", ifname];
    if cidr.contains(':') {
        args.push("nodad");
    }
    ip(ns, &args);
}

/// Sets `ifname` up.
pub fn link_up(ns: &Netns, ifname: &str) {
    check_ifname(ifname);
    ip(ns, &["link", "set", "dev", ifname, "up"]);
}

/// Sets `ifname` down. (Remember: on a veth this takes the peer's carrier down too; to
/// simulate packet loss drop packets with nftables instead.)
pub fn link_down(ns: &Netns, ifname: &str) {
    check_ifname(ifname);
    ip(ns, &["link", "set", "dev", ifname, "down"]);
}

/// Adds a route: `spec` is what follows `ip route add`, e.g.
/// `"198.51.100.0/24 via 192.0.2.2"` or `"2001:db8:1::/64 dev eth0 table 100"`.
pub fn route(ns: &Netns, spec: &str) {
    let mut args = vec!["route", "add"];
    args.extend(spec.split_whitespace());
    ip(ns, &args);
}

/// Path under /proc/sys for a sysctl key: dots become slashes unless the key already uses
/// slashes (use slashes when an interface name contains a dot, e.g. `net/ipv4/conf/eth0.10/forwarding`).
fn sysctl_path(key: &str) -> String {
    if key.contains('/') {
        format!("/proc/sys/{}", key.trim_start_matches('/'))
    } else {
        format!("/proc/sys/{}", key.replace('.', "/"))
    }
}

/// Writes sysctl `key` (e.g. `"net.ipv4.ip_forward"`) = `value` inside `ns` (from a thread
/// that entered the namespace; no process is started).
///
/// # Panics
/// If the write fails (unknown key, bad value).
pub fn sysctl(ns: &Netns, key: &str, value: &str) {
    let path = sysctl_path(key);
    let name = ns.name().to_owned();
    ns.run(|| {
        if let Err(e) = std::fs::write(&path, value) {
            panic!("sysctl {key}={value} in netns {name}: writing {path}: {e}");
        }
    });
}

/// Reads sysctl `key` inside `ns`, trimmed.
///
/// # Panics
/// If the key does not exist.
pub fn read_sysctl(ns: &Netns, key: &str) -> String {
    let path = sysctl_path(key);
    let name = ns.name().to_owned();
    ns.run(|| match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().to_owned(),
        Err(e) => panic!("sysctl {key} in netns {name}: reading {path}: {e}"),
    })
}

/// `ip -j -n NS args...` parsed as JSON, e.g. `ip_json(&ns, &["-d", "link", "show"])` or
/// `ip_json(&ns, &["route", "show", "table", "all"])`. Commands that print nothing yield `[]`.
///
/// # Panics
/// If the command fails or does not print JSON.
pub fn ip_json(ns: &Netns, args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new("ip");
    cmd.args(["-j", "-n", ns.name()]).args(args);
    let out = output_of(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "ip -j -n {} {} failed: {}",
            ns.name(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    if text.trim().is_empty() {
        return serde_json::Value::Array(Vec::new());
    }
    match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!(
            "ip -j -n {} {}: not JSON ({e}): {text}",
            ns.name(),
            args.join(" ")
        ),
    }
}

/// Creates VRF device `name` bound to routing table `table` and sets it up (needs a kernel
/// with VRF: run such tests as `vrf_*` with [`crate::Need::Vrf`]).
pub fn vrf(ns: &Netns, name: &str, table: u32) {
    check_ifname(name);
    let table = table.to_string();
    ip(ns, &["link", "add", name, "type", "vrf", "table", &table]);
    link_up(ns, name);
}

/// Makes `master` (a VRF or bridge) the master of `ifname`.
pub fn set_master(ns: &Netns, ifname: &str, master: &str) {
    check_ifname(ifname);
    check_ifname(master);
    ip(ns, &["link", "set", "dev", ifname, "master", master]);
}
