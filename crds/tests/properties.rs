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
