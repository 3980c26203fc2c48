//! nmstate's `state: absent` wildcard matching: an absent entry matches every route or rule
//! whose fields equal the fields the entry gives; omitted fields match anything and an empty
//! string matches only entries without that field.

use crate::kernel::{KRoute, KRule, KernelState};
use metalroute_crds::nmstate::{
    Family, Route, RouteRuleSelector, RouteSelector, RouteType, RuleAction,
};
use netlink_packet_route::route::RouteType as KRouteType;
use netlink_packet_route::rule::RuleAction as KRuleAction;
use netlink_packet_route::AddressFamily;

fn ktype(t: RouteType) -> KRouteType {
    match t {
        RouteType::Blackhole => KRouteType::BlackHole,
        RouteType::Unreachable => KRouteType::Unreachable,
        RouteType::Prohibit => KRouteType::Prohibit,
    }
}

/// Whether absent selector `s` matches the desired (or derived) route `r`.
pub fn route_selector_matches_desired(s: &RouteSelector, r: &Route) -> bool {
    s.destination.is_none_or(|d| d == r.destination)
        && s.next_hop_interface
            .as_ref()
            .is_none_or(|n| Some(n) == r.next_hop_interface.as_ref())
        && s.next_hop_address.matches(r.next_hop_address.as_ref())
        && s.metric.is_none_or(|m| m == r.effective_metric())
        && s.table.is_none_or(|t| t == r.table)
        && s.route_type.is_none_or(|t| Some(t) == r.route_type)
}

/// Whether absent selector `s` matches kernel route `k` (any of its next hops).
pub fn route_selector_matches_kernel(s: &RouteSelector, k: &KRoute, cur: &KernelState) -> bool {
    let hop_ok = |gw: Option<std::net::IpAddr>, oif: Option<u32>| {
        s.next_hop_interface
            .as_ref()
            .is_none_or(|n| oif.map(|i| cur.name_of(i)).as_deref() == Some(n.as_str()))
            && s.next_hop_address.matches(gw.as_ref())
    };
    let hops_ok = if k.hops.is_empty() {
        hop_ok(None, None)
    } else {
        k.hops.iter().any(|h| hop_ok(h.gateway, h.oif))
    };
    s.destination.is_none_or(|d| d == k.dst)
        && s.metric.is_none_or(|m| m == k.metric)
        && s.table.is_none_or(|t| t.get() == k.table)
        && s.route_type.is_none_or(|t| ktype(t) == k.kind)
        && hops_ok
}

/// Whether absent rule selector `s` matches kernel rule `k`.
pub fn rule_selector_matches_kernel(s: &RouteRuleSelector, k: &KRule) -> bool {
    let fam = match k.family {
        AddressFamily::Inet => Family::Ipv4,
        AddressFamily::Inet6 => Family::Ipv6,
        _ => return false,
    };
    let action_ok = s.action.is_none_or(|a| {
        k.action
            == match a {
                RuleAction::Blackhole => KRuleAction::Blackhole,
                RuleAction::Unreachable => KRuleAction::Unreachable,
                RuleAction::Prohibit => KRuleAction::Prohibit,
            }
    });
    s.family.is_none_or(|f| f == fam)
        && s.ip_from.matches(k.src.as_ref())
        && s.ip_to.matches(k.dst.as_ref())
        && s.priority.is_none_or(|p| p == k.priority)
        && s.table
            .is_none_or(|t| t.get() == k.table && k.action == KRuleAction::ToTable)
        && s.fwmark.is_none_or(|m| Some(m) == k.fwmark)
        && s.fwmask.is_none_or(|m| Some(m) == k.fwmask)
        && s.iif
            .as_ref()
            .is_none_or(|n| k.iif.as_deref() == Some(n.as_str()))
        && action_ok
}
