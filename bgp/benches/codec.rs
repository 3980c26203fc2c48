//! UPDATE encode and decode throughput (prefixes per second): packing 10,000 IPv4 /32 and
//! 10,000 IPv6 /128 with one attribute set into UPDATEs, and decoding those UPDATEs.
//! Run: `cargo bench -p metalroute-bgp --bench codec`.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use metalroute_bgp::packet::{
    encode_updates, AsPath, Community, DecodeContext, EncodeContext, Family, LargeCommunity,
    Message, NextHop, PathAttributes,
};

const N: u32 = 10_000;

fn attrs() -> Arc<PathAttributes> {
    Arc::new(PathAttributes {
        as_path: AsPath::from_sequence([4_200_000_001]),
        communities: vec![Community::new(65000, 100), Community::NO_EXPORT],
        large_communities: vec![LargeCommunity {
            global_admin: 4_200_000_001,
            local_data1: 1,
            local_data2: 2,
        }],
        ..PathAttributes::default()
    })
}

fn routes(family: Family) -> Vec<(IpNet, Arc<PathAttributes>)> {
    let a = attrs();
    (0..N)
        .map(|i| {
            let p = if family == Family::IPV4_UNICAST {
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xC612_0000 + i), 32).expect("/32"))
            } else {
                let addr = Ipv6Addr::from((0x2001_0db8u128 << 96) | u128::from(i));
                IpNet::V6(Ipv6Net::new(addr, 128).expect("/128"))
            };
            (p, Arc::clone(&a))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ectx = EncodeContext {
        four_octet_as: true,
        ipv4_via_mp: false,
    };
    let dctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    for (name, family, nh) in [
        (
            "ipv4",
            Family::IPV4_UNICAST,
            NextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
        ),
        (
            "ipv6",
            Family::IPV6_UNICAST,
            NextHop::Ipv6("2001:db8::1".parse().expect("address")),
        ),
    ] {
        let routes = routes(family);
        let mut g = c.benchmark_group(format!("update_{name}"));
        g.throughput(Throughput::Elements(u64::from(N)));
        g.bench_function("encode_10k_prefixes", |b| {
            b.iter(|| encode_updates(family, black_box(&routes), &[], &nh, &ectx).expect("encode"))
        });
        let wire = encode_updates(family, &routes, &[], &nh, &ectx).expect("encode");
        g.bench_function("decode_10k_prefixes", |b| {
            b.iter(|| {
                for m in &wire {
                    black_box(Message::decode(black_box(m), &dctx).expect("decode"));
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
