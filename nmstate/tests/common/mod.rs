//! Shared helpers of the nmstate integration tests: parsing YAML states, running the applier
//! inside a namespace, and normalized `ip -j` dumps to compare kernel states byte for byte.
#![allow(dead_code)]

use metalroute_netns::{ip_json, wait_for, Netns};
use metalroute_nmstate::input::desired_state_from_yaml;
use metalroute_nmstate::{Applier, ApplyOptions, ApplyReport, DesiredState, Error, ProbeConfig};
use serde_json::Value;
use std::time::Duration;

/// Parses a YAML desired state (panics with the problems).
pub fn state(yaml: &str) -> DesiredState {
    match desired_state_from_yaml(yaml) {
        Ok(s) => s,
        Err(e) => panic!("test state does not parse: {e}\n{yaml}"),
    }
}

/// Options for tests: short timeout, no probes unless given.
pub fn opts(probes: Vec<metalroute_nmstate::Probe>) -> ApplyOptions {
    ApplyOptions {
        timeout: Duration::from_secs(3),
        rollback: true,
        probes: ProbeConfig {
            probes,
            attempt_timeout: Duration::from_millis(500),
        },
        retry_interval: Duration::from_millis(100),
    }
}

/// Applies `desired` in `ns` with a fresh applier (ownership record at `record`).
pub fn apply_in(
    ns: &Netns,
    record: &std::path::Path,
    desired: &DesiredState,
    o: &ApplyOptions,
) -> Result<ApplyReport, Error> {
    let desired = desired.clone();
    let o = o.clone();
    let record = record.to_path_buf();
    ns.block_on(move || async move {
        let mut a = Applier::open(Some(&record))?;
        a.apply(&desired, &o).await
    })
}

/// Removes `keys` from every object in `v`, recursively.
pub fn strip(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(m) => {
            for k in keys {
                m.remove(*k);
            }
            for (_, x) in m.iter_mut() {
                strip(x, keys);
            }
        }
        Value::Array(a) => {
            for x in a {
                strip(x, keys);
            }
        }
        _ => {}
    }
}

/// The namespace's state as normalized `ip -j` dumps: links (without ifindex and counters),
/// addresses, routes of every table (IPv4 and IPv6), rules (IPv4 and IPv6). Interface indexes
/// are dropped because a restored link may get a new one; everything else must match.
pub fn dump(ns: &Netns) -> String {
    let mut parts = Vec::new();
    for args in [
        vec!["-d", "link", "show"],
        vec!["addr", "show"],
        vec!["-4", "route", "show", "table", "all"],
        vec!["-6", "route", "show", "table", "all"],
        vec!["-4", "-d", "rule", "show"],
        vec!["-6", "-d", "rule", "show"],
    ] {
        let mut v = ip_json(ns, &args);
        strip(
            &mut v,
            &[
                "ifindex",
                "link_index",
                "stats",
                "stats64",
                "num_tx_queues",
                "num_rx_queues",
                "gso_max_size",
                "gso_max_segs",
                "tso_max_size",
                "tso_max_segs",
                "gro_max_size",
                "gso_ipv4_max_size",
                "gro_ipv4_max_size",
                "promiscuity",
                "allmulti",
                "inet6_addr_gen_mode",
                "linkinfo_slave_data",
                "info_slave_data",
                "hello_timer",
                "tcn_timer",
                "topology_change_timer",
                "gc_timer",
                "carrier_changes",
                "carrier_up_count",
                "carrier_down_count",
                "valid_life_time",
                "preferred_life_time",
                "expires",
            ],
        );
        // Routes to different devices with the same prefix and metric (e.g. each link's
        // fe80::/64) are listed in the order the kernel happened to add them: sort routes.
        if args.contains(&"route") {
            if let Value::Array(a) = &mut v {
                a.sort_by_key(|x| x.to_string());
            }
        }
        parts.push(format!("{} => {}", args.join(" "), v));
    }
    parts.push(format!("sysctls => {}", sysctls(ns)));
    parts.join("\n")
}

/// Forwarding, rp_filter and l3mdev sysctls of every interface of `ns`, one `key=value` each.
pub fn sysctls(ns: &Netns) -> String {
    ns.run(|| {
        let mut out = Vec::new();
        for fam in ["ipv4", "ipv6"] {
            let dir = format!("/proc/sys/net/{fam}/conf");
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            for n in names {
                for key in ["forwarding", "rp_filter"] {
                    if let Ok(v) = std::fs::read_to_string(format!("{dir}/{n}/{key}")) {
                        out.push(format!("{fam}.{n}.{key}={}", v.trim()));
                    }
                }
            }
        }
        for key in [
            "tcp_l3mdev_accept",
            "udp_l3mdev_accept",
            "raw_l3mdev_accept",
        ] {
            if let Ok(v) = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{key}")) {
                out.push(format!("{key}={}", v.trim()));
            }
        }
        out.join(" ")
    })
}

/// Waits (up to 5 s, links settle asynchronously) until `dump(ns)` equals `want`; panics with
/// a line diff otherwise.
pub fn assert_dump_eq(ns: &Netns, want: &str, what: &str) {
    let deadline = Duration::from_secs(5);
    let start = std::time::Instant::now();
    loop {
        let now = dump(ns);
        if now == want {
            return;
        }
        if start.elapsed() > deadline {
            let diff: Vec<String> = want
                .lines()
                .zip(now.lines())
                .filter(|(a, b)| a != b)
                .map(|(a, b)| format!("- {a}\n+ {b}"))
                .collect();
            panic!(
                "{what}: kernel state differs from before:\n{}",
                diff.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ip -j route show table all` entries (both families) with protocol 233.
pub fn our_routes(ns: &Netns) -> Vec<Value> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        if let Value::Array(a) = ip_json(ns, &[fam, "route", "show", "table", "all"]) {
            out.extend(a.into_iter().filter(|r| r["protocol"] == "233"));
        }
    }
    out
}

/// `ip -j rule` entries (both families) with protocol 233.
pub fn our_rules(ns: &Netns) -> Vec<Value> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        if let Value::Array(a) = ip_json(ns, &[fam, "-d", "rule", "show"]) {
            out.extend(a.into_iter().filter(|r| r["protocol"] == "233"));
        }
    }
    out
}

/// Waits until `f` holds (deadline `d`).
pub fn eventually(what: &str, d: Duration, mut f: impl FnMut() -> bool) {
    wait_for(what, d, || f().then_some(()));
}

/// A temporary ownership record path for one test.
pub fn record_path(test: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("metalroute-nmstate-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("owned.json")
}
