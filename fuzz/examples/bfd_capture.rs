//! Builds the `bfd_decode` seed corpus from real sessions: metalroute's BFD engine (namespace a)
//! against FRR bfdd 8.4 and against BIRD 2 with each of the five authentication types
//! (namespace b), captured with tcpdump on the veth. Every BFD datagram on the wire (control on
//! UDP 3784, echo on 3785, from both sides) is a candidate seed; one file is written per distinct
//! packet shape (first four octets, auth type, source), at most two per shape.
//!
//! Usage (root; FRR, BIRD and tcpdump installed): `cargo run --example bfd_capture -- DIR`
//! from `fuzz/`. The namespaces are deleted on exit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use metalroute_bgp::bfd::{
    AuthKey, AuthType, BfdHandle, Interval, SessionKey, SessionParams, State,
};
use metalroute_netns::{sysctl, two_ns_with_veth, wait_for_ok, Bird, Capture, Frr};

/// The secret of every authenticated session; the fuzz target's keys use the same one, so
/// captured password packets reach the engine's accept path.
const SECRET: &[u8] = b"metalroute-fuzz";
const FILTER: &str = "udp port 3784 or udp port 3785 or udp port 4784";

/// One UDP payload from the capture with where it came from.
struct Datagram {
    src: IpAddr,
    dst_port: u16,
    payload: Vec<u8>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The UDP datagrams of an Ethernet pcap file (IPv4 and IPv6 without extension headers).
fn udp_payloads(pcap: &Path) -> Vec<Datagram> {
    let bytes = std::fs::read(pcap).unwrap_or_else(|e| panic!("read {}: {e}", pcap.display()));
    assert!(bytes.len() >= 24, "pcap file too short");
    let le = match bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a pcap file: {}", pcap.display()),
    };
    let u32_at = |at: usize| {
        let a = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(20), 1, "link type must be Ethernet");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32_at(at + 8) as usize;
        let start = at + 16;
        let Some(frame) = bytes.get(start..start + caplen) else {
            break; // last record partly written
        };
        at = start + caplen;
        let Some(ethertype) = be16(frame, 12) else {
            continue;
        };
        let ip = &frame[14..];
        let (src, udp) = match ethertype {
            0x0800 if ip.len() >= 20 && ip[9] == 17 => {
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let src = IpAddr::from([ip[12], ip[13], ip[14], ip[15]]);
                (src, ip.get(ihl..))
            }
            0x86dd if ip.len() >= 40 && ip[6] == 17 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&ip[8..24]);
                (IpAddr::from(a), ip.get(40..))
            }
            _ => continue,
        };
        let Some(udp) = udp.filter(|u| u.len() >= 8) else {
            continue;
        };
        let (Some(dst_port), Some(len)) = (be16(udp, 2), be16(udp, 4)) else {
            continue;
        };
        let end = usize::from(len).min(udp.len());
        if end < 8 {
            continue;
        }
        out.push(Datagram {
            src,
            dst_port,
            payload: udp[8..end].to_vec(),
        });
    }
    out
}

/// Writes up to two datagrams per shape; returns how many files were written.
fn write_seeds(dir: &Path, scenario: &str, ours: &[IpAddr], dgrams: &[Datagram]) -> usize {
    let mut seen: HashMap<(String, Vec<u8>), usize> = HashMap::new();
    let mut written = 0;
    for d in dgrams {
        let who = if ours.contains(&d.src) {
            "ours"
        } else {
            "peer"
        };
        let kind = match d.dst_port {
            3785 => "echo",
            4784 => "multihop",
            _ => "control",
        };
        let mut shape: Vec<u8> = d.payload.iter().take(4).copied().collect();
        shape.push(d.payload.get(24).copied().unwrap_or(0));
        let n = seen.entry((format!("{who}-{kind}"), shape)).or_insert(0);
        if *n >= 2 {
            continue;
        }
        *n += 1;
        let v = if d.src.is_ipv4() { "v4" } else { "v6" };
        let name = format!("{scenario}-{who}-{kind}-{v}-{written:03}");
        std::fs::write(dir.join(&name), &d.payload).expect("write seed");
        written += 1;
    }
    written
}

fn status(rt: &tokio::runtime::Runtime, bfd: &BfdHandle, k: &SessionKey) -> Option<State> {
    rt.block_on(bfd.status(k.clone()))
        .ok()
        .flatten()
        .map(|s| s.state)
}

