//! `IfName` accepts exactly the names the running kernel accepts (apart from the characters a
//! sysctl.d key cannot carry): each name is tried as a veth in a network namespace this test
//! creates and deletes.

use metalroute_machineconfig::IfName;
use std::path::Path;
use std::process::Command;

const NETNS_LOCK: &str = "/var/run/metalroute-netns.lock";

fn ip_netns(args: &[&str]) -> bool {
    let mut cmd = if Path::new("/usr/bin/flock").exists() {
        let mut c = Command::new("/usr/bin/flock");
        c.args([NETNS_LOCK, "ip", "netns"]);
        c
    } else {
        let mut c = Command::new("ip");
        c.arg("netns");
        c
    };
    cmd.args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip_netns(&["del", &self.0]);
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn ifname_agrees_with_the_kernel() {
    let required = std::env::var("METALROUTE_REQUIRE_NETNS").as_deref() == Ok("1");
    let name = format!("mcifname-{}", std::process::id());
    let _ = ip_netns(&["del", &name]);
    if !is_root() || !ip_netns(&["add", &name]) {
        assert!(
            !required,
            "METALROUTE_REQUIRE_NETNS=1 but no network namespace could be created (need root and iproute2)"
        );
        eprintln!("skipped: needs root to create a network namespace");
        return;
    }
    let ns = Netns(name);
    let kernel_accepts = |n: &str| {
        let ok = Command::new("ip")
            .args(["netns", "exec", &ns.0, "ip", "link", "add", n])
            .args(["type", "veth", "peer", "name", "mcpeer0"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            let _ = Command::new("ip")
                .args(["netns", "exec", &ns.0, "ip", "link", "del", n])
                .output();
        }
        ok
    };
    let names = [
        "eth0",
        "eth0.100",
        "bridge-net",
        "br_ex",
        "123456789012345",
        "1234567890123456",
        "a:b",
        ".",
        "..",
        "all",
        "default",
        "à", // UTF-8 C3 A0: the kernel's isspace(0xA0)
        "é", // UTF-8 C3 A9: fine
        "v@x",
        "-x",
    ];
    for n in names {
        let ours = IfName::parse(n);
        assert_eq!(
            kernel_accepts(n),
            ours.is_ok(),
            "{n:?}: kernel and IfName disagree ({ours:?})"
        );
    }
    // Names Linux takes but a sysctl.d key cannot carry are refused, saying why.
    for n in ["eth=0", "eth*", "eth?", "eth[0]"] {
        assert!(kernel_accepts(n), "{n:?}: the kernel should accept it");
        let e = IfName::parse(n).unwrap_err().to_string();
        assert!(e.contains("sysctl.d key"), "{n:?}: {e}");
    }
}
