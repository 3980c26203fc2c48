//! The router launchers, proven by real sessions between real routers: FRR ↔ BIRD (eBGP,
//! IPv4 and IPv6 routes both ways), FRR ↔ GoBGP (eBGP), ExaBGP → FRR (static and run-time
//! announcements and withdrawals), and FRR's vty access (direct socket, vtysh binary, configure).

use metalroute_netns::{
    prerequisites, two_ns_with_veth, wait_for, wait_for_ok, Bird, Daemon, Exabgp, Frr, Gobgp, Need,
};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

fn frr_conf(asn: u32, router_id: &str, neighbors: &[(&str, u32)], networks: &[&str]) -> String {
    let mut c = format!(
        "frr defaults traditional\nhostname r{asn}\n!\nrouter bgp {asn}\n bgp router-id {router_id}\n no bgp ebgp-requires-policy\n no bgp network import-check\n"
    );
    for (n, remote) in neighbors {
        c.push_str(&format!(
            " neighbor {n} remote-as {remote}\n neighbor {n} timers 3 9\n neighbor {n} timers connect 1\n"
        ));
    }
    let (v4, v6): (Vec<&&str>, Vec<&&str>) = networks.iter().partition(|p| !p.contains(':'));
    c.push_str(" address-family ipv4 unicast\n");
    for p in v4 {
        c.push_str(&format!("  network {p}\n"));
    }
    c.push_str(" exit-address-family\n address-family ipv6 unicast\n");
    for (n, _) in neighbors {
        c.push_str(&format!("  neighbor {n} activate\n"));
    }
    for p in v6 {
        c.push_str(&format!("  network {p}\n"));
    }
    c.push_str(" exit-address-family\n!\n");
    c
}

#[test]
fn frr_and_bird_establish_ebgp_and_exchange_routes() {
    if !prerequisites(
        "frr_and_bird_establish_ebgp_and_exchange_routes",
        &[
            Need::Root,
            Need::Binary("bgpd"),
            Need::Binary("zebra"),
            Need::Binary("bird"),
        ],
    ) {
        return;
    }
    let t = two_ns_with_veth("hfb");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", 64511), ("2001:db8::1", 64511)],
            &["203.0.113.0/24", "2001:db8:f::/48"],
        ),
        None,
    );
    let bird_conf = r#"
