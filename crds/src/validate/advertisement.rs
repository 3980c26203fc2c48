//! BGPAdvertisement and L2Advertisement checks: aggregation lengths (range, defaults, not wider
//! than any selected pool entry, default only with serviceSelectors), communities (values,
//! well-known names, aliases, duplicates), name lists without duplicates, selectors, identical
//! advertisements, localPref conflicts between advertisements of one pool, and BFD echo mode on
//! peers that are sent IPv6 pools.

use super::{check_interface_name, node_overlap, record_node_conflict, Ctx};
use crate::config::{BgpAdvertisement, L2Advertisement, Pool};
use crate::metallb::v1beta1::{BGPAdvertisementSpec, L2AdvertisementSpec};
use crate::object::Object;
use crate::report::Issues;
use crate::selector::{parse_selector, parse_selectors, AnySelector};
use crate::values::{Community, CommunityParseError, Family};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeSet;

fn no_duplicates(list: &[String], field: &str, what: &str, issues: &mut Issues) {
    for (i, v) in list.iter().enumerate() {
        if let Some(j) = list[..i].iter().position(|w| w == v) {
            issues.error(
                format!("{field}[{i}]"),
                format!("duplicate {what} {v:?} (also {field}[{j}])"),
            );
        }
    }
}

/// Resolves the pools an advertisement selects (names, label selectors, or all when both are
/// empty); warns about names of missing or invalid pools.
fn select_pools(
    names: &[String],
    raw_selectors: &[LabelSelector],
    selectors: Option<&AnySelector>,
    ctx: &Ctx<'_>,
    issues: &mut Issues,
) -> BTreeSet<String> {
    let pools = &ctx.config.pools;
    if names.is_empty() && raw_selectors.is_empty() {
        return pools.keys().cloned().collect();
    }
    let mut out = BTreeSet::new();
    for (i, n) in names.iter().enumerate() {
        if pools.contains_key(n) {
            out.insert(n.clone());
        } else if ctx.invalid_pools.contains(n) {
            issues.warn(
                format!("spec.ipAddressPools[{i}]"),
                format!("IPAddressPool {n} is invalid; its addresses are not advertised"),
            );
        } else {
            issues.warn(
                format!("spec.ipAddressPools[{i}]"),
                format!("IPAddressPool {n} does not exist"),
            );
        }
    }
    if let Some(sel) = selectors {
        if !raw_selectors.is_empty() {
            for p in pools.values() {
                if sel.matches(&p.labels) {
                    out.insert(p.name.clone());
                }
            }
        }
    }
    out
}

fn aggregation(
    v: Option<i64>,
    default: u8,
    min: i64,
    max: i64,
    field: &str,
    issues: &mut Issues,
) -> u8 {
    match v {
        None => default,
        Some(x) if (min..=max).contains(&x) => x as u8,
        Some(x) => {
            issues.error(field, format!("{x} is out of range {min}..{max}"));
            default
        }
    }
}

