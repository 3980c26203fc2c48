//! BGP scale benchmark (issue 7, `bench/bgp`): each sender — metalroute through its speaker API
//! and through `metalroute run`, GoBGP, BIRD, FRR (defaults and `coalesce-time 0`), ExaBGP —
//! announces N routes to an FRR receiver and to a BIRD receiver, in one run.
//!
//! Per sender and scenario the sender starts once with its routes preloaded and every session
//! shut on the receivers' side; then, for each receiver and repeat, the receiver lets the session
//! up and the clock runs from the first poll that shows it Established to the first poll that
//! shows all N received (receivers polled over their control sockets about every millisecond);
//! the session is shut again and its routes are gone before the next repeat. Churn (10,000
//! announced; 1,000 withdrawn and 1,000 new announced at once, alternately forward and back) is
//! timed from handing the change to the sender to the receiver holding exactly the new set.
//! Sender RSS is the speaker process's `VmHWM` (peak since start, loading included); CPU is its
//! utime+stime during the measured interval.
//!
//! Usage (root): `metalroute-bench-bgp [--quick] [--repeats N] [--agent PATH]
//! [--senders a,b] [--receivers frr,bird] [--scenarios v4-10k,v4-100k,v6-100k]
//! [--reload-repeats N]`.

mod ctl;
mod gobgp_api;
mod procfs;
mod receivers;
mod senders;

use metalroute_bench_bgp::Fam;
use metalroute_netns::{prerequisites, Need};
use receivers::{BirdRecv, FrrRecv, Receiver, Topo};
use senders::{ChurnPath, Kind, Sender, Set};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Set by SIGINT/SIGTERM; every wait checks it and unwinds, so the guards clean up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Signal handler: only sets the flag (async-signal-safe).
extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Panics (unwinding through the guards) when the run was interrupted.
pub fn check_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        panic!("interrupted");
    }
}

/// Pause between polls of a receiver.
const POLL: Duration = Duration::from_millis(1);
/// The longest one measurement may take.
const MEASURE_DEADLINE: Duration = Duration::from_secs(300);
/// The longest one churn step may take (frr-reload.py included; more than the agent's 30 s
/// periodic re-read, which is how a lost file event still gets applied).
const CHURN_DEADLINE: Duration = Duration::from_secs(240);
/// The longest a sender may take to load its routes.
const LOAD_DEADLINE: Duration = Duration::from_secs(300);

/// One scenario of initial announcement.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    /// Name in tables and RESULT lines.
    name: &'static str,
    /// Family.
    fam: Fam,
    /// Routes announced.
    n: u32,
    /// Whether the churn runs on this scenario's senders (10k IPv4 only).
    churn: bool,
}

/// Every scenario, in the order they run.
const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "v4-10k",
        fam: Fam::V4,
        n: 10_000,
        churn: true,
    },
    Scenario {
        name: "v4-100k",
        fam: Fam::V4,
        n: 100_000,
        churn: false,
    },
    Scenario {
        name: "v6-100k",
        fam: Fam::V6,
        n: 100_000,
        churn: false,
    },
];

/// Churn: routes withdrawn and announced.
const CHURN: u32 = 1_000;

/// Command-line settings.
#[derive(Debug)]
struct Settings {
    /// The release `metalroute` binary.
    agent: PathBuf,
    /// Repeats per sender × receiver × scenario.
    repeats: u32,
    /// Repeats of the frr-reload.py churn (seconds each).
    reload_repeats: u32,
    /// Senders to run.
    senders: Vec<Kind>,
    /// Receivers to use.
    receivers: Vec<String>,
    /// Scenarios to run.
    scenarios: Vec<Scenario>,
}

