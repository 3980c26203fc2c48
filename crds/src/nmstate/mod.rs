//! nmstate's `desiredState` document (the subset metalroute applies), as typed values.
//!
//! The NodeNetworkConfigurationPolicy keeps `spec.desiredState` as raw JSON so that no key is lost;
//! [`parse_desired_state`] turns it into [`DesiredState`] and lists every key outside the subset
//! and every bad value. This module is pure data: the `metalroute-nmstate` crate applies it to the
//! kernel.
//!
//! Supported subset (nmstate's field names and semantics):
//!
//! | key | meaning |
//! |---|---|
//! | `interfaces[].name`, `type`, `state` (up/down/absent), `mtu` | types `ethernet`, `veth` (`veth.peer`), `dummy`, `linux-bridge` (`bridge.port[].name`, `bridge.options.stp.enabled`), `vlan` (`vlan.base-iface`, `vlan.id`), `vrf` (`vrf.port`, `vrf.route-table-id`); `type` omitted = an existing interface |
//! | `interfaces[].ipv4` / `ipv6` | `enabled`, `dhcp: false`, `autoconf: false` (IPv6), `address[].ip` + `prefix-length` (the complete list), `forwarding` |
//! | `interfaces[].ipv4.rp-filter` | metalroute extension: `disabled`/`strict`/`loose` (or 0/1/2) |
//! | `routes.config[]` | `destination`, `next-hop-interface`, `next-hop-address`, `metric`, `table-id`, `weight`, `route-type`, `source`, `state: absent` (wildcard) |
//! | `route-rules.config[]` | `family`, `ip-from`, `ip-to`, `priority`, `route-table`, `fwmark`, `fwmask`, `iif`, `action`, `state: absent` (wildcard) |
//! | `l3mdev-accept` | metalroute extension: `true`/`false` or `{tcp, udp, raw}` |

mod parse;
mod render;
mod sysctl;
mod types;

pub use sysctl::{explicit_sysctls, l3mdev_sysctls, needed_sysctls, SysctlKey, SysctlSetting};
pub use types::*;

