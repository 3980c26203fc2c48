//! `metalroute validate` as a user runs it: the built binary on real files, checking output lines,
//! the JSON shape and the exit status (0 valid, 1 invalid, 2 unreadable or not YAML).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn metalroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metalroute"))
        .args(args)
        .env_remove("METALLB_NAMESPACE")
        .output()
        .expect("run metalroute")
}

fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/examples/seeds")
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// A private temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("metalroute-validate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const BAD_AND_GOOD: &str = "\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1, holdTime: 9s, keepaliveTime: 30s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.2}
";

#[test]
fn every_seed_file_exits_zero() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seeds())
        .expect("seeds directory beside the repository (shared/examples/seeds)")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in &files {
        let o = metalroute(&["validate", "-f", s(f)]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}:\n{}{}",
            f.display(),
            stdout(&o),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = metalroute(&[
        "validate",
        "-f",
        s(&seeds().join("09-machineconfig-forwarding.yaml")),
    ]);
    assert_eq!(
        stdout(&o).trim(),
        "MachineConfig 81-enable-global-forwarding: skipped (machineconfiguration.openshift.io/v1 is not read by metalroute)"
    );
    let o = metalroute(&[
        "validate",
        "-f",
        s(&seeds().join("03-service-via-vrf.yaml")),
    ]);
    let out = stdout(&o);
    assert!(out.contains("Deployment test/server: skipped"), "{out}");
    assert!(
        out.contains("BGPPeer metallb-system/frrviavrf: ok"),
        "{out}"
    );
}

#[test]
fn invalid_object_exits_one_with_field_and_reason() {
    let dir = TempDir::new("invalid");
    let f = dir.file("peers.yaml", BAD_AND_GOOD);
    let o = metalroute(&["validate", "-f", s(&f)]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "BGPPeer metallb-system/peer1: spec.keepaliveTime: 30s must not exceed spec.holdTime (9s)",
            "BGPPeer metallb-system/peer2: ok",
        ]
    );
}

#[test]
fn json_output_has_the_documented_shape() {
    let dir = TempDir::new("json");
    let f = dir.file("peers.yaml", BAD_AND_GOOD);
    let o = metalroute(&["validate", "-f", s(&f), "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    let bad = &arr[0];
    assert_eq!(bad["kind"], "BGPPeer");
    assert_eq!(bad["namespace"], "metallb-system");
    assert_eq!(bad["name"], "peer1");
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["errors"][0]["field"], "spec.keepaliveTime");
    assert_eq!(
        bad["errors"][0]["reason"],
        "30s must not exceed spec.holdTime (9s)"
    );
    assert!(bad["warnings"]
        .as_array()
        .expect("warnings array")
        .is_empty());
    assert_eq!(arr[1]["valid"], true);
    assert!(arr[1]["errors"]
        .as_array()
        .expect("errors array")
        .is_empty());
}

#[test]
fn not_yaml_exits_two_naming_file_document_and_line() {
    let dir = TempDir::new("syntax");
    let f = dir.file(
        "broken.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: [unclosed\n",
    );
    let o = metalroute(&["validate", "-f", s(&f)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}: document 1, line ", f.display())),
        "{err}"
    );
    let missing = dir.0.join("missing.yaml");
    let o = metalroute(&["validate", "-f", s(&missing)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.yaml"));
}

#[test]
fn unknown_kind_is_reported_and_fails() {
    let dir = TempDir::new("unknown");
    let f = dir.file("old.yaml", "apiVersion: metallb.io/v1beta1\nkind: AddressPool\nmetadata: {name: old, namespace: metallb-system}\nspec: {protocol: bgp}\n");
    let o = metalroute(&["validate", "-f", s(&f)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o).trim(),
        "AddressPool metallb-system/old: kind: unknown kind AddressPool in metallb.io/v1beta1: not a kind metalroute reads"
    );
}

#[test]
fn node_objects_turn_potential_conflicts_into_errors() {
    let dir = TempDir::new("nodes");
    let peers = "\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: a, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: b, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64502, peerAddress: 192.0.2.1}
";
    let f = dir.file("a-peers.yaml", peers);
    let o = metalroute(&["validate", "-f", s(&f)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "without nodes the conflict is a warning: {}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("BGPPeer metallb-system/b: warning: spec.peerAddress:"));
    dir.file(
        "b-node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: worker-0}\n",
    );
    let o = metalroute(&["validate", "-f", s(&dir.0)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("BGPPeer metallb-system/b: spec.peerAddress: 192.0.2.1 in the default VRF is already the peer of BGPPeer a; one session per address and VRF on a node (both select node worker-0)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn example_directories_validate() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples())
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 7, "{dirs:?}");
    for d in dirs {
        let o = metalroute(&["validate", "-f", s(&d)]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}:\n{}{}",
            d.display(),
            stdout(&o),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !stdout(&o).contains("warning"),
            "{}:\n{}",
            d.display(),
            stdout(&o)
        );
    }
}

#[test]
fn reads_standard_input_and_several_paths() {
    use std::io::Write;
    let dir = TempDir::new("stdin");
    let f = dir.file("pool.yaml", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [192.0.2.0/28]}\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_metalroute"))
        .args(["validate", "-f", s(&f), "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: a, namespace: metallb-system}\nspec: {ipAddressPools: [p]}\n")
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        [
            "IPAddressPool metallb-system/p: ok",
            "BGPAdvertisement metallb-system/a: ok"
        ]
    );
}