impl Settings {
    /// Parses `std::env::args`; exits with a usage message on bad input.
    fn from_args() -> Settings {
        let default_agent = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("release/metalroute");
        let mut s = Settings {
            agent: default_agent,
            repeats: 3,
            reload_repeats: 1,
            senders: senders::ALL.to_vec(),
            receivers: vec!["frr".into(), "bird".into()],
            scenarios: SCENARIOS.to_vec(),
        };
        let usage = "usage: metalroute-bench-bgp [--quick] [--repeats N] [--reload-repeats N] \
                     [--agent PATH] [--senders a,b,...] [--receivers frr,bird] \
                     [--scenarios v4-10k,v4-100k,v6-100k]\n\
                     senders: metalroute-api metalroute-agent gobgp bird frr frr-c0 exabgp";
        let fail = |m: String| -> ! {
            eprintln!("{m}\n{usage}");
            std::process::exit(2)
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--help" | "-h" => {
                    println!("{usage}");
                    std::process::exit(0);
                }
                "--quick" => {
                    s.repeats = 1;
                    s.reload_repeats = 1;
                    s.scenarios = vec![SCENARIOS[0]];
                    continue;
                }
                _ => {}
            }
            let Some(value) = args.next() else {
                fail(format!("{flag} needs a value"))
            };
            let num = |v: &str| -> u32 {
                v.parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| fail(format!("{flag}: {v:?} is not a positive number")))
            };
            match flag.as_str() {
                "--agent" => s.agent = PathBuf::from(value),
                "--repeats" => s.repeats = num(&value),
                "--reload-repeats" => s.reload_repeats = num(&value),
                "--senders" => {
                    s.senders = value
                        .split(',')
                        .map(|n| {
                            Kind::parse(n).unwrap_or_else(|| fail(format!("unknown sender {n}")))
                        })
                        .collect()
                }
                "--receivers" => {
                    s.receivers = value.split(',').map(str::to_owned).collect();
                    if let Some(r) = s.receivers.iter().find(|r| *r != "frr" && *r != "bird") {
                        fail(format!("unknown receiver {r}"));
                    }
                }
                "--scenarios" => {
                    s.scenarios = value
                        .split(',')
                        .map(|n| {
                            SCENARIOS
                                .into_iter()
                                .find(|sc| sc.name == n)
                                .unwrap_or_else(|| fail(format!("unknown scenario {n}")))
                        })
                        .collect()
                }
                _ => fail(format!("unknown flag {flag}")),
            }
        }
        s
    }
}

/// One measurement.
#[derive(Debug, Clone)]
struct Sample {
    /// Scenario (`v4-10k`, `v4-100k`, `v6-100k`, `churn`).
    scenario: String,
    /// Sender name (`frr-reload` for FRR's reload path).
    sender: String,
    /// Receiver name.
    receiver: String,
    /// Routes announced (churn: routes changed, withdrawn + announced).
    n: u32,
    /// Seconds, or the error that stopped the measurement.
    seconds: Result<f64, String>,
    /// Sender's peak RSS so far, KiB.
    rss_kb: u64,
    /// Sender's CPU seconds during the measurement.
    cpu_s: f64,
}

impl Sample {
    /// The machine-readable line.
    fn result_line(&self) -> String {
        let secs = match &self.seconds {
            Ok(s) => format!("{s:.4}"),
            Err(_) => "nan".into(),
        };
        let mut l = format!(
            "RESULT scenario={} sender={} receiver={} n={} seconds={secs} rss_kb={} cpu_s={:.2}",
            self.scenario, self.sender, self.receiver, self.n, self.rss_kb, self.cpu_s
        );
        if let Err(e) = &self.seconds {
            l.push_str(&format!(" error=\"{}\"", e.replace('"', "'")));
        }
        l
    }
}

/// Polls `f` every [`POLL`] until it returns `Some`, up to `deadline`.
fn poll<T>(
    what: &str,
    deadline: Duration,
    mut f: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        check_interrupted();
        if let Some(v) = f()? {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            return Err(format!("{what}: not within {deadline:?}"));
        }
        std::thread::sleep(POLL);
    }
}

/// Shuts the session of `fam` on `recv` and waits until it is down and its routes are gone.
fn shut(recv: &mut dyn Receiver, fam: Fam) -> Result<(), String> {
    recv.set_enabled(fam, false)?;
    poll("session shut and routes gone", MEASURE_DEADLINE, || {
        let st = recv.state(fam)?;
        Ok((!st.established && recv.table_count(fam)? == 0).then_some(()))
    })
}

