//! The speaker's memory per announced route, measured with a counting allocator: a set of
//! 100,000 routes takes a few octets per route, handing it to several sessions copies nothing,
//! and a session that comes up with it allocates little more than the UPDATEs it writes (no
//! list of all routes or of all messages next to them).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use metalroute_bgp::config::{Asn, Family, PeerAsn, PeerConfig};
use metalroute_bgp::fsm::{ConnId, Direction, NoJitter, State};
use metalroute_bgp::packet::{Afi, Capability, EncodeContext, Message, Open, PathAttributes, Safi};
use metalroute_bgp::routes::{RouteSet, RouteSetBuilder};
use metalroute_bgp::session::{Session, SessionOutput};

/// Counts live heap bytes and their peak (all threads: the tests below run one at a time).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Serialises the tests (the counters are process-wide).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live bytes now, and the peak is reset to it.
fn mark() -> usize {
    let now = LIVE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn peak_since(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

const N: u32 = 100_000;

fn prefix(family: Family, i: u32) -> IpNet {
    if family == Family::IPV4_UNICAST {
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xC612_0000 + i), 32).unwrap())
    } else {
        IpNet::V6(
            Ipv6Net::new(
                Ipv6Addr::from((0x2001_0db8_0100u128 << 80) | u128::from(i)),
                128,
            )
            .unwrap(),
        )
    }
}

fn routes(family: Family) -> RouteSet {
    let a = Arc::new(PathAttributes::default());
    let mut b = RouteSetBuilder::with_capacity(family, N as usize);
    for i in 0..N {
        b.push(prefix(family, i), &a);
    }
    b.build()
}

fn enc(m: &Message) -> Bytes {
    let mut b = BytesMut::new();
    m.encode(
        &EncodeContext {
            four_octet_as: true,
            ipv4_via_mp: false,
        },
        &mut b,
    )
    .unwrap();
    b.freeze()
}

/// A session of `family` with its OPEN exchanged: one KEEPALIVE short of Established.
fn almost_up(family: Family, extended: bool) -> (Session, Instant, ConnId) {
    let v4 = family == Family::IPV4_UNICAST;
    let peer: IpAddr = if v4 { "192.0.2.2" } else { "2001:db8::2" }
        .parse()
        .unwrap();
    let mut c = PeerConfig::new(
        Asn(64500),
        PeerAsn::Fixed(Asn(64501)),
        peer,
        Ipv4Addr::new(192, 0, 2, 1),
    );
    c.families = vec![family];
    let now = Instant::now();
    let mut s = Session::new(c, Box::new(NoJitter));
    s.start(now);
    let conn = std::iter::from_fn(|| s.poll_output())
        .find_map(|o| match o {
            SessionOutput::Connect(c) => Some(c),
            _ => None,
        })
        .unwrap();
    let local: IpAddr = if v4 { "192.0.2.1" } else { "2001:db8::1" }
        .parse()
        .unwrap();
    s.connected(
        now,
        conn,
        Direction::Outbound,
        SocketAddr::new(local, 40000),
        None,
    );
    let mut caps = vec![
        Capability::Multiprotocol {
            afi: if v4 { Afi::Ipv4 } else { Afi::Ipv6 },
            safi: Safi::Unicast,
        },
        Capability::FourOctetAs(64501),
    ];
    if extended {
        caps.push(Capability::ExtendedMessage);
    }
    let open = enc(&Message::Open(Open {
        version: 4,
        my_as: 64501,
        hold_time: 90,
        router_id: Ipv4Addr::new(192, 0, 2, 2),
        capabilities: caps,
    }));
    s.received(now, conn, &open);
    while s.poll_output().is_some() {}
    (s, now, conn)
}

/// Brings the session up; returns the octets of UPDATEs it wrote (dropped at once).
fn come_up(s: &mut Session, now: Instant, conn: ConnId) -> usize {
    s.received(now, conn, &enc(&Message::Keepalive));
    assert_eq!(s.fsm().state(), State::Established);
    let mut n = 0;
    while let Some(o) = s.poll_output() {
        if let SessionOutput::Transmit { data, .. } = o {
            n += data.len();
        }
    }
    n
}

#[test]
fn route_set_takes_a_few_octets_per_route_and_is_shared_not_copied() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for (family, per_route) in [(Family::IPV4_UNICAST, 6), (Family::IPV6_UNICAST, 18)] {
        let base = mark();
        let set = routes(family);
        let held = LIVE.load(Ordering::Relaxed) - base;
        assert!(
            held < N as usize * per_route,
            "{family}: {held} octets for {N} routes"
        );
        // Building needed no second copy (input in order).
        assert!(peak_since(base) < N as usize * per_route + 4096, "{family}");

        let (mut a, now, _) = almost_up(family, true);
        let (mut b, _, _) = almost_up(family, true);
        let before = mark();
        a.set_advertisements(now, family, set.clone()).unwrap();
        b.set_advertisements(now, family, set.clone()).unwrap();
        let grown = LIVE.load(Ordering::Relaxed) - before;
        assert!(
            grown < 1024,
            "{family}: two sessions took {grown} octets more"
        );
    }
}

#[test]
fn coming_up_with_100k_routes_allocates_about_the_updates_it_writes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        for extended in [false, true] {
            let set = routes(family);
            let (mut s, now, conn) = almost_up(family, extended);
            s.set_advertisements(now, family, set.clone()).unwrap();
            let base = mark();
            let wire = come_up(&mut s, now, conn);
            let peak = peak_since(base);
            assert!(wire > N as usize * 5, "{family}: {wire} octets written");
            // The UPDATE buffer (sized ahead, so never regrown) plus a little; the old path
            // held the routes again as a list, the messages as a list and then their copy.
            assert!(
                peak < wire + wire / 4 + 64 * 1024,
                "{family} extended={extended}: peak {peak} octets for {wire} octets of UPDATEs"
            );
            // Afterwards the session keeps a reference to the set, not a copy of it.
            let after = LIVE.load(Ordering::Relaxed) - base;
            assert!(after < 16 * 1024, "{family}: {after} octets kept");
        }
    }
}
