//! BGP interop with GoBGP 3: our speaker in one namespace, gobgpd in another; each test one
//! feature, checked in GoBGP's own RIB (`gobgp global rib -j`) and neighbor state.
//!
//! The scenarios are written once in `interop_common/scenarios.rs`; this is GoBGP's table.
//! Left out: `route_refresh` (the gobgp CLI cannot make gobgpd send a ROUTE-REFRESH) and
//! `two_octet_session` (gobgpd always announces the 4-octet AS capability).

mod interop_common;

use interop_common::gobgp::GobgpRouter;

interop_common::interop_tests! { GobgpRouter;
    interop_gobgp_ebgp_ipv4 => ebgp_ipv4,
    interop_gobgp_ebgp_ipv6 => ebgp_ipv6,
    interop_gobgp_dual_stack => dual_stack,
    interop_gobgp_dual_stack_ipv6_session => dual_stack_ipv6_session,
    interop_gobgp_ibgp_local_pref => ibgp_local_pref,
    interop_gobgp_ibgp_default_local_pref => ibgp_default_local_pref,
    interop_gobgp_communities => communities,
    interop_gobgp_four_octet_asn => four_octet_asn,
    interop_gobgp_withdraw => withdraw,
    interop_gobgp_md5 => md5,
    interop_gobgp_md5_wrong_password => md5_wrong_password,
    interop_gobgp_hold_timer_expiry => hold_timer_expiry,
    interop_gobgp_passive => passive,
    interop_gobgp_port_passive => port_router_dials,
    interop_gobgp_port => port_we_dial,
    interop_gobgp_source_address => source_address,
    interop_gobgp_ebgp_multihop => ebgp_multihop,
    interop_gobgp_graceful_restart => graceful_restart,
    interop_gobgp_graceful_restart_helper => graceful_restart_helper,
    interop_gobgp_peer_down_bfd_cease => peer_down_bfd_cease,
    interop_gobgp_remove_peer => remove_peer,
    interop_gobgp_config_change_resets => config_change_resets,
    interop_gobgp_gtsm => gtsm,
    interop_gobgp_gtsm_required_by_peer => gtsm_required_by_peer,
    interop_gobgp_unconfigured_peer_rejected => unconfigured_peer_rejected,
    interop_gobgp_dynamic_asn => dynamic_asn,
    interop_gobgp_two_sessions_independent => two_sessions_independent,
    interop_gobgp_md5_passive_listener => md5_passive_listener,
}
