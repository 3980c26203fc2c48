//! IPAddressPool, Community and BFDProfile checks: address entries (syntax, family, order, no
//! overlap within or across pools), serviceAllocation, community aliases (valid values, unique
//! names across all Community objects), BFD timer ranges with MetalLB's defaults.

use crate::config::{BfdProfile, Pool, ServiceAllocation};
use crate::metallb::v1beta1::{BFDProfileSpec, CommunitySpec, IPAddressPoolSpec};
use crate::object::Object;
use crate::report::Issues;
use crate::selector::{parse_selectors, Labels};
use crate::values::{Community, CommunityParseError, PoolRange};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Checks one pool on its own.
pub fn check_pool(
    name: &str,
    labels: &Labels,
    s: &IPAddressPoolSpec,
    issues: &mut Issues,
) -> Option<Pool> {
    if s.addresses.is_empty() {
        issues.error(
            "spec.addresses",
            "must list at least one CIDR or start-end range",
        );
    }
    let mut ranges: Vec<PoolRange> = Vec::new();
    for (i, a) in s.addresses.iter().enumerate() {
        let field = format!("spec.addresses[{i}]");
        match PoolRange::parse(a) {
            Ok(r) => {
                if let Some((j, other)) = ranges.iter().enumerate().find(|(_, o)| o.overlaps(&r)) {
                    issues.error(
                        &field,
                        format!("{r} overlaps spec.addresses[{j}] ({other})"),
                    );
                }
                ranges.push(r);
            }
            Err(e) => issues.error(&field, e),
        }
    }
    let service_allocation = s.service_allocation.as_ref().map(|sa| {
        let mut namespaces = BTreeSet::new();
        for (i, ns) in sa.namespaces.iter().enumerate() {
            if !namespaces.insert(ns.clone()) {
                issues.error(
                    format!("spec.serviceAllocation.namespaces[{i}]"),
                    format!("duplicate namespace {ns:?}"),
                );
            }
        }
        let nss = parse_selectors(
            &sa.namespace_selectors,
            "spec.serviceAllocation.namespaceSelectors",
            issues,
        );
        let svs = parse_selectors(
            &sa.service_selectors,
            "spec.serviceAllocation.serviceSelectors",
            issues,
        );
        ServiceAllocation {
            priority: sa.priority,
            namespaces,
            namespace_selectors: nss.map(|s| s.selectors().to_vec()).unwrap_or_default(),
            service_selectors: svs.map(|s| s.selectors().to_vec()).unwrap_or_default(),
        }
    });
    issues.is_ok().then(|| Pool {
        name: name.to_string(),
        labels: labels.clone(),
        ranges,
        auto_assign: s.auto_assign.unwrap_or(true),
        avoid_buggy_ips: s.avoid_buggy_ips.unwrap_or(false),
        service_allocation,
    })
}

/// Parses a Community alias value (`A:B` or `large:A:B:C`; well-known names accepted).
pub fn parse_alias_value(v: &str) -> Result<Community, String> {
    match Community::parse(v) {
        Ok(c) => Ok(c),
        Err(CommunityParseError::InvalidValue(e)) => Err(e),
        Err(CommunityParseError::NotAValue) => Err(format!(
            "{v:?} is not a community value (expected A:B with 16-bit parts or large:A:B:C with 32-bit parts)"
        )),
    }
}

/// Checks one Community object on its own; returns its aliases.
pub fn check_community(s: &CommunitySpec, issues: &mut Issues) -> Vec<(String, Community)> {
    let mut out: Vec<(String, Community)> = Vec::new();
    for (i, a) in s.communities.iter().enumerate() {
        let field = format!("spec.communities[{i}]");
        if a.name.is_empty() {
            issues.error(format!("{field}.name"), "required");
            continue;
        }
        if let Some(j) = s.communities[..i].iter().position(|b| b.name == a.name) {
            issues.error(
                format!("{field}.name"),
                format!("duplicate alias {:?} (also spec.communities[{j}])", a.name),
            );
            continue;
        }
        match parse_alias_value(&a.value) {
            Ok(c) => out.push((a.name.clone(), c)),
            Err(e) => issues.error(format!("{field}.value"), e),
        }
    }
    out
}

