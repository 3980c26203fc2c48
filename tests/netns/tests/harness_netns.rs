//! The namespace, veth, sysctl, `run`/`block_on` and `wait_for` pieces of the harness, proven
//! against the real kernel.

use metalroute_netns::{
    addr, ip_json, prerequisites, read_sysctl, route, sysctl, two_ns_with_veth, veth, wait_for,
    wait_for_ok, Need, Netns,
};
use std::path::Path;
use std::time::{Duration, Instant};

fn link_names(v: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn netns_is_created_configured_and_deleted_on_drop() {
    if !prerequisites(
        "netns_is_created_configured_and_deleted_on_drop",
        &[Need::Root],
    ) {
        return;
    }
    let ns = Netns::new("hns");
    let name = ns.name().to_owned();
    assert!(
        name.starts_with(&format!("hns-{}-", std::process::id())),
        "{name}"
    );
    assert!(Path::new("/var/run/netns").join(&name).exists());
    let listed = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str())),
        "{listed}"
    );
    // lo is up, DAD is off.
    let lo = ip_json(&ns, &["link", "show", "lo"]);
    let flags = lo[0]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "UP"), "{lo}");
    assert_eq!(read_sysctl(&ns, "net.ipv6.conf.all.accept_dad"), "0");
    assert_eq!(read_sysctl(&ns, "net.ipv6.conf.default.accept_dad"), "0");
    // sysctl writes land in the namespace, not on the host.
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let want = if host_fwd.trim() == "1" { "0" } else { "1" };
    sysctl(&ns, "net.ipv4.ip_forward", want);
    assert_eq!(read_sysctl(&ns, "net.ipv4.ip_forward"), want);
    assert_eq!(
        ns.exec_stdout(&["cat", "/proc/sys/net/ipv4/ip_forward"])
            .trim(),
        want
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    // A background process in it is killed when the namespace drops.
    let child = ns.spawn(&["sleep", "600"]);
    let pid = child.id();
    std::mem::forget(child); // leave it to the namespace guard
                             // `ip netns exec` enters the namespace just after it starts: wait for that.
    wait_for("sleep inside the namespace", Duration::from_secs(5), || {
        ns.pids().contains(&pid).then_some(())
    });
    drop(ns);
    assert!(
        !Path::new("/var/run/netns").join(&name).exists(),
        "{name} still exists"
    );
    // The sleep was reaped by nobody (forgotten guard) but must no longer run.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "sleep {pid} still running: {stat}"
    );
}

#[test]
fn exec_failure_panics_with_stderr() {
    if !prerequisites("exec_failure_panics_with_stderr", &[Need::Root]) {
        return;
    }
    let ns = Netns::new("hexec");
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ns.exec(&["ip", "link", "set", "dev", "nosuchdev", "up"]);
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("nosuchdev") && msg.contains("stderr"), "{msg}");
    let out = ns.try_exec(&["false"]);
    assert!(!out.status.success());
}

#[test]
fn run_and_block_on_execute_inside_the_namespace() {
    if !prerequisites(
        "run_and_block_on_execute_inside_the_namespace",
        &[Need::Root],
    ) {
        return;
    }
    let t = two_ns_with_veth("hrun");
    // Interfaces seen from a thread inside `a`: only lo and the veth end.
    let names = t.a.run(|| {
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
        let mut v: Vec<String> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_owned())
            .collect();
        v.sort();
        v
    });
    assert_eq!(names, vec!["lo".to_owned(), "to-b".to_owned()]);
    assert_eq!(
        link_names(&ip_json(&t.b, &["link", "show"])),
        vec!["lo", "to-a"]
    );

    // A TCP listener in b (on a tokio runtime inside b) reached from a std thread inside a.
    let b_addr = t.b_v4;
    let listener =
        t.b.run(|| std::net::TcpListener::bind((b_addr, 17900)).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let accept = std::thread::spawn(move || {
        let (_s, peer) = listener.accept().unwrap();
        tx.send(peer).unwrap();
    });
    let local = t.a.block_on(|| async move {
        let s = tokio::net::TcpStream::connect((b_addr, 17900))
            .await
            .unwrap();
        s.local_addr().unwrap()
    });
    let peer = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    accept.join().unwrap();
    assert_eq!(peer, local);
    assert_eq!(local.ip(), std::net::IpAddr::V4(t.a_v4));
    // The host namespace cannot reach it (no such address here).
    let host =
        std::net::TcpStream::connect_timeout(&(b_addr, 17900).into(), Duration::from_millis(200));
    assert!(host.is_err());

    // IPv6 works immediately (nodad, accept_dad=0): connect over v6 without waiting.
    let b6 = t.b_v6;
    let l6 =
        t.b.run(|| std::net::TcpListener::bind((b6, 17901)).unwrap());
    let h = std::thread::spawn(move || l6.accept().map(|_| ()));
    t.a.run(|| {
        std::net::TcpStream::connect_timeout(&(b6, 17901).into(), Duration::from_secs(2)).unwrap()
    });
    h.join().unwrap().unwrap();

    // enter_thread on a thread we made.
    let path = t.a.path();
    let seen = std::thread::spawn(move || {
        metalroute_netns::enter_netns_path(&path);
        std::fs::read_to_string("/proc/thread-self/net/dev").unwrap()
    })
    .join()
    .unwrap();
    assert!(seen.contains("to-b:") && !seen.contains("to-a:"), "{seen}");
}

