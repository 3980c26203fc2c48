//! The BFD hot path allocates nothing: two engines exchanging packets in steady state (Up, fixed
//! timers, echo on) are run under a counting global allocator, and so is the transport's receive
//! call (`metalroute_bgp::socket::recv_msg`) on real UDP sockets in a network namespace of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use metalroute_bgp::bfd::{
    EchoVerdict, Engine, HopMode, RxMeta, SessionKey, SessionParams, SplitMix64, State,
    TransmitKind,
};

struct Counting;
thread_local! {
    /// Allocations made by this thread: the test harness's own threads (printing results of
    /// other tests) must not count.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // During thread teardown the slot may be gone: that allocation is not ours to count.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
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
                                interface: None,
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
    let before = allocations();
    let packets = run(&mut a, &mut b, &mut t, start + Duration::from_secs(65));
    let after = allocations();
    assert!(packets > 3000, "{packets}");
    assert_eq!(
        after - before,
        0,
        "{} allocations for {packets} packets",
        after - before
    );
}

/// Brings `lo` up in the calling thread's network namespace (SIOCSIFFLAGS).
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a plain socket(2) call; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *b as libc::c_char;
    }
    // SAFETY: `req` is a live ifreq naming `lo`; both ioctls read and write only it.
    let rc = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            -1
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &req)
        }
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: `fd` is ours and still open.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(err);
    }
    Ok(())
}

fn set_int(fd: i32, level: i32, name: i32, v: i32) {
    // SAFETY: passes a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt {level}/{name}: {}",
        std::io::Error::last_os_error()
    );
}

/// recv_msg on real sockets: the source (port, scope), hop limit / TTL, destination and
/// interface come back right, a truncated datagram is flagged, and 2,000 receives allocate
/// nothing. Runs in a network namespace of its own (a thread after unshare(CLONE_NEWNET)).
#[test]
fn recv_msg_reads_metadata_and_allocates_nothing() {
    use metalroute_bgp::socket::recv_msg;
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::{Ipv6Addr, SocketAddrV6};
    use std::os::fd::AsRawFd;

    let result = std::thread::spawn(|| {
        // SAFETY: moves only this thread into a new network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        loopback_up()?;
        let lo = metalroute_bgp::socket::interface_index("lo")?;
        // IPv6: hop limit, packet info, source with port.
        let rx = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        set_int(
            rx.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVHOPLIMIT,
            1,
        );
        set_int(
            rx.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            1,
        );
        rx.bind(&SocketAddr::from((Ipv6Addr::LOCALHOST, 0)).into())?;
        let to = rx.local_addr()?;
        let tx = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        tx.set_unicast_hops_v6(7)?;
        tx.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0)).into())?;
        let from = tx.local_addr()?.as_socket().expect("an inet address");
        let mut buf = [0u8; 64];
        tx.send_to(b"hello", &to)?;
        let m = recv_msg(rx.as_raw_fd(), &mut buf)?;
        assert_eq!(m.len, 5);
        assert!(!m.truncated);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            m.source.map(|s| (s.ip(), s.port())),
            Some((from.ip(), from.port()))
        );
        assert_eq!(m.hop_limit, Some(7));
        assert_eq!(m.destination, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(m.ifindex, Some(lo));
        // Truncation is reported, not hidden.
        tx.send_to(&[1u8; 100], &to)?;
        let m = recv_msg(rx.as_raw_fd(), &mut buf)?;
        assert!(m.truncated);
        assert_eq!(m.len, 64);
        // Nothing queued: WouldBlock.
        let e = recv_msg(rx.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        // IPv4: TTL and packet info.
        let rx4 = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        set_int(rx4.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTTL, 1);
        set_int(rx4.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1);
        rx4.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
        let to4 = rx4.local_addr()?;
        let tx4 = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        tx4.set_ttl_v4(255)?;
        tx4.send_to(b"bfd", &to4)?;
        let m = recv_msg(rx4.as_raw_fd(), &mut buf)?;
        assert_eq!((m.len, m.hop_limit), (3, Some(255)));
        assert_eq!(m.destination, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(m.ifindex, Some(lo));
        // The per-packet path: send and receive 2,000 datagrams, count allocations of receives.
        let mut allocs = 0;
        for _ in 0..2000 {
            tx.send_to(b"0123456789", &to)?;
            let before = allocations();
            let m = recv_msg(rx.as_raw_fd(), &mut buf)?;
            allocs += allocations() - before;
            assert_eq!((m.len, m.hop_limit), (10, Some(7)));
        }
        assert_eq!(
            allocs, 0,
            "recv_msg allocated {allocs} times in 2,000 receives"
        );
        Ok(())
    })
    .join()
    .expect("the namespace thread panicked");
    match result {
        Ok(()) => {}
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied
                && std::env::var_os("METALROUTE_REQUIRE_NETNS").is_none() =>
        {
            eprintln!("skipped: no network namespace (not root): {e}");
        }
        Err(e) => panic!("recv_msg test failed: {e}"),
    }
}
