//! Decision changes between two plans of one node: the lines the agent logs ("service, node,
//! reason") when a Service starts or stops being announced, or is withheld for another reason.

use super::{BgpDecision, NodePlan, ServiceKey};
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

/// One Service whose BGP decision differs between two plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionChange {
    /// The node.
    pub node: String,
    /// The Service.
    pub service: ServiceKey,
    /// Its IPs in the new plan (the old plan's when it disappeared).
    pub ips: Vec<IpAddr>,
    /// The old decision; `None` when the Service was not in the old plan.
    pub before: Option<BgpDecision>,
    /// The new decision; `None` when the Service is gone.
    pub after: Option<BgpDecision>,
}

impl fmt::Display for DecisionChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
        let show = |d: &Option<BgpDecision>| {
            d.as_ref()
                .map_or_else(|| "absent".to_string(), ToString::to_string)
        };
        write!(
            f,
            "service {} [{}] on node {}: {} -> {}",
            self.service,
            ips.join(", "),
            self.node,
            show(&self.before),
            show(&self.after)
        )
    }
}

/// Every Service whose decision or IPs changed, in Service order.
pub fn decision_changes(old: &NodePlan, new: &NodePlan) -> Vec<DecisionChange> {
    let keys: BTreeSet<&ServiceKey> = old.services.keys().chain(new.services.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (old.services.get(k), new.services.get(k));
            if a == b {
                return None;
            }
            Some(DecisionChange {
                node: new.node.clone(),
                service: k.clone(),
                ips: b.or(a).map(|s| s.ips.clone()).unwrap_or_default(),
                before: a.map(|s| s.bgp.clone()),
                after: b.map(|s| s.bgp.clone()),
            })
        })
        .collect()
}
