//! Failed applies are rolled back: each case applies a state that fails part-way (kernel
//! refusal, conflict, failed probe) and then compares normalized `ip -j` dumps and sysctls with
//! the ones taken before — they must be identical. Topology: namespace A (where states are
//! applied, interface e0 192.0.2.1/24) and B (a router: e0r 192.0.2.2/24, 2001:db8:1::2/64).

mod common;

use common::*;
use metalroute_netns::{addr, link_up, prerequisites, veth, Need, Netns};
use metalroute_nmstate::{Error, Probe};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Topo {
    a: Netns,
    b: Netns,
    rec: std::path::PathBuf,
}

fn topo(prefix: &str) -> Option<Topo> {
    if !prerequisites(prefix, &[Need::Root]) {
        return None;
    }
    let a = Netns::new(&format!("{prefix}a"));
    let b = Netns::new(&format!("{prefix}b"));
    veth(&a, "e0", &b, "e0r");
    addr(&a, "e0", "192.0.2.1/24");
    addr(&b, "e0r", "192.0.2.2/24");
    addr(&b, "e0r", "2001:db8:1::2/64");
    link_up(&a, "e0");
    link_up(&b, "e0r");
    Some(Topo {
        a,
        b,
        rec: record_path(prefix),
    })
}

/// Applies `yaml` expecting a rollback; checks the kernel is exactly as before. Returns the
/// failure reason.
fn expect_rollback(t: &Topo, yaml: &str, probes: Vec<Probe>) -> Error {
    let before = dump(&t.a);
    let err = apply_in(&t.a, &t.rec, &state(yaml), &opts(probes)).expect_err("apply must fail");
    let Error::RolledBack { reason } = err else {
        panic!("expected a clean rollback, got: {err}");
    };
    assert_dump_eq(&t.a, &before, &format!("after rollback of: {reason}"));
    *reason
}

#[test]
fn rollback_when_gateway_probe_fails_after_default_route_removed() {
    let Some(t) = topo("rbgw") else { return };
    let base = r#"
interfaces:
- {name: e0, type: ethernet, state: up}
routes:
  config:
  - {destination: 0.0.0.0/0, next-hop-address: 192.0.2.2, next-hop-interface: e0}
"#;
    apply_in(&t.a, &t.rec, &state(base), &opts(vec![Probe::Gateway])).expect("base apply");
    // The same state without the default route: metalroute removes its own route, the
    // gateway probe (which passed before) fails, the route comes back.
    let reason = expect_rollback(
        &t,
        "interfaces:\n- {name: e0, type: ethernet, state: up, ipv4: {forwarding: true}}\n",
        vec![Probe::Gateway],
    );
    assert!(
        matches!(reason, Error::Probe(ref m) if m.contains("default gateway")),
        "{reason}"
    );
}

#[test]
fn rollback_on_unreachable_next_hop() {
    let Some(t) = topo("rbnh") else { return };
    let reason = expect_rollback(
        &t,
        r#"
interfaces:
- name: e0
  type: ethernet
  state: up
  mtu: 1450
  ipv4: {enabled: true, address: [{ip: 192.0.2.1, prefix-length: 24}, {ip: 198.51.100.1, prefix-length: 24}]}
- {name: nh0, type: veth, state: up, veth: {peer: nh1}}
routes:
  config:
  - {destination: 198.51.100.128/25, next-hop-address: 198.51.100.2, next-hop-interface: e0, table-id: 20}
  - {destination: 203.0.113.0/24, next-hop-address: 203.0.113.254, next-hop-interface: e0, table-id: 20}
"#,
        vec![],
    );
    assert_eq!(reason.errno(), Some(libc::ENETUNREACH), "{reason}");
}

#[test]
fn rollback_on_missing_bridge_port() {
    let Some(t) = topo("rbport") else { return };
    let reason = expect_rollback(
        &t,
        r#"
interfaces:
- {name: mp0, type: veth, state: up, veth: {peer: mp1}}
- name: br9
  type: linux-bridge
  state: up
  bridge:
    port:
    - name: mp1
    - name: ghost0
"#,
        vec![],
    );
    assert!(reason.to_string().contains("ghost0"), "{reason}");
    assert!(
        reason.to_string().contains("interfaces[1].bridge.port[1]"),
        "{reason}"
    );
}

