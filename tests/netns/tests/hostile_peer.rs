//! Hostile-peer suite: one speaker of ours in a namespace, a well-behaved FRR peer in a second
//! namespace, and a scripted raw-socket peer in a third that sends one malformed or edge-case
//! message per case (each case on its own connection, from its own address, to its own passive
//! peer config). Every case asserts the reaction RFC 4271 §6, RFC 6608, RFC 7606, RFC 4760 and
//! RFC 2918 prescribe, and that the FRR session stayed Established with its routes.

mod hostile_common;
mod interop_common;

use hostile_common::*;
use interop_common::{fixed, frr_conf, peer, plain, Ours, UP};
use metalroute_bgp::config::{Family, HoldTime, PeerAsn, PeerKey};
use metalroute_bgp::fsm::State;
use metalroute_bgp::packet::Origin;
use metalroute_bgp::session::ReceivedRoute;
use metalroute_bgp::speaker::PeerEvent;
use metalroute_netns::{addr, prerequisites, veth, wait_for, wait_for_ok, Frr, Need, Netns};
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const LOCAL_AS: u32 = 64511;
const HOSTILE_AS: u32 = 64600;
const OUR_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FRR_ADDR: &str = "203.0.113.2";
const FRR_PREFIX: &str = "203.0.113.64/26";
const OUR_PREFIX: &str = "203.0.113.128/26";
const WAIT: Duration = Duration::from_secs(15);

/// What one case knows when building its bytes.
struct Ctx {
    asn: u32,
    addr: Ipv4Addr,
    /// The case's prefix (a /32 in 198.51.100.0/24).
    prefix: Ipv4Addr,
}

impl Ctx {
    /// A valid UPDATE announcing `p` with ORIGIN IGP, AS_PATH [asn], NEXT_HOP = peer address.
    fn valid_update(&self, p: Ipv4Addr) -> Vec<u8> {
        update(
            &[],
            &[origin_igp(), as_path(&[self.asn]), next_hop(self.addr)],
            &nlri4(&[(p, 32)]),
        )
    }
    fn nlri(&self) -> Vec<u8> {
        nlri4(&[(self.prefix, 32)])
    }
}

/// Where in the handshake the hostile bytes go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// Instead of the peer's OPEN (our speaker is in OpenSent).
    OpenSent,
    /// After the peer's OPEN, instead of its KEEPALIVE (our speaker is in OpenConfirm).
    OpenConfirm,
    /// In an Established session.
    Established,
    /// In an Established session, after the case's prefix was announced validly.
    EstablishedWithRoute,
}

/// The NOTIFICATION data a case expects.
enum Data {
    Any,
    Exact(Vec<u8>),
    Of(fn(&Ctx) -> Vec<u8>),
}

/// The prescribed reaction.
enum Expect {
    /// NOTIFICATION code/subcode (data), then close.
    Notify(u8, u8, Data),
    /// Connection closed without a NOTIFICATION from us, session not Established.
    ClosedSilently,
    /// Session stays up; the earlier-announced prefix is gone (treat-as-withdraw).
    Withdrawn,
    /// Session stays up; the case's prefix never appears (route ignored).
    Ignored,
    /// Session stays up; the case's prefix is present and passes the check.
    Kept(fn(&ReceivedRoute) -> Result<(), String>),
    /// Session stays up (nothing else to see).
    Up,
}

/// Which peer AS the case's config expects and the scripted peer uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    /// eBGP, fixed AS 64600.
    Ebgp,
    /// iBGP, our own AS.
    Ibgp,
    /// Any external AS (MetalLB's dynamicASN), scripted peer uses 64600.
    Dynamic,
    /// eBGP with a 4-octet AS (4200000000) sent as AS_TRANS + capability.
    As4,
}

struct Case {
    name: &'static str,
    who: Who,
    stage: Stage,
    hostile: fn(&Ctx) -> Vec<u8>,
    expect: Expect,
}

fn c(name: &'static str, stage: Stage, hostile: fn(&Ctx) -> Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        who: Who::Ebgp,
        stage,
        hostile,
        expect,
    }
}

use Stage::{Established as Est, EstablishedWithRoute as EstR, OpenConfirm, OpenSent};

