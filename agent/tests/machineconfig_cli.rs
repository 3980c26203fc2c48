//! `metalroute machineconfig render|check` through the built binary: the seed example as the
//! golden case, bad input, the round trip, `--from DIR`, `--host` against a fake /proc/sys and
//! against the real /proc/sys of a network namespace the test creates.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_metalroute");
const SEED_MC: &str = "../machineconfig/tests/data/seed-09-machineconfig-forwarding.yaml";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the metalroute binary runs")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the metalroute binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Decodes the base64 payload of a rendered MachineConfig (a small decoder so the test does not
/// share code with the crate under test).
fn payload(yaml: &str) -> String {
    let src = yaml
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("source: data:text/plain;charset=utf-8;base64,")
        })
        .expect("a base64 data URL");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in src.bytes().filter(|&c| c != b'=') {
        let v = alphabet.iter().position(|&a| a == c).expect("base64 char") as u32;
        bits = bits << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// A directory under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("mccli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn render_bridge_net_matches_the_seed_lines() {
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "81-enable-global-forwarding",
        "--forwarding",
        "bridge-net",
        "--rp-filter",
        "bridge-net=0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert_eq!(
        payload(&yaml),
        "net.ipv4.conf.bridge-net.forwarding = 1\n\
         net.ipv6.conf.bridge-net.forwarding = 1\n\
         net.ipv4.conf.bridge-net.rp_filter = 0\n"
    );
    assert!(yaml.contains("apiVersion: machineconfiguration.openshift.io/v1\n"));
    assert!(yaml.contains("machineconfiguration.openshift.io/role: worker\n"));
    assert!(yaml.contains("version: 3.2.0\n"));
    assert!(yaml.contains("mode: 420\n"));
    assert!(yaml.contains("overwrite: true\n"));
    assert!(yaml.contains("path: /etc/sysctl.d/81-enable-global-forwarding.conf\n"));
    // Deterministic: the same flags in another order give the same bytes.
    let again = run(&[
        "machineconfig",
        "render",
        "--rp-filter",
        "bridge-net=0",
        "--forwarding",
        "bridge-net",
        "--forwarding",
        "bridge-net",
        "--name",
        "81-enable-global-forwarding",
        "--role",
        "worker",
    ]);
    assert_eq!(text(&again.stdout), yaml);
}

#[test]
fn vlan_interface_is_written_with_a_slash() {
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "80-vlan",
        "--forwarding",
        "eth0.100",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        payload(&text(&out.stdout)),
        "net.ipv4.conf.eth0/100.forwarding = 1\nnet.ipv6.conf.eth0/100.forwarding = 1\n"
    );
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--role", "", "--name", "x", "--forwarding", "eth0"],
            "machineconfiguration.openshift.io/role] \"\": must not be empty",
        ),
        (
            &["--role", "worker", "--name", "x", "--forwarding", "eth/0"],
            "interface name \"eth/0\"",
        ),
        (
            &[
                "--role",
                "worker",
                "--name",
                "x",
                "--forwarding",
                "averyverylongname0",
            ],
            "at most 15",
        ),
        (
            &["--role", "worker", "--name", "x", "--rp-filter", "eth0=3"],
            "rp_filter must be 0 (off), 1 (strict) or 2 (loose), not \"3\"",
        ),
        (
            &["--role", "worker", "--name", "x", "--rp-filter", "eth0"],
            "expected IFACE=MODE",
        ),
        (
            &[
                "--role",
                "worker",
                "--name",
                "x",
                "--rp-filter",
                "eth0=0",
                "--rp-filter",
                "eth0=2",
            ],
            "sysctl net.ipv4.conf.eth0.rp_filter: asked for both 0 (--rp-filter) and 2 (--rp-filter)",
        ),
        (
            &[
                "--role",
                "worker",
                "--name",
                "Bad_Name",
                "--forwarding",
                "eth0",
            ],
            "metadata.name \"Bad_Name\"",
        ),
        (&["--role", "worker", "--name", "x"], "no sysctl to render"),
    ];
    for (args, want) in cases {
        let mut full = vec!["machineconfig", "render"];
        full.extend_from_slice(args);
        let out = run(&full);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?} printed a MachineConfig");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
    }
}

#[test]
fn check_reports_both_defects_of_the_seed() {
    let out = run(&["machineconfig", "check", "-f", SEED_MC]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("error[not-in-linux]"), "{report}");
    assert!(
        report.contains("net.ipv6.conf.bridge-net.rp_filter is not a Linux sysctl"),
        "{report}"
    );
    assert!(report.contains("error[octal-mode-as-decimal]"), "{report}");
    assert!(report.contains("write mode: 420"), "{report}");
    assert!(report.contains("2 error(s)"), "{report}");
    for line in [
        "  net.ipv4.conf.bridge-net.forwarding = 1",
        "  net.ipv6.conf.bridge-net.forwarding = 1",
        "  net.ipv4.conf.bridge-net.rp_filter = 0",
        "  net.ipv6.conf.bridge-net.rp_filter = 0",
    ] {
        assert!(report.contains(line), "{line} not listed: {report}");
    }
}

