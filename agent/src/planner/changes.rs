//! Decision changes between two plans of one node: the lines the agent logs ("service, node,
//! reason") when a Service starts or stops being announced, or is withheld for another reason.

use super::{BgpDecision, NodePlan, ServiceKey};
use std::cmp::Ordering;
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

/// Every Service whose decision or IPs changed, in Service order: one ordered walk over both
/// plans' Services (no lookups), so comparing two plans of 100,000 Services stays cheap.
pub fn decision_changes(old: &NodePlan, new: &NodePlan) -> Vec<DecisionChange> {
    let mut out = Vec::new();
    let mut a = old.services.iter().peekable();
    let mut b = new.services.iter().peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
        };
        // The peeks above decide which side has the next key (the `else` never runs).
        let (k, before, after) = match order {
            Ordering::Less => {
                let Some((k, x)) = a.next() else { break };
                (k, Some(x), None)
            }
            Ordering::Greater => {
                let Some((k, y)) = b.next() else { break };
                (k, None, Some(y))
            }
            Ordering::Equal => {
                let (Some((k, x)), Some((_, y))) = (a.next(), b.next()) else {
                    break;
                };
                (k, Some(x), Some(y))
            }
        };
        if before == after {
            continue;
        }
        out.push(DecisionChange {
            node: new.node.clone(),
            service: k.clone(),
            ips: after.or(before).map(|s| s.ips.clone()).unwrap_or_default(),
            before: before.map(|s| s.bgp.clone()),
            after: after.map(|s| s.bgp.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{ServicePlan, WithheldReason};

    fn svc(ip: &str, announce: bool) -> ServicePlan {
        ServicePlan {
            ips: vec![ip.parse().unwrap()],
            pool: None,
            bgp: if announce {
                BgpDecision::Announce {
                    advertisements: ["a".to_string()].into(),
                }
            } else {
                BgpDecision::Withhold {
                    reason: WithheldReason::NoEndpoints,
                    detail: String::new(),
                }
            },
        }
    }

    #[test]
    fn the_ordered_walk_finds_every_added_removed_and_changed_service() {
        let mut old = NodePlan::default();
        let mut new = NodePlan::default();
        // a: only old; b: same; c: changed; d: only new; e: only old; f: only new.
        for (n, ip, a) in [
            ("a", "192.0.2.1", true),
            ("b", "192.0.2.2", true),
            ("c", "192.0.2.3", true),
            ("e", "192.0.2.5", false),
        ] {
            old.services
                .insert(ServiceKey::new("default", n), svc(ip, a));
        }
        for (n, ip, a) in [
            ("b", "192.0.2.2", true),
            ("c", "192.0.2.3", false),
            ("d", "192.0.2.4", true),
            ("f", "192.0.2.6", true),
        ] {
            new.services
                .insert(ServiceKey::new("default", n), svc(ip, a));
        }
        let got: Vec<(String, bool, bool)> = decision_changes(&old, &new)
            .into_iter()
            .map(|c| (c.service.name, c.before.is_some(), c.after.is_some()))
            .collect();
        let want: Vec<(String, bool, bool)> = [
            ("a", true, false),
            ("c", true, true),
            ("d", false, true),
            ("e", true, false),
            ("f", false, true),
        ]
        .iter()
        .map(|(n, b, a)| (n.to_string(), *b, *a))
        .collect();
        assert_eq!(got, want);
        assert!(decision_changes(&new, &new).is_empty());
    }
}
