//! BFD CPU benchmark (not a test): N single-hop sessions at a short interval between
//! metalroute's BFD engine (namespace a) and FRR bfdd (namespace b), measured side by side in the
//! same run: CPU time of our process and of bfdd over the same window, as a share of one core.
//! Target from issue 8: 100 sessions at 50 ms under 5 % of one core, and no worse than bfdd.
//!
//! Usage (root): `cargo run --release -- [SESSIONS=100] [INTERVAL_MS=50] [SECONDS=30]`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use metalroute_bgp::bfd::{BfdHandle, SessionKey, SessionParams, State};
use metalroute_netns::{addr, prerequisites, two_ns_with_veth, wait_for, Daemon, Frr, Need};
use serde_json::Value;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used by this process so far.
fn self_cpu() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to an rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds used by process `pid` (utime + stime from /proc).
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with ')').
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // utime and stime are fields 14 and 15 of stat; index 11 and 12 after the name.
    (ticks(11) + ticks(12)) / hz
}

/// Both sides metalroute (namespace b runs a second engine): shows whether sessions stay Up
/// when the peer is not bfdd. Reports the CPU of the whole process (both engines).
fn self_pair(t: &metalroute_netns::TwoNs, keys: &[SessionKey], ms: u64, secs: u64) {
    let params = SessionParams::with_timers(ms, 3).expect("params");
    let rt_a = t.a.runtime(1);
    let rt_b = t.b.runtime(1);
    let a = rt_a
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn a");
    let b = rt_b
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn b");
    for k in keys {
        rt_a.block_on(a.add(k.clone(), params.clone()))
            .expect("add a");
        let kb = SessionKey::single_hop(k.local, k.peer);
        rt_b.block_on(b.add(kb, params.clone())).expect("add b");
    }
    wait_for("all sessions up", Duration::from_secs(60), || {
        let s = rt_a.block_on(a.sessions()).ok()?;
        (s.iter()
            .filter(|s| s.state == State::Up && !s.polling)
            .count()
            == keys.len())
        .then_some(())
    });
    let mut events = a.subscribe();
    let (c0, w0) = (self_cpu(), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, wall) = (self_cpu(), w0.elapsed().as_secs_f64());
    let flaps = std::iter::from_fn(|| events.try_recv().ok()).count();
    println!(
        "metalroute <-> metalroute, {} sessions at {ms} ms x 3, {secs} s: {:.2} % of one core for both engines, {flaps} state changes",
        keys.len(),
        100.0 * (c1 - c0) / wall
    );
}

fn main() {
    let n = arg(1, 100).clamp(1, 99) as u8;
    let ms = arg(2, 50);
    let secs = arg(3, 30);
    if !prerequisites("bench-bfd", &[Need::Root, Need::Binary("bfdd")]) {
        eprintln!("bench-bfd needs root and FRR's bfdd");
        std::process::exit(2);
    }
    let t = two_ns_with_veth("bbfd");
    let mut conf = String::from("bfd\n");
    let mut keys = Vec::new();
    for i in 1..=n {
        let (la, lb) = (
            Ipv4Addr::new(198, 51, 100, i),
            Ipv4Addr::new(198, 51, 100, 100 + i),
        );
        addr(&t.a, "to-b", &format!("{la}/24"));
        addr(&t.b, "to-a", &format!("{lb}/24"));
        conf.push_str(&format!(
            " peer {la} local-address {lb}\n  receive-interval {ms}\n  transmit-interval {ms}\n  no shutdown\n !\n"
        ));
        keys.push(SessionKey::single_hop(IpAddr::V4(lb), IpAddr::V4(la)));
    }
    if std::env::args().nth(4).as_deref() == Some("self") {
        self_pair(&t, &keys, ms, secs);
        return;
    }
    let frr = Frr::start(&t.b, "frr defaults traditional\n", Some(&conf));
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let params = SessionParams::with_timers(ms, 3).expect("params");
    for k in &keys {
        rt.block_on(bfd.add(k.clone(), params.clone()))
            .expect("add session");
    }
    wait_for(
        "all sessions up on both sides",
        Duration::from_secs(60),
        || {
            let ours = rt.block_on(bfd.sessions()).ok()?;
            let up = ours
                .iter()
                .filter(|s| s.state == State::Up && !s.polling)
                .count();
            let frr_up = frr
                .bfd_peers()
                .as_array()?
                .iter()
                .filter(|p| p.get("status").and_then(Value::as_str) == Some("up"))
                .count();
            (up == keys.len() && frr_up == keys.len()).then_some(())
        },
    );
    let mut events = bfd.subscribe();
    let bfdd = frr.pid(Daemon::Bfdd).expect("bfdd pid");
    let (c0, f0, w0) = (self_cpu(), proc_cpu(bfdd), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, f1, wall) = (self_cpu(), proc_cpu(bfdd), w0.elapsed().as_secs_f64());
    let evs: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    let flaps = evs.len();
    let mut causes = std::collections::BTreeMap::new();
    for e in &evs {
        if e.from == State::Up {
            *causes.entry(e.diagnostic.to_string()).or_insert(0u32) += 1;
        }
    }
    let ours = 100.0 * (c1 - c0) / wall;
    let theirs = 100.0 * (f1 - f0) / wall;
    println!("BFD CPU, {n} single-hop sessions at {ms} ms x 3, {secs} s window, same run");
    println!("| implementation        | CPU (% of one core) |");
    println!("|-----------------------|---------------------|");
    println!("| metalroute BFD engine | {ours:>19.2} |");
    println!("| FRR bfdd 8.4          | {theirs:>19.2} |");
    println!(
        "ratio metalroute/bfdd: {:.2}; state changes during the window: {flaps}",
        if theirs > 0.0 {
            ours / theirs
        } else {
            f64::NAN
        }
    );
    for (cause, count) in &causes {
        println!("  sessions that left Up: {count} x {cause}");
    }
    let _ = rt.block_on(bfd.shutdown());
}
