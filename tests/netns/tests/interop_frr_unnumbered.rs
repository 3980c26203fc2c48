//! BGP unnumbered interop with FRR 8.4: two namespaces joined by a veth that carries only IPv6
//! link-local addresses (no IPv4, no global IPv6 on the link). FRR runs
//! `neighbor to-a interface ... remote-as external` (extended next hop implied), our speaker an
//! unnumbered peer on `to-b` ([`PeerConfig::unnumbered`]). Each side finds the other through
//! Router Advertisements; the session carries IPv4 routes with IPv6 link-local next hops
//! (RFC 8950) and IPv6 routes, both ways, and withdrawals.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use metalroute_bgp::config::{Asn, Family, HoldTime, PeerAsn, PeerConfig, PeerKey, Timers};
use metalroute_bgp::fsm::State;
use metalroute_bgp::packet::{AsPath, Origin, PathAttributes};
use metalroute_bgp::session::PeerStatus;
use metalroute_bgp::speaker::{Speaker, SpeakerConfig};
use metalroute_netns::{ip_json, prerequisites, veth, wait_for, wait_for_ok, Frr, Need, Netns};
use serde_json::Value;

const FRR: &[Need] = &[Need::Root, Need::Binary("bgpd"), Need::Binary("zebra")];
/// Generous: FRR learns us from our first Router Advertisement, sent at start.
const UP: Duration = Duration::from_secs(40);

/// Our speaker inside a namespace.
struct Ours {
    rt: tokio::runtime::Runtime,
    speaker: Speaker,
}

impl Ours {
    fn start(ns: &Netns) -> Ours {
        let rt = ns.runtime(1);
        let config = SpeakerConfig {
            listen_port: Some(179),
            connect_timeout: Duration::from_secs(3),
        };
        let speaker = rt.block_on(async { Speaker::new(config) });
        Ours { rt, speaker }
    }

    fn add_peer(&self, config: PeerConfig) {
        if let Err(e) = self.rt.block_on(self.speaker.add_peer(config)) {
            panic!("add_peer: {e}");
        }
    }

    fn advertise(&self, peer: &PeerKey, family: Family, prefixes: &[&str]) {
        let attrs = Arc::new(PathAttributes {
            origin: Origin::Igp,
            as_path: AsPath::default(),
            ..PathAttributes::default()
        });
        let map: HashMap<_, _> = prefixes
            .iter()
            .map(|p| (p.parse().expect("prefix"), attrs.clone()))
            .collect();
        if let Err(e) = self
            .rt
            .block_on(self.speaker.set_advertisements(peer, family, map))
        {
            panic!("set_advertisements: {e}");
        }
    }

    fn status(&self, peer: &PeerKey) -> PeerStatus {
        match self.rt.block_on(self.speaker.peer_state(peer)) {
            Ok(Some(s)) => s,
            other => panic!("peer_state({peer}): {other:?}"),
        }
    }

    fn wait_established(&self, peer: &PeerKey) -> PeerStatus {
        wait_for_ok(&format!("our session {peer} Established"), UP, || {
            let s = self.status(peer);
            if s.state == State::Established {
                Ok(s)
            } else {
                Err(format!(
                    "state {} neighbor {:?} last error {:?}",
                    s.state, s.neighbor, s.last_error
                ))
            }
        })
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        self.rt.block_on(self.speaker.shutdown(false));
    }
}

/// The IPv6 link-local address of `ifname` in `ns`.
fn link_local(ns: &Netns, ifname: &str) -> Ipv6Addr {
    wait_for(&format!("{ifname} link-local address"), UP, || {
        let v = ip_json(ns, &["-6", "addr", "show", "dev", ifname, "scope", "link"]);
        v.as_array()?
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .find_map(|a| a["local"].as_str()?.parse().ok())
    })
}

/// Two namespaces joined by a veth with nothing but link-local addresses.
fn link_local_only(prefix: &str) -> (Netns, Netns) {
    let a = Netns::new(&format!("{prefix}a"));
    let b = Netns::new(&format!("{prefix}b"));
    veth(&a, "to-b", &b, "to-a");
    (a, b)
}

