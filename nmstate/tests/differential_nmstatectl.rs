//! Differential test against nmstate's own tool: every corpus case is applied, step by step,
//! with `nmstatectl apply --kernel` (kernel-only mode: nispor over netlink, no NetworkManager,
//! no D-Bus) in one fresh namespace and with `metalroute_nmstate::Applier` in another fresh
//! namespace with identical veths (same names, same MAC addresses, hence the same IPv6
//! link-local addresses); after every step both namespaces must hold the same addresses and
//! routes (normalized `ip -j` dumps, see [`normalized`]).
//!
//! The corpus stays within what nmstatectl 2.2's kernel mode supports: addresses (IPv4, IPv6)
//! on existing interfaces and unicast routes (main and other tables, metrics, next hops,
//! `state: absent`). Left out, because nmstatectl's kernel mode refuses them (nmstate
//! `nispor/route.rs`, 2.2.62; each checked by hand): ECMP / `weight` ("Kernel mode does not
//! support ECMP routes"), `route-type` blackhole/unreachable/prohibit ("nispor apply does not
//! support route type yet") and `table-id` above 255 ("does not support route table ID
//! bigger than 255").
//! Also left out because the kernel mode ignores them and then fails its own verification
//! ("... not found after apply"): a route's `source` (nispor installs the route without a
//! preferred source) and `route-rules` (not applied at all). Sysctls (`forwarding`,
//! `rp-filter`) are metalroute extensions or not part of the kernel mode. An IPv4 route
//! without next-hop address is out too, see the `ipv6_device_route` case.
//!
//! Needs root and `nmstatectl` (scripts/install-deps installs the pinned version into
//! `$HOME/.cargo/bin`, which is searched too); with `METALROUTE_REQUIRE_NETNS=1` a missing one
//! fails the test.

mod common;

use common::{apply_in, opts, record_path, state, strip};
use metalroute_netns::{find_binary, ip_json, prerequisites, Need, Netns};
use serde_json::Value;
use std::path::PathBuf;

/// One corpus case: the steps (nmstate desired-state YAML documents) are applied in order by
/// both tools; the kernel states are compared after each step.
struct Case {
    name: &'static str,
    steps: Vec<String>,
}

/// One address family of an interface in a desired state.
#[derive(Clone, Copy)]
enum Family<'a> {
    /// The family is not mentioned.
    Omit,
    /// `enabled: false`.
    Off,
    /// `enabled: true`, no DHCP (and for IPv6 no autoconf), these `ip/prefix-length`
    /// addresses in order.
    Static(&'a [&'a str]),
}

/// Renders the `ipv4:`/`ipv6:` block of an interface (`key` is `ipv4` or `ipv6`).
fn family_yaml(key: &str, family: Family) -> String {
    match family {
        Family::Omit => String::new(),
        Family::Off => format!("  {key}:\n    enabled: false\n"),
        Family::Static(addresses) => {
            let autoconf = if key == "ipv6" {
                "    autoconf: false\n"
            } else {
                ""
            };
            let mut y =
                format!("  {key}:\n    enabled: true\n    dhcp: false\n{autoconf}    address:\n");
            for a in addresses {
                let (ip, len) = a.split_once('/').unwrap_or((a, ""));
                y.push_str(&format!("    - ip: {ip}\n      prefix-length: {len}\n"));
            }
            y
        }
    }
}

/// An `interfaces:` entry: ethernet `name`, up, with the given families.
fn iface(name: &str, v4: Family, v6: Family) -> String {
    format!(
        "- name: {name}\n  type: ethernet\n  state: up\n{}{}",
        family_yaml("ipv4", v4),
        family_yaml("ipv6", v6)
    )
}

/// `eth1` as most cases configure it: 192.0.2.1/24 and 2001:db8:1::1/64.
fn eth1() -> String {
    iface(
        "eth1",
        Family::Static(&["192.0.2.1/24"]),
        Family::Static(&["2001:db8:1::1/64"]),
    )
}

/// `eth2` as the two-interface cases configure it: 203.0.113.1/28 and 2001:db8:3::1/64.
fn eth2() -> String {
    iface(
        "eth2",
        Family::Static(&["203.0.113.1/28"]),
        Family::Static(&["2001:db8:3::1/64"]),
    )
}