#[test]
fn veth_addr_route_helpers_build_a_routed_path() {
    if !prerequisites("veth_addr_route_helpers_build_a_routed_path", &[Need::Root]) {
        return;
    }
    // a <-> r <-> c, a reaches c through r.
    let a = Netns::new("hra");
    let r = Netns::new("hrr");
    let c = Netns::new("hrc");
    veth(&a, "a-r", &r, "r-a");
    veth(&r, "r-c", &c, "c-r");
    addr(&a, "a-r", "198.51.100.1/30");
    addr(&r, "r-a", "198.51.100.2/30");
    addr(&r, "r-c", "203.0.113.1/30");
    addr(&c, "c-r", "203.0.113.2/30");
    addr(&a, "a-r", "2001:db8:1::1/64");
    addr(&r, "r-a", "2001:db8:1::2/64");
    addr(&r, "r-c", "2001:db8:2::1/64");
    addr(&c, "c-r", "2001:db8:2::2/64");
    sysctl(&r, "net.ipv4.ip_forward", "1");
    sysctl(&r, "net.ipv6.conf.all.forwarding", "1");
    route(&a, "203.0.113.0/30 via 198.51.100.2");
    route(&c, "198.51.100.0/30 via 203.0.113.1");
    route(&a, "2001:db8:2::/64 via 2001:db8:1::2");
    route(&c, "2001:db8:1::/64 via 2001:db8:2::1");
    // TCP from a to c through r, both families.
    for (ip, port) in [("203.0.113.2", 17910u16), ("2001:db8:2::2", 17911)] {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        let l = c.run(|| std::net::TcpListener::bind((ip, port)).unwrap());
        let h = std::thread::spawn(move || l.accept().map(|(_, p)| p));
        let local = a.run(|| {
            std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2))
                .unwrap()
                .local_addr()
                .unwrap()
        });
        assert_eq!(h.join().unwrap().unwrap(), local);
    }
    let routes = ip_json(&a, &["route", "show"]);
    assert!(routes.to_string().contains("203.0.113.0/30"), "{routes}");
    // Interface names longer than 15 characters are refused before reaching the kernel.
    let long = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        veth(&a, "a-very-long-name-x", &c, "x")
    }));
    assert!(long.is_err());
}

#[test]
fn wait_for_returns_value_and_times_out_with_observation() {
    let start = Instant::now();
    let mut n = 0;
    let v = wait_for("counter reaches 3", Duration::from_secs(2), || {
        n += 1;
        (n >= 3).then_some(n * 10)
    });
    assert_eq!(v, 30);
    assert!(start.elapsed() < Duration::from_secs(1));

    let err = std::panic::catch_unwind(|| {
        wait_for_ok("the impossible", Duration::from_millis(100), || {
            Err::<(), _>("still 42")
        })
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("the impossible") && msg.contains("still 42"),
        "{msg}"
    );
}

#[test]
fn wait_for_async_polls_with_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let got = rt.block_on(async {
        metalroute_netns::wait_for_async("elapsed 60ms", Duration::from_secs(2), || async {
            (start.elapsed() >= Duration::from_millis(60)).then_some("ok")
        })
        .await
    });
    assert_eq!(got, "ok");
}

#[test]
fn prerequisites_skip_or_fail_on_a_missing_program() {
    let check = || {
        prerequisites(
            "prerequisites_skip_or_fail_on_a_missing_program",
            &[Need::Binary("metalroute-no-such-router")],
        )
    };
    if metalroute_netns::require_netns() {
        // CI: a missing program is a failure, not a skip.
        let err = std::panic::catch_unwind(check).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("metalroute-no-such-router"), "{msg}");
    } else {
        assert!(!check());
    }
    assert!(metalroute_netns::find_binary("bgpd").is_none_or(|p| p.ends_with("bgpd")));
    assert!(metalroute_netns::find_binary("sh").is_some());
}