/// FRR on `to-a` with an unnumbered neighbour (`how` is what follows `neighbor to-a`, e.g.
/// `interface remote-as external`; `before` and `after` are lines around it), originating one
/// IPv4 and one IPv6 network.
fn frr_unnumbered(how: &str, before: &str, after: &str) -> String {
    format!(
        "frr defaults traditional\nhostname r64512\n!\nrouter bgp 64512\n bgp router-id 192.0.2.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp log-neighbor-changes\n{before} neighbor to-a {how}\n{after} neighbor to-a timers 3 9\n neighbor to-a timers connect 1\n address-family ipv4 unicast\n  network 203.0.113.0/24\n exit-address-family\n address-family ipv6 unicast\n  neighbor to-a activate\n  network 2001:db8:ff::/48\n exit-address-family\n!\n"
    )
}

fn our_peer() -> PeerConfig {
    let mut c = PeerConfig::unnumbered(
        Asn(64511),
        PeerAsn::DynamicExternal,
        "to-b",
        Ipv4Addr::new(192, 0, 2, 1),
    );
    c.timers = Timers {
        hold_time: HoldTime::from_secs(9).expect("hold"),
        keepalive: None,
        connect_time: Duration::from_secs(2),
    };
    c
}

/// The paths of `prefix` in FRR's BGP table.
fn paths(frr: &Frr, prefix: &str) -> Vec<Value> {
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

/// Whether one of the path's next hops is `ip`.
fn has_next_hop(path: &Value, ip: Ipv6Addr) -> bool {
    path["nexthops"]
        .as_array()
        .is_some_and(|n| n.iter().any(|h| h["ip"].as_str() == Some(&ip.to_string())))
}

/// Whether zebra installed `prefix` (selected, in the kernel).
fn zebra_installed(frr: &Frr, prefix: &str) -> bool {
    let v = frr.zebra_routes(prefix.contains(':'));
    v.get(prefix)
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|e| e["installed"] == Value::Bool(true)))
}

/// The full scenario against FRR configured with `neighbor to-a <how>`.
fn scenario(prefix: &str, how: &str, before: &str, after: &str) {
    let (a, b) = link_local_only(prefix);
    let our_ll = link_local(&a, "to-b");
    let frr_ll = link_local(&b, "to-a");
    let frr = Frr::start(&b, &frr_unnumbered(how, before, after), None);
    let ours = Ours::start(&a);
    let mut cfg = our_peer();
    // `neighbor to-a password X` on FRR's side: the same password on ours.
    cfg.password = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("neighbor to-a password "))
        .map(str::to_string);
    let key = cfg.key();
    assert_eq!(key.to_string(), "to-b");
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &["198.51.100.10/32"]);
    ours.advertise(&key, Family::IPV6_UNICAST, &["2001:db8:100::10/128"]);

    frr.wait_established("to-a", UP);
    let st = ours.wait_established(&key);
    assert_eq!(st.neighbor, Some(frr_ll), "neighbour learned: {st:?}");
    assert_eq!(st.extended_next_hop, vec![Family::IPV4_UNICAST], "{st:?}");
    assert!(
        st.local_address
            .is_some_and(|l| l.ip() == IpAddr::V6(our_ll)),
        "{st:?}"
    );
    let n = frr.vtysh_json("show bgp neighbors to-a json");
    let n = n.get("to-a").cloned().unwrap_or(Value::Null);
    assert_eq!(
        n["neighborCapabilities"]["extendedNexthop"].as_str(),
        Some("advertisedAndReceived"),
        "FRR: {n}"
    );
    if after.contains("passive") {
        // FRR only listens: we dialed its port 179 on the link.
        assert_eq!(n["portLocal"].as_u64(), Some(179), "FRR: {n}");
    }

    // FRR holds our IPv4 /32 and IPv6 /128, both with our link-local next hop, and zebra
    // installs them.
    for p in ["198.51.100.10/32", "2001:db8:100::10/128"] {
        let path = wait_for(&format!("FRR has {p}"), UP, || paths(&frr, p).pop());
        assert!(has_next_hop(&path, our_ll), "{p}: {path}");
        assert_eq!(path["path"].as_str(), Some("64511"), "{path}");
        wait_for(&format!("zebra installed {p}"), UP, || {
            zebra_installed(&frr, p).then_some(())
        });
    }

    // FRR's routes reach our Adj-RIB-In with FRR's link-local next hop (IPv4 ones too).
    for (family, p) in [
        (Family::IPV4_UNICAST, "203.0.113.0/24"),
        (Family::IPV6_UNICAST, "2001:db8:ff::/48"),
    ] {
        let r = wait_for(&format!("our Adj-RIB-In has {p}"), UP, || {
            ours.rt
                .block_on(ours.speaker.received_routes(&key, family))
                .ok()
                .flatten()?
                .into_iter()
                .find(|r| r.prefix.to_string() == p)
        });
        assert_eq!(r.next_hop, Some(IpAddr::V6(frr_ll)), "{p}: {r:?}");
    }

    // Withdrawal: IPv4 first (MP_UNREACH for AFI 1), then IPv6.
    ours.advertise(&key, Family::IPV4_UNICAST, &[]);
    wait_for("FRR withdrew the IPv4 /32", UP, || {
        paths(&frr, "198.51.100.10/32").is_empty().then_some(())
    });
    assert!(!paths(&frr, "2001:db8:100::10/128").is_empty());
    ours.advertise(&key, Family::IPV6_UNICAST, &[]);
    wait_for("FRR withdrew the IPv6 /128", UP, || {
        paths(&frr, "2001:db8:100::10/128").is_empty().then_some(())
    });
    assert_eq!(
        frr.bgp_neighbor_state("to-a").as_deref(),
        Some("Established"),
        "withdrawals never reset the session"
    );
}

