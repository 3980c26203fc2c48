//! Packet drops with nftables and captures with tcpdump inside namespaces.

use metalroute_netns::{
    drop_packets, prerequisites, restore_packets, two_ns_with_veth, wait_for, wait_for_log,
    Capture, Need,
};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::time::Duration;

#[test]
fn drop_packets_blocks_a_peer_until_restored_and_capture_sees_it() {
    if !prerequisites(
        "drop_packets_blocks_a_peer_until_restored_and_capture_sees_it",
        &[Need::Root, Need::Binary("nft"), Need::Binary("tcpdump")],
    ) {
        return;
    }
    let t = two_ns_with_veth("hcut");
    let b = IpAddr::V4(t.b_v4);
    let listener = t.b.run(|| TcpListener::bind((b, 17930)).unwrap());
    listener.set_nonblocking(true).unwrap();
    let mut cap = Capture::start(&t.a, "to-b", "tcp port 17930");

    drop_packets(&t.a, b);
    let blocked =
        t.a.run(|| TcpStream::connect_timeout(&(b, 17930).into(), Duration::from_millis(500)));
    assert!(blocked.is_err(), "connected through the drop rule");
    // The link is still up: only packets are lost.
    let link = metalroute_netns::ip_json(&t.a, &["link", "show", "to-b"]);
    assert_eq!(link[0]["operstate"], "UP", "{link}");

    restore_packets(&t.a);
    let ok =
        t.a.run(|| TcpStream::connect_timeout(&(b, 17930).into(), Duration::from_secs(2)));
    assert!(ok.is_ok(), "{ok:?}");
    drop(ok);
    // Stopping tcpdump right away can lose the reply it has not written yet: wait for it.
    wait_for(
        "the SYN-ACK in the capture",
        Duration::from_secs(10),
        || {
            cap.peek(&[])
                .contains("192.0.2.2.17930 > 192.0.2.1")
                .then_some(())
        },
    );

    let text = cap.text(&[]);
    // The dropped SYN never left a (output hook) — only the successful handshake is on the wire.
    let syns = text
        .lines()
        .filter(|l| l.contains("> 192.0.2.2.17930") && l.contains("[S]"))
        .count();
    assert_eq!(syns, 1, "{text}");
    assert!(text.contains("192.0.2.2.17930 > 192.0.2.1"), "{text}");
}

#[test]
fn wait_for_log_sees_appended_lines() {
    let dir = std::env::temp_dir().join(format!("metalroute-waitlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("x.log");
    std::fs::write(&p, "one\n").unwrap();
    let p2 = p.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(&p2, "one\n%ADJCHANGE: neighbor 192.0.2.1 Up\n").unwrap();
    });
    let text = wait_for_log(&p, "%ADJCHANGE", Duration::from_secs(5));
    h.join().unwrap();
    assert!(text.contains("Up"));
    let miss = std::panic::catch_unwind(|| wait_for_log(&p, "never", Duration::from_millis(60)));
    let msg = miss
        .unwrap_err()
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("never") && msg.contains("ADJCHANGE"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}
