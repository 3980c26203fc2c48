//! The speaker's send path, sans-IO: a session that holds N = 100,000 desired routes comes up
//! (connection, OPEN and KEEPALIVE fed in) and writes its whole Adj-RIB-Out as UPDATEs
//! (`initial_*`); and on a session that has them, a churn that withdraws 1,000 and announces
//! 1,000 new routes (`churn_*`). The routes are given either as a `HashMap` (converted by the
//! session) or as a prebuilt shared `RouteSet`.
//! Run: `cargo bench -p metalroute-bgp --bench session`.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use metalroute_bgp::config::{Asn, Family, PeerAsn, PeerConfig};
use metalroute_bgp::fsm::{ConnId, Direction, NoJitter, State};
use metalroute_bgp::packet::{Afi, Capability, EncodeContext, Message, Open, PathAttributes, Safi};
use metalroute_bgp::routes::RouteSet;
use metalroute_bgp::session::{Session, SessionOutput};

const N: u32 = 100_000;
const CHURN: u32 = 1_000;

fn prefix(family: Family, i: u32) -> IpNet {
    if family == Family::IPV4_UNICAST {
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xC612_0000 + i), 32).expect("/32"))
    } else {
        let addr = Ipv6Addr::from((0x2001_0db8_0100u128 << 80) | u128::from(i));
        IpNet::V6(Ipv6Net::new(addr, 128).expect("/128"))
    }
}

fn map(family: Family, range: std::ops::Range<u32>) -> HashMap<IpNet, Arc<PathAttributes>> {
    let a = Arc::new(PathAttributes::default());
    range.map(|i| (prefix(family, i), Arc::clone(&a))).collect()
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
    .expect("encode");
    b.freeze()
}

fn open(family: Family) -> Bytes {
    let afi = if family == Family::IPV4_UNICAST {
        Afi::Ipv4
    } else {
        Afi::Ipv6
    };
    enc(&Message::Open(Open {
        version: 4,
        my_as: 64501,
        hold_time: 90,
        router_id: Ipv4Addr::new(192, 0, 2, 2),
        capabilities: vec![
            Capability::Multiprotocol {
                afi,
                safi: Safi::Unicast,
            },
            Capability::RouteRefresh,
            Capability::FourOctetAs(64501),
            Capability::ExtendedMessage,
        ],
    }))
}

/// A session of `family` that is connected and has sent its OPEN (one message short of
/// Established).
fn connected(family: Family) -> (Session, Instant, ConnId) {
    let peer: IpAddr = if family == Family::IPV4_UNICAST {
        "192.0.2.2".parse().expect("address")
    } else {
        "2001:db8::2".parse().expect("address")
    };
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
        .expect("a connect request");
    let local: SocketAddr = SocketAddr::new(
        if family == Family::IPV4_UNICAST {
            "192.0.2.1".parse().expect("address")
        } else {
            "2001:db8::1".parse().expect("address")
        },
        40000,
    );
    s.connected(now, conn, Direction::Outbound, local, None);
    s.received(now, conn, &open(family));
    while s.poll_output().is_some() {}
    (s, now, conn)
}

/// Octets the session wants written.
fn drain(s: &mut Session) -> usize {
    let mut n = 0;
    while let Some(o) = s.poll_output() {
        if let SessionOutput::Transmit { data, .. } = o {
            n += data.len();
        }
    }
    n
}

fn establish(s: &mut Session, now: Instant, conn: ConnId) -> usize {
    s.received(now, conn, &enc(&Message::Keepalive));
    assert_eq!(s.fsm().state(), State::Established);
    drain(s)
}

fn bench(c: &mut Criterion) {
    for (name, family) in [
        ("ipv4", Family::IPV4_UNICAST),
        ("ipv6", Family::IPV6_UNICAST),
    ] {
        let all = map(family, 0..N);
        let set: RouteSet = all.clone().into();
        let churned = map(family, CHURN..N + CHURN);
        let churned_set: RouteSet = churned.clone().into();
        let mut g = c.benchmark_group(format!("session_{name}"));
        g.sample_size(20);
        g.measurement_time(Duration::from_secs(4));
        g.throughput(Throughput::Elements(u64::from(N)));
        g.bench_function("initial_100k_routes", |b| {
            b.iter_batched(
                || {
                    let (mut s, now, conn) = connected(family);
                    s.set_advertisements(now, family, set.clone())
                        .expect("routes");
                    (s, now, conn)
                },
                |(mut s, now, conn)| black_box(establish(&mut s, now, conn)),
                BatchSize::LargeInput,
            )
        });
        g.throughput(Throughput::Elements(u64::from(2 * CHURN)));
        for (input, from_map) in [("map", true), ("shared_set", false)] {
            g.bench_function(format!("churn_1k_of_100k_{input}"), |b| {
                b.iter_batched(
                    || {
                        let (mut s, now, conn) = connected(family);
                        s.set_advertisements(now, family, set.clone())
                            .expect("routes");
                        establish(&mut s, now, conn);
                        (s, now, churned.clone())
                    },
                    |(mut s, now, churned)| {
                        if from_map {
                            s.set_advertisements(now, family, churned).expect("routes");
                        } else {
                            s.set_advertisements(now, family, churned_set.clone())
                                .expect("routes");
                        }
                        black_box(drain(&mut s))
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
