//! Applies N routes (spread over tables 100..) and M rules into a fresh network namespace with
//! metalroute's applier (full apply: checkpoint, apply, read-back verification), with
//! `ip -batch` (one request per object, what an admin script does), and — routes only — with
//! `nmstatectl apply --kernel` when it is installed; prints each time and the ratios.
//! Every run uses its own namespace, deleted afterwards; the tools alternate over REPEAT runs
//! (default 5) and medians are printed. Arguments: [ROUTES] [RULES] [REPEAT].

use metalroute_netns::{find_binary, Netns};
use metalroute_nmstate::input::desired_state_from_yaml;
use metalroute_nmstate::{Applier, ApplyOptions, ProbeConfig};
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

fn dst(i: usize) -> (String, u32) {
    // 203.0.113.0/24 host routes, one table per 256, all within documentation space.
    (format!("203.0.113.{}/32", i % 256), 100 + (i / 256) as u32)
}

fn src(i: usize) -> (String, u32) {
    (format!("198.51.100.{}/32", i % 256), 100 + (i / 256) as u32)
}

fn setup(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.sh(
        "ip link add e0 type veth peer name e0p && ip link set e0p up && ip link set e0 up \
           && ip addr add 192.0.2.1/24 dev e0",
    );
    ns
}

fn state_yaml(routes: usize, rules: usize) -> String {
    let mut y =
        String::from("interfaces:\n- {name: e0, type: ethernet, state: up}\nroutes:\n  config:\n");
    for i in 0..routes {
        let (d, t) = dst(i);
        let _ = writeln!(
            y,
            "  - {{destination: {d}, next-hop-address: 192.0.2.2, next-hop-interface: e0, table-id: {t}}}"
        );
    }
    y.push_str("route-rules:\n  config:\n");
    for i in 0..rules {
        let (s, t) = src(i);
        let _ = writeln!(
            y,
            "  - {{ip-from: {s}, priority: {}, route-table: {t}}}",
            10000 + i
        );
    }
    y
}

fn batch(routes: usize, rules: usize) -> String {
    let mut b = String::new();
    for i in 0..routes {
        let (d, t) = dst(i);
        let _ = writeln!(b, "route add {d} via 192.0.2.2 dev e0 table {t} proto 233");
    }
    for i in 0..rules {
        let (s, t) = src(i);
        let _ = writeln!(
            b,
            "rule add from {s} pref {} table {t} protocol 233",
            10000 + i
        );
    }
    b
}

fn count(ns: &Netns) -> (usize, usize) {
    let routes = ns.sh("ip -4 route show table all proto 233 | wc -l");
    let rules = ns.sh("ip -4 rule show | grep -c 'lookup 1[0-9][0-9]' || true");
    (
        routes.trim().parse().unwrap_or(0),
        rules.trim().parse().unwrap_or(0),
    )
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let routes = args.first().copied().unwrap_or(1000);
    let rules = args.get(1).copied().unwrap_or(1000);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bench-nmstate: needs root (network namespaces)");
        std::process::exit(2);
    }
    println!("nmstate apply benchmark: {routes} routes + {rules} rules, fresh namespace each");

    let reps = args.get(2).copied().unwrap_or(5).max(1);
    let desired = match desired_state_from_yaml(&state_yaml(routes, rules)) {
        Ok(d) => d,
        Err(e) => panic!("generated state does not parse: {e}"),
    };
    let opts = ApplyOptions {
        timeout: Duration::from_secs(120),
        rollback: true,
        probes: ProbeConfig {
            probes: Vec::new(),
            attempt_timeout: Duration::from_secs(1),
        },
        retry_interval: Duration::from_millis(100),
    };
    let mut mr = Vec::new();
    let mut again = Vec::new();
    let mut ip = Vec::new();
    let mut writes = 0;
    // Alternate the tools, fresh namespaces each time; report medians.
    for _ in 0..reps {
        let ns = setup("bnmmr");
        let (t, w) = ns.block_on(|| async {
            let mut a = Applier::open(None).expect("applier");
            let start = Instant::now();
            let report = a.apply(&desired, &opts).await.expect("apply");
            (start.elapsed(), report.writes)
        });
        writes = w;
        let got = count(&ns);
        assert_eq!(got, (routes, rules), "metalroute installed {got:?}");
        mr.push(t);
        again.push(ns.block_on(|| async {
            let mut a = Applier::open(None).expect("applier");
            let start = Instant::now();
            let report = a.apply(&desired, &opts).await.expect("re-apply");
            assert_eq!(report.writes, 0);
            start.elapsed()
        }));
        drop(ns);

        let ns = setup("bnmip");
        let file = std::env::temp_dir().join(format!("bench-nmstate-{}.batch", std::process::id()));
        std::fs::write(&file, batch(routes, rules)).expect("write batch file");
        let start = Instant::now();
        let out = Command::new("ip")
            .args(["-n", ns.name(), "-batch"])
            .arg(&file)
            .output()
            .expect("ip -batch");
        ip.push(start.elapsed());
        assert!(
            out.status.success(),
            "ip -batch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = count(&ns);
        assert_eq!(got, (routes, rules), "ip -batch installed {got:?}");
        let _ = std::fs::remove_file(&file);
    }
    let (t_mr, t_again, t_ip) = (median(&mut mr), median(&mut again), median(&mut ip));
    println!("medians of {reps} runs:");
    println!(
        "metalroute apply (checkpoint+apply+verify): {:>9.1} ms  ({writes} writes)",
        t_mr.as_secs_f64() * 1e3
    );
    println!(
        "metalroute re-apply (converged, 0 writes):  {:>9.1} ms",
        t_again.as_secs_f64() * 1e3
    );
    println!(
        "ip -batch:                                   {:>9.1} ms",
        t_ip.as_secs_f64() * 1e3
    );
    println!(
        "ratio metalroute / ip -batch: {:.2} (target <= 1.2)",
        t_mr.as_secs_f64() / t_ip.as_secs_f64()
    );

    // nmstatectl --kernel (routes only: its kernel mode cannot apply route rules)
    match find_binary("nmstatectl") {
        None => println!("nmstatectl: not installed (cargo install nmstatectl), skipped"),
        Some(bin) => {
            let ns = setup("bnmnm");
            let yaml = state_yaml(routes, 0).replace("route-rules:\n  config:\n", "");
            let file =
                std::env::temp_dir().join(format!("bench-nmstate-{}.yml", std::process::id()));
            std::fs::write(&file, yaml).expect("write state");
            let start = Instant::now();
            let out = Command::new("ip")
                .args(["netns", "exec", ns.name()])
                .arg(&bin)
                .args(["apply", "--kernel"])
                .arg(&file)
                .output()
                .expect("nmstatectl");
            let t_nm = start.elapsed();
            let _ = std::fs::remove_file(&file);
            if out.status.success() {
                println!(
                    "nmstatectl apply --kernel (routes only): {:>9.1} ms",
                    t_nm.as_secs_f64() * 1e3
                );
                println!(
                    "ratio nmstatectl / metalroute (routes+rules): {:.2}",
                    t_nm.as_secs_f64() / t_mr.as_secs_f64()
                );
            } else {
                println!(
                    "nmstatectl apply --kernel failed after {:.1} ms: {}",
                    t_nm.as_secs_f64() * 1e3,
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
            }
        }
    }
}
