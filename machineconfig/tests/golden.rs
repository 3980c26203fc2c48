//! Golden tests against the seed example (shared/examples/seeds/09-machineconfig-forwarding.yaml,
//! copied to tests/data): rendering, checking, the round trip, determinism and host comparison
//! against fake /proc/sys trees.

use metalroute_machineconfig::{
    check_machine_config, dataurl, render, required_sysctls, CheckOptions, ConfTarget, FindingKind,
    IfName, ObjectName, ProcSys, RequiredSysctl, Role, RpFilter, Severity, SysctlPlan,
};
use std::path::{Path, PathBuf};

const SEED: &str = include_str!("data/seed-09-machineconfig-forwarding.yaml");
const GOLDEN_BRIDGE_NET: &str = include_str!("data/golden-bridge-net.yaml");

/// The four lines the seed's base64 payload holds, as the seed's comment and document list them.
const SEED_LINES: [&str; 4] = [
    "net.ipv4.conf.bridge-net.forwarding = 1",
    "net.ipv6.conf.bridge-net.forwarding = 1",
    "net.ipv4.conf.bridge-net.rp_filter = 0",
    "net.ipv6.conf.bridge-net.rp_filter = 0",
];

fn iface(n: &str) -> ConfTarget {
    ConfTarget::Interface(IfName::parse(n).unwrap())
}

fn bridge_net() -> Vec<RequiredSysctl> {
    required_sysctls(
        &[iface("bridge-net")],
        &[(iface("bridge-net"), RpFilter::Off)],
        false,
    )
    .unwrap()
}

/// A directory under the system temp dir, removed on drop.
struct TempTree(PathBuf);

impl TempTree {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("mc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempTree(p)
    }
    fn set(&self, rel: &str, value: &str) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{value}\n")).unwrap();
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake /proc/sys of a node that has bridge-net, with values given per file.
fn fake_node(tag: &str, all_rp: &str, if_rp: &str, v6_all_fwd: &str) -> TempTree {
    let t = TempTree::new(tag);
    for dir in ["all", "default", "lo", "bridge-net"] {
        t.set(&format!("net/ipv4/conf/{dir}/forwarding"), "0");
        t.set(&format!("net/ipv4/conf/{dir}/rp_filter"), "1");
        t.set(&format!("net/ipv6/conf/{dir}/forwarding"), "0");
        t.set(&format!("net/ipv6/conf/{dir}/accept_ra"), "1");
    }
    t.set("net/ipv4/conf/all/rp_filter", all_rp);
    t.set("net/ipv4/conf/bridge-net/rp_filter", if_rp);
    t.set("net/ipv4/conf/bridge-net/forwarding", "1");
    t.set("net/ipv6/conf/bridge-net/forwarding", "1");
    t.set("net/ipv6/conf/all/forwarding", v6_all_fwd);
    for k in ["tcp", "udp", "raw"] {
        t.set(&format!("net/ipv4/{k}_l3mdev_accept"), "0");
    }
    t
}

fn opts(root: &Path, host: bool) -> CheckOptions {
    CheckOptions {
        proc_sys: ProcSys::at(root),
        host,
    }
}

#[test]
fn render_bridge_net_gives_the_seeds_lines_without_ipv6_rp_filter() {
    let r = render(
        &ObjectName::parse("81-enable-global-forwarding").unwrap(),
        &Role::parse("worker").unwrap(),
        &bridge_net(),
    )
    .unwrap();
    let lines: Vec<&str> = r.sysctl_conf.lines().collect();
    assert_eq!(lines, SEED_LINES[..3]);
    assert!(!r.sysctl_conf.contains("ipv6.conf.bridge-net.rp_filter"));
    assert_eq!(r.path, "/etc/sysctl.d/81-enable-global-forwarding.conf");
    // The payload in the YAML decodes to exactly the file text.
    let src = r
        .yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("source: "))
        .unwrap();
    assert!(src.starts_with("data:text/plain;charset=utf-8;base64,"));
    assert_eq!(dataurl::decode(src).unwrap().data, r.sysctl_conf.as_bytes());
    // Mode is decimal 420 (octal 0644), overwrite is on.
    assert!(r.yaml.contains("\n        mode: 420\n"), "{}", r.yaml);
    assert!(r.yaml.contains("\n        overwrite: true\n"), "{}", r.yaml);
    // And the whole document is the reviewed golden file, byte for byte.
    assert_eq!(r.yaml, GOLDEN_BRIDGE_NET);
}