/// Checks one BGPAdvertisement against the valid pools, aliases and peers.
pub fn check_bgp_advertisement(
    name: &str,
    s: &BGPAdvertisementSpec,
    ctx: &Ctx<'_>,
    issues: &mut Issues,
) -> Option<BgpAdvertisement> {
    let agg4 = aggregation(
        s.aggregation_length,
        32,
        1,
        32,
        "spec.aggregationLength",
        issues,
    );
    let agg6 = aggregation(
        s.aggregation_length_v6,
        128,
        0,
        128,
        "spec.aggregationLengthV6",
        issues,
    );
    let local_pref = match s.local_pref {
        None | Some(0) => None,
        Some(v) if (0..=i64::from(u32::MAX)).contains(&v) => Some(v as u32),
        Some(v) => {
            issues.error(
                "spec.localPref",
                format!("{v} is out of range 0..4294967295"),
            );
            None
        }
    };

    no_duplicates(&s.communities, "spec.communities", "community", issues);
    let mut communities = BTreeSet::new();
    for (i, c) in s.communities.iter().enumerate() {
        let field = format!("spec.communities[{i}]");
        match Community::parse(c) {
            Ok(v) => {
                communities.insert(v);
            }
            Err(CommunityParseError::InvalidValue(e)) => issues.error(&field, e),
            Err(CommunityParseError::NotAValue) => match ctx.config.communities.get(c) {
                Some(v) => {
                    communities.insert(*v);
                }
                None => issues.transient(
                    &field,
                    format!("{c:?} is neither a community value (A:B, large:A:B:C, a well-known name) nor a defined Community alias"),
                ),
            },
        }
    }

    no_duplicates(&s.ip_address_pools, "spec.ipAddressPools", "pool", issues);
    no_duplicates(&s.peers, "spec.peers", "peer", issues);
    for (i, p) in s.peers.iter().enumerate() {
        if !ctx.peer_names.contains(p) {
            issues.warn(
                format!("spec.peers[{i}]"),
                format!("BGPPeer {p} does not exist"),
            );
        } else if !ctx.config.peers.contains_key(p) {
            issues.warn(
                format!("spec.peers[{i}]"),
                format!("BGPPeer {p} is invalid; nothing is announced to it"),
            );
        }
    }
    let pool_sel = parse_selectors(
        &s.ip_address_pool_selectors,
        "spec.ipAddressPoolSelectors",
        issues,
    );
    let node_selector = parse_selectors(&s.node_selectors, "spec.nodeSelectors", issues);
    let service_selectors = parse_selectors(&s.service_selectors, "spec.serviceSelectors", issues);
    if !s.service_selectors.is_empty() {
        if agg4 != 32 {
            issues.error(
                "spec.aggregationLength",
                format!(
                    "{agg4} cannot be combined with spec.serviceSelectors (only the default 32)"
                ),
            );
        }
        if agg6 != 128 {
            issues.error(
                "spec.aggregationLengthV6",
                format!(
                    "{agg6} cannot be combined with spec.serviceSelectors (only the default 128)"
                ),
            );
        }
    }

    let pools = select_pools(
        &s.ip_address_pools,
        &s.ip_address_pool_selectors,
        pool_sel.as_ref(),
        ctx,
        issues,
    );
    for pn in &pools {
        let Some(pool) = ctx.config.pools.get(pn) else {
            continue;
        };
        check_aggregation_against_pool(agg4, agg6, pool, issues);
    }

    if !issues.is_ok() {
        return None;
    }
    Some(BgpAdvertisement {
        name: name.to_string(),
        aggregation_length: agg4,
        aggregation_length_v6: agg6,
        local_pref,
        communities,
        pools,
        peers: s.peers.iter().cloned().collect(),
        node_selector: node_selector?,
        service_selectors: service_selectors?.selectors().to_vec(),
    })
}

fn check_aggregation_against_pool(agg4: u8, agg6: u8, pool: &Pool, issues: &mut Issues) {
    for r in &pool.ranges {
        let widest = r.widest_prefix_len();
        let (agg, field) = match r.family() {
            Family::V4 => (agg4, "spec.aggregationLength"),
            Family::V6 => (agg6, "spec.aggregationLengthV6"),
        };
        if agg < widest {
            issues.error(
                field,
                format!(
                    "{agg} is shorter than /{widest}, the widest prefix of {r} in IPAddressPool {}: the aggregate would cover addresses outside the pool",
                    pool.name
                ),
            );
        }
    }
}

/// MetalLB's rule: aggregation lengths differ for every family the pool has.
fn aggregation_differs(a: &BgpAdvertisement, b: &BgpAdvertisement, pool: &Pool) -> bool {
    let (v4, v6) = (pool.has_family(Family::V4), pool.has_family(Family::V6));
    let d4 = a.aggregation_length != b.aggregation_length;
    let d6 = a.aggregation_length_v6 != b.aggregation_length_v6;
    match (v4, v6) {
        (false, false) => true,
        (true, false) => d4,
        (false, true) => d6,
        (true, true) => d4 && d6,
    }
}