/// Sum of the kernel's TCP MD5 failure counters in `ns`.
fn md5_failures(ns: &Netns) -> u64 {
    let text = ns.exec_stdout(&["cat", "/proc/net/netstat"]);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let (Some(names), Some(values)) = (lines.first(), lines.get(1)) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter(|(n, _)| n.starts_with("TCPMD5"))
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum()
}

#[test]
fn interop_frr_unnumbered_interface_remote_as_external() {
    if !prerequisites("interop_frr_unnumbered_interface_remote_as_external", FRR) {
        return;
    }
    scenario("unn1", "interface remote-as external", "", "");
}

#[test]
fn interop_frr_unnumbered_v6only_peer_group() {
    if !prerequisites("interop_frr_unnumbered_v6only_peer_group", FRR) {
        return;
    }
    // MetalLB-style peer group, and `v6only` (no IPv4 session would be tried anyway here).
    scenario(
        "unn2",
        "interface v6only peer-group PG",
        " neighbor PG peer-group\n neighbor PG remote-as external\n",
        "",
    );
}

#[test]
fn interop_frr_unnumbered_passive_router_is_found_by_its_router_advertisements() {
    if !prerequisites(
        "interop_frr_unnumbered_passive_router_is_found_by_its_router_advertisements",
        FRR,
    ) {
        return;
    }
    // FRR never connects: the session comes up only if we learned FRR's link-local address
    // from its Router Advertisements and connected to it, scoped to the interface.
    scenario(
        "unn3",
        "interface remote-as external",
        "",
        " neighbor to-a passive\n",
    );
}

#[test]
fn interop_frr_unnumbered_md5_password() {
    if !prerequisites("interop_frr_unnumbered_md5_password", FRR) {
        return;
    }
    // TCP MD5 on both sides: our key sits on FRR's link-local address once learned (that the
    // kernels really check it is shown by the wrong-password test below). A connection made
    // before the address is learned may fail its MD5 check; the retry succeeds.
    scenario(
        "unn4",
        "interface remote-as external",
        "",
        " neighbor to-a password s3cret-unnumbered\n",
    );
}

#[test]
fn interop_frr_unnumbered_wrong_password_never_comes_up() {
    if !prerequisites("interop_frr_unnumbered_wrong_password_never_comes_up", FRR) {
        return;
    }
    let (a, b) = link_local_only("unn5");
    let frr = Frr::start(
        &b,
        &frr_unnumbered(
            "interface remote-as external",
            "",
            " neighbor to-a password right\n",
        ),
        None,
    );
    let ours = Ours::start(&a);
    let mut cfg = our_peer();
    cfg.password = Some("wrong".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    // Both sides learn each other (RAs) and try to connect: the kernel drops every segment.
    wait_for("the kernel counts MD5 failures", UP, || {
        (md5_failures(&a) + md5_failures(&b) > 0).then_some(())
    });
    assert_ne!(ours.status(&key).state, State::Established);
    assert_ne!(
        frr.bgp_neighbor_state("to-a").as_deref(),
        Some("Established")
    );
}