#[test]
fn seed_payload_decodes_to_the_documented_lines() {
    let src = SEED
        .lines()
        .find_map(|l| l.trim().strip_prefix("source: "))
        .unwrap();
    let text = String::from_utf8(dataurl::decode(src).unwrap().data).unwrap();
    assert_eq!(text.lines().collect::<Vec<_>>(), SEED_LINES);
}

#[test]
fn check_reports_both_seed_defects() {
    let node = fake_node("seed", "0", "0", "1");
    let report = check_machine_config(SEED, "seed.yaml", &opts(node.path(), false)).unwrap();
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 2, "{}", report.to_text());
    let ipv6_rp = report.of_kind(FindingKind::NotInLinux);
    assert_eq!(ipv6_rp.len(), 1, "{}", report.to_text());
    assert_eq!(
        ipv6_rp[0].key.as_deref(),
        Some("net.ipv6.conf.bridge-net.rp_filter")
    );
    assert!(ipv6_rp[0]
        .location
        .contains("enable-global-forwarding.conf:4"));
    let mode = report.of_kind(FindingKind::OctalModeAsDecimal);
    assert_eq!(mode.len(), 1);
    assert!(mode[0]
        .location
        .ends_with("spec.config.storage.files[0].mode"));
    assert!(mode[0].message.contains("write mode: 420"), "{}", mode[0]);
    assert!(mode[0].message.contains("01204"), "{}", mode[0]);
    // The spec-2 `filesystem` field is only a note.
    assert_eq!(report.of_kind(FindingKind::Ignition2Field).len(), 1);
    // The four sysctls are listed.
    assert_eq!(report.files.len(), 1);
    let listed: Vec<String> = report.files[0]
        .sysctls
        .iter()
        .map(|l| format!("{} = {}", l.key, l.value))
        .collect();
    assert_eq!(listed, SEED_LINES);
    assert!(report.has_errors());
}

#[test]
fn render_then_check_is_clean() {
    let mut plan = SysctlPlan::new();
    plan.forward(iface("bridge-net"), "secondary interface")
        .unwrap()
        .forward(iface("eth0.100"), "VLAN")
        .unwrap()
        .rp_filter(iface("bridge-net"), RpFilter::Off, "asymmetric return path")
        .unwrap();
    plan.l3mdev_accept("VRFs are used").unwrap();
    let r = render(
        &ObjectName::parse("80-metalroute-sysctls").unwrap(),
        &Role::parse("worker").unwrap(),
        &plan.required(),
    )
    .unwrap();
    assert!(r
        .sysctl_conf
        .contains("net.ipv4.conf.eth0/100.forwarding = 1\n"));
    let node = fake_node("roundtrip", "0", "0", "1");
    node.set("net/ipv4/conf/eth0.100/forwarding", "1");
    node.set("net/ipv6/conf/eth0.100/forwarding", "1");
    for k in ["tcp", "udp", "raw"] {
        node.set(&format!("net/ipv4/{k}_l3mdev_accept"), "1");
    }
    let report = check_machine_config(&r.yaml, "rendered", &opts(node.path(), false)).unwrap();
    assert!(report.findings.is_empty(), "{}", report.to_text());
    assert_eq!(report.files[0].sysctls.len(), 3 + 4 + 1);
    assert_eq!(
        report.files[0].contents.as_deref(),
        Some(r.sysctl_conf.as_str())
    );
    // The node has them all: host mode is clean too, and so is the library's host check.
    let report = check_machine_config(&r.yaml, "rendered", &opts(node.path(), true)).unwrap();
    assert!(report.findings.is_empty(), "{}", report.to_text());
    assert!(ProcSys::at(node.path()).check(&plan.required()).is_empty());
}