#[test]
fn check_unreadable_or_not_yaml_exits_2() {
    let out = run(&["machineconfig", "check", "-f", "/nonexistent/mc.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/mc.yaml"));
    let out = run_stdin(&["machineconfig", "check", "-f", "-"], "a: [1,\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not readable as YAML"));
}

/// A fake /proc/sys of a node with bridge-net, forwarding on, rp_filter off.
fn fake_proc(dir: &TempDir, rp_all: &str) {
    for d in ["all", "default", "bridge-net"] {
        dir.write(&format!("net/ipv4/conf/{d}/forwarding"), "1\n");
        dir.write(&format!("net/ipv4/conf/{d}/rp_filter"), "0\n");
        dir.write(&format!("net/ipv6/conf/{d}/forwarding"), "1\n");
    }
    dir.write("net/ipv4/conf/all/rp_filter", &format!("{rp_all}\n"));
}

#[test]
fn render_then_check_round_trip_and_host_mode() {
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "81-fwd",
        "--forwarding",
        "bridge-net",
        "--rp-filter",
        "bridge-net=0",
    ]);
    assert!(out.status.success());
    let yaml = text(&out.stdout);
    let proc = TempDir::new("proc");
    fake_proc(&proc, "0");
    let root = proc.path().to_str().unwrap();
    for host in [false, true] {
        let mut args = vec!["machineconfig", "check", "-f", "-", "--proc-sys", root];
        if host {
            args.push("--host");
        }
        let out = run_stdin(&args, &yaml);
        let report = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{report}");
        assert!(
            report.contains("0 error(s), 0 warning(s), 0 note(s)"),
            "{report}"
        );
    }
    // all.rp_filter = 2 overrides the interface's 0: the node does not have what the file says.
    let proc2 = TempDir::new("proc2");
    fake_proc(&proc2, "2");
    let out = run_stdin(
        &[
            "machineconfig",
            "check",
            "-f",
            "-",
            "--host",
            "--proc-sys",
            proc2.path().to_str().unwrap(),
        ],
        &yaml,
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("error[rp-filter-overridden-by-all]"),
        "{report}"
    );
    assert!(report.contains("max(2, 0) = 2"), "{report}");
}

const NNCP: &str = r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: vrfpolicy
spec:
  desiredState:
    interfaces:
    - name: ens4vrf
      type: vrf
      state: up
      vrf:
        port:
        - ens4
        - ens5.200
        route-table-id: 2
    - name: ens4
      type: ethernet
      state: up
"#;

#[test]
fn render_from_dir_derives_vrf_ports_and_l3mdev() {
    let dir = TempDir::new("from");
    dir.write("nncp.yaml", NNCP);
    dir.write(
        "l2.yaml",
        "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\n  namespace: metallb-system\nspec:\n  interfaces:\n  - bond0\n",
    );
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "80-metalroute",
        "--from",
        dir.path().to_str().unwrap(),
        "--rp-filter",
        "ens4=2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        payload(&text(&out.stdout)),
        "net.ipv4.tcp_l3mdev_accept = 1\n\
         net.ipv4.udp_l3mdev_accept = 1\n\
         net.ipv4.raw_l3mdev_accept = 1\n\
         net.ipv4.conf.bond0.forwarding = 1\n\
         net.ipv6.conf.bond0.forwarding = 1\n\
         net.ipv4.conf.ens4.forwarding = 1\n\
         net.ipv6.conf.ens4.forwarding = 1\n\
         net.ipv4.conf.ens4.rp_filter = 2\n\
         net.ipv4.conf.ens5/200.forwarding = 1\n\
         net.ipv6.conf.ens5/200.forwarding = 1\n"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "forwarding on ens4: port of VRF ens4vrf (NodeNetworkConfigurationPolicy vrfpolicy)"
        ),
        "{err}"
    );
    assert!(err.contains("L2Advertisement metallb-system/l2"), "{err}");
}

const NNCP_EXPLICIT: &str = r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: explicit
spec:
  desiredState:
    interfaces:
    - name: ens6
      type: ethernet
      state: up
      ipv4:
        enabled: true
        forwarding: true
        rp-filter: loose
"#;

const NNCP_BOND_VRF: &str = r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: bondvrf
spec:
  desiredState:
    interfaces:
    - name: bond1
      type: bond
      state: up
      link-aggregation:
        mode: 802.3ad
        port: [ens7, ens8]
    - name: bondvrf
      type: vrf
      state: up
      vrf:
        port: [bond1]
        route-table-id: 7
"#;