/// Established → all `n` received, for one session; leaves the session shut.
fn measure_initial(recv: &mut dyn Receiver, sender: &Sender, n: u32) -> Result<(f64, f64), String> {
    let fam = sender.fam();
    let cpu0 = procfs::cpu_seconds(sender.pid).unwrap_or(0.0);
    let enabled = SystemTime::now();
    recv.set_enabled(fam, true)?;
    let mut last = 0;
    let mut polled_est: Option<SystemTime> = None;
    let r = poll("all routes received", MEASURE_DEADLINE, || {
        if procfs::cpu_seconds(sender.pid).is_none() {
            return Err(format!("the sender (pid {}) exited", sender.pid));
        }
        let st = recv.state(fam)?;
        let now = SystemTime::now();
        last = st.received;
        if st.established && polled_est.is_none() {
            polled_est = Some(now);
        }
        Ok((st.established && st.received >= u64::from(n)).then_some(now))
    });
    let cpu1 = procfs::cpu_seconds(sender.pid).unwrap_or(cpu0);
    let t_est = recv.established_at(fam);
    let shut_r = shut(recv, fam);
    let t_done = r.map_err(|e| format!("{e} (received {last} of {n})"))?;
    shut_r?;
    // The log line must be from this session: after the session was let up (log timestamps
    // have microseconds, the clock is the same).
    let t_est = match t_est {
        Some(t) if t + Duration::from_millis(5) >= enabled => t,
        Some(_) => return Err("no Established line in the receiver's log for this session".into()),
        None => {
            eprintln!("note: Established time from polling (no log line)");
            polled_est.ok_or("never saw Established")?
        }
    };
    let secs = t_done
        .duration_since(t_est)
        .map_err(|_| "receiver logged Established after it held every route".to_owned())?;
    Ok((secs.as_secs_f64(), cpu1 - cpu0))
}

/// Window of the first 1,024 prefixes (the churn withdraws 1,000 of them).
const OLD_WINDOW: &str = "198.18.0.0/22";
/// Window of the churn's new prefixes (indices 65,536…).
const NEW_WINDOW: &str = "198.19.0.0/22";
/// First index of the churn's new prefixes.
const NEW_START: u32 = 65_536;

/// How many indices of `set` fall in `start..start+len`.
fn in_window(set: &[(u32, u32)], start: u32, len: u32) -> u64 {
    metalroute_bench_bgp::indices(set)
        .filter(|&i| i >= start && i < start + len)
        .count() as u64
}

/// Applies one churn step (current → `to`) along `path` and times it until the receiver holds
/// exactly `to`.
fn measure_churn(
    recv: &mut dyn Receiver,
    sender: &mut Sender,
    path: ChurnPath,
    to: &Set,
) -> Result<(f64, f64), String> {
    let fam = sender.fam();
    let total = metalroute_bench_bgp::indices(to).count() as u64;
    let want_old = in_window(to, 0, 1024);
    let want_new = in_window(to, NEW_START, 1024);
    let cpu0 = procfs::cpu_seconds(sender.pid).unwrap_or(0.0);
    let t0 = Instant::now();
    let pending = sender.start_change(path, to)?;
    let mut seen = (0, 0, 0);
    let pid = sender.pid;
    let r = poll("receiver holds the new set", CHURN_DEADLINE, || {
        if procfs::cpu_seconds(pid).is_none() {
            return Err(format!("the sender (pid {pid}) exited"));
        }
        let new = recv.count_within(NEW_WINDOW)?;
        if new != want_new {
            seen.1 = new;
            return Ok(None);
        }
        let old = recv.count_within(OLD_WINDOW)?;
        let st = recv.state(fam)?;
        seen = (old, new, st.received);
        Ok((old == want_old && st.received == total).then(Instant::now))
    });
    let fin = sender.finish(pending);
    let cpu1 = procfs::cpu_seconds(sender.pid).unwrap_or(cpu0);
    let t1 = r.map_err(|e| {
        format!(
            "{e} (old window {} of {want_old}, new window {} of {want_new}, received {} of {total})",
            seen.0, seen.1, seen.2
        )
    })?;
    fin?;
    Ok((t1.duration_since(t0).as_secs_f64(), cpu1 - cpu0))
}