fn open_with(ctx: &Ctx, version: u8, my_as: u16, hold: u16, id: Ipv4Addr) -> Vec<u8> {
    msg(
        OPEN,
        &open_body(version, my_as, hold, id, &std_caps(ctx.asn), &[]),
    )
}

/// Attributes of a valid route for the case's prefix, as separate TLVs.
fn base_attrs(ctx: &Ctx) -> [Vec<u8>; 3] {
    [origin_igp(), as_path(&[ctx.asn]), next_hop(ctx.addr)]
}

fn ipv6_mp_reach(nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(
        &"2001:db8::10"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v.push(0);
    v.extend_from_slice(nlri);
    attr(OPT, 14, &v)
}

fn no_check(_: &ReceivedRoute) -> Result<(), String> {
    Ok(())
}

fn cases() -> Vec<Case> {
    use Data::{Any, Exact, Of};
    use Expect::*;
    vec![
        // --- Message header errors (RFC 4271 §6.1) ---
        c(
            "bad marker instead of OPEN",
            OpenSent,
            |x| {
                let mut m = open(x.asn, 90, x.addr);
                m[3] = 0x00;
                m
            },
            Notify(1, 1, Any),
        ),
        c(
            "bad marker in Established",
            Est,
            |_| {
                let mut m = keepalive();
                m[15] = 0xfe;
                m
            },
            Notify(1, 1, Any),
        ),
        c(
            "length 18 (< 19)",
            Est,
            |_| msg_with_len(KEEPALIVE, &[], 18),
            Notify(1, 2, Exact(vec![0, 18])),
        ),
        c(
            "4097-octet UPDATE without extended messages",
            Est,
            |x| {
                let mut a = base_attrs(x).concat();
                // Pad with an unknown optional transitive attribute to 4097 octets in all.
                let pad = 4097 - 19 - 4 - a.len() - x.nlri().len() - 4;
                a.extend(attr(OPT_TRANS | EXT_LEN, 250, &vec![0u8; pad]));
                let m = msg(UPDATE, &update_body(&[], &a, &x.nlri()));
                assert_eq!(m.len(), 4097);
                m
            },
            Notify(1, 2, Exact(vec![0x10, 0x01])),
        ),
        c(
            "unknown message type 9",
            Est,
            |_| msg(9, &[1, 2, 3]),
            Notify(1, 3, Exact(vec![9])),
        ),
        c(
            "KEEPALIVE with a 1-octet body",
            Est,
            |_| msg(KEEPALIVE, &[0]),
            Notify(1, 2, Exact(vec![0, 20])),
        ),
        // --- OPEN errors (RFC 4271 §6.2, RFC 5492, RFC 6286, RFC 6793) ---
        c(
            "OPEN version 3",
            OpenSent,
            |x| open_with(x, 3, x.asn as u16, 90, x.addr),
            Notify(2, 1, Exact(vec![0, 4])),
        ),
        c(
            "OPEN bad peer AS",
            OpenSent,
            |x| {
                let other = x.asn + 1;
                msg(
                    OPEN,
                    &open_body(4, other as u16, 90, x.addr, &std_caps(other), &[]),
                )
            },
            Notify(2, 2, Any),
        ),
        c(
            "OPEN hold time 1",
            OpenSent,
            |x| open_with(x, 4, x.asn as u16, 1, x.addr),
            Notify(2, 6, Any),
        ),
        c(
            "OPEN hold time 2",
            OpenSent,
            |x| open_with(x, 4, x.asn as u16, 2, x.addr),
            Notify(2, 6, Any),
        ),
        c(
            "OPEN BGP identifier 0.0.0.0",
            OpenSent,
            |x| open_with(x, 4, x.asn as u16, 90, Ipv4Addr::UNSPECIFIED),
            Notify(2, 3, Any),
        ),
        Case {
            name: "iBGP OPEN with our own BGP identifier",
            who: Who::Ibgp,
            stage: OpenSent,
            hostile: |x| open_with(x, 4, x.asn as u16, 90, OUR_ID),
            expect: Notify(2, 3, Any),
        },
        c(
            "OPEN unsupported optional parameter (type 3)",
            OpenSent,
            |x| {
                msg(
                    OPEN,
                    &open_body(4, x.asn as u16, 90, x.addr, &std_caps(x.asn), &[3, 2, 0, 0]),
                )
            },
            Notify(2, 4, Any),
        ),
        c(
            "OPEN truncated capability",
            OpenSent,
            |x| {
                // Parameter of 4 octets holding a 4-octet-AS capability that claims 4 octets
                // of value but has 2.
                msg(
                    OPEN,
                    &open_body(4, x.asn as u16, 90, x.addr, &[], &[2, 4, 65, 4, 0, 0]),
                )
            },
            Notify(2, 0, Any),
        ),
        c(
            "OPEN 4-octet AS capability disagrees with the my-AS field (RFC 6793)",
            OpenSent,
            |x| {
                msg(
                    OPEN,
                    &open_body(4, (x.asn + 1) as u16, 90, x.addr, &std_caps(x.asn), &[]),
                )
            },
            Notify(2, 2, Any),
        ),
        Case {
            name: "OPEN with my-AS 0 to a dynamic-external peer (RFC 7607)",
            who: Who::Dynamic,
            stage: OpenSent,
            hostile: |x| {
                let caps = [cap_mp(1, 1), cap_mp(2, 1), cap(2, &[])];
                msg(OPEN, &open_body(4, 0, 90, x.addr, &caps, &[]))
            },
            expect: Notify(2, 2, Any),
        },
        Case {
            name: "OPEN with my-AS AS_TRANS and a 4-octet AS capability of 0 (RFC 7607)",
            who: Who::Dynamic,
            stage: OpenSent,
            hostile: |x| msg(OPEN, &open_body(4, 23456, 90, x.addr, &std_caps(0), &[])),
            expect: Notify(2, 2, Any),
        },
        // --- FSM errors (RFC 4271 §8.2.2, RFC 6608) ---
        c(
            "NOTIFICATION in OpenSent",
            OpenSent,
            |_| msg(NOTIFICATION, &[6, 2]),
            ClosedSilently,
        ),
        c(
            "UPDATE in OpenSent",
            OpenSent,
            |x| x.valid_update(x.prefix),
            Notify(5, 1, Any),
        ),
        c(
            "UPDATE in OpenConfirm",
            OpenConfirm,
            |x| x.valid_update(x.prefix),
            Notify(5, 2, Any),
        ),
        // --- UPDATE errors that reset the session (RFC 4271 §6.3, RFC 7606 §4, §5.3) ---
        c(
            "UPDATE total attribute length overrun",
            Est,
            |x| {
                let a = base_attrs(x).concat();
                let mut b = vec![0, 0];
                b.extend_from_slice(&((a.len() + 40) as u16).to_be_bytes());
                b.extend_from_slice(&a);
                b.extend_from_slice(&x.nlri());
                msg(UPDATE, &b)
            },
            Notify(3, 1, Any),
        ),
        c(
            "UPDATE withdrawn routes length overrun",
            Est,
            |x| {
                let mut b = vec![0, 200];
                b.extend_from_slice(&x.nlri());
                msg(UPDATE, &b)
            },
            Notify(3, 1, Any),
        ),
        c(
            "UPDATE NLRI prefix length 33",
            Est,
            |x| {
                let mut n = vec![33];
                n.extend_from_slice(&x.prefix.octets());
                n.push(0);
                update(&[], &base_attrs(x), &n)
            },
            Notify(3, 10, Any),
        ),
        c(
            "UPDATE IPv6 NLRI prefix length 129",
            Est,
            |x| {
                let mut n = vec![129];
                n.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                n.extend_from_slice(&[0u8; 13]);
                update(
                    &[],
                    &[origin_igp(), as_path(&[x.asn]), ipv6_mp_reach(&n)],
                    &[],
                )
            },
            Notify(
                3,
                9,
                Of(|_| {
                    let mut n = vec![129];
                    n.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                    n.extend_from_slice(&[0u8; 13]);
                    ipv6_mp_reach(&n)
                }),
            ),
        ),
        c(
            "UPDATE MP_REACH next-hop length overruns the attribute",
            Est,
            |x| {
                let bad = attr(OPT, 14, &[0, 2, 1, 40, 0x20, 0x01]);
                update(&[], &[origin_igp(), as_path(&[x.asn]), bad], &[])
            },
            Notify(3, 9, Of(|_| attr(OPT, 14, &[0, 2, 1, 40, 0x20, 0x01]))),
        ),
        c(
            "UPDATE MP_REACH shorter than AFI/SAFI",
            Est,
            |x| {
                update(
                    &[],
                    &[origin_igp(), as_path(&[x.asn]), attr(OPT, 14, &[0, 2])],
                    &[],
                )
            },
            Notify(3, 9, Of(|_| attr(OPT, 14, &[0, 2]))),
        ),
        c(
            "UPDATE NLRI /24 with only 2 prefix octets",
            Est,
            |x| update(&[], &base_attrs(x), &[24, 198, 51]),
            Notify(3, 10, Any),
        ),
        c(
            "UPDATE unrecognized well-known attribute 240",
            Est,
            |x| {
                let mut a = base_attrs(x).to_vec();
                a.push(attr(WELL_KNOWN, 240, &[7]));
                update(&[], &a, &x.nlri())
            },
            Notify(3, 2, Exact(vec![WELL_KNOWN, 240, 1, 7])),
        ),
        c(
            "UPDATE with MP_REACH twice",
            Est,
            |x| {
                let n = {
                    let mut n = vec![64];
                    n.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x01, 0, 0, 0]);
                    n
                };
                update(
                    &[],
                    &[
                        origin_igp(),
                        as_path(&[x.asn]),
                        ipv6_mp_reach(&n),
                        ipv6_mp_reach(&n),
                    ],
                    &[],
                )
            },
            Notify(3, 1, Any),
        ),
        // --- treat-as-withdraw (RFC 7606 §3, §7, RFC 8092 §6) ---
        c(
            "UPDATE missing ORIGIN",
            EstR,
            |x| update(&[], &[as_path(&[x.asn]), next_hop(x.addr)], &x.nlri()),
            Withdrawn,
        ),
        c(
            "UPDATE missing AS_PATH",
            EstR,
            |x| update(&[], &[origin_igp(), next_hop(x.addr)], &x.nlri()),
            Withdrawn,
        ),
        c(
            "UPDATE missing NEXT_HOP",
            EstR,
            |x| update(&[], &[origin_igp(), as_path(&[x.asn])], &x.nlri()),
            Withdrawn,
        ),
        c(
            "UPDATE ORIGIN value 3",
            EstR,
            |x| {
                update(
                    &[],
                    &[
                        attr(WELL_KNOWN, 1, &[3]),
                        as_path(&[x.asn]),
                        next_hop(x.addr),
                    ],
                    &x.nlri(),
                )
            },
            Withdrawn,
        ),
        c(
            "UPDATE AS_PATH segment type 9",
            EstR,
            |x| {
                let mut v = vec![9, 1];
                v.extend_from_slice(&x.asn.to_be_bytes());
                update(
                    &[],
                    &[origin_igp(), attr(WELL_KNOWN, 2, &v), next_hop(x.addr)],
                    &x.nlri(),
                )
            },
            Withdrawn,
        ),
        c(
            "UPDATE AS_PATH segment length overrun",
            EstR,
            |x| {
                let mut v = vec![2, 3];
                v.extend_from_slice(&x.asn.to_be_bytes());
                update(
                    &[],
                    &[origin_igp(), attr(WELL_KNOWN, 2, &v), next_hop(x.addr)],
                    &x.nlri(),
                )
            },
            Withdrawn,
        ),
        c(
            "UPDATE NEXT_HOP length 5",
            EstR,
            |x| {
                let mut v = x.addr.octets().to_vec();
                v.push(0);
                update(
                    &[],
                    &[origin_igp(), as_path(&[x.asn]), attr(WELL_KNOWN, 3, &v)],
                    &x.nlri(),
                )
            },
            Withdrawn,
        ),
        c(
            "UPDATE COMMUNITIES length 5",
            EstR,
            |x| {
                let mut a = base_attrs(x).to_vec();
                a.push(attr(OPT_TRANS, 8, &[0xfd, 0xe8, 0, 1, 7]));
                update(&[], &a, &x.nlri())
            },
            Withdrawn,
        ),
        c(
            "UPDATE LARGE_COMMUNITY length 13",
            EstR,
            |x| {
                let mut a = base_attrs(x).to_vec();
                a.push(attr(OPT_TRANS, 32, &[1u8; 13]));
                update(&[], &a, &x.nlri())
            },
            Withdrawn,
        ),
        c(
            "UPDATE ORIGIN flagged optional",
            EstR,
            |x| {
                update(
                    &[],
                    &[
                        attr(OPT_TRANS, 1, &[0]),
                        as_path(&[x.asn]),
                        next_hop(x.addr),
                    ],
                    &x.nlri(),
                )
            },
            Withdrawn,
        ),
        // --- semantically wrong NEXT_HOP: route ignored, no NOTIFICATION (RFC 4271 §6.3) ---
        c(
            "UPDATE NEXT_HOP 0.0.0.0",
            Est,
            |x| {
                update(
                    &[],
                    &[
                        origin_igp(),
                        as_path(&[x.asn]),
                        next_hop(Ipv4Addr::UNSPECIFIED),
                    ],
                    &x.nlri(),
                )
            },
            Ignored,
        ),
        c(
            "UPDATE NEXT_HOP multicast 224.0.0.1",
            Est,
            |x| {
                update(
                    &[],
                    &[
                        origin_igp(),
                        as_path(&[x.asn]),
                        next_hop(Ipv4Addr::new(224, 0, 0, 1)),
                    ],
                    &x.nlri(),
                )
            },
            Ignored,
        ),
        c(
            "UPDATE NEXT_HOP is our own address (RFC 4271 §6.3)",
            Est,
            |x| {
                update(
                    &[],
                    &[origin_igp(), as_path(&[x.asn]), next_hop(OUR_ID)],
                    &x.nlri(),
                )
            },
            Ignored,
        ),
        // --- ignored: unnegotiated families (RFC 4760 §7, RFC 2918 §4) ---
        c(
            "UPDATE MP_REACH with unknown AFI 99",
            Est,
            |x| {
                let mp = attr(OPT, 14, &[0, 99, 1, 4, 192, 0, 2, 10, 0, 24, 198, 51, 100]);
                update(&[], &[origin_igp(), as_path(&[x.asn]), mp], &[])
            },
            Up,
        ),
        c(
            "ROUTE-REFRESH for unnegotiated IPv4 multicast",
            Est,
            |_| msg(ROUTE_REFRESH, &[0, 1, 0, 2]),
            Up,
        ),
        // --- attribute discard (RFC 7606 §3(g), §7.6, §7.7) ---
        c(
            "UPDATE duplicate ORIGIN (first kept)",
            Est,
            |x| {
                update(
                    &[],
                    &[
                        origin_igp(),
                        as_path(&[x.asn]),
                        attr(WELL_KNOWN, 1, &[2]),
                        next_hop(x.addr),
                    ],
                    &x.nlri(),
                )
            },
            Kept(|r| {
                (r.attributes.origin == Origin::Igp)
                    .then_some(())
                    .ok_or(format!(
                        "origin {:?}, want the first (IGP)",
                        r.attributes.origin
                    ))
            }),
        ),
        c(
            "UPDATE ATOMIC_AGGREGATE length 1",
            Est,
            |x| {
                let mut a = base_attrs(x).to_vec();
                a.push(attr(WELL_KNOWN, 6, &[0]));
                update(&[], &a, &x.nlri())
            },
            Kept(|r| {
                (!r.attributes.atomic_aggregate)
                    .then_some(())
                    .ok_or("ATOMIC_AGGREGATE kept".to_string())
            }),
        ),
        c(
            "UPDATE AGGREGATOR length 5",
            Est,
            |x| {
                let mut a = base_attrs(x).to_vec();
                a.push(attr(OPT_TRANS, 7, &[0, 0, 0xfc, 0x58, 1]));
                update(&[], &a, &x.nlri())
            },
            Kept(|r| {
                r.attributes
                    .aggregator
                    .is_none()
                    .then_some(())
                    .ok_or(format!("aggregator {:?}", r.attributes.aggregator))
            }),
        ),
        // --- valid edge cases that must be accepted ---
        c(
            "empty UPDATE (IPv4 End-of-RIB)",
            Est,
            |_| update(&[], &[], &[]),
            Up,
        ),
        c(
            "IPv6 End-of-RIB (empty MP_UNREACH)",
            Est,
            |_| update(&[], &[attr(OPT, 15, &[0, 2, 1])], &[]),
            Up,
        ),
        c(
            "extended-length AS_PATH",
            Est,
            |x| {
                let mut v = vec![2, 1];
                v.extend_from_slice(&x.asn.to_be_bytes());
                update(
                    &[],
                    &[
                        origin_igp(),
                        attr(WELL_KNOWN | EXT_LEN, 2, &v),
                        next_hop(x.addr),
                    ],
                    &x.nlri(),
                )
            },
            Kept(no_check),
        ),
        c(
            "unknown optional transitive attribute",
            Est,
            |x| {
                let mut a = base_attrs(x).to_vec();
                a.push(attr(OPT_TRANS, 250, &[1, 2, 3]));
                update(&[], &a, &x.nlri())
            },
            Kept(|r| {
                r.attributes
                    .unknown
                    .iter()
                    .any(|u| u.type_code == 250)
                    .then_some(())
                    .ok_or(format!("unknown attributes {:?}", r.attributes.unknown))
            }),
        ),
        Case {
            name: "4-octet AS peer (AS_TRANS in OPEN) announces a route",
            who: Who::As4,
            stage: Est,
            hostile: |x| x.valid_update(x.prefix),
            expect: Kept(|r| {
                (r.attributes.as_path.to_string().contains("4200000000"))
                    .then_some(())
                    .ok_or(format!("AS path {}", r.attributes.as_path))
            }),
        },
        Case {
            name: "dynamic-external peer (any AS but ours) announces a route",
            who: Who::Dynamic,
            stage: Est,
            hostile: |x| x.valid_update(x.prefix),
            expect: Kept(no_check),
        },
        c(
            "unknown optional non-transitive attribute (dropped, route kept)",
            Est,
            |x| {
                let mut a = base_attrs(x).to_vec();
                a.push(attr(OPT, 241, &[1, 2, 3]));
                update(&[], &a, &x.nlri())
            },
            Kept(no_check),
        ),
        c(
            "NOTIFICATION in Established",
            Est,
            |_| msg(NOTIFICATION, &[6, 2]),
            ClosedSilently,
        ),
        c(
            "withdraw of a prefix never announced",
            Est,
            |x| update(&x.nlri(), &[], &[]),
            Up,
        ),
        c(
            "OPEN with an unknown capability (code 200)",
            Est,
            |_| keepalive(),
            Up,
        ),
    ]
}