#[test]
fn render_from_dir_reads_explicit_sysctls_and_policies_outside_the_subset() {
    let dir = TempDir::new("fromexplicit");
    dir.write("a-explicit.yaml", NNCP_EXPLICIT);
    dir.write("b-bond.yaml", NNCP_BOND_VRF);
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "80-metalroute",
        "--from",
        dir.path().to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        payload(&text(&out.stdout)),
        "net.ipv4.tcp_l3mdev_accept = 1\n\
         net.ipv4.udp_l3mdev_accept = 1\n\
         net.ipv4.raw_l3mdev_accept = 1\n\
         net.ipv4.conf.bond1.forwarding = 1\n\
         net.ipv6.conf.bond1.forwarding = 1\n\
         net.ipv4.conf.ens6.forwarding = 1\n\
         net.ipv4.conf.ens6.rp_filter = 2\n"
    );
    assert!(
        err.contains("bondvrf") && err.contains("only its VRF ports are read"),
        "{err}"
    );
    assert!(
        err.contains("set in NodeNetworkConfigurationPolicy explicit"),
        "{err}"
    );
    // A flag that contradicts the policy is an error naming both.
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "80-metalroute",
        "--from",
        dir.path().to_str().unwrap(),
        "--rp-filter",
        "ens6=1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("net.ipv4.conf.ens6.rp_filter: asked for both 2 (set in NodeNetworkConfigurationPolicy explicit spec.desiredState) and 1 (--rp-filter)"),
        "{err}"
    );
}

#[test]
fn render_from_dir_reports_the_object_and_field_of_bad_input() {
    let dir = TempDir::new("frombad");
    dir.write("nncp.yaml", &NNCP.replace("ens5.200", "ens 5"));
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "80-metalroute",
        "--from",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("NodeNetworkConfigurationPolicy vrfpolicy"),
        "{err}"
    );
    assert!(
        err.contains("spec.desiredState.interfaces[0].vrf.port[1]"),
        "{err}"
    );
    assert!(err.contains("interface name \"ens 5\""), "{err}");
    let dir2 = TempDir::new("fromyaml");
    dir2.write("broken.yaml", "kind: [\n");
    let out = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "x",
        "--from",
        dir2.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("broken.yaml: document 0"));
}

/// The lock the netns test harness (tests/netns) holds around `ip netns add/del`: iproute2 sets up
/// the /var/run/netns mount on first use, and concurrent first uses race.
const NETNS_LOCK: &str = "/var/run/metalroute-netns.lock";

/// `ip netns ARGS` under [`NETNS_LOCK`] (through flock(1) when it is installed); true on success.
fn ip_netns(args: &[&str]) -> bool {
    let have_flock = Path::new("/usr/bin/flock").exists();
    let mut cmd = if have_flock {
        let mut c = Command::new("/usr/bin/flock");
        c.args([NETNS_LOCK, "ip", "netns"]);
        c
    } else {
        let mut c = Command::new("ip");
        c.arg("netns");
        c
    };
    cmd.args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A network namespace created for this test and deleted on drop.
struct Netns(String);

impl Netns {
    fn create(prefix: &str) -> Option<Netns> {
        let name = format!("{prefix}-{}", std::process::id());
        let _ = ip_netns(&["del", &name]);
        ip_netns(&["add", &name]).then_some(Netns(name))
    }
    fn exec(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ip netns exec runs");
        let mut input = child.stdin.take().expect("stdin is piped");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("wait")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip_netns(&["del", &self.0]);
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn host_check_against_a_real_network_namespace() {
    let required = std::env::var("METALROUTE_REQUIRE_NETNS").as_deref() == Ok("1");
    let ns = if is_root() {
        Netns::create("mccli")
    } else {
        None
    };
    let Some(ns) = ns else {
        assert!(!required, "METALROUTE_REQUIRE_NETNS=1 but no network namespace could be created (need root and iproute2)");
        eprintln!("skipped: needs root to create a network namespace");
        return;
    };
    let set = |v: &str| {
        let o = ns.exec(
            &[
                "sh",
                "-c",
                &format!("echo {v} > /proc/sys/net/ipv4/conf/lo/forwarding"),
            ],
            None,
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
    };
    let mc = run(&[
        "machineconfig",
        "render",
        "--role",
        "worker",
        "--name",
        "80-lo",
        "--forwarding",
        "lo",
    ]);
    assert!(mc.status.success());
    let yaml = text(&mc.stdout);
    // The file wants IPv4 and IPv6 forwarding on lo; the namespace has it off.
    set("0");
    let out = ns.exec(
        &[BIN, "machineconfig", "check", "-f", "-", "--host"],
        Some(&yaml),
    );
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}{}", text(&out.stderr));
    assert!(
        report.contains("net.ipv4.conf.lo.forwarding is 0 on this host, the file sets 1"),
        "{report}"
    );
    // Turn IPv4 forwarding on in the namespace: that mismatch is gone (the host is untouched).
    set("1");
    let out = ns.exec(
        &[BIN, "machineconfig", "check", "-f", "-", "--host"],
        Some(&yaml),
    );
    let report = text(&out.stdout);
    assert!(
        !report.contains("net.ipv4.conf.lo.forwarding is"),
        "{report}"
    );
}