/// A `routes: config:` entry, built field by field (`route("198.51.100.0/24").via(..)`).
#[derive(Default)]
struct Route {
    destination: Option<&'static str>,
    next_hop: Option<&'static str>,
    interface: Option<&'static str>,
    table: Option<u32>,
    metric: Option<u32>,
    absent: bool,
}

/// A route to `destination` through `next_hop` on `eth1`.
fn eth1_route(destination: &'static str, next_hop: &'static str) -> Route {
    route(destination).via(next_hop).dev("eth1")
}

/// A route to `destination` (no other field yet).
fn route(destination: &'static str) -> Route {
    Route {
        destination: Some(destination),
        ..Route::default()
    }
}

impl Route {
    fn via(mut self, next_hop: &'static str) -> Route {
        self.next_hop = Some(next_hop);
        self
    }
    fn dev(mut self, interface: &'static str) -> Route {
        self.interface = Some(interface);
        self
    }
    fn table(mut self, table: u32) -> Route {
        self.table = Some(table);
        self
    }
    fn metric(mut self, metric: u32) -> Route {
        self.metric = Some(metric);
        self
    }
    fn absent(mut self) -> Route {
        self.absent = true;
        self
    }
    fn yaml(&self) -> String {
        let mut fields = Vec::new();
        if let Some(d) = self.destination {
            fields.push(format!("destination: {d}"));
        }
        if let Some(n) = self.next_hop {
            fields.push(format!("next-hop-address: {n}"));
        }
        if let Some(i) = self.interface {
            fields.push(format!("next-hop-interface: {i}"));
        }
        if let Some(t) = self.table {
            fields.push(format!("table-id: {t}"));
        }
        if let Some(m) = self.metric {
            fields.push(format!("metric: {m}"));
        }
        if self.absent {
            fields.push("state: absent".into());
        }
        format!("  - {}\n", fields.join("\n    "))
    }
}

/// A desired-state document with these interfaces and routes (either list may be empty).
fn doc(interfaces: &[String], routes: &[Route]) -> String {
    let mut y = String::new();
    if !interfaces.is_empty() {
        y.push_str("interfaces:\n");
        for i in interfaces {
            y.push_str(i);
        }
    }
    if !routes.is_empty() {
        y.push_str("routes:\n  config:\n");
        for r in routes {
            y.push_str(&r.yaml());
        }
    }
    y
}