#[test]
fn rollback_on_priority_used_by_foreign_rule() {
    let Some(t) = topo("rbprio") else { return };
    t.a.sh("ip rule add from 203.0.113.0/24 lookup 77 pref 300");
    let reason = expect_rollback(
        &t,
        r#"
interfaces:
- {name: pr0, type: veth, state: up, veth: {peer: pr1}, ipv4: {address: [{ip: 198.51.100.1, prefix-length: 24}]}}
routes:
  config:
  - {destination: 203.0.113.0/24, next-hop-address: 198.51.100.2, next-hop-interface: pr0, table-id: 10}
route-rules:
  config:
  - {ip-from: 198.51.100.0/24, priority: 299, route-table: 10}
  - {ip-from: 192.0.2.0/24, priority: 300, route-table: 10}
"#,
        vec![],
    );
    assert!(
        reason.to_string().contains("priority 300 is already used"),
        "{reason}"
    );
}

#[test]
fn rollback_when_tcp_probe_fails() {
    let Some(t) = topo("rbtcp") else { return };
    // The "API server": a listening socket in B (the kernel completes handshakes from its
    // backlog; nothing needs to accept).
    let listener: TcpListener = t.b.run(|| TcpListener::bind("192.0.2.2:6443").unwrap());
    let endpoint: SocketAddr = "192.0.2.2:6443".parse().unwrap();
    // Replacing e0's address cuts the way to the endpoint; sysctls change too and must be
    // restored.
    let reason = expect_rollback(
        &t,
        r#"
interfaces:
- name: e0
  type: ethernet
  state: up
  ipv4: {enabled: true, address: [{ip: 198.51.100.1, prefix-length: 24}], forwarding: true, rp-filter: loose}
  ipv6: {enabled: true, forwarding: true}
"#,
        vec![Probe::Tcp(endpoint)],
    );
    assert!(
        matches!(reason, Error::Probe(ref m) if m.contains("6443")),
        "{reason}"
    );
    drop(listener);
}

#[test]
fn rollback_on_route_conflicting_with_foreign_route() {
    let Some(t) = topo("rbconf") else { return };
    t.a.sh("ip route add 198.51.100.0/24 via 192.0.2.2 table 100 proto static");
    let reason = expect_rollback(
        &t,
        r#"
interfaces:
- {name: cf0, type: veth, state: up, veth: {peer: cf1}, mtu: 9000, ipv4: {address: [{ip: 203.0.113.1, prefix-length: 24}]}}
routes:
  config:
  - {destination: 203.0.113.128/25, next-hop-address: 203.0.113.2, next-hop-interface: cf0, table-id: 100}
  - {destination: 198.51.100.0/24, next-hop-address: 203.0.113.3, next-hop-interface: cf0, table-id: 100}
"#,
        vec![],
    );
    assert!(reason.to_string().contains("does not own"), "{reason}");
}

#[test]
fn rollback_restores_a_deleted_owned_link_exactly() {
    let Some(t) = topo("rblink") else { return };
    let base = r#"
interfaces:
- name: ov0
  type: veth
  state: up
  mtu: 1400
  veth: {peer: ov1}
  ipv4: {enabled: true, address: [{ip: 203.0.113.1, prefix-length: 24}, {ip: 203.0.113.9, prefix-length: 24}], rp-filter: loose}
  ipv6: {enabled: true, address: [{ip: 2001:db8:5::1, prefix-length: 64}]}
routes:
  config:
  - {destination: 198.51.100.0/24, next-hop-address: 203.0.113.2, next-hop-interface: ov0, table-id: 50}
  - {destination: 2001:db8:6::/64, next-hop-address: 2001:db8:5::2, next-hop-interface: ov0, table-id: 50}
route-rules:
  config:
  - {ip-from: 203.0.113.0/24, priority: 400, route-table: 50}
"#;
    apply_in(&t.a, &t.rec, &state(base), &opts(vec![])).expect("base apply");
    // Someone else's route through our link: it disappears with the link and must come back.
    t.a.sh("ip route add 198.51.100.128/25 dev ov0 proto static");
    let reason = expect_rollback(
        &t,
        r#"
interfaces:
- {name: ov0, type: veth, state: absent}
- {name: e0, type: ethernet, state: up}
routes:
  config:
  - {destination: 203.0.113.0/24, next-hop-address: 10.255.255.1, next-hop-interface: e0}
"#,
        vec![],
    );
    assert_eq!(reason.errno(), Some(libc::ENETUNREACH), "{reason}");
    let rec = std::fs::read_to_string(&t.rec).unwrap();
    assert!(
        rec.contains("ov0") && rec.contains("ov1"),
        "record restored: {rec}"
    );
}

