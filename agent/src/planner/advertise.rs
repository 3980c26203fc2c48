//! What each session announces: every LB IP of every announced Service, masked to the
//! aggregationLength / aggregationLengthV6 of every BGPAdvertisement that selects the node and
//! the Service, sent to the peers the advertisement names (none = all) whose session carries the
//! prefix's family; merged per prefix with the union of communities (aliases already resolved,
//! standard and large) and the localPref (iBGP peers only). An aggregate stays while any Service
//! mapped to it still qualifies. The next hop is the speaker's business.

use super::{BgpDecision, ServiceKey, ServicePlan, SessionType, Vrf, VrfPlan};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use metalroute_crds::snapshot::Snapshot;
use metalroute_crds::values::{Community, Family};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The path attributes the plan decides (the speaker adds ORIGIN, AS_PATH and NEXT_HOP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttributes {
    /// LOCAL_PREF, only on iBGP sessions, only when an advertisement sets it.
    pub local_pref: Option<u32>,
    /// COMMUNITIES and LARGE_COMMUNITIES, merged over every advertisement producing the prefix.
    pub communities: BTreeSet<Community>,
}

/// One prefix announced to one peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advertisement {
    /// What goes on the wire. Compare only this to decide whether to send an UPDATE.
    pub attributes: PathAttributes,
    /// The Services whose IPs map to this prefix, sorted, without duplicates (informational: a
    /// change here alone needs no UPDATE). A sorted `Vec` rather than a set: most prefixes have
    /// one Service, and a one-element `BTreeSet` allocates a whole node (over 500 bytes), per
    /// prefix and session.
    pub services: Vec<ServiceKey>,
    /// The BGPAdvertisements producing it (informational), sorted, without duplicates.
    pub via: Vec<String>,
}

/// Inserts `item` into the sorted `list` unless present (Services come in key order, so this is
/// almost always a push at the end).
fn insert_sorted<T: Ord + Clone>(list: &mut Vec<T>, item: &T) {
    if list.last().is_none_or(|l| l < item) {
        list.push(item.clone());
    } else if let Err(i) = list.binary_search(item) {
        list.insert(i, item.clone());
    }
}

/// `ip` masked to `len` bits (lengths are validated: 1..=32 for IPv4, 0..=128 for IPv6).
pub fn mask(ip: IpAddr, v4_len: u8, v6_len: u8) -> Option<IpNet> {
    match ip {
        IpAddr::V4(a) => Ipv4Net::new(a, v4_len).ok().map(|n| IpNet::V4(n.trunc())),
        IpAddr::V6(a) => Ipv6Net::new(a, v6_len).ok().map(|n| IpNet::V6(n.trunc())),
    }
}

/// Adds every announced Service's prefixes to the sessions.
pub(crate) fn fill_advertisements(
    snapshot: &Snapshot,
    services: &BTreeMap<ServiceKey, ServicePlan>,
    vrfs: &mut BTreeMap<Vrf, VrfPlan>,
    warnings: &mut Vec<String>,
) {
    // The planned Services are the snapshot's, in the same (namespace, name) order.
    for (key, plan) in services {
        add_service(snapshot, key, plan, vrfs, warnings, |_| true);
    }
}

/// The prefixes an announced Service maps to (its IPs masked to the aggregation lengths of its
/// advertisements), whatever the sessions; `None` when one cannot be masked (the full plan
/// then carries a warning).
pub(crate) fn service_prefixes(
    snapshot: &Snapshot,
    plan: &ServicePlan,
    out: &mut BTreeSet<IpNet>,
) -> Option<()> {
    let BgpDecision::Announce { advertisements } = &plan.bgp else {
        return Some(());
    };
    for ad in advertisements
        .iter()
        .filter_map(|n| snapshot.config.bgp_advertisements.get(n))
    {
        for ip in &plan.ips {
            out.insert(mask(*ip, ad.aggregation_length, ad.aggregation_length_v6)?);
        }
    }
    Some(())
}

/// Adds one announced Service's prefixes that `only` accepts to the sessions.
pub(crate) fn add_service(
    snapshot: &Snapshot,
    key: &ServiceKey,
    plan: &ServicePlan,
    vrfs: &mut BTreeMap<Vrf, VrfPlan>,
    warnings: &mut Vec<String>,
    only: impl Fn(&IpNet) -> bool,
) {
    let BgpDecision::Announce { advertisements } = &plan.bgp else {
        return;
    };
    let ads: Vec<_> = advertisements
        .iter()
        .filter_map(|n| snapshot.config.bgp_advertisements.get(n))
        .collect();
    for ip in &plan.ips {
        let family = Family::of(ip);
        for ad in &ads {
            let Some(prefix) = mask(*ip, ad.aggregation_length, ad.aggregation_length_v6) else {
                warnings.push(format!(
                    "BGPAdvertisement {}: cannot mask {ip} to its aggregation length",
                    ad.name
                ));
                continue;
            };
            if !only(&prefix) {
                continue;
            }
            for vrf in vrfs.values_mut() {
                for session in vrf.sessions.values_mut() {
                    let p = &session.params;
                    if !ad.peers.is_empty() && !ad.peers.contains(&p.peer) {
                        continue;
                    }
                    if !p.families.carries(family) {
                        continue;
                    }
                    let ibgp = p.session_type() == SessionType::Ibgp;
                    let peer = &p.peer;
                    let entry = session.advertisements.entry(prefix).or_default();
                    entry
                        .attributes
                        .communities
                        .extend(ad.communities.iter().copied());
                    if ibgp {
                        if let Some(lp) = ad.local_pref {
                            match entry.attributes.local_pref {
                                Some(old) if old != lp => {
                                    warnings.push(format!(
                                        "prefix {prefix} to peer {peer}: BGPAdvertisement {} sets localPref {lp} but another advertisement set {old}; the higher is sent",
                                        ad.name
                                    ));
                                    entry.attributes.local_pref = Some(old.max(lp));
                                }
                                _ => entry.attributes.local_pref = Some(lp),
                            }
                        }
                    }
                    insert_sorted(&mut entry.services, key);
                    insert_sorted(&mut entry.via, &ad.name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_to_aggregation_lengths() {
        let rows = [
            ("203.0.113.201", 32, 128, "203.0.113.201/32"),
            ("203.0.113.201", 30, 128, "203.0.113.200/30"),
            ("203.0.113.201", 24, 128, "203.0.113.0/24"),
            ("fc00:f853:ccd:e799::7", 32, 124, "fc00:f853:ccd:e799::/124"),
            ("fc00:f853:ccd:e799::7", 32, 0, "::/0"),
            ("2001:db8::1", 32, 128, "2001:db8::1/128"),
        ];
        for (ip, l4, l6, want) in rows {
            let got = mask(ip.parse().unwrap(), l4, l6).unwrap();
            assert_eq!(got.to_string(), want);
        }
        assert!(mask("192.0.2.1".parse().unwrap(), 33, 128).is_none());
    }
}