impl super::Phase<'_> {
    /// BGP advertisements: per-object checks, identical specs, localPref conflicts.
    pub(super) fn bgp_advertisements(&mut self, entries: &[super::Entry<'_>]) {
        let mut accepted_specs: Vec<(String, BGPAdvertisementSpec)> = Vec::new();
        for e in entries {
            let Object::BGPAdvertisement(a) = &e.object else {
                continue;
            };
            let name = self.name(e);
            let mut issues = Issues::default();
            let typed = check_bgp_advertisement(&name, &a.spec, &self.ctx(), &mut issues);
            if let Some((other, _)) = accepted_specs.iter().find(|(_, s)| *s == a.spec) {
                issues.error("spec", format!("identical to BGPAdvertisement {other}"));
            }
            if let Some(adv) = &typed {
                self.local_pref_conflicts(adv, &mut issues);
            }
            if self.record(e, issues) {
                if let Some(adv) = typed {
                    accepted_specs.push((name.clone(), a.spec.clone()));
                    self.snap.config.bgp_advertisements.insert(name, adv);
                }
            }
        }
    }

    fn local_pref_conflicts(&self, adv: &BgpAdvertisement, issues: &mut Issues) {
        if !adv.service_selectors.is_empty() {
            return;
        }
        for other in self.snap.config.bgp_advertisements.values() {
            if !other.service_selectors.is_empty() || other.local_pref == adv.local_pref {
                continue;
            }
            if !adv.peers.is_empty()
                && !other.peers.is_empty()
                && adv.peers.is_disjoint(&other.peers)
            {
                continue;
            }
            for pn in adv.pools.intersection(&other.pools) {
                let Some(pool) = self.snap.config.pools.get(pn) else {
                    continue;
                };
                if aggregation_differs(adv, other, pool) {
                    continue;
                }
                let overlap =
                    node_overlap(&adv.node_selector, &other.node_selector, &self.snap.nodes);
                let show =
                    |lp: Option<u32>| lp.map(|v| v.to_string()).unwrap_or_else(|| "unset".into());
                let reason = format!(
                    "{} conflicts with BGPAdvertisement {} (localPref {}) for IPAddressPool {pn}: same aggregation lengths, overlapping peers",
                    show(adv.local_pref),
                    other.name,
                    show(other.local_pref)
                );
                record_node_conflict(&overlap, "spec.localPref", &reason, issues);
                break;
            }
        }
    }

    /// BFD echo mode is IPv4-only: a peer whose profile enables it must not be sent IPv6 pools.
    pub(super) fn bfd_echo(&mut self, entries: &[super::Entry<'_>]) {
        let cfg = &self.snap.config;
        let mut bad: Vec<(String, String)> = Vec::new();
        for peer in cfg.peers.values() {
            let Some(profile) = peer
                .bfd_profile
                .as_ref()
                .and_then(|b| cfg.bfd_profiles.get(b))
            else {
                continue;
            };
            if !profile.echo_mode {
                continue;
            }
            'adv: for adv in cfg.bgp_advertisements.values() {
                if !adv.peers.is_empty() && !adv.peers.contains(&peer.name) {
                    continue;
                }
                for pn in &adv.pools {
                    if cfg.pools.get(pn).is_some_and(|p| p.has_family(Family::V6)) {
                        bad.push((
                            peer.name.clone(),
                            format!(
                                "BFDProfile {} enables echoMode, but BGPAdvertisement {} sends IPv6 addresses of IPAddressPool {pn} to this peer; BFD echo works only for IPv4",
                                profile.name, adv.name
                            ),
                        ));
                        break 'adv;
                    }
                }
            }
        }
        for (peer, reason) in bad {
            self.snap.config.peers.remove(&peer);
            for e in entries {
                if matches!(e.object, Object::BGPPeer(_)) && self.name(e) == peer {
                    let mut issues = Issues::default();
                    issues.error("spec.bfdProfile", reason.clone());
                    self.record(e, issues);
                }
            }
        }
    }

    /// L2 advertisements.
    pub(super) fn l2_advertisements(&mut self, entries: &[super::Entry<'_>]) {
        for e in entries {
            let Object::L2Advertisement(a) = &e.object else {
                continue;
            };
            let name = self.name(e);
            let mut issues = Issues::default();
            let typed = check_l2_advertisement(&name, &a.spec, &self.ctx(), &mut issues);
            if self.record(e, issues) {
                if let Some(adv) = typed {
                    self.snap.config.l2_advertisements.insert(name, adv);
                }
            }
        }
    }
}

/// Checks one L2Advertisement.
pub fn check_l2_advertisement(
    name: &str,
    s: &L2AdvertisementSpec,
    ctx: &Ctx<'_>,
    issues: &mut Issues,
) -> Option<L2Advertisement> {
    no_duplicates(&s.ip_address_pools, "spec.ipAddressPools", "pool", issues);
    no_duplicates(&s.interfaces, "spec.interfaces", "interface", issues);
    for (i, ifname) in s.interfaces.iter().enumerate() {
        if let Err(e) = check_interface_name(ifname) {
            issues.error(format!("spec.interfaces[{i}]"), e);
        }
    }
    let pool_sel = parse_selectors(
        &s.ip_address_pool_selectors,
        "spec.ipAddressPoolSelectors",
        issues,
    );
    let node_selector = parse_selectors(&s.node_selectors, "spec.nodeSelectors", issues);
    let service_selectors = parse_selectors(&s.service_selectors, "spec.serviceSelectors", issues);
    let mut preferred = Vec::new();
    for (i, p) in s.preferred_node_selectors.iter().enumerate() {
        let field = format!("spec.preferredNodeSelectors[{i}]");
        if !(1..=100).contains(&p.weight) {
            issues.error(
                format!("{field}.weight"),
                format!("{} is out of range 1..100", p.weight),
            );
        }
        if let Some(sel) = parse_selector(&p.preference, &format!("{field}.preference"), issues) {
            preferred.push((p.weight.clamp(1, 100) as u8, sel));
        }
    }
    let pools = select_pools(
        &s.ip_address_pools,
        &s.ip_address_pool_selectors,
        pool_sel.as_ref(),
        ctx,
        issues,
    );
    if !issues.is_ok() {
        return None;
    }
    Some(L2Advertisement {
        name: name.to_string(),
        pools,
        node_selector: node_selector?,
        interfaces: s.interfaces.clone(),
        service_selectors: service_selectors?.selectors().to_vec(),
        preferred_nodes: preferred,
    })
}