/// The machine's load average.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Median of sorted `v` (mean of the middle two for even lengths).
fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// (scenario, receiver).
type GroupKey = (String, String);
/// Per sender: name, (min, median) of the successful runs, successes, runs, peak RSS, median CPU.
type SenderStats = (String, Option<(f64, f64)>, usize, usize, u64, f64);

/// Prints the summary table: per scenario × receiver, per sender min/median seconds, ratio of
/// the median to the best non-metalroute sender's median, peak RSS and median CPU.
fn print_table(samples: &[Sample]) {
    // (scenario, receiver) → sender → samples, in first-seen order.
    let mut groups: Vec<(GroupKey, BTreeMap<String, Vec<&Sample>>)> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    for s in samples {
        let key = (s.scenario.clone(), s.receiver.clone());
        let idx = match groups.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                groups.push((key, BTreeMap::new()));
                groups.len() - 1
            }
        };
        groups[idx].1.entry(s.sender.clone()).or_default().push(s);
        if !order.contains(&s.sender) {
            order.push(s.sender.clone());
        }
    }
    println!();
    println!(
        "{:<9} {:<5} {:<17} {:>4} {:>9} {:>9} {:>7} {:>9} {:>7}",
        "scenario", "recv", "sender", "ok", "min s", "median s", "ratio", "rss MiB", "cpu s"
    );
    for ((scenario, receiver), by_sender) in &groups {
        let stats: Vec<SenderStats> = order
            .iter()
            .filter_map(|name| {
                let v = by_sender.get(name)?;
                let mut ok: Vec<f64> = v.iter().filter_map(|s| s.seconds.clone().ok()).collect();
                ok.sort_by(f64::total_cmp);
                let mut cpu: Vec<f64> = v.iter().map(|s| s.cpu_s).collect();
                cpu.sort_by(f64::total_cmp);
                let rss = v.iter().map(|s| s.rss_kb).max().unwrap_or(0);
                let mm = (!ok.is_empty()).then(|| (ok[0], median(&ok)));
                Some((name.clone(), mm, ok.len(), v.len(), rss, median(&cpu)))
            })
            .collect();
        let best_peer = stats
            .iter()
            .filter(|s| !s.0.starts_with("metalroute") && s.2 == s.3)
            .filter_map(|s| s.1.map(|(_, med)| (med, s.0.clone())))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        for (name, mm, ok, total, rss, cpu) in &stats {
            let (min, med, ratio) = match (mm, &best_peer) {
                (Some((mi, me)), Some((b, _))) => (
                    format!("{mi:.3}"),
                    format!("{me:.3}"),
                    format!("{:.2}x", me / b),
                ),
                (Some((mi, me)), None) => (format!("{mi:.3}"), format!("{me:.3}"), "-".into()),
                _ => ("fail".into(), "fail".into(), "-".into()),
            };
            println!(
                "{scenario:<9} {receiver:<5} {name:<17} {:>4} {min:>9} {med:>9} {ratio:>7} {:>9.1} {cpu:>7.2}",
                format!("{ok}/{total}"),
                *rss as f64 / 1024.0
            );
        }
        if let Some((b, name)) = &best_peer {
            println!("{scenario:<9} {receiver:<5} best peer: {name} (median {b:.3} s)");
        }
    }
}

fn main() {
    let s = Settings::from_args();
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let start = Instant::now();
    // Everything that needs cleaning up lives in `run`, so it is dropped before exiting.
    // A panic (a failed setup step, or Ctrl-C) has unwound through the guards: not ok.
    let ok: bool = std::panic::catch_unwind(|| run(&s)).unwrap_or_default();
    println!("total run time: {:.0} s", start.elapsed().as_secs_f64());
    if !ok {
        std::process::exit(1);
    }
}

