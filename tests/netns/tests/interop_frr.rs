//! BGP interop with FRR 8.4: our speaker in one namespace, FRR's bgpd in another, each test one
//! feature, checked in FRR's own RIB and neighbor state (`vtysh ... json`).
//!
//! The scenarios are written once in `interop_common/scenarios.rs`; this is FRR's table.
//! Left out: `two_octet_session` (no bgpd knob turns off only the 4-octet AS capability),
//! `port_we_dial` (bgpd runs on port 179 here).

mod interop_common;

use interop_common::frr::FrrRouter;

interop_common::interop_tests! { FrrRouter;
    interop_frr_ebgp_ipv4 => ebgp_ipv4,
    interop_frr_ebgp_ipv6 => ebgp_ipv6,
    interop_frr_dual_stack => dual_stack,
    interop_frr_dual_stack_ipv6_session => dual_stack_ipv6_session,
    interop_frr_ibgp_local_pref => ibgp_local_pref,
    interop_frr_ibgp_default_local_pref => ibgp_default_local_pref,
    interop_frr_communities => communities,
    interop_frr_four_octet_asn => four_octet_asn,
    interop_frr_withdraw => withdraw,
    interop_frr_md5_right_password => md5,
    interop_frr_md5_wrong_password => md5_wrong_password,
    interop_frr_hold_timer_expiry => hold_timer_expiry,
    interop_frr_passive => passive,
    interop_frr_port => port_router_dials,
    interop_frr_source_address => source_address,
    interop_frr_ebgp_multihop => ebgp_multihop,
    interop_frr_graceful_restart => graceful_restart,
    interop_frr_graceful_restart_helper => graceful_restart_helper,
    interop_frr_route_refresh => route_refresh,
    interop_frr_peer_down_bfd_cease => peer_down_bfd_cease,
    interop_frr_remove_peer => remove_peer,
    interop_frr_config_change_resets => config_change_resets,
    interop_frr_gtsm => gtsm,
    interop_frr_gtsm_required_by_peer => gtsm_required_by_peer,
    interop_frr_unconfigured_peer_rejected => unconfigured_peer_rejected,
    interop_frr_dynamic_asn => dynamic_asn,
    interop_frr_two_sessions_independent => two_sessions_independent,
    interop_frr_md5_passive_listener => md5_passive_listener,
}
