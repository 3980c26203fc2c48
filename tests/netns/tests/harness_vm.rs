//! VM-stage checks (tests named `vrf_*` run inside the VM by `scripts/test-vm`): the kernel
//! there has VRF, dummy and VLAN devices, and the harness can use them inside namespaces.
//! On the host these tests print `SKIP` (no VRF) unless `METALROUTE_REQUIRE_VRF=1`.

use metalroute_netns::{addr, ip_json, prerequisites, set_master, two_ns_with_veth, vrf, Need};
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn vrf_device_in_netns_takes_a_veth_and_its_routes() {
    if !prerequisites(
        "vrf_device_in_netns_takes_a_veth_and_its_routes",
        &[Need::Root, Need::Vrf],
    ) {
        return;
    }
    let t = two_ns_with_veth("hvrf");
    vrf(&t.a, "vrf-red", 100);
    set_master(&t.a, "to-b", "vrf-red");

    let link = ip_json(&t.a, &["-d", "link", "show", "to-b"]);
    assert_eq!(link[0]["master"], "vrf-red", "{link}");
    assert_eq!(link[0]["linkinfo"]["info_slave_kind"], "vrf", "{link}");
    let dev = ip_json(&t.a, &["-d", "link", "show", "vrf-red"]);
    assert_eq!(dev[0]["linkinfo"]["info_kind"], "vrf", "{dev}");
    assert_eq!(dev[0]["linkinfo"]["info_data"]["table"], 100, "{dev}");

    // The connected route moved into table 100 and left main.
    let t100 = ip_json(&t.a, &["route", "show", "table", "100"]);
    assert!(t100.to_string().contains("192.0.2.0/24"), "{t100}");
    let main = ip_json(&t.a, &["route", "show", "table", "main"]);
    assert!(!main.to_string().contains("192.0.2.0/24"), "{main}");

    // A socket bound to the VRF reaches b; an unbound one has no route.
    let b = t.b_v4;
    let listener = t.b.run(|| std::net::TcpListener::bind((b, 17920)).unwrap());
    let h = std::thread::spawn(move || listener.accept().map(|(_, p)| p));
    let local = t.a.run(|| {
        let unbound =
            std::net::TcpStream::connect_timeout(&(b, 17920).into(), Duration::from_secs(1));
        assert!(unbound.is_err(), "connected outside the VRF: {unbound:?}");
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind_device(Some(b"vrf-red")).unwrap();
        s.connect_timeout(
            &std::net::SocketAddr::from((b, 17920)).into(),
            Duration::from_secs(2),
        )
        .unwrap();
        assert!(s.as_raw_fd() >= 0);
        s.local_addr().unwrap().as_socket().unwrap()
    });
    assert_eq!(h.join().unwrap().unwrap(), local);
}

#[test]
fn vrf_stage_kernel_has_dummy_and_vlan() {
    if !prerequisites(
        "vrf_stage_kernel_has_dummy_and_vlan",
        &[Need::Root, Need::Vrf],
    ) {
        return;
    }
    let t = two_ns_with_veth("hdum");
    t.a.exec(&["ip", "link", "add", "dummy0", "type", "dummy"]);
    t.a.exec(&[
        "ip", "link", "add", "link", "to-b", "name", "to-b.10", "type", "vlan", "id", "10",
    ]);
    addr(&t.a, "dummy0", "203.0.113.1/32");
    let links = ip_json(&t.a, &["-d", "link", "show"]);
    let kinds: Vec<String> = links
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["linkinfo"]["info_kind"].as_str().map(str::to_owned))
        .collect();
    assert!(
        kinds.contains(&"dummy".to_owned()) && kinds.contains(&"vlan".to_owned()),
        "{kinds:?}"
    );
}

#[test]
fn vrf_frr_in_a_vrf_peers_with_bird() {
    if !prerequisites(
        "vrf_frr_in_a_vrf_peers_with_bird",
        &[
            Need::Root,
            Need::Vrf,
            Need::Binary("bgpd"),
            Need::Binary("zebra"),
            Need::Binary("bird"),
        ],
    ) {
        return;
    }
    let t = two_ns_with_veth("hvfrr");
    vrf(&t.a, "vrf-red", 100);
    set_master(&t.a, "to-b", "vrf-red");
    let frr = metalroute_netns::Frr::start(
        &t.a,
        "frr defaults traditional\n!\nrouter bgp 64512 vrf vrf-red\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor 192.0.2.2 remote-as 64511\n neighbor 192.0.2.2 timers connect 1\n address-family ipv4 unicast\n  network 203.0.113.0/24\n exit-address-family\n!\n",
        None,
    );
    let bird = metalroute_netns::Bird::start(
        &t.b,
        r#"
router id 192.0.2.2;
protocol device { }
protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }
protocol bgp red {
    local 192.0.2.2 as 64511;
    neighbor 192.0.2.1 as 64512;
    connect delay time 0; connect retry time 1;
    ipv4 { import all; export where source = RTS_STATIC; };
}
"#,
    );
    bird.wait_established("red", Duration::from_secs(60));
    let sum = metalroute_netns::wait_for(
        "FRR vrf-red learns 198.51.100.0/24",
        Duration::from_secs(60),
        || {
            let v = frr.vtysh_json("show bgp vrf vrf-red ipv4 unicast json");
            v["routes"].get("198.51.100.0/24").is_some().then_some(v)
        },
    );
    assert!(sum.to_string().contains("64511"), "{sum}");
    // zebra installed it into the VRF's kernel table, not into main.
    metalroute_netns::wait_for(
        "198.51.100.0/24 in table 100",
        Duration::from_secs(30),
        || {
            ip_json(&t.a, &["route", "show", "table", "100"])
                .to_string()
                .contains("198.51.100.0/24")
                .then_some(())
        },
    );
    let main = ip_json(&t.a, &["route", "show", "table", "main"]);
    assert!(!main.to_string().contains("198.51.100.0/24"), "{main}");
    metalroute_netns::wait_for(
        "BIRD learns 203.0.113.0/24",
        Duration::from_secs(30),
        || {
            bird.prefixes()
                .contains(&"203.0.113.0/24".to_owned())
                .then_some(())
        },
    );
}
