//! Regression tests from the `yaml_load` fuzz target (fuzz/fuzz_targets/yaml_load.rs): the
//! target's path — `load_str`, `Snapshot::from_objects`, every report line, and nmstate's
//! `parse_desired_state` with its render/parse round trip — over its committed seed corpus
//! (fuzz/corpus/yaml_load) and over hostile YAML shapes that must give a report or a load error,
//! never a panic. Inputs the fuzzer flags are added here before they are fixed.

use std::path::{Path, PathBuf};

use metalroute_crds::loader::load_str;
use metalroute_crds::nmstate::{needed_sysctls, parse_desired_state};
use metalroute_crds::object::ReadOptions;
use metalroute_crds::snapshot::Snapshot;
use serde::Deserialize;

/// What the fuzz target does with one input; returns (documents loaded, load errors).
fn run(text: &str) -> (usize, usize) {
    let opts = ReadOptions::default();
    let loaded = load_str(text, Some(Path::new("fuzz.yaml")), &opts);
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    for e in &errors {
        assert!(
            e.starts_with("fuzz.yaml"),
            "error does not name the file: {e}"
        );
    }
    let n = loaded.objects.len();
    let snap = Snapshot::from_objects(loaded.objects, &opts);
    for r in &snap.reports {
        let _ = r.lines();
    }
    let _ = snap.peers_for_node(&snap.node_labels("node-1"));
    for de in serde_yaml_ng::Deserializer::from_str(text) {
        let Ok(value) = serde_json::Value::deserialize(de) else {
            break;
        };
        for v in [Some(&value), value.pointer("/spec/desiredState")]
            .into_iter()
            .flatten()
        {
            let (state, _) = parse_desired_state(v);
            if let Some(state) = state {
                let rendered = state.to_value();
                let (again, problems) = parse_desired_state(&rendered);
                assert!(problems.is_empty(), "{problems:?}: {rendered}");
                assert_eq!(again.as_ref(), Some(&state), "{rendered}");
                let _ = needed_sysctls(&state);
            }
        }
    }
    (n, errors.len())
}

#[test]
fn seed_corpus_loads_without_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/yaml_load");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} seeds", files.len());
    let mut docs = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (n, errors) = run(&text);
        assert_eq!(errors, 0, "{} does not load", f.display());
        docs += n;
    }
    assert!(docs >= 50, "{docs} documents in the seed corpus");
}

#[test]
fn hostile_yaml_shapes_give_errors_not_panics() {
    let deep_seq = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_map = "a: {".repeat(3000) + &"}".repeat(3000);
    let laughs = {
        let mut s = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, c) in "bcdefghij".chars().enumerate() {
            let prev = char::from(b'a' + i as u8);
            s.push_str(&format!(
                "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
        }
        s
    };
    let cases: Vec<String> = vec![
        String::new(),
        "\u{feff}".into(),
        "---\n---\n...\n".into(),
        "\u{fffd}\u{fffd}: \u{fffd}".into(),
        deep_seq,
        deep_map,
        laughs,
        "? [a, b]\n: c\n".into(),
        "{[1]: 2}".into(),
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p, namespace: metallb-system}\nspec: {myASN: 1e400, peerASN: -1, peerAddress: 192.0.2.1}\n".into(),
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p, namespace: metallb-system}\nspec: {myASN: 18446744073709551616, peerASN: 99999999999999999999999, peerAddress: '::ffff:192.0.2.1', holdTime: 9999999999h, keepaliveTime: .s}\n".into(),
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: ['::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '0.0.0.0-255.255.255.255', '255.255.255.255-0.0.0.0', '2001:db8::/129', '1.2.3.4/33']}\n".into(),
        "apiVersion: v1\nkind: List\nitems: [1, null, [], {kind: List, apiVersion: v1, items: [{}]}]\n".into(),
        "apiVersion: nmstate.io/v1\nkind: NodeNetworkConfigurationPolicy\nmetadata: {name: n}\nspec:\n  desiredState:\n    interfaces: [{name: 'a/b', type: vrf, vrf: {port: [x, x], route-table-id: 4294967296}}, {name: '', type: vlan, vlan: {id: 4095, base-iface: ''}}]\n    routes: {config: [{destination: '0.0.0.0/0', next-hop-address: '::1', table-id: -5, metric: 1.5}]}\n    route-rules: {config: [{ip-from: '192.0.2.0/24', ip-to: '2001:db8::/32', priority: 99999999999, fwmark: '0x', fwmask: '0xffffffffff'}]}\n    l3mdev-accept: {tcp: 1}\n".into(),
        "a: !!binary aGVsbG8=\nb: !custom {x: 1}\nc: <<\n<<: {d: 1}\n".into(),
        "apiVersion: [1]\nkind: {a: b}\nmetadata: 7\n".into(),
    ];
    for c in &cases {
        run(c);
    }
    // The alias bomb is refused by the parser instead of being expanded.
    let (_, errors) = run(&cases[6]);
    assert_eq!(errors, 1, "billion laughs must be a load error");
}
