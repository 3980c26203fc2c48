//! Properties of the pure building blocks: Go durations round-trip through their formatting, the
//! selector disjointness shortcut is sound (never claims "disjoint" for selectors that share a
//! match), and pool ranges summarise exactly.

use metalroute_crds::duration::{format_go_duration, parse_go_duration};
use metalroute_crds::selector::{AnySelector, Labels, Requirement, Selector};
use metalroute_crds::values::PoolRange;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const KEYS: [&str; 2] = ["zone", "rack"];
const VALUES: [&str; 3] = ["a", "b", "c"];

fn value_set() -> impl Strategy<Value = BTreeSet<String>> {
    proptest::collection::btree_set(
        prop::sample::select(VALUES.to_vec()).prop_map(str::to_string),
        1..3,
    )
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let key = prop::sample::select(KEYS.to_vec()).prop_map(str::to_string);
    (key, 0..4u8, value_set()).prop_map(|(k, op, vs)| match op {
        0 => Requirement::In(k, vs),
        1 => Requirement::NotIn(k, vs),
        2 => Requirement::Exists(k),
        _ => Requirement::DoesNotExist(k),
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    proptest::collection::vec(requirement(), 0..3).prop_map(Selector::from_requirements)
}

/// Every label set over the small universe (each key absent or one of the values).
fn all_label_sets() -> Vec<Labels> {
    let choices: Vec<Option<&str>> = std::iter::once(None)
        .chain(VALUES.iter().copied().map(Some))
        .collect();
    let mut out = Vec::new();
    for z in &choices {
        for r in &choices {
            let mut l = Labels::new();
            if let Some(v) = z {
                l.insert("zone".into(), v.to_string());
            }
            if let Some(v) = r {
                l.insert("rack".into(), v.to_string());
            }
            out.push(l);
        }
    }
    out
}

proptest! {
    #[test]
    fn durations_round_trip(secs in 0u64..400_000, nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        let text = format_go_duration(d);
        prop_assert_eq!(parse_go_duration(&text).ok(), Some(d), "{}", text);
    }

    #[test]
    fn disjointness_is_sound(a in proptest::collection::vec(selector(), 0..3), b in proptest::collection::vec(selector(), 0..3)) {
        let (a, b) = (AnySelector::new(a), AnySelector::new(b));
        if a.provably_disjoint(&b) {
            for l in all_label_sets() {
                prop_assert!(!(a.matches(&l) && b.matches(&l)), "{:?} matched by both", l);
            }
        }
    }

    #[test]
    fn ranges_summarise_exactly(start in any::<u32>(), len in 0u32..100_000) {
        let end = start.saturating_add(len);
        let r = PoolRange::Range { start: IpAddr::V4(Ipv4Addr::from(start)), end: IpAddr::V4(Ipv4Addr::from(end)) };
        let prefixes = r.prefixes();
        // Contiguous, in order, covering exactly [start, end].
        let mut next = u64::from(start);
        for p in &prefixes {
            let IpAddr::V4(first) = p.network() else { unreachable!("v4 range") };
            let IpAddr::V4(last) = p.broadcast() else { unreachable!("v4 range") };
            prop_assert_eq!(u64::from(u32::from(first)), next);
            next = u64::from(u32::from(last)) + 1;
        }
        prop_assert_eq!(next, u64::from(end) + 1);
    }
}

const FIELDS: [&str; 30] = [
    "myASN",
    "peerASN",
    "localASN",
    "dynamicASN",
    "peerAddress",
    "interface",
    "sourceAddress",
    "peerPort",
    "holdTime",
    "keepaliveTime",
    "connectTime",
    "routerID",
    "nodeSelectors",
    "passwordSecret",
    "bfdProfile",
    "ebgpMultiHop",
    "vrf",
    "addresses",
    "serviceAllocation",
    "aggregationLength",
    "aggregationLengthV6",
    "localPref",
    "communities",
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "peers",
    "serviceSelectors",
    "receiveInterval",
    "detectMultiplier",
    "desiredState",
];

fn odd_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop::sample::select(vec![
        json!(0),
        json!(-1),
        json!(4_294_967_296_i64),
        json!(i64::MAX),
        json!(1.5),
        json!("3s"),
        json!("-1s"),
        json!("99999999999h"),
        json!("x"),
        json!(""),
        json!("192.0.2.0/24"),
        json!("large:1:2:3"),
        json!(null),
        json!(true),
        json!({}),
        json!({"name": "s", "namespace": "elsewhere"}),
        json!(["a", "a"]),
        json!(["192.0.2.9-192.0.2.1"]),
        json!(["0.0.0.0-255.255.255.255"]),
        json!(["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
        json!([{"matchLabels": {"a": "b"}}]),
        json!([{"matchExpressions": [{"key": "k", "operator": "In"}]}]),
        json!({"interfaces": [{"name": "x", "type": "vrf"}]}),
    ])
}

fn odd_object() -> impl Strategy<Value = serde_json::Value> {
    let kinds = vec![
        ("metallb.io/v1beta2", "BGPPeer"),
        ("metallb.io/v1beta1", "BGPPeer"),
        ("metallb.io/v1beta1", "IPAddressPool"),
        ("metallb.io/v1beta1", "BGPAdvertisement"),
        ("metallb.io/v1beta1", "L2Advertisement"),
        ("metallb.io/v1beta1", "BFDProfile"),
        ("metallb.io/v1beta1", "Community"),
        ("k8s.ovn.org/v1", "EgressService"),
        ("nmstate.io/v1", "NodeNetworkConfigurationPolicy"),
    ];
    (
        prop::sample::select(kinds),
        prop::sample::select(vec!["a", "b"]),
        proptest::collection::btree_map(prop::sample::select(FIELDS.to_vec()), odd_value(), 0..8),
    )
        .prop_map(|((api, kind), name, spec)| {
            serde_json::json!({
                "apiVersion": api, "kind": kind,
                "metadata": {"name": name, "namespace": "metallb-system"},
                "spec": spec,
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the input, validation answers (no panic) and every error names a reason.
    #[test]
    fn validation_never_panics(objects in proptest::collection::vec(odd_object(), 1..6)) {
        use metalroute_crds::object::ReadOptions;
        use metalroute_crds::snapshot::Snapshot;
        let s = Snapshot::from_values(objects, &ReadOptions::default());
        for r in &s.reports {
            for e in &r.errors {
                prop_assert!(!e.reason.is_empty());
            }
        }
        let _ = s.peers_for_node(&Labels::new());
    }
}