#[test]
fn rendering_is_deterministic() {
    let name = ObjectName::parse("80-x").unwrap();
    let role = Role::parse("worker").unwrap();
    let a = required_sysctls(
        &[iface("b"), iface("a"), iface("c"), ConfTarget::All],
        &[(iface("c"), RpFilter::Loose), (iface("a"), RpFilter::Off)],
        true,
    )
    .unwrap();
    let mut b = a.clone();
    b.reverse();
    let ra = render(&name, &role, &a).unwrap();
    let rb = render(&name, &role, &b).unwrap();
    assert_eq!(ra, rb);
    assert_eq!(ra.yaml, render(&name, &role, &a).unwrap().yaml);
}

#[test]
fn host_mode_compares_values_and_kernel_rules() {
    // all.rp_filter = 1 overrides bridge-net's 0; IPv6 all.forwarding = 0 means no IPv6 forwarding.
    let node = fake_node("hostmode", "1", "1", "0");
    let r = render(
        &ObjectName::parse("81-x").unwrap(),
        &Role::parse("worker").unwrap(),
        &bridge_net(),
    )
    .unwrap();
    let report = check_machine_config(&r.yaml, "rendered", &opts(node.path(), true)).unwrap();
    let mismatch = report.of_kind(FindingKind::ValueMismatch);
    assert_eq!(mismatch.len(), 1, "{}", report.to_text());
    assert_eq!(
        mismatch[0].key.as_deref(),
        Some("net.ipv4.conf.bridge-net.rp_filter")
    );
    assert!(mismatch[0]
        .message
        .contains("is 1 on this host, the file sets 0"));
    let over = report.of_kind(FindingKind::RpFilterOverriddenByAll);
    assert_eq!(over.len(), 1, "{}", report.to_text());
    assert!(over[0].message.contains("max(1, 0) = 1"), "{}", over[0]);
    let v6 = report.of_kind(FindingKind::Ipv6ForwardingNeedsAll);
    assert_eq!(v6.len(), 1, "{}", report.to_text());
    assert_eq!(v6[0].severity, Severity::Warning);
    // Without --host the values are not compared.
    let report = check_machine_config(&r.yaml, "rendered", &opts(node.path(), false)).unwrap();
    assert!(report.findings.is_empty(), "{}", report.to_text());
}

#[test]
fn missing_interface_and_key_on_host() {
    let node = fake_node("missing", "0", "0", "1");
    std::fs::remove_file(node.path().join("net/ipv4/tcp_l3mdev_accept")).unwrap();
    let required = required_sysctls(&[iface("ens9")], &[], true).unwrap();
    let r = render(
        &ObjectName::parse("81-x").unwrap(),
        &Role::parse("worker").unwrap(),
        &required,
    )
    .unwrap();
    // Not the node the file is for: a missing interface is a note, a missing kernel knob a warning.
    let report = check_machine_config(&r.yaml, "rendered", &opts(node.path(), false)).unwrap();
    assert!(!report.has_errors(), "{}", report.to_text());
    assert_eq!(report.of_kind(FindingKind::InterfaceAbsentOnHost).len(), 2);
    let absent = report.of_kind(FindingKind::AbsentOnHost);
    assert_eq!(absent.len(), 1);
    assert_eq!(absent[0].severity, Severity::Warning);
    assert_eq!(absent[0].key.as_deref(), Some("net.ipv4.tcp_l3mdev_accept"));
    // The node itself: both are errors; the library API agrees.
    let report = check_machine_config(&r.yaml, "rendered", &opts(node.path(), true)).unwrap();
    assert!(report
        .of_kind(FindingKind::InterfaceAbsentOnHost)
        .iter()
        .all(|f| f.severity == Severity::Error));
    let findings = ProcSys::at(node.path()).check(&required);
    assert!(findings
        .iter()
        .any(|f| f.kind == FindingKind::InterfaceAbsentOnHost && f.message.contains("ens9")));
    assert!(findings.iter().any(|f| f.kind == FindingKind::ValueMismatch
        && f.key.as_deref() == Some("net.ipv4.udp_l3mdev_accept")));
}