fn corpus() -> Vec<Case> {
    vec![
        Case {
            name: "ipv4_address",
            steps: vec![doc(
                &[iface(
                    "eth1",
                    Family::Static(&["192.0.2.1/24"]),
                    Family::Omit,
                )],
                &[],
            )],
        },
        Case {
            name: "ipv6_address",
            steps: vec![doc(
                &[iface(
                    "eth1",
                    Family::Omit,
                    Family::Static(&["2001:db8:1::1/64"]),
                )],
                &[],
            )],
        },
        Case {
            name: "several_addresses_on_two_veths",
            steps: vec![doc(
                &[
                    iface(
                        "eth1",
                        Family::Static(&["192.0.2.1/24", "198.51.100.1/25"]),
                        Family::Static(&["2001:db8:1::1/64", "2001:db8:2::1/48"]),
                    ),
                    eth2(),
                ],
                &[],
            )],
        },
        Case {
            // The address list is complete: the second step replaces the first step's addresses.
            name: "address_list_replaced",
            steps: vec![
                doc(&[eth1()], &[]),
                doc(
                    &[iface(
                        "eth1",
                        Family::Static(&["192.0.2.9/24"]),
                        Family::Static(&["2001:db8:1::9/64"]),
                    )],
                    &[],
                ),
            ],
        },
        Case {
            name: "routes_main_table_with_metrics",
            steps: vec![doc(
                &[eth1()],
                &[
                    eth1_route("198.51.100.0/24", "192.0.2.2").metric(100),
                    eth1_route("203.0.113.0/24", "192.0.2.3").metric(200),
                    eth1_route("2001:db8:100::/48", "2001:db8:1::2").metric(100),
                    eth1_route("2001:db8:200::/48", "2001:db8:1::3").metric(300),
                ],
            )],
        },
        Case {
            name: "routes_in_other_tables",
            steps: vec![doc(
                &[eth1(), eth2()],
                &[
                    eth1_route("198.51.100.0/24", "192.0.2.2")
                        .table(100)
                        .metric(50),
                    route("198.51.100.0/24")
                        .via("203.0.113.2")
                        .dev("eth2")
                        .table(200)
                        .metric(50),
                    eth1_route("2001:db8:100::/48", "2001:db8:1::2")
                        .table(100)
                        .metric(10),
                    route("2001:db8:100::/48")
                        .via("2001:db8:3::2")
                        .dev("eth2")
                        .table(200)
                        .metric(10),
                ],
            )],
        },
        Case {
            name: "default_routes_in_main_and_other_table",
            steps: vec![doc(
                &[eth1()],
                &[
                    eth1_route("0.0.0.0/0", "192.0.2.254").metric(425),
                    eth1_route("::/0", "2001:db8:1::fe").metric(425),
                    eth1_route("0.0.0.0/0", "192.0.2.253").table(150).metric(10),
                    eth1_route("::/0", "2001:db8:1::fd").table(150).metric(10),
                ],
            )],
        },
        Case {
            // Same destination and table, two metrics: two kernel routes (a primary and a backup).
            name: "same_destination_two_metrics",
            steps: vec![doc(
                &[
                    iface("eth1", Family::Static(&["192.0.2.1/24"]), Family::Omit),
                    iface("eth2", Family::Static(&["203.0.113.1/28"]), Family::Omit),
                ],
                &[
                    eth1_route("198.51.100.0/24", "192.0.2.2").metric(100),
                    route("198.51.100.0/24")
                        .via("203.0.113.2")
                        .dev("eth2")
                        .metric(200),
                ],
            )],
        },
        Case {
            // `state: absent` removes a route added by the first step; the other one stays.
            // (metalroute would also remove it when the second state merely omitted it; nmstate
            // keeps routes a state does not mention, so both steps list what stays.)
            name: "route_removed_with_state_absent",
            steps: vec![
                doc(
                    &[eth1()],
                    &[
                        eth1_route("198.51.100.0/24", "192.0.2.2")
                            .metric(100)
                            .table(100),
                        eth1_route("203.0.113.0/24", "192.0.2.2")
                            .metric(100)
                            .table(100),
                        eth1_route("2001:db8:100::/48", "2001:db8:1::2").metric(100),
                    ],
                ),
                doc(
                    &[eth1()],
                    &[
                        route("198.51.100.0/24").absent(),
                        route("2001:db8:100::/48").dev("eth1").absent(),
                        eth1_route("203.0.113.0/24", "192.0.2.2")
                            .metric(100)
                            .table(100),
                    ],
                ),
            ],
        },
        Case {
            // No metric: the kernel's default (0 for IPv4, 1024 for IPv6).
            name: "routes_without_metric",
            steps: vec![doc(
                &[eth1()],
                &[
                    eth1_route("198.51.100.0/24", "192.0.2.2"),
                    eth1_route("2001:db8:100::/48", "2001:db8:1::2").table(100),
                ],
            )],
        },
        Case {
            // No next-hop address: a route out of the interface. IPv6 only: for IPv4 nmstatectl's
            // kernel mode (nispor) installs such a route with scope `universe` (it always sets
            // RT_SCOPE_UNIVERSE), where metalroute, like `ip route add ... dev eth1`, uses scope
            // `link` for a route without gateway; IPv6 routes have no scope, so they compare.
            name: "ipv6_device_route",
            steps: vec![doc(
                &[eth1()],
                &[route("2001:db8:100::/48").dev("eth1").metric(100)],
            )],
        },
        Case {
            // `enabled: false` removes the family's addresses.
            name: "ipv4_disabled",
            steps: vec![
                doc(&[eth1()], &[]),
                doc(
                    &[iface(
                        "eth1",
                        Family::Off,
                        Family::Static(&["2001:db8:1::1/64"]),
                    )],
                    &[],
                ),
            ],
        },
        Case {
            // An absent entry with only `next-hop-interface` (nmstate's wildcard matching) removes
            // every route through the interface, in every table; the second state mentions no
            // interface, so the addresses stay as they are.
            name: "routes_removed_by_interface_wildcard",
            steps: vec![
                doc(
                    &[eth1()],
                    &[
                        eth1_route("198.51.100.0/24", "192.0.2.2")
                            .metric(100)
                            .table(100),
                        eth1_route("203.0.113.0/24", "192.0.2.2").metric(100),
                        eth1_route("2001:db8:100::/48", "2001:db8:1::2")
                            .metric(100)
                            .table(100),
                    ],
                ),
                doc(
                    &[],
                    &[Route {
                        interface: Some("eth1"),
                        absent: true,
                        ..Route::default()
                    }],
                ),
            ],
        },
        Case {
            // `enabled: false` for IPv6 removes the global IPv6 addresses; IPv4 stays.
            name: "ipv6_disabled",
            steps: vec![
                doc(&[eth1()], &[]),
                doc(
                    &[iface(
                        "eth1",
                        Family::Static(&["192.0.2.1/24"]),
                        Family::Off,
                    )],
                    &[],
                ),
            ],
        },
    ]
}

