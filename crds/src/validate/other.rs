//! Checks of the remaining kinds: Services (the addresses they carry), EgressServices
//! (`sourceIPBy`, selector, the LoadBalancer Service they belong to) and nmstate
//! NodeNetworkConfigurationPolicies (node selector, maxUnavailable, and `desiredState` through
//! [`crate::nmstate::parse_desired_state`]).

use super::Ctx;
use crate::config::{EgressService, NetworkPolicy, Pool, SourceIpBy};
use crate::core::Service;
use crate::nmstate::parse_desired_state;
use crate::nmstate_io::NodeNetworkConfigurationPolicySpec;
use crate::object::Object;
use crate::ovn::EgressServiceSpec;
use crate::report::Issues;
use crate::selector::{check_label_key, check_label_value, parse_selector, Selector};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// MetalLB annotations naming the addresses a Service wants.
const IP_ANNOTATIONS: [&str; 2] = [
    "metallb.universe.tf/loadBalancerIPs",
    "metallb.io/loadBalancerIPs",
];
/// MetalLB annotations naming the pool a Service wants.
const POOL_ANNOTATIONS: [&str; 2] = [
    "metallb.universe.tf/address-pool",
    "metallb.io/address-pool",
];

/// Checks the addresses a Service carries (ingress IPs, loadBalancerIP, MetalLB annotations)
/// against the valid pools (the only other objects a Service's report depends on).
pub fn check_service(svc: &Service, pools: &BTreeMap<String, Pool>, issues: &mut Issues) {
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    if !is_lb && ingress.is_some_and(|i| !i.is_empty()) {
        issues.warn(
            "spec.type",
            "not LoadBalancer: the addresses in status.loadBalancer.ingress are not announced",
        );
    }
    for (i, ing) in ingress.into_iter().flatten().enumerate() {
        if let Some(ip) = &ing.ip {
            match ip.parse::<IpAddr>() {
                Err(_) => issues.error(
                    format!("status.loadBalancer.ingress[{i}].ip"),
                    format!("{ip:?} is not an IP address"),
                ),
                Ok(addr) if !pools.values().any(|p| p.contains(&addr)) => issues.warn(
                    format!("status.loadBalancer.ingress[{i}].ip"),
                    format!("{addr} is in no valid IPAddressPool: it is not announced"),
                ),
                Ok(_) => {}
            }
        }
    }
    if let Some(ip) = svc
        .spec
        .as_ref()
        .and_then(|s| s.load_balancer_ip.as_deref())
    {
        if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
            issues.error(
                "spec.loadBalancerIP",
                format!("{ip:?} is not an IP address"),
            );
        }
    }
    let annotations = svc.metadata.annotations.clone().unwrap_or_default();
    for key in IP_ANNOTATIONS {
        if let Some(v) = annotations.get(key) {
            for part in v.split(',') {
                if part.trim().parse::<IpAddr>().is_err() {
                    issues.error(
                        format!("metadata.annotations[{key}]"),
                        format!("{:?} is not an IP address", part.trim()),
                    );
                }
            }
        }
    }
    for key in POOL_ANNOTATIONS {
        if let Some(pool) = annotations.get(key) {
            if !pools.contains_key(pool) {
                issues.warn(
                    format!("metadata.annotations[{key}]"),
                    format!("IPAddressPool {pool} does not exist or is invalid"),
                );
            }
        }
    }
}

/// Checks an EgressService; `namespace`/`name` are its own (and its Service's).
pub fn check_egress_service(
    namespace: &str,
    name: &str,
    s: &EgressServiceSpec,
    ctx: &Ctx<'_>,
    issues: &mut Issues,
) -> Option<EgressService> {
    let source_ip_by = match s.source_ip_by.as_deref() {
        None | Some("") | Some("LoadBalancerIP") => Some(SourceIpBy::LoadBalancerIp),
        Some("Network") => Some(SourceIpBy::Network),
        Some(other) => {
            issues.error(
                "spec.sourceIPBy",
                format!("{other:?} is not one of LoadBalancerIP, Network"),
            );
            None
        }
    };
    let node_selector = match &s.node_selector {
        None => Some(Selector::everything()),
        Some(sel) => parse_selector(sel, "spec.nodeSelector", issues),
    };
    let network = s.network.clone().filter(|n| !n.is_empty());
    if let Some(n) = &network {
        if n.chars().any(char::is_whitespace) {
            issues.error(
                "spec.network",
                format!("{n:?} is not a routing table id or name"),
            );
        }
    }
    let svc = ctx.services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(namespace)
            && s.metadata.name.as_deref() == Some(name)
    });
    match svc {
        None => issues.warn(
            "metadata.name",
            format!("no Service {namespace}/{name} (yet): egress is configured once a LoadBalancer Service of that name exists"),
        ),
        Some(svc) if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") => issues.warn(
            "metadata.name",
            format!("Service {namespace}/{name} is not of type LoadBalancer: egress is configured only for LoadBalancer Services"),
        ),
        Some(_) => {}
    }
    if !issues.is_ok() {
        return None;
    }
    Some(EgressService {
        namespace: namespace.to_string(),
        name: name.to_string(),
        source_ip_by: source_ip_by?,
        node_selector: node_selector?,
        network,
    })
}

