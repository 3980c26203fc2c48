//! metalroute ↔ metalroute BFD over IPv6 link-local addresses (sessions of unnumbered BGP
//! peers) in two namespaces: the sessions come Up on their interface; the veth is deleted and
//! created again under the same names and addresses (a new interface index): re-adding the
//! sessions, as the agent's BFD actuator does when it sees the new index, must bind fresh
//! sockets to the new interface — the old receive socket is bound to the device that is gone —
//! and bring the sessions Up again.

use std::net::Ipv6Addr;
use std::time::Duration;

use metalroute_bgp::bfd::{BfdHandle, SessionKey, SessionParams, State};
use metalroute_netns::{addr, prerequisites, veth, wait_for, Need, Netns};

const UP: Duration = Duration::from_secs(20);

/// The veth `to-b` (in a, fe80::a) ↔ `to-a` (in b, fe80::b), fixed link-local addresses.
fn link(a: &Netns, b: &Netns) {
    veth(a, "to-b", b, "to-a");
    addr(a, "to-b", "fe80::a/64");
    addr(b, "to-a", "fe80::b/64");
}

#[test]
fn interop_metalroute_bfd_unnumbered_up_and_reopened_after_interface_recreated() {
    if !prerequisites(
        "interop_metalroute_bfd_unnumbered_up_and_reopened_after_interface_recreated",
        &[Need::Root],
    ) {
        return;
    }
    let a = Netns::new("bfdmrua");
    let b = Netns::new("bfdmrub");
    link(&a, &b);
    let (ll_a, ll_b): (Ipv6Addr, Ipv6Addr) =
        ("fe80::a".parse().unwrap(), "fe80::b".parse().unwrap());
    let params = SessionParams::with_timers(100, 3).unwrap();
    let rt_a = a.runtime(1);
    let rt_b = b.runtime(1);
    let ha = rt_a.block_on(async { BfdHandle::spawn() }).unwrap();
    let hb = rt_b.block_on(async { BfdHandle::spawn() }).unwrap();
    let ka = SessionKey::link_local("to-b", ll_b, ll_a);
    let kb = SessionKey::link_local("to-a", ll_a, ll_b);
    let add = || {
        rt_a.block_on(ha.add(ka.clone(), params.clone())).unwrap();
        rt_b.block_on(hb.add(kb.clone(), params.clone())).unwrap();
    };
    let wait_up = |what: &str| {
        for (h, rt, k) in [(&ha, &rt_a, &ka), (&hb, &rt_b, &kb)] {
            wait_for(&format!("{what}: {k} Up"), UP, || {
                let s = rt.block_on(h.status(k.clone())).ok()??;
                (s.state == State::Up).then_some(())
            });
        }
    };
    add();
    wait_up("first");

    // Same names, same addresses, new interface indexes.
    a.exec(&["ip", "link", "del", "to-b"]);
    wait_for("a's session leaves Up", UP, || {
        let s = rt_a.block_on(ha.status(ka.clone())).ok()??;
        (s.state != State::Up).then_some(())
    });
    link(&a, &b);
    rt_a.block_on(ha.remove(ka.clone())).unwrap();
    rt_b.block_on(hb.remove(kb.clone())).unwrap();
    add();
    wait_up("after the interface was re-created");
    rt_a.block_on(ha.shutdown()).unwrap();
    rt_b.block_on(hb.shutdown()).unwrap();
}