/// Parses a `desiredState` value. Returns the typed state (when there is no problem) and every
/// problem found, each as (path relative to `desiredState`, e.g. `interfaces[1].foo`, reason).
/// A `null` value is an empty state.
pub fn parse_desired_state(
    value: &serde_json::Value,
) -> (Option<DesiredState>, Vec<(String, String)>) {
    parse::parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed() -> serde_json::Value {
        json!({
            "interfaces": [
                {"name": "ens4vrf", "type": "vrf", "state": "up",
                 "vrf": {"port": ["ens4"], "route-table-id": 2}},
                {"name": "ens4", "type": "ethernet", "state": "up",
                 "ipv4": {"address": [{"ip": "192.168.130.130", "prefix-length": 24}],
                          "dhcp": false, "enabled": true}}
            ],
            "routes": {"config": [
                {"destination": "0.0.0.0/0", "metric": 150, "next-hop-address": "192.168.130.1",
                 "next-hop-interface": "ens4", "table-id": 2}
            ]},
            "route-rules": {"config": [
                {"ip-to": "172.30.0.0/16", "priority": 998, "route-table": 254},
                {"ip-to": "10.128.0.0/14", "priority": 998, "route-table": 254},
                {"ip-to": "169.254.0.0/17", "priority": 998, "route-table": 254}
            ]}
        })
    }

    fn problems(v: serde_json::Value) -> Vec<(String, String)> {
        let (state, problems) = parse_desired_state(&v);
        assert!(state.is_none() || problems.is_empty());
        problems
    }

    fn has(problems: &[(String, String)], path: &str, reason_part: &str) -> bool {
        problems
            .iter()
            .any(|(p, r)| p == path && r.contains(reason_part))
    }

    #[test]
    fn seed_symmetric_routing_parses() {
        let (state, problems) = parse_desired_state(&seed());
        assert_eq!(problems, Vec::<(String, String)>::new());
        let state = state.unwrap();
        assert_eq!(state.interfaces.len(), 2);
        assert_eq!(
            state.interfaces[0].kind,
            InterfaceKind::Vrf {
                ports: Some(vec![InterfaceName::new("ens4").unwrap()]),
                table: RouteTableId::new(2)
            }
        );
        assert_eq!(state.routes[0].table.get(), 2);
        assert_eq!(state.routes[0].metric, Some(150));
        assert_eq!(state.route_rules.len(), 3);
        assert_eq!(state.route_rules[0].table, Some(RouteTableId::MAIN));
        assert_eq!(
            state.route_rules[2].ip_to.unwrap().to_string(),
            "169.254.0.0/17"
        );
        assert!(state.has_vrf());
    }

    #[test]
    fn render_round_trips() {
        let (state, _) = parse_desired_state(&seed());
        let state = state.unwrap();
        let (again, problems) = parse_desired_state(&state.to_value());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(again.unwrap(), state);
    }

    #[test]
    fn null_is_empty() {
        let (state, problems) = parse_desired_state(&serde_json::Value::Null);
        assert!(problems.is_empty());
        assert_eq!(state.unwrap(), DesiredState::default());
    }

    #[test]
    fn every_unsupported_key_is_reported() {
        let p = problems(json!({
            "dns-resolver": {},
            "interfaces": [
                {"name": "eth0", "type": "ethernet", "lldp": {"enabled": true},
                 "ipv4": {"auto-dns": true, "enabled": true}},
                {"name": "bond0", "type": "bond"}
            ],
            "routes": {"running": [], "config": [{"destination": "192.0.2.0/24",
                "next-hop-interface": "eth0", "cwnd": 4}]},
        }));
        assert!(has(&p, "dns-resolver", "unsupported key"), "{p:?}");
        assert!(has(&p, "interfaces[0].lldp", "unsupported key"));
        assert!(has(&p, "interfaces[0].ipv4.auto-dns", "unsupported key"));
        assert!(has(
            &p,
            "interfaces[1].type",
            "unsupported interface type \"bond\""
        ));
        assert!(has(&p, "routes.running", "unsupported key"));
        assert!(has(&p, "routes.config[0].cwnd", "unsupported key"));
        assert_eq!(p.len(), 6, "{p:?}");
    }

    #[test]
    fn bad_values_name_their_path() {
        let p = problems(json!({
            "interfaces": [
                {"name": "this-name-is-far-too-long", "type": "dummy"},
                {"name": "v0", "type": "vrf", "vrf": {"route-table-id": 254}},
                {"name": "e1", "ipv4": {"dhcp": true, "address": [{"ip": "2001:db8::1", "prefix-length": 24}]}},
                {"name": "e2", "mtu": 10, "ipv6": {"address": [{"ip": "x", "prefix-length": 200}]}},
                {"name": "vl", "type": "vlan", "vlan": {"base-iface": "e1", "id": 5000}},
            ],
            "routes": {"config": [
                {"destination": "198.51.100.0/24"},
                {"destination": "nope", "next-hop-interface": "e1"},
                {"destination": "198.51.100.0/24", "next-hop-interface": "e1", "next-hop-address": "2001:db8::1"},
            ]},
            "route-rules": {"config": [
                {"ip-to": "203.0.113.0/24", "priority": 5000},
                {"ip-from": "203.0.113.0/24", "ip-to": "2001:db8::/32"},
                {"priority": 100, "action": "explode"},
                {"fwmark": "0xzz"},
            ]}
        }));
        assert!(has(&p, "interfaces[0].name", "at most 15"), "{p:?}");
        assert!(has(&p, "interfaces[1].vrf.route-table-id", "reserved"));
        assert!(has(&p, "interfaces[2].ipv4.dhcp", "not supported"));
        assert!(has(
            &p,
            "interfaces[2].ipv4.address[0].ip",
            "not an ipv4 address"
        ));
        assert!(has(&p, "interfaces[3].mtu", "out of range"));
        assert!(has(
            &p,
            "interfaces[3].ipv6.address[0].ip",
            "not an IP address"
        ));
        assert!(has(
            &p,
            "interfaces[3].ipv6.address[0].prefix-length",
            "out of range"
        ));
        assert!(has(&p, "interfaces[4].vlan.id", "out of range"));
        assert!(has(&p, "routes.config[0].next-hop-interface", "required"));
        assert!(has(&p, "routes.config[1].destination", "not an IP prefix"));
        assert!(has(&p, "routes.config[2].next-hop-address", "family"));
        assert!(has(&p, "route-rules.config[0].priority", "OVN-Kubernetes"));
        assert!(has(
            &p,
            "route-rules.config[1]",
            "different address families"
        ));
        assert!(has(&p, "route-rules.config[2].action", "not a rule action"));
        assert!(has(&p, "route-rules.config[3].fwmark", "hex"));
    }

    #[test]
    fn cross_checks() {
        let p = problems(json!({
            "interfaces": [
                {"name": "v0", "type": "vrf", "vrf": {"port": ["p0"], "route-table-id": 10}},
                {"name": "v1", "type": "vrf", "vrf": {"port": ["p0"], "route-table-id": 10}},
                {"name": "v0", "type": "dummy"},
                {"name": "gone", "type": "dummy", "state": "absent"},
            ],
            "routes": {"config": [
                {"destination": "192.0.2.0/24", "next-hop-interface": "gone"},
                {"destination": "192.0.2.0/24", "next-hop-interface": "gone"},
            ]}
        }));
        assert!(has(&p, "interfaces[2].name", "also interfaces[0]"), "{p:?}");
        assert!(has(&p, "interfaces[1].vrf.port[0]", "already a port of v0"));
        assert!(has(&p, "interfaces[1].vrf.route-table-id", "already used"));
        assert!(has(&p, "routes.config[0].next-hop-interface", "absent"));
        assert!(has(&p, "routes.config[1]", "duplicate route"));
    }

    #[test]
    fn absent_wildcards() {
        let (state, p) = parse_desired_state(&json!({
            "routes": {"config": [
                {"state": "absent", "next-hop-interface": "eth1"},
                {"state": "absent", "destination": "0.0.0.0/0", "next-hop-address": ""}
            ]},
            "route-rules": {"config": [
                {"state": "absent", "ip-from": "", "route-table": 0}
            ]}
        }));
        assert!(p.is_empty(), "{p:?}");
        let s = state.unwrap();
        assert_eq!(s.absent_routes.len(), 2);
        assert_eq!(s.absent_routes[0].destination, None);
        assert_eq!(s.absent_routes[1].next_hop_address, Match::Unset);
        assert_eq!(s.absent_route_rules[0].ip_from, Match::Unset);
        assert_eq!(s.absent_route_rules[0].ip_to, Match::Any);
        assert_eq!(s.absent_route_rules[0].table, Some(RouteTableId::MAIN));
        assert!(Match::<u32>::Unset.matches(None));
        assert!(!Match::Is(3).matches(None));
        assert!(Match::Any.matches(Some(&3)));
    }

    #[test]
    fn host_bits_are_cleared_and_hex_marks_parse() {
        let (state, p) = parse_desired_state(&json!({
            "routes": {"config": [{"destination": "198.51.100.7/24", "next-hop-interface": "e0"}]},
            "route-rules": {"config": [{"fwmark": "0x10", "fwmask": 255, "priority": 100, "route-table": 100}]}
        }));
        assert!(p.is_empty(), "{p:?}");
        let s = state.unwrap();
        assert_eq!(s.routes[0].destination.to_string(), "198.51.100.0/24");
        assert_eq!(s.route_rules[0].fwmark, Some(16));
        assert_eq!(s.route_rules[0].fwmask, Some(255));
        assert_eq!(s.route_rules[0].family, Family::Ipv4);
    }

    #[test]
    fn sysctls_in_stable_order_with_vrf_l3mdev() {
        let mut v = seed();
        v["interfaces"][1]["ipv4"]["forwarding"] = json!(true);
        v["interfaces"][1]["ipv4"]["rp-filter"] = json!("loose");
        v["interfaces"][1]["ipv6"] = json!({"forwarding": true, "enabled": true});
        let (state, p) = parse_desired_state(&v);
        assert!(p.is_empty(), "{p:?}");
        let lines: Vec<String> = needed_sysctls(&state.unwrap())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "net.ipv4.conf.ens4.forwarding = 1",
                "net.ipv6.conf.ens4.forwarding = 1",
                "net.ipv4.conf.ens4.rp_filter = 2",
                "net.ipv4.tcp_l3mdev_accept = 1",
                "net.ipv4.udp_l3mdev_accept = 1",
                "net.ipv4.raw_l3mdev_accept = 1",
            ]
        );
        let vlan = SysctlKey::Ipv4Forwarding(InterfaceName::new("ens4.100").unwrap());
        assert_eq!(vlan.to_string(), "net.ipv4.conf.ens4/100.forwarding");
        assert_eq!(
            vlan.proc_path(),
            std::path::PathBuf::from("/proc/sys/net/ipv4/conf/ens4.100/forwarding")
        );
    }

    #[test]
    fn l3mdev_explicit_false_wins() {
        let mut v = seed();
        v["l3mdev-accept"] = json!({"udp": false});
        let (state, p) = parse_desired_state(&v);
        assert!(p.is_empty(), "{p:?}");
        let s = needed_sysctls(&state.unwrap());
        assert!(s
            .iter()
            .any(|x| x.key == SysctlKey::UdpL3mdevAccept && x.value == 0));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn absent_interfaces_need_no_type_section() {
        let (state, p) = parse_desired_state(&json!({"interfaces": [
            {"name": "blue", "type": "vrf", "state": "absent"},
            {"name": "v5", "type": "vlan", "state": "absent"}
        ]}));
        assert!(p.is_empty(), "{p:?}");
        let s = state.unwrap();
        assert_eq!(s.interfaces[0].state, InterfaceState::Absent);
        assert_eq!(s.interfaces[0].kind, InterfaceKind::Unknown);
        // Present ones still need it.
        let p = problems(json!({"interfaces": [{"name": "blue", "type": "vrf"}]}));
        assert!(has(&p, "interfaces[0].vrf", "required"), "{p:?}");
    }

    #[test]
    fn not_a_mapping() {
        let p = problems(json!([1, 2]));
        assert_eq!(
            p,
            vec![(String::new(), "must be a mapping, found a list".to_string())]
        );
    }
}
