//! BFD → BGP coupling decisions: which BFD events take a BGP session down (RFC 5882 §3.2: a path
//! failure does, an administrative shutdown on either side does not) and which BGP peer a BFD
//! session protects (same VRF, same peer address).

mod bfd_common;

use std::time::Duration;

use bfd_common::*;
use metalroute_bgp::bfd::coupling::{peer_key, takes_bgp_down};
use metalroute_bgp::bfd::{Diagnostic, SessionKey, State};

#[test]
fn peer_key_keeps_vrf_and_peer_address() {
    let k = SessionKey::single_hop(B, A).in_vrf("red");
    let p = peer_key(&k);
    assert_eq!(p.vrf.as_deref(), Some("red"));
    assert_eq!(p.peer_address(), Some(B));
    assert_eq!(peer_key(&SessionKey::multi_hop(B, A)).vrf, None);
}

#[test]
fn only_path_failures_take_bgp_down() {
    // Detection time expiry.
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    p.drop_b_to_a = true;
    p.run_for(Duration::from_secs(1));
    let downs: Vec<_> = p
        .events_a
        .iter()
        .filter(|(_, e)| e.from == State::Up)
        .collect();
    assert!(takes_bgp_down(&downs[0].1));
    assert_eq!(
        downs[0].1.diagnostic,
        Diagnostic::ControlDetectionTimeExpired
    );
    // The peer signalling Down (it lost us) is a failure for us too.
    assert!(p
        .events_b
        .iter()
        .any(|(_, e)| e.from == State::Up && takes_bgp_down(e)));

    // Administrative down, local or remote, is not.
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    let ka = p.ka.clone();
    p.a.set_admin_down(p.now, &ka, true).unwrap();
    p.deliver();
    assert!(p
        .events_a
        .iter()
        .chain(&p.events_b)
        .all(|(_, e)| !takes_bgp_down(e)));
    // Going Up never does.
    assert!(p
        .events_a
        .iter()
        .filter(|(_, e)| e.is_up())
        .all(|(_, e)| !takes_bgp_down(e)));
}