/// The FRR session's health at the start of the suite.
struct Good {
    key: PeerKey,
    t0: Instant,
    uptime0: Duration,
    conns0: u64,
}

fn frr_conns(frr: &Frr) -> u64 {
    let j = frr.vtysh_json("show bgp neighbors 203.0.113.1 json");
    j["203.0.113.1"]["connectionsEstablished"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

/// The well-behaved session is still Established, has not flapped, and both sides keep routes.
fn check_good(
    ours: &Ours,
    frr: &Frr,
    g: &Good,
    events: &mut tokio::sync::broadcast::Receiver<PeerEvent>,
) -> Result<(), String> {
    let st = ours.status(&g.key);
    if st.state != State::Established {
        return Err(format!("FRR session {}", st.state));
    }
    let min = (g.uptime0 + g.t0.elapsed()).saturating_sub(Duration::from_secs(3));
    match st.uptime {
        Some(u) if u >= min => {}
        other => {
            return Err(format!(
                "FRR session uptime {other:?} < {min:?}: it flapped"
            ))
        }
    }
    while let Ok(ev) = events.try_recv() {
        let PeerEvent::StateChanged { peer, to, .. } = ev;
        if peer == g.key {
            return Err(format!("FRR session changed state to {to}"));
        }
    }
    if !ours
        .received(&g.key, Family::IPV4_UNICAST)
        .iter()
        .any(|r| r.prefix.to_string() == FRR_PREFIX)
    {
        return Err(format!("{FRR_PREFIX} from FRR missing"));
    }
    if !frr.prefixes_v4().iter().any(|p| p == OUR_PREFIX) {
        return Err(format!("FRR lost {OUR_PREFIX}"));
    }
    let conns = frr_conns(frr);
    if conns != g.conns0 {
        return Err(format!(
            "FRR connectionsEstablished {conns}, was {}",
            g.conns0
        ));
    }
    Ok(())
}

fn has_prefix(ours: &Ours, key: &PeerKey, p: &str) -> Option<ReceivedRoute> {
    ours.received(key, Family::IPV4_UNICAST)
        .into_iter()
        .find(|r| r.prefix.to_string() == p)
}

/// Runs one case; `Err` names what went wrong.
fn run_case(ours: &Ours, h: &Netns, i: usize, case: &Case) {
    let addr = Ipv4Addr::new(192, 0, 2, 10 + i as u8);
    let asn = match case.who {
        Who::Ebgp | Who::Dynamic => HOSTILE_AS,
        Who::Ibgp => LOCAL_AS,
        Who::As4 => 4_200_000_000,
    };
    let ctx = Ctx {
        asn,
        addr,
        prefix: Ipv4Addr::new(198, 51, 100, i as u8 + 1),
    };
    let sentinel = Ipv4Addr::new(198, 51, 100, 101 + i as u8);
    let mut cfg = peer(LOCAL_AS, fixed(asn), &addr.to_string(), &OUR_ID.to_string());
    if case.who == Who::Dynamic {
        cfg.peer_asn = PeerAsn::DynamicExternal;
    }
    cfg.passive = true;
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    cfg.timers.hold_time = HoldTime::from_secs(90).expect("hold");
    let key = cfg.key();
    ours.add_peer(cfg);
    let dest = SocketAddr::from((OUR_ID, 179));
    let mut conn = h.run(|| Conn::connect(addr, dest));
    conn.expect(OPEN, WAIT);
    let hostile = (case.hostile)(&ctx);
    let my_open = if case.name.contains("unknown capability") {
        let mut caps = std_caps(asn);
        caps.push(cap(200, &[1, 2, 3]));
        msg(OPEN, &open_body(4, asn as u16, 90, addr, &caps, &[]))
    } else if case.who == Who::As4 {
        msg(OPEN, &open_body(4, 23456, 90, addr, &std_caps(asn), &[]))
    } else {
        open(asn, 90, addr)
    };
    let notifications_before = ours.status(&key).messages.notifications_sent;
    if case.stage != OpenSent {
        conn.send(&my_open);
        conn.expect(KEEPALIVE, WAIT);
    }
    if matches!(case.stage, Est | EstR) {
        conn.send(&keepalive());
        ours.wait_state(&key, State::Established, UP);
    }
    let prefix = format!("{}/32", ctx.prefix);
    if case.stage == EstR {
        conn.send(&ctx.valid_update(ctx.prefix));
        wait_for("case prefix announced", WAIT, || {
            has_prefix(ours, &key, &prefix).map(|_| ())
        });
    }
    let errors_before = ours.status(&key).errors;
    conn.send(&hostile);
    match &case.expect {
        Expect::Notify(code, sub, data) => {
            let r = conn.reaction(WAIT);
            let want_data = match data {
                Data::Any => None,
                Data::Exact(d) => Some(d.clone()),
                Data::Of(f) => Some(f(&ctx)),
            };
            match &r {
                Reaction::Notification(c, s, d) if c == code && s == sub => {
                    if let Some(w) = want_data {
                        assert_eq!(d, &w, "NOTIFICATION {c}/{s} data");
                    }
                }
                other => panic!("want NOTIFICATION {code}/{sub}, got {other:02x?}"),
            }
            let st = ours.status(&key);
            assert_ne!(st.state, State::Established, "session still Established");
            assert!(
                st.messages.notifications_sent > notifications_before,
                "notifications_sent not counted"
            );
        }
        Expect::ClosedSilently => {
            let r = conn.reaction(WAIT);
            assert_eq!(r, Reaction::Closed, "want a close without NOTIFICATION");
            wait_for_ok("session not Established", WAIT, || {
                let st = ours.status(&key);
                if st.state != State::Established && st.messages.notifications_received == 1 {
                    Ok(())
                } else {
                    Err(format!("{} {:?}", st.state, st.messages))
                }
            });
        }
        Expect::Withdrawn | Expect::Ignored | Expect::Kept(_) | Expect::Up => {
            // Sync point: a valid UPDATE after the hostile message.
            conn.send(&ctx.valid_update(sentinel));
            let sp = format!("{sentinel}/32");
            wait_for("sentinel prefix after the hostile message", WAIT, || {
                has_prefix(ours, &key, &sp).map(|_| ())
            });
            let got = has_prefix(ours, &key, &prefix);
            let st = ours.status(&key);
            match &case.expect {
                Expect::Withdrawn => {
                    assert!(got.is_none(), "treat-as-withdraw: {prefix} still present");
                    assert!(
                        st.errors.treat_as_withdraw > errors_before.treat_as_withdraw,
                        "treat_as_withdraw not counted: {:?}",
                        st.errors
                    );
                }
                Expect::Ignored => {
                    assert!(got.is_none(), "route {prefix} with bad next hop accepted")
                }
                Expect::Kept(check) => {
                    let r = got.unwrap_or_else(|| panic!("{prefix} missing"));
                    if let Err(e) = check(&r) {
                        panic!("{prefix}: {e}");
                    }
                }
                _ => {}
            }
            let r = conn.reaction(Duration::from_secs(1));
            assert_eq!(r, Reaction::Quiet, "session must stay up");
            assert_eq!(ours.status(&key).state, State::Established);
        }
    }
    conn.close();
    let _ = ours.rt.block_on(ours.speaker.remove_peer(&key));
}

#[test]
fn hostile_peer_suite() {
    if !prerequisites(
        "hostile_peer_suite",
        &[Need::Root, Need::Binary("bgpd"), Need::Binary("zebra")],
    ) {
        return;
    }
    let s = Netns::new("hps");
    let h = Netns::new("hph");
    let f = Netns::new("hpf");
    veth(&s, "to-h", &h, "to-s");
    veth(&s, "to-f", &f, "to-s");
    addr(&s, "to-h", "192.0.2.1/24");
    let all = cases();
    for i in 0..all.len() {
        addr(&h, "to-s", &format!("192.0.2.{}/24", 10 + i));
    }
    addr(&s, "to-f", "203.0.113.1/29");
    addr(&f, "to-s", "203.0.113.2/29");
    let frr = Frr::start(
        &f,
        &frr_conf(
            64512,
            FRR_ADDR,
            &[("203.0.113.1", "64511", &[])],
            &[FRR_PREFIX],
        ),
        None,
    );
    let ours = Ours::start(&s, Some(179));
    let cfg = peer(LOCAL_AS, fixed(64512), FRR_ADDR, &OUR_ID.to_string());
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[(OUR_PREFIX, plain())]);
    frr.wait_established("203.0.113.1", UP);
    ours.wait_state(&key, State::Established, UP);
    wait_for("routes exchanged with FRR", UP, || {
        (has_prefix(&ours, &key, FRR_PREFIX).is_some()
            && frr.prefixes_v4().iter().any(|p| p == OUR_PREFIX))
        .then_some(())
    });
    let mut events = ours.speaker.subscribe();
    let good = Good {
        uptime0: ours.status(&key).uptime.unwrap_or_default(),
        t0: Instant::now(),
        key,
        conns0: frr_conns(&frr),
    };
    assert_eq!(good.conns0, 1, "FRR connectionsEstablished at start");
    let mut failures = Vec::new();
    for (i, case) in all.iter().enumerate() {
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| run_case(&ours, &h, i, case)));
        let good_r = check_good(&ours, &frr, &good, &mut events);
        let verdict = match (&r, &good_r) {
            (Ok(()), Ok(())) => "ok".to_string(),
            (Err(p), _) => {
                let m = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("FAILED: {m}")
            }
            (_, Err(e)) => format!("FAILED (second session): {e}"),
        };
        eprintln!(
            "case {i:2} {:<55} {:>5} ms  {verdict}",
            case.name,
            t.elapsed().as_millis()
        );
        if verdict != "ok" {
            failures.push(format!("{}: {verdict}", case.name));
        }
        if let Err(e) = good_r {
            failures.push(format!("after {}: second session: {e}", case.name));
        }
    }
    // The second-session check can fail: a real reset of the FRR session must be seen.
    frr.vtysh_cli("clear bgp 203.0.113.1");
    wait_for("the health check notices a reset FRR session", UP, || {
        check_good(&ours, &frr, &good, &mut events).err()
    });
    ours.shutdown(false);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