/// MAC addresses of the veths, identical in both namespaces so that the kernel-generated IPv6
/// link-local addresses (EUI-64) and their routes compare equal too.
const VETHS: &[(&str, &str, &str, &str)] = &[
    ("eth1", "02:00:00:00:01:01", "eth1p", "02:00:00:00:01:02"),
    ("eth2", "02:00:00:00:02:01", "eth2p", "02:00:00:00:02:02"),
];

/// A namespace under test and the namespace holding its veths' peers.
struct Side {
    ns: Netns,
    _peer: Netns,
}

fn side(prefix: &str) -> Side {
    let ns = Netns::new(prefix);
    let peer = Netns::new(&format!("{prefix}p"));
    for (name, mac, peer_name, peer_mac) in VETHS {
        ns.exec(&[
            "ip",
            "link",
            "add",
            name,
            "address",
            mac,
            "type",
            "veth",
            "peer",
            "name",
            peer_name,
            "address",
            peer_mac,
            "netns",
            peer.name(),
        ]);
        ns.exec(&["ip", "link", "set", "dev", name, "up"]);
        peer.exec(&["ip", "link", "set", "dev", peer_name, "up"]);
    }
    Side { ns, _peer: peer }
}

/// Where nmstatectl is: `$PATH` and the usual directories, then `$HOME/.cargo/bin` (where
/// `cargo install` puts it; CI's PATH may lack it).
fn nmstatectl() -> &'static str {
    let found = find_binary("nmstatectl").or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = PathBuf::from(home).join(".cargo/bin/nmstatectl");
        p.is_file().then_some(p)
    });
    match found {
        // Leaked once per test process: Need::Binary wants a &'static str.
        Some(p) => Box::leak(p.to_string_lossy().into_owned().into_boxed_str()),
        None => "nmstatectl",
    }
}

/// Replaces the routing protocol of routes installed by either tool (metalroute: 233,
/// nmstatectl/nispor: `static`) with one marker; other protocols (`kernel`, ...) are kept.
fn unify_protocol(routes: &mut Value) {
    if let Value::Array(a) = routes {
        for r in a {
            if let Some(p) = r.get_mut("protocol") {
                if p == "233" || p == "static" {
                    *p = Value::String("<tool>".into());
                }
            }
        }
    }
}

/// True for an IPv6 link-local address or route (`fe80::/10`).
fn is_link_local(addr: &str) -> bool {
    let first = addr.split([':', '/']).next().unwrap_or("");
    u16::from_str_radix(first, 16).is_ok_and(|w| w & 0xffc0 == 0xfe80)
}

/// The namespace's addresses and routes (every table, both families) as normalized `ip -j`
/// text, one line per interface and per route. Dropped fields and why:
/// * `ifindex`, `link_index`: interface numbers are per-namespace allocation details (names
///   are compared instead); `link_netnsid`: the peer namespace's id as seen from this one.
/// * route `protocol` 233 (metalroute) vs `static` (nmstatectl): both become `<tool>`, see
///   [`unify_protocol`]; every other protocol value is compared as is.
/// * `valid_life_time`, `preferred_life_time`: count down for kernel-made dynamic addresses.
/// * `expires`: IPv6 route cache / RA lifetimes, time-dependent.
/// * an IPv4 address's `broadcast` (IFA_BROADCAST): nispor sets it to the last address of the
///   prefix (as NetworkManager does), metalroute adds addresses without it (as
///   `ip addr add` does). The kernel's broadcast route in table `local` is the same either
///   way, and it is compared.
/// * IPv6 link-local addresses (`fe80::/10`) and their routes (`fe80::/64`, the `local`
///   entries): when a state gives an interface's IPv6 address list, nmstatectl's kernel mode
///   deletes the kernel-generated link-local address too (nispor treats the list as
///   complete, link-local included), whereas nmstate over NetworkManager keeps it, and so
///   does metalroute (see README: "the complete list (IPv6 link-local excepted)").
///
/// Routes are sorted (the kernel lists same-prefix routes in insertion order, which differs
/// between two tools adding the same set in different orders); addresses keep their order
/// within an interface, since primary/secondary selection depends on it.
fn normalized(ns: &Netns) -> String {
    let volatile = [
        "ifindex",
        "link_index",
        "link_netnsid",
        "valid_life_time",
        "preferred_life_time",
        "expires",
    ];
    let mut lines = Vec::new();
    let mut links = ip_json(ns, &["addr", "show"]);
    strip(&mut links, &volatile);
    if let Value::Array(links) = &mut links {
        for link in links {
            if let Some(Value::Array(infos)) = link.get_mut("addr_info") {
                infos.retain(|a| !a["local"].as_str().is_some_and(is_link_local));
                for a in infos.iter_mut() {
                    if let Value::Object(m) = a {
                        m.remove("broadcast");
                    }
                }
            }
            lines.push(format!("addr {link}"));
        }
    }
    for fam in ["-4", "-6"] {
        let mut routes = ip_json(ns, &[fam, "route", "show", "table", "all"]);
        strip(&mut routes, &volatile);
        unify_protocol(&mut routes);
        if let Value::Array(a) = &mut routes {
            a.retain(|r| !r["dst"].as_str().is_some_and(is_link_local));
            let mut rs: Vec<String> = a.iter().map(|r| format!("route{fam} {r}")).collect();
            rs.sort();
            lines.extend(rs);
        }
    }
    lines.join("\n")
}