#[test]
fn rollback_on_ipv6_address_when_ipv6_is_disabled() {
    let Some(t) = topo("rbv6") else { return };
    t.a.sh("sysctl -qw net.ipv6.conf.e0.disable_ipv6=1");
    let reason = expect_rollback(
        &t,
        r#"
interfaces:
- name: e0
  type: ethernet
  state: up
  ipv4: {address: [{ip: 192.0.2.1, prefix-length: 24}, {ip: 192.0.2.5, prefix-length: 24}]}
  ipv6: {address: [{ip: 2001:db8:1::1, prefix-length: 64}]}
"#,
        vec![],
    );
    assert!(matches!(reason, Error::Kernel { .. }), "{reason}");
    assert!(reason.to_string().contains("2001:db8:1::1"), "{reason}");
}

/// A minimal DNS responder in B: answers every query with NOERROR (no records).
fn dns_responder(b: &Netns) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let sock: UdpSocket = b.run(|| UdpSocket::bind("192.0.2.2:53").unwrap());
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let h = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stop2.load(Ordering::Relaxed) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                if n >= 12 {
                    let mut reply = buf[..n].to_vec();
                    reply[2] = 0x81;
                    reply[3] = 0x80;
                    let _ = sock.send_to(&reply, from);
                }
            }
        }
    });
    (stop, h)
}

#[test]
fn rollback_when_dns_probe_fails() {
    let Some(t) = topo("rbdns") else { return };
    let (stop, h) = dns_responder(&t.b);
    let dns = Probe::Dns {
        name: "api.cluster.example".into(),
        server: "192.0.2.2:53".parse().unwrap(),
    };
    let reason = expect_rollback(
        &t,
        "interfaces:\n- {name: e0, type: ethernet, state: up, ipv4: {enabled: false}}\n",
        vec![dns],
    );
    assert!(
        matches!(reason, Error::Probe(ref m) if m.contains("dns")),
        "{reason}"
    );
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
}

#[test]
fn rollback_when_link_brought_down_breaks_gateway() {
    let Some(t) = topo("rbdown") else { return };
    t.a.sh("ip route add default via 192.0.2.2");
    let reason = expect_rollback(
        &t,
        "interfaces:\n- {name: e0, type: ethernet, state: down}\n",
        vec![Probe::Gateway],
    );
    assert!(matches!(reason, Error::Probe(_)), "{reason}");
}

#[test]
fn refusal_before_any_write_leaves_state_untouched() {
    let Some(t) = topo("rbrefuse") else { return };
    let before = dump(&t.a);
    let err = apply_in(
        &t.a,
        &t.rec,
        &state("interfaces:\n- {name: x0, type: veth, veth: {peer: x1}}\n- {name: e0, type: ethernet, state: absent}\n"),
        &opts(vec![]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("refusing to delete e0"), "{err}");
    assert_dump_eq(&t.a, &before, "refused state");
}

#[test]
fn without_rollback_a_failed_apply_stays_applied() {
    let Some(t) = topo("rbnone") else { return };
    let before = dump(&t.a);
    let mut o = opts(vec![]);
    o.rollback = false;
    let err = apply_in(
        &t.a,
        &t.rec,
        &state(
            "interfaces:\n- {name: nr0, type: veth, state: up, veth: {peer: nr1}}\nroutes:\n  config:\n  - {destination: 203.0.113.0/24, next-hop-address: 10.255.255.1, next-hop-interface: e0}\n",
        ),
        &o,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Kernel { .. }), "{err}");
    assert_ne!(dump(&t.a), before, "the partial apply must still be there");
    assert!(dump(&t.a).contains("nr0"));
}
