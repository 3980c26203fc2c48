//! What Linux has, independent of the running host: the per-interface `conf/<x>` knobs of IPv4
//! (`devinet.c`) and IPv6 (`addrconf.c`), and a few keys people often write that do not exist.
//!
//! The lists are those of Linux 6.18 (the newest kernel seen here); a knob missing from them is
//! reported as "not a Linux sysctl", which is how `net.ipv6.conf.<if>.rp_filter` is caught.

use crate::sysctl::{Family, Sysctl};

/// `net.ipv4.conf.<x>.*` knobs.
pub const IPV4_DEVCONF: &[&str] = &[
    "accept_local",
    "accept_redirects",
    "accept_source_route",
    "arp_accept",
    "arp_announce",
    "arp_evict_nocarrier",
    "arp_filter",
    "arp_ignore",
    "arp_notify",
    "bc_forwarding",
    "bootp_relay",
    "disable_policy",
    "disable_xfrm",
    "drop_gratuitous_arp",
    "drop_unicast_in_l2_multicast",
    "force_igmp_version",
    "forwarding",
    "igmpv2_unsolicited_report_interval",
    "igmpv3_unsolicited_report_interval",
    "ignore_routes_with_linkdown",
    "log_martians",
    "mc_forwarding",
    "medium_id",
    "promote_secondaries",
    "proxy_arp",
    "proxy_arp_pvlan",
    "route_localnet",
    "rp_filter",
    "secure_redirects",
    "send_redirects",
    "shared_media",
    "src_valid_mark",
    "tag",
];

/// `net.ipv6.conf.<x>.*` knobs.
pub const IPV6_DEVCONF: &[&str] = &[
    "accept_dad",
    "accept_ra",
    "accept_ra_defrtr",
    "accept_ra_from_local",
    "accept_ra_min_hop_limit",
    "accept_ra_min_lft",
    "accept_ra_mtu",
    "accept_ra_pinfo",
    "accept_ra_rt_info_max_plen",
    "accept_ra_rt_info_min_plen",
    "accept_ra_rtr_pref",
    "accept_redirects",
    "accept_source_route",
    "accept_unsolicited_na",
    "accept_untracked_na",
    "addr_gen_mode",
    "autoconf",
    "dad_transmits",
    "disable_ipv6",
    "disable_policy",
    "drop_unicast_in_l2_multicast",
    "drop_unsolicited_na",
    "enhanced_dad",
    "force_forwarding",
    "force_mld_version",
    "force_tllao",
    "forwarding",
    "hop_limit",
    "ignore_routes_with_linkdown",
    "ioam6_enabled",
    "ioam6_id",
    "ioam6_id_wide",
    "keep_addr_on_down",
    "max_addresses",
    "max_desync_factor",
    "mc_forwarding",
    "mldv1_unsolicited_report_interval",
    "mldv2_unsolicited_report_interval",
    "mtu",
    "ndisc_evict_nocarrier",
    "ndisc_notify",
    "ndisc_tclass",
    "optimistic_dad",
    "proxy_ndp",
    "ra_defrtr_metric",
    "ra_honor_pio_life",
    "ra_honor_pio_pflag",
    "regen_max_retry",
    "regen_min_advance",
    "router_probe_interval",
    "router_solicitation_delay",
    "router_solicitation_interval",
    "router_solicitation_max_interval",
    "router_solicitations",
    "rpl_seg_enabled",
    "seg6_enabled",
    "seg6_require_hmac",
    "stable_secret",
    "suppress_frag_ndisc",
    "temp_prefered_lft",
    "temp_valid_lft",
    "use_oif_addrs_only",
    "use_optimistic",
    "use_tempaddr",
];

/// Keys outside `conf/` that look plausible but Linux never had, with what was probably meant.
const NONEXISTENT: &[(&str, &str)] = &[
    (
        "net.ipv6.ip_forward",
        "IPv6 forwarding is net.ipv6.conf.all.forwarding",
    ),
    (
        "net.ipv6.rp_filter",
        "IPv6 has no reverse-path filter sysctl (use an nftables fib rule)",
    ),
];

/// Why a key is not a Linux sysctl, or `None` when it is (or may be: keys outside the catalog are
/// left to the host check).
pub fn not_in_linux(key: &Sysctl) -> Option<String> {
    match key {
        Sysctl::DevConf { family, attr, .. } => {
            let known = match family {
                Family::Ipv4 => IPV4_DEVCONF,
                Family::Ipv6 => IPV6_DEVCONF,
            };
            if known.contains(&attr.as_str()) {
                return None;
            }
            Some(match (family, attr.as_str()) {
                (Family::Ipv6, "rp_filter") => "IPv6 has no reverse-path filter sysctl; \
                     only net.ipv4.conf.<if>.rp_filter exists (for IPv6 use an nftables `fib saddr . iif oif missing drop` rule)"
                    .to_string(),
                _ => format!(
                    "Linux has no net.{}.conf.<if>.{attr} knob",
                    family.dir()
                ),
            })
        }
        Sysctl::Generic(parts) => {
            let dotted = key.dotted();
            if let Some((_, why)) = NONEXISTENT.iter().find(|(k, _)| *k == dotted) {
                return Some((*why).to_string());
            }
            // A glob over conf targets: judge the attribute.
            if let [net, fam, conf, _, attr] = parts.as_slice() {
                if net == "net" && conf == "conf" {
                    let family = match fam.as_str() {
                        "ipv4" => Family::Ipv4,
                        "ipv6" => Family::Ipv6,
                        _ => return None,
                    };
                    return not_in_linux(&Sysctl::DevConf {
                        family,
                        target: crate::ConfTarget::All,
                        attr: attr.clone(),
                    });
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_judges_keys() {
        let k = |s: &str| Sysctl::parse(s).unwrap();
        assert!(not_in_linux(&k("net.ipv6.conf.bridge-net.rp_filter"))
            .unwrap()
            .contains("IPv6 has no reverse-path filter"));
        assert!(not_in_linux(&k("net.ipv6.conf.*.rp_filter")).is_some());
        assert!(not_in_linux(&k("net.ipv4.conf.eth0.forwardin")).is_some());
        assert!(not_in_linux(&k("net.ipv6.ip_forward")).is_some());
        assert!(not_in_linux(&k("net.ipv4.conf.bridge-net.rp_filter")).is_none());
        assert!(not_in_linux(&k("net.ipv6.conf.eth0.accept_ra")).is_none());
        assert!(not_in_linux(&k("net.ipv4.ip_forward")).is_none());
        assert!(not_in_linux(&k("kernel.pid_max")).is_none());
    }

    #[test]
    fn catalogs_are_sorted_and_unique() {
        for list in [IPV4_DEVCONF, IPV6_DEVCONF] {
            let mut s = list.to_vec();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s, list);
        }
    }
}