/// Lines only in `a` (prefixed `-`) and only in `b` (prefixed `+`).
fn line_diff(a: &str, b: &str) -> String {
    let only = |x: &str, y: &str, mark: char| -> Vec<String> {
        x.lines()
            .filter(|l| !y.lines().any(|m| m == *l))
            .map(|l| format!("{mark} {l}"))
            .collect()
    };
    let mut d = only(a, b, '-');
    d.extend(only(b, a, '+'));
    d.join("\n")
}

/// `nmstatectl apply --kernel FILE` inside `ns`; the error has nmstatectl's output.
fn apply_nmstatectl(
    ns: &Netns,
    bin: &str,
    case: &str,
    step: usize,
    yaml: &str,
) -> Result<(), String> {
    let file = std::env::temp_dir().join(format!(
        "metalroute-nmdiff-{}-{case}-{step}.yml",
        std::process::id()
    ));
    if let Err(e) = std::fs::write(&file, yaml) {
        panic!("writing {}: {e}", file.display());
    }
    let path = file.to_string_lossy().into_owned();
    let out = ns.try_exec(&[bin, "apply", "--kernel", path.as_str()]);
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "case {case} step {step}: nmstatectl apply --kernel failed ({}):\nstdout: {}\nstderr: {}\nstate:\n{yaml}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    ))
}

/// Runs one corpus case; returns a description of the first step whose kernel states differ.
fn run_case(case: &Case, bin: &str) -> Result<(), String> {
    let theirs = side("nmdiffn");
    let ours = side("nmdiffo");
    let rec = record_path(&format!("diff-{}", case.name));
    let mut result = Ok(());
    for (i, yaml) in case.steps.iter().enumerate() {
        if let Err(e) = apply_nmstatectl(&theirs.ns, bin, case.name, i, yaml) {
            result = Err(e);
            break;
        }
        if let Err(e) = apply_in(&ours.ns, &rec, &state(yaml), &opts(vec![])) {
            result = Err(format!(
                "case {} step {i}: metalroute apply failed: {e}\nstate:\n{yaml}",
                case.name
            ));
            break;
        }
        let (n, o) = (normalized(&theirs.ns), normalized(&ours.ns));
        if n != o {
            result = Err(format!(
                "case {} step {i}: kernel states differ\n--- nmstatectl apply --kernel:\n{n}\n+++ metalroute:\n{o}\ndifference:\n{}\nstate:\n{yaml}",
                case.name,
                line_diff(&n, &o)
            ));
            break;
        }
    }
    if let Some(dir) = rec.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

#[test]
fn same_kernel_state_as_nmstatectl_kernel_mode() {
    let bin = nmstatectl();
    if !prerequisites(
        "same_kernel_state_as_nmstatectl_kernel_mode",
        &[Need::Root, Need::Binary(bin)],
    ) {
        return;
    }
    let mut failures = Vec::new();
    let corpus = corpus();
    for case in &corpus {
        if let Err(e) = run_case(case, bin) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n\n")
    );
}