/// Checks a NodeNetworkConfigurationPolicy.
pub fn check_network_policy(
    name: &str,
    s: &NodeNetworkConfigurationPolicySpec,
    issues: &mut Issues,
) -> Option<NetworkPolicy> {
    let labels = s.node_selector.clone().unwrap_or_default();
    for (k, v) in &labels {
        let field = format!("spec.nodeSelector[{k}]");
        if let Err(e) = check_label_key(k) {
            issues.error(&field, e);
        }
        if let Err(e) = check_label_value(v) {
            issues.error(&field, e);
        }
    }
    match &s.max_unavailable {
        Some(IntOrString::Int(n)) if *n < 0 => {
            issues.error("spec.maxUnavailable", format!("{n} must not be negative"))
        }
        Some(IntOrString::String(p)) => {
            let ok = p
                .strip_suffix('%')
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n <= 100)
                || p.parse::<u32>().is_ok();
            if !ok {
                issues.error(
                    "spec.maxUnavailable",
                    format!("{p:?} must be a count or a percentage such as \"50%\""),
                );
            }
        }
        _ => {}
    }
    let desired = match &s.desired_state {
        None => {
            issues.error("spec.desiredState", "required");
            None
        }
        Some(v) => {
            let (state, problems) = parse_desired_state(v);
            for (path, reason) in problems {
                let field = if path.is_empty() {
                    "spec.desiredState".to_string()
                } else if path.starts_with('[') {
                    format!("spec.desiredState{path}")
                } else {
                    format!("spec.desiredState.{path}")
                };
                issues.error(field, reason);
            }
            state
        }
    };
    if !issues.is_ok() {
        return None;
    }
    Some(NetworkPolicy {
        name: name.to_string(),
        node_selector: Selector::from_labels(&labels),
        max_unavailable: s.max_unavailable.clone(),
        desired_state: desired?,
    })
}

impl super::Phase<'_> {
    /// Services (after pools, which their annotations name): checked, and kept when valid.
    pub(super) fn services(&mut self, entries: &[super::Entry<'_>]) {
        for e in entries {
            let Object::Service(svc) = &e.object else {
                continue;
            };
            let mut issues = Issues::default();
            check_service(svc, &self.snap.config.pools, &mut issues);
            if self.record(e, issues) {
                self.snap.services.push(svc.clone());
            }
        }
    }

    /// EgressServices (after Services, which they refer to).
    pub(super) fn egress_services(&mut self, entries: &[super::Entry<'_>]) {
        for e in entries {
            let Object::EgressService(es) = &e.object else {
                continue;
            };
            let key = self.reports[e.report].key.clone();
            let ns = key.namespace.clone().unwrap_or_default();
            let mut issues = Issues::default();
            let typed = check_egress_service(&ns, &key.name, &es.spec, &self.ctx(), &mut issues);
            if self.record(e, issues) {
                if let Some(t) = typed {
                    self.snap.config.egress_services.insert((ns, key.name), t);
                }
            }
        }
    }

    /// nmstate policies.
    pub(super) fn network_policies(&mut self, entries: &[super::Entry<'_>]) {
        for e in entries {
            let Object::NodeNetworkConfigurationPolicy(p) = &e.object else {
                continue;
            };
            let name = self.name(e);
            let mut issues = Issues::default();
            let typed = check_network_policy(&name, &p.spec, &mut issues);
            if self.record(e, issues) {
                if let Some(t) = typed {
                    self.snap.config.network_policies.insert(name, t);
                }
            }
        }
    }
}
