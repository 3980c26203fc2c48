//! The BFD hot path allocates nothing: two engines exchanging packets in steady state (Up, fixed
//! timers, echo on) are run under a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use metalroute_bgp::bfd::{
    EchoVerdict, Engine, HopMode, RxMeta, SessionKey, SessionParams, SplitMix64, State,
    TransmitKind,
};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn run(a: &mut Engine, b: &mut Engine, t: &mut Instant, until: Instant) -> u64 {
    let mut packets = 0;
    while *t < until {
        loop {
            let mut any = false;
            for dir in 0..2 {
                let (from, to) = if dir == 0 {
                    (&mut *a, &mut *b)
                } else {
                    (&mut *b, &mut *a)
                };
                while let Some(tx) = from.poll_transmit() {
                    any = true;
                    packets += 1;
                    match tx.kind {
                        TransmitKind::Control => {
                            let rx = RxMeta {
                                vrf: None,
                                src: SocketAddr::new(tx.src, 49152),
                                dst: tx.dst.ip(),
                                ttl: 255,
                                hop: HopMode::SingleHop,
                            };
                            to.handle_control(*t, &rx, tx.payload.as_slice()).unwrap();
                        }
                        TransmitKind::Echo => {
                            // Looped back by the peer's forwarding plane.
                            let v = from.handle_echo(*t, tx.payload.as_slice());
                            assert_eq!(v, EchoVerdict::Returned);
                        }
                    }
                }
                while from.poll_event().is_some() {}
            }
            if !any {
                break;
            }
        }
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        *t = next.unwrap_or(until).max(*t);
        a.handle_timeout(*t);
        b.handle_timeout(*t);
    }
    packets
}

#[test]
fn steady_state_allocates_nothing() {
    let start = Instant::now();
    let mut a = Engine::new(Box::new(SplitMix64::seeded(1)), start);
    let mut b = Engine::new(Box::new(SplitMix64::seeded(2)), start);
    let la = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let lb = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let mut p = SessionParams::with_timers(50, 3).unwrap();
    p.echo_mode = true;
    let ka = SessionKey::single_hop(lb, la);
    a.add(start, ka.clone(), p.clone()).unwrap();
    b.add(start, SessionKey::single_hop(la, lb), p).unwrap();
    let mut t = start;
    // Warm up: come Up, finish the polls, let queues and the heap reach their sizes.
    run(&mut a, &mut b, &mut t, start + Duration::from_secs(5));
    assert_eq!(a.status(&ka).unwrap().state, State::Up);
    assert!(a.status(&ka).unwrap().echo_active);
    let before = ALLOCS.load(Ordering::Relaxed);
    let packets = run(&mut a, &mut b, &mut t, start + Duration::from_secs(65));
    let after = ALLOCS.load(Ordering::Relaxed);
    assert!(packets > 3000, "{packets}");
    assert_eq!(
        after - before,
        0,
        "{} allocations for {packets} packets",
        after - before
    );
}