/// Sets up, measures and prints; returns whether every measurement succeeded.
fn run(s: &Settings) -> bool {
    if !prerequisites(
        "bench-bgp",
        &[
            Need::Root,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
            Need::Binary(senders::FRR_RELOAD),
            Need::Binary("vtysh"),
            Need::Binary("bird"),
            Need::Binary("birdc"),
            Need::Binary("gobgpd"),
            Need::Binary("exabgp"),
        ],
    ) {
        return false;
    }
    let head = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "bench/bgp: repeats {}, frr-reload repeats {}, scenarios {:?}, senders {:?}, receivers {:?}",
        s.repeats,
        s.reload_repeats,
        s.scenarios.iter().map(|x| x.name).collect::<Vec<_>>(),
        s.senders.iter().map(|k| k.name()).collect::<Vec<_>>(),
        s.receivers
    );
    println!("HEAD {head}; load average at start: {}", loadavg());

    let topo = Topo::new();
    let mut recvs: Vec<Box<dyn Receiver>> = Vec::new();
    for r in &s.receivers {
        let made: Result<Box<dyn Receiver>, String> = if r == "frr" {
            FrrRecv::start(&topo.recv_frr).map(|x| Box::new(x) as Box<dyn Receiver>)
        } else {
            BirdRecv::start(&topo.recv_bird).map(|x| Box::new(x) as Box<dyn Receiver>)
        };
        match made {
            Ok(x) => recvs.push(x),
            Err(e) => {
                eprintln!("receiver {r}: {e}");
                return false;
            }
        }
    }

    let run_start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut record = |sample: Sample| {
        println!("{}", sample.result_line());
        samples.push(sample);
    };
    for sc in &s.scenarios {
        for &kind in &s.senders {
            check_interrupted();
            let t = Instant::now();
            let set: Set = vec![(0, sc.n)];
            let started = senders::start(kind, &topo.sender, sc.fam, &set, &s.agent)
                .and_then(|snd| procfs::wait_idle(snd.pid, LOAD_DEADLINE).map(|_| snd));
            let mut sender = match started {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("{} {}: start failed: {e}", sc.name, kind.name());
                    for r in &recvs {
                        record(Sample {
                            scenario: sc.name.into(),
                            sender: kind.name().into(),
                            receiver: r.name().into(),
                            n: sc.n,
                            seconds: Err(format!("start: {e}")),
                            rss_kb: 0,
                            cpu_s: 0.0,
                        });
                    }
                    kill_sender_processes(&topo);
                    continue;
                }
            };
            eprintln!(
                "{} {}: loaded in {:.1} s (pid {}, rss {} KiB)",
                sc.name,
                kind.name(),
                t.elapsed().as_secs_f64(),
                sender.pid,
                procfs::peak_rss_kb(sender.pid).unwrap_or(0)
            );
            // The agent goes idle before it has planned (it waits for its configuration to
            // settle): one unmeasured session makes sure it has loaded everything.
            if kind == Kind::MrAgent {
                if let Some(r) = recvs.first_mut() {
                    if let Err(e) = measure_initial(r.as_mut(), &sender, sc.n) {
                        eprintln!("{} {}: warm-up session: {e}", sc.name, kind.name());
                    }
                }
            }
            for (ri, recv) in recvs.iter_mut().enumerate() {
                for _ in 0..s.repeats {
                    let r = measure_initial(recv.as_mut(), &sender, sc.n);
                    let (seconds, cpu) = match r {
                        Ok((sec, cpu)) => (Ok(sec), cpu),
                        Err(e) => {
                            eprintln!(
                                "{} {} -> {}: {e} (sender log: {})",
                                sc.name,
                                kind.name(),
                                recv.name(),
                                sender.log_hint()
                            );
                            let _ = shut(recv.as_mut(), sc.fam);
                            (Err(e), 0.0)
                        }
                    };
                    record(Sample {
                        scenario: sc.name.into(),
                        sender: kind.name().into(),
                        receiver: recv.name().into(),
                        n: sc.n,
                        seconds,
                        rss_kb: procfs::peak_rss_kb(sender.pid).unwrap_or(0),
                        cpu_s: cpu,
                    });
                }
                if sc.churn {
                    churn(ri == 0, recv.as_mut(), &mut sender, s, &mut record);
                }
            }
            drop(sender);
            kill_sender_processes(&topo);
            eprintln!(
                "{} {}: done in {:.1} s (run time so far {:.0} s)",
                sc.name,
                kind.name(),
                t.elapsed().as_secs_f64(),
                run_start.elapsed().as_secs_f64()
            );
        }
    }
    println!("load average at end: {}", loadavg());
    print_table(&samples);
    for smp in &samples {
        println!("{}", smp.result_line());
    }
    let failed = samples.iter().filter(|x| x.seconds.is_err()).count();
    if failed > 0 {
        eprintln!("{failed} measurement(s) failed: see the RESULT lines with error=");
    }
    failed == 0
}