router id 192.0.2.1;
protocol device { }
protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:b::/48 blackhole; }
protocol bgp frr4 {
    local 192.0.2.1 as 64511;
    neighbor 192.0.2.2 as 64512;
    connect delay time 0; connect retry time 1;
    ipv4 { import all; export where source = RTS_STATIC; };
}
protocol bgp frr6 {
    local 2001:db8::1 as 64511;
    neighbor 2001:db8::2 as 64512;
    connect delay time 0; connect retry time 1;
    ipv6 { import all; export where source = RTS_STATIC; };
}
"#;
    let bird = Bird::start(&t.a, bird_conf);
    frr.wait_established("192.0.2.1", DEADLINE);
    frr.wait_established("2001:db8::1", DEADLINE);
    bird.wait_established("frr4", DEADLINE);
    bird.wait_established("frr6", DEADLINE);

    let rib = wait_for("FRR learns 198.51.100.0/24 from BIRD", DEADLINE, || {
        let rib = frr.rib_v4();
        rib.get("198.51.100.0/24").is_some().then_some(rib)
    });
    let path = &rib["198.51.100.0/24"][0];
    assert_eq!(path["path"], "64511", "{path}");
    assert_eq!(path["nexthops"][0]["ip"], "192.0.2.1", "{path}");
    wait_for("FRR learns 2001:db8:b::/48 from BIRD", DEADLINE, || {
        frr.prefixes_v6()
            .contains(&"2001:db8:b::/48".to_owned())
            .then_some(())
    });
    // Detail query and zebra: the route reached FRR's RIB manager.
    let detail = frr.route_detail("198.51.100.0/24");
    assert!(detail.to_string().contains("64511"), "{detail}");
    wait_for("zebra has 198.51.100.0/24", DEADLINE, || {
        frr.zebra_routes(false).get("198.51.100.0/24").map(|_| ())
    });

    wait_for_ok("BIRD learns FRR's prefixes", DEADLINE, || {
        let p = bird.prefixes();
        if p.contains(&"203.0.113.0/24".to_owned()) && p.contains(&"2001:db8:f::/48".to_owned()) {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    // The summary shows both peers.
    let sum = frr.bgp_summary();
    assert!(
        sum["ipv4Unicast"]["peers"]["192.0.2.1"]["state"] == "Established",
        "{sum}"
    );

    // BIRD reconfigured without the IPv4 static route: FRR sees the withdrawal.
    bird.reconfigure(&bird_conf.replace("route 198.51.100.0/24 blackhole;", ""));
    wait_for(
        "FRR drops 198.51.100.0/24 after BIRD's reconfigure",
        DEADLINE,
        || frr.rib_v4().get("198.51.100.0/24").is_none().then_some(()),
    );
    // Stopping bgpd takes BIRD's session down.
    let mut frr = frr;
    frr.stop_daemon(Daemon::Bgpd);
    wait_for_ok("BIRD notices bgpd is gone", DEADLINE, || {
        match bird.protocol_state("frr4") {
            Some(s) if s != "Established" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

#[test]
fn frr_and_gobgp_establish_ebgp_and_exchange_routes() {
    if !prerequisites(
        "frr_and_gobgp_establish_ebgp_and_exchange_routes",
        &[
            Need::Root,
            Need::Binary("bgpd"),
            Need::Binary("gobgpd"),
            Need::Binary("gobgp"),
        ],
    ) {
        return;
    }
    let t = two_ns_with_veth("hfg");
    let gobgp = Gobgp::start(
        &t.a,
        r#"
[global.config]
  as = 64511
  router-id = "192.0.2.1"
  port = 179

[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
"#,
    );
    gobgp.gobgp(&["global", "rib", "add", "198.51.100.0/24", "-a", "ipv4"]);
    // FRR dials GoBGP (GoBGP's own first connect is slow).
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", 64511)],
            &["203.0.113.0/24"],
        ),
        None,
    );
    frr.wait_established("192.0.2.1", DEADLINE);
    gobgp.wait_established("192.0.2.2", DEADLINE);
    wait_for("FRR learns 198.51.100.0/24 from GoBGP", DEADLINE, || {
        frr.rib_v4()
            .get("198.51.100.0/24")
            .map(|p| p[0]["path"].clone())
    });
    wait_for("GoBGP learns 203.0.113.0/24 from FRR", DEADLINE, || {
        gobgp
            .prefixes(false)
            .contains(&"203.0.113.0/24".to_owned())
            .then_some(())
    });
    let rib = gobgp.rib_v4();
    assert!(rib["203.0.113.0/24"].to_string().contains("64512"), "{rib}");
}

#[test]
fn exabgp_announces_and_withdraws_routes_to_frr() {
    if !prerequisites(
        "exabgp_announces_and_withdraws_routes_to_frr",
        &[Need::Root, Need::Binary("bgpd"), Need::Binary("exabgp")],
    ) {
        return;
    }
    let t = two_ns_with_veth("hfe");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", 64511)], &[]),
        None,
    );
    let exa = Exabgp::start(
        &t.a,
        r#"
neighbor 192.0.2.2 {
    router-id 192.0.2.1;
    local-address 192.0.2.1;
    local-as 64511;
    peer-as 64512;
    hold-time 9;
    api { processes [ harness ]; }
    static {
        route 198.51.100.0/24 next-hop self community [64511:100];
    }
}
"#,
        true,
    );
    frr.wait_established("192.0.2.1", DEADLINE);
    wait_for("FRR learns ExaBGP's static route", DEADLINE, || {
        frr.rib_v4().get("198.51.100.0/24").map(|_| ())
    });
    let detail = frr.route_detail("198.51.100.0/24");
    assert!(detail.to_string().contains("64511:100"), "{detail}");
    exa.send("announce route 203.0.113.0/24 next-hop self as-path [ 64511 65000 ]");
    let rib = wait_for("FRR learns the run-time announcement", DEADLINE, || {
        let rib = frr.rib_v4();
        rib.get("203.0.113.0/24").is_some().then_some(rib)
    });
    assert_eq!(rib["203.0.113.0/24"][0]["path"], "64511 65000", "{rib}");
    exa.send("withdraw route 203.0.113.0/24");
    wait_for("FRR drops the withdrawn route", DEADLINE, || {
        frr.rib_v4().get("203.0.113.0/24").is_none().then_some(())
    });
    assert!(frr.rib_v4().get("198.51.100.0/24").is_some());
}

#[test]
fn frr_vty_direct_cli_and_configure() {
    if !prerequisites(
        "frr_vty_direct_cli_and_configure",
        &[
            Need::Root,
            Need::Binary("bgpd"),
            Need::Binary("bfdd"),
            Need::Binary("vtysh"),
        ],
    ) {
        return;
    }
    let t = two_ns_with_veth("harness-frr-vty-with-a-long-prefix");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[], &[]),
        Some("bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n !\n peer 192.0.2.1\n  profile fast\n !\n!\n"),
    );
    // Direct vty: the running config of bgpd; a bad command is an error naming it.
    assert!(frr
        .vtysh("show running-config")
        .contains("router bgp 64512"));
    let err = frr.try_vty(Daemon::Bgpd, "show no-such-thing").unwrap_err();
    assert!(err.contains("no-such-thing"), "{err}");
    // Configure at run time, seen by both the direct socket and the vtysh binary.
    frr.configure(
        Daemon::Bgpd,
        &["router bgp 64512", "neighbor 192.0.2.1 remote-as 64511"],
    );
    let st = frr.bgp_neighbor_state("192.0.2.1");
    assert!(
        matches!(st.as_deref(), Some("Active" | "Connect" | "Idle")),
        "no BGP speaker at 192.0.2.1 yet, state {st:?}"
    );
    assert!(frr.bgp_neighbor_state("192.0.2.99").is_none());
    assert!(frr
        .vtysh_cli("show running-config")
        .contains("neighbor 192.0.2.1 remote-as 64511"));
    // bfdd answers (after `enable`, which the harness sends).
    let peers = frr.bfd_peers();
    assert!(peers.to_string().contains("192.0.2.1"), "{peers}");
    // zebra sees the namespace's interfaces.
    let intf = frr.vtysh("show interface brief");
    assert!(intf.contains("to-a"), "{intf}");
    // Files live where documented and go away on drop.
    let (dir, run) = (
        frr.dir().to_owned(),
        std::path::Path::new("/var/run/frr").join(frr.pathspace()),
    );
    assert!(frr.log_path().exists());
    assert!(run.join("bgpd.vty").exists());
    let pid = frr.pid(Daemon::Bgpd).unwrap();
    drop(frr);
    assert!(!dir.exists() && !run.exists());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    );
}