#[test]
fn checker_decodes_percent_encoded_and_flags_other_defects() {
    let yaml = r#"
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: 99-hand-written
  labels:
    machineconfiguration.openshift.io/role: worker
spec:
  config:
    ignition:
      version: 3.2.0
    storage:
      files:
      - path: /etc/sysctl.d/99-hand.conf
        mode: 755
        contents:
          source: "data:,net.ipv4.conf.eth0.rp_filter%20%3D%203%0Anet.ipv4.conf.eth0.forwarding%3D1%0Anet.ipv4.conf.eth0.forwarding%3D0%0Anet.ipv6.ip_forward%3D1%0Anonsense%0A"
      - path: /etc/sysctl.d/readme.txt
        mode: 420
        contents:
          source: "data:,hello"
      - path: /etc/motd
        contents:
          source: https://example.invalid/motd
"#;
    let node = fake_node("hand", "0", "0", "1");
    let report = check_machine_config(yaml, "hand.yaml", &opts(node.path(), false)).unwrap();
    let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
    for k in [
        FindingKind::OctalModeAsDecimal,
        FindingKind::InvalidValue,
        FindingKind::DuplicateKey,
        FindingKind::NotInLinux,
        FindingKind::InvalidSysctlLine,
        FindingKind::NotSysctlConf,
        FindingKind::RemoteSource,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing:\n{}", report.to_text());
    }
    let bad = report.of_kind(FindingKind::InvalidValue);
    assert!(bad[0].message.contains("\"3\""), "{}", bad[0]);
    assert_eq!(report.files.len(), 3);
    assert_eq!(report.files[0].sysctls.len(), 4);
}

#[test]
fn yaml_1_1_octal_mode_is_read_as_kubectl_reads_it() {
    let yaml = r#"
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: octal
spec:
  config:
    ignition:
      version: 3.2.0
    storage:
      files:
      - path: /etc/sysctl.d/x.conf
        mode: 0644
        contents:
          source: "data:,net.ipv4.conf.all.forwarding%3D1%0A"
"#;
    let node = fake_node("octal", "0", "0", "1");
    let report = check_machine_config(yaml, "octal.yaml", &opts(node.path(), false)).unwrap();
    assert!(!report.has_errors(), "{}", report.to_text());
    assert_eq!(report.files[0].mode, Some(420));
    let w = report.of_kind(FindingKind::YamlOctalMode);
    assert_eq!(w.len(), 1, "{}", report.to_text());
    assert!(w[0].message.contains("write mode: 420"), "{}", w[0]);
}

#[test]
fn not_a_machineconfig_and_not_yaml() {
    let r = check_machine_config(
        "apiVersion: v1\nkind: ConfigMap\n",
        "cm.yaml",
        &CheckOptions::default(),
    )
    .unwrap();
    assert_eq!(r.of_kind(FindingKind::NotAMachineConfig).len(), 1);
    let e = check_machine_config("a: [1,\n", "broken.yaml", &CheckOptions::default()).unwrap_err();
    assert!(e.to_string().contains("broken.yaml"), "{e}");
}

#[test]
fn check_host_reads_the_running_kernel() {
    use metalroute_machineconfig::{check_host, Family, Setting};
    // Read-only: compare with whatever this namespace's lo has, then with the opposite.
    let now = std::fs::read_to_string("/proc/sys/net/ipv4/conf/lo/forwarding")
        .expect("/proc/sys is mounted")
        .trim()
        .to_string();
    let want = |enabled: bool| {
        vec![RequiredSysctl {
            setting: Setting::Forwarding {
                family: Family::Ipv4,
                target: iface("lo"),
                enabled,
            },
            reason: "test".into(),
        }]
    };
    let has = now == "1";
    assert!(check_host(&want(has)).is_empty());
    let findings = check_host(&want(!has));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].kind, FindingKind::ValueMismatch);
    assert!(findings[0].location.contains("(needed: test)"));
}