/// Runs the churn on one receiver: session up with the base set, then for each churn path
/// of the sender, `repeats` steps alternating base → churned → base; session shut at the end.
fn churn(
    first_receiver: bool,
    recv: &mut dyn Receiver,
    sender: &mut Sender,
    s: &Settings,
    record: &mut impl FnMut(Sample),
) {
    let fam = sender.fam();
    let base: Set = vec![(0, 10_000)];
    let churned: Set = vec![(CHURN, 10_000 - CHURN), (NEW_START, CHURN)];
    // The exact base set (both churn windows checked: a sender may still be applying the
    // unmeasured step back to the base set from the previous receiver).
    let up = recv.set_enabled(fam, true).and_then(|_| {
        poll("base set received", CHURN_DEADLINE, || {
            let st = recv.state(fam)?;
            if !(st.established && st.received == 10_000) {
                return Ok(None);
            }
            Ok(
                (recv.count_within(OLD_WINDOW)? == 1024 && recv.count_within(NEW_WINDOW)? == 0)
                    .then_some(()),
            )
        })
    });
    let kind_name = sender.kind.name();
    let name = |p: ChurnPath| match p {
        ChurnPath::Native => kind_name.to_owned(),
        ChurnPath::FrrReload => "frr-reload".to_owned(),
    };
    let paths = sender.churn_paths();
    if let Err(e) = up {
        for p in paths {
            record(Sample {
                scenario: "churn".into(),
                sender: name(p),
                receiver: recv.name().into(),
                n: 2 * CHURN,
                seconds: Err(format!("session with the base set: {e}")),
                rss_kb: 0,
                cpu_s: 0.0,
            });
        }
        let _ = shut(recv, fam);
        return;
    }
    for p in paths {
        let reps = match p {
            ChurnPath::FrrReload if first_receiver => s.reload_repeats,
            // frr-reload.py runs one vtysh per removed line (minutes per step): measured
            // against the first receiver only.
            ChurnPath::FrrReload => 0,
            ChurnPath::Native => s.repeats,
        };
        if reps == 0 {
            continue;
        }
        let label = name(p);
        if let Err(e) = sender.prepare(p) {
            eprintln!("churn {label}: prepare: {e}");
        }
        for _ in 0..reps {
            let to = if sender.current == base {
                churned.clone()
            } else {
                base.clone()
            };
            let r = measure_churn(recv, sender, p, &to);
            let (seconds, cpu) = match r {
                Ok((sec, cpu)) => (Ok(sec), cpu),
                Err(e) => {
                    eprintln!("churn {label} -> {}: {e}", recv.name());
                    (Err(e), 0.0)
                }
            };
            record(Sample {
                scenario: "churn".into(),
                sender: label.clone(),
                receiver: recv.name().into(),
                n: 2 * CHURN,
                seconds,
                rss_kb: procfs::peak_rss_kb(sender.pid).unwrap_or(0),
                cpu_s: cpu,
            });
        }
    }
    // Back to the base set (unmeasured), so the next receiver starts from the same state.
    if sender.current != base {
        if let Ok(p) = sender.start_change(ChurnPath::Native, &base) {
            let _ = sender.finish(p);
        }
    }
    let _ = shut(recv, fam);
}

/// Waits until no process is left in the sender namespace (the sender's guards stop their
/// daemons on drop; anything left is killed).
fn kill_sender_processes(topo: &Topo) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !topo.sender.pids().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in topo.sender.pids() {
        // SAFETY: kill(2) on a pid inside our own namespace; no memory effects.
        unsafe {
            libc::kill(p as libc::pid_t, libc::SIGKILL);
        }
    }
}