/// FRR bfdd ↔ metalroute: IPv4 and IPv6 single-hop, echo mode on both sides, Up, a timer
/// change (Poll/Final), AdminDown, shutdown.
fn frr_scenario(dir: &Path) -> usize {
    let t = two_ns_with_veth("fzbfdf");
    let mut cap = Capture::start(&t.a, &t.a_if, FILTER);
    let bfdd = format!(
        "bfd\n peer {a4} local-address {b4}\n  receive-interval 100\n  transmit-interval 100\n  echo-mode\n  echo transmit-interval 100\n  echo receive-interval 100\n  no shutdown\n !\n peer {a6} local-address {b6}\n  receive-interval 200\n  transmit-interval 150\n  detect-multiplier 5\n  no shutdown\n !\n!\n",
        a4 = t.a_v4,
        b4 = t.b_v4,
        a6 = t.a_v6,
        b6 = t.b_v6
    );
    let _frr = Frr::start(&t.b, "frr defaults traditional\n", Some(&bfdd));
    sysctl(&t.a, "net.ipv4.ip_forward", "1");
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let k4 = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let k6 = SessionKey::single_hop(IpAddr::V6(t.b_v6), IpAddr::V6(t.a_v6));
    let mut p4 = SessionParams::with_timers(100, 3).expect("valid timers");
    p4.echo_mode = true;
    p4.echo_interval = Interval::from_millis("echoInterval", 100).expect("valid");
    let p6 = SessionParams::with_timers(120, 4).expect("valid timers");
    rt.block_on(bfd.add(k4.clone(), p4.clone()))
        .expect("add v4");
    rt.block_on(bfd.add(k6.clone(), p6)).expect("add v6");
    for k in [&k4, &k6] {
        wait_for_ok("FRR session Up", Duration::from_secs(20), || {
            match status(&rt, &bfd, k) {
                Some(State::Up) => Ok(()),
                s => Err(format!("{k}: {s:?}")),
            }
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    // A timer change while Up runs a Poll sequence; FRR answers with Final.
    let mut slower = p4.clone();
    slower.transmit_interval = Interval::from_millis("transmitInterval", 300).expect("valid");
    rt.block_on(bfd.set_params(k4.clone(), slower))
        .expect("set params");
    std::thread::sleep(Duration::from_secs(1));
    rt.block_on(bfd.set_admin_down(k6.clone(), true))
        .expect("admin down");
    std::thread::sleep(Duration::from_millis(800));
    rt.block_on(bfd.shutdown()).expect("shutdown");
    std::thread::sleep(Duration::from_millis(500));
    let pcap = cap.stop().to_owned();
    let d = udp_payloads(&pcap);
    write_seeds(
        dir,
        "frr-bfdd",
        &[IpAddr::V4(t.a_v4), IpAddr::V6(t.a_v6)],
        &d,
    )
}

/// BIRD ↔ metalroute with one authentication type.
fn bird_scenario(dir: &Path, i: usize, bird_auth: &str, ours: AuthType) -> usize {
    let t = two_ns_with_veth(&format!("fzbfda{i}"));
    let mut cap = Capture::start(&t.a, &t.a_if, FILTER);
    let conf = format!(
        "router id 192.0.2.2;\nprotocol device {{}}\nprotocol bfd {{\n  interface \"to-a\" {{\n    min rx interval 100 ms;\n    min tx interval 100 ms;\n    multiplier 3;\n    authentication {bird_auth};\n    password \"{}\" {{ id 5; }};\n  }};\n  neighbor {} dev \"to-a\" local {};\n}}\n",
        String::from_utf8_lossy(SECRET),
        t.a_v4,
        t.b_v4
    );
    let _bird = Bird::start(&t.b, &conf);
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let mut params = SessionParams::with_timers(100, 3).expect("valid timers");
    params.auth = Some(AuthKey::new(ours, 5, SECRET).expect("valid key"));
    rt.block_on(bfd.add(k.clone(), params)).expect("add");
    wait_for_ok(
        &format!("BIRD ({bird_auth}) session Up"),
        Duration::from_secs(20),
        || match status(&rt, &bfd, &k) {
            Some(State::Up) => Ok(()),
            s => Err(format!("{s:?}")),
        },
    );
    std::thread::sleep(Duration::from_millis(600));
    rt.block_on(bfd.shutdown()).expect("shutdown");
    std::thread::sleep(Duration::from_millis(300));
    let pcap = cap.stop().to_owned();
    let d = udp_payloads(&pcap);
    let scenario = format!("bird-{}", bird_auth.replace(' ', "-"));
    write_seeds(dir, &scenario, &[IpAddr::V4(t.a_v4)], &d)
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: bfd_capture OUTPUT_DIR"),
    );
    std::fs::create_dir_all(&dir).expect("create output directory");
    let mut total = frr_scenario(&dir);
    eprintln!("FRR bfdd scenario: {total} seeds");
    let cases = [
        ("simple", AuthType::SimplePassword),
        ("keyed md5", AuthType::KeyedMd5),
        ("meticulous keyed md5", AuthType::MeticulousKeyedMd5),
        ("keyed sha1", AuthType::KeyedSha1),
        ("meticulous keyed sha1", AuthType::MeticulousKeyedSha1),
    ];
    for (i, (bird_auth, ours)) in cases.into_iter().enumerate() {
        let n = bird_scenario(&dir, i, bird_auth, ours);
        eprintln!("BIRD {bird_auth} scenario: {n} seeds");
        total += n;
    }
    eprintln!("{total} seeds written to {}", dir.display());
}