fn bfd_field(
    v: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
    field: &str,
    unit: &str,
    issues: &mut Issues,
) -> i64 {
    match v {
        None => default,
        Some(x) if (min..=max).contains(&x) => x,
        Some(x) => {
            issues.error(field, format!("{x} is out of range {min}..{max}{unit}"));
            default
        }
    }
}

/// Checks a BFD profile and applies MetalLB's defaults (300/300/3/50/false/false/254).
pub fn check_bfd_profile(
    name: &str,
    s: &BFDProfileSpec,
    issues: &mut Issues,
) -> Option<BfdProfile> {
    let rx = bfd_field(
        s.receive_interval,
        300,
        10,
        60000,
        "spec.receiveInterval",
        " ms",
        issues,
    );
    let tx = bfd_field(
        s.transmit_interval,
        300,
        10,
        60000,
        "spec.transmitInterval",
        " ms",
        issues,
    );
    let mult = bfd_field(
        s.detect_multiplier,
        3,
        2,
        255,
        "spec.detectMultiplier",
        "",
        issues,
    );
    let echo = bfd_field(
        s.echo_interval,
        50,
        10,
        60000,
        "spec.echoInterval",
        " ms",
        issues,
    );
    let ttl = bfd_field(s.minimum_ttl, 254, 1, 254, "spec.minimumTtl", "", issues);
    issues.is_ok().then(|| BfdProfile {
        name: name.to_string(),
        receive_interval: Duration::from_millis(rx as u64),
        transmit_interval: Duration::from_millis(tx as u64),
        detect_multiplier: mult as u8,
        echo_interval: Duration::from_millis(echo as u64),
        echo_mode: s.echo_mode.unwrap_or(false),
        passive_mode: s.passive_mode.unwrap_or(false),
        minimum_ttl: ttl as u8,
    })
}

impl super::Phase<'_> {
    /// Community objects: aliases unique across objects (the later object is invalid).
    pub(super) fn communities(&mut self, entries: &[super::Entry<'_>]) {
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        for e in entries {
            let Object::Community(c) = &e.object else {
                continue;
            };
            let name = self.name(e);
            let mut issues = Issues::default();
            let aliases = check_community(&c.spec, &mut issues);
            for (i, a) in c.spec.communities.iter().enumerate() {
                if let Some(owner) = owners.get(&a.name) {
                    issues.error(
                        format!("spec.communities[{i}].name"),
                        format!("alias {:?} is already defined by Community {owner}", a.name),
                    );
                }
            }
            if self.record(e, issues) {
                for (alias, value) in aliases {
                    owners.insert(alias.clone(), name.clone());
                    self.snap.config.communities.insert(alias, value);
                }
            }
        }
    }

    /// BFD profiles.
    pub(super) fn bfd_profiles(&mut self, entries: &[super::Entry<'_>]) {
        for e in entries {
            let Object::BFDProfile(b) = &e.object else {
                continue;
            };
            let name = self.name(e);
            let mut issues = Issues::default();
            let typed = check_bfd_profile(&name, &b.spec, &mut issues);
            match (self.record(e, issues), typed) {
                (true, Some(p)) => {
                    self.snap.config.bfd_profiles.insert(name, p);
                }
                _ => {
                    self.invalid_bfd.insert(name);
                }
            }
        }
    }

    /// Pools: per-pool checks, then no entry may overlap an entry of an earlier valid pool.
    pub(super) fn pools(&mut self, entries: &[super::Entry<'_>]) {
        for e in entries {
            let Object::IPAddressPool(p) = &e.object else {
                continue;
            };
            let name = self.name(e);
            let labels = p.metadata.labels.clone().unwrap_or_default();
            let mut issues = Issues::default();
            let typed = check_pool(&name, &labels, &p.spec, &mut issues);
            if let Some(pool) = &typed {
                for (i, r) in pool.ranges.iter().enumerate() {
                    for other in self.snap.config.pools.values() {
                        if let Some(o) = other.ranges.iter().find(|o| o.overlaps(r)) {
                            issues.error(
                                format!("spec.addresses[{i}]"),
                                format!("{r} overlaps {o} of IPAddressPool {}", other.name),
                            );
                        }
                    }
                }
            }
            match (self.record(e, issues), typed) {
                (true, Some(pool)) => {
                    self.snap.config.pools.insert(name, pool);
                }
                _ => {
                    self.invalid_pools.insert(name);
                }
            }
        }
    }
}
