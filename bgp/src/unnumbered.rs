//! Neighbour discovery for unnumbered BGP peers (RFC 8950 / FRR's `neighbor IF interface`).
//!
//! It owns how an unnumbered session finds the router on its interface and how the router finds
//! us: like FRR's zebra on an interface with an unnumbered neighbour, we send ICMPv6 Router
//! Advertisements (RFC 4861 §4.2, router lifetime 0: we are not a default router) every
//! [`RA_INTERVAL`], one Router Solicitation at start so the router answers at once, and we
//! listen for the router's Router Advertisements. A valid one (hop limit 255, link-local source,
//! not our own) names the neighbour's link-local address, which the speaker's VRF task hands to
//! the session ([`crate::session::Session::set_neighbor`]). The router may equally connect to us
//! first: the speaker matches a connection from a link-local address to the interface it arrived
//! on.
//!
//! The packet format is pure ([`router_advertisement`], [`router_solicitation`], [`parse`]); the
//! socket and its task are a thin shell ([`run`]).

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use crate::config::is_link_local;

/// How often we send a Router Advertisement on an unnumbered interface (FRR uses 10 s for
/// interfaces with unnumbered BGP neighbours).
pub const RA_INTERVAL: Duration = Duration::from_secs(10);
/// How long to wait before retrying when the interface cannot be used (missing, down).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// ICMPv6 type of a Router Solicitation.
pub const ICMPV6_ROUTER_SOLICITATION: u8 = 133;
/// ICMPv6 type of a Router Advertisement.
pub const ICMPV6_ROUTER_ADVERTISEMENT: u8 = 134;
/// The hop limit every Neighbor Discovery message must arrive with (RFC 4861 §6.1).
pub const ND_HOP_LIMIT: u8 = 255;

/// All-nodes multicast (destination of our Router Advertisements).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers multicast (destination of our Router Solicitation).
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Our Router Advertisement: no hop limit advice, no flags, router lifetime 0 (never a default
/// router), no reachable/retransmit advice, no options. The kernel fills in the checksum.
pub fn router_advertisement() -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = ICMPV6_ROUTER_ADVERTISEMENT;
    p
}

/// A Router Solicitation without options (RFC 4861 §4.1). The kernel fills in the checksum.
pub fn router_solicitation() -> [u8; 8] {
    let mut p = [0u8; 8];
    p[0] = ICMPV6_ROUTER_SOLICITATION;
    p
}

/// What a received Neighbor Discovery message means for the unnumbered session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdMessage {
    /// A router on the link advertised itself from this link-local address.
    RouterAdvertisement(Ipv6Addr),
    /// A router asked for advertisements: answer with ours now.
    RouterSolicitation,
}

/// Checks an ICMPv6 message received on the interface (RFC 4861 §6.1.2 / §6.1.1 validity:
/// hop limit 255, code 0, minimum length; a Router Advertisement must come from a link-local
/// address). `None` for anything else.
pub fn parse(icmp: &[u8], source: Ipv6Addr, hop_limit: u8) -> Option<NdMessage> {
    if hop_limit != ND_HOP_LIMIT || icmp.get(1) != Some(&0) {
        return None;
    }
    match *icmp.first()? {
        ICMPV6_ROUTER_ADVERTISEMENT if icmp.len() >= 16 && is_link_local(IpAddr::V6(source)) => {
            Some(NdMessage::RouterAdvertisement(source))
        }
        ICMPV6_ROUTER_SOLICITATION if icmp.len() >= 8 => Some(NdMessage::RouterSolicitation),
        _ => None,
    }
}

/// A neighbour learned on an interface, for the speaker's VRF task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    /// The interface.
    pub interface: String,
    /// The router's link-local address on it.
    pub address: Ipv6Addr,
}

/// Runs discovery on `interface` until the receiver of `learned` is gone or the task is
/// aborted: sends our Router Advertisements and reports each new neighbour address.
pub async fn run(interface: String, learned: mpsc::Sender<Learned>) {
    let mut last: Option<Ipv6Addr> = None;
    loop {
        match NdSocket::open(&interface) {
            Ok(sock) => {
                let r = sock.serve(&interface, &mut last, &learned).await;
                match r {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(%interface, error = %e, "unnumbered neighbour discovery failed; retrying")
                    }
                }
            }
            Err(e) => {
                tracing::debug!(%interface, error = %e, "unnumbered neighbour discovery cannot start yet; retrying")
            }
        }
        if learned.is_closed() {
            return;
        }
        tokio::time::sleep(RETRY_INTERVAL).await;
    }
}

/// The raw ICMPv6 socket of one interface.
struct NdSocket {
    fd: AsyncFd<Socket>,
    ifindex: u32,
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `v` is a live c_int for the duration of the call; its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn context<'a>(what: &'static str, interface: &'a str) -> impl Fn(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{what} on {interface}: {e}"))
}

impl NdSocket {
    fn open(interface: &str) -> io::Result<NdSocket> {
        let ifindex = crate::socket::interface_index(interface)?;
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .map_err(context("raw ICMPv6 socket", interface))?;
        s.set_cloexec(true)?;
        s.bind_device(Some(interface.as_bytes()))
            .map_err(context("SO_BINDTODEVICE", interface))?;
        let fd = s.as_raw_fd();
        // Only Router Solicitations and Advertisements reach us (ICMP6_FILTER: a set bit
        // blocks the type).
        let mut filter = [u32::MAX; 8];
        for t in [ICMPV6_ROUTER_SOLICITATION, ICMPV6_ROUTER_ADVERTISEMENT] {
            filter[usize::from(t >> 5)] &= !(1u32 << (t & 31));
        }
        // SAFETY: `filter` is the kernel's struct icmp6_filter (eight 32-bit words), live for
        // the call; its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_ICMPV6,
                1, // ICMP6_FILTER
                filter.as_ptr().cast(),
                std::mem::size_of_val(&filter) as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(context("ICMP6_FILTER", interface)(
                io::Error::last_os_error(),
            ));
        }
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
            .map_err(context("IPV6_RECVHOPLIMIT", interface))?;
        s.set_multicast_hops_v6(u32::from(ND_HOP_LIMIT))
            .map_err(context("IPV6_MULTICAST_HOPS", interface))?;
        s.set_unicast_hops_v6(u32::from(ND_HOP_LIMIT))
            .map_err(context("IPV6_UNICAST_HOPS", interface))?;
        // Our own advertisements must not come back to us as a "neighbour".
        s.set_multicast_loop_v6(false)
            .map_err(context("IPV6_MULTICAST_LOOP", interface))?;
        s.set_multicast_if_v6(ifindex)
            .map_err(context("IPV6_MULTICAST_IF", interface))?;
        s.set_nonblocking(true)?;
        // SAFETY: the socket is owned by the AsyncFd from here on and closed only when it drops.
        let fd = unsafe { AsyncFd::register(s) }
            .map_err(|e| io::Error::other(format!("register with tokio on {interface}: {e}")))?;
        Ok(NdSocket { fd, ifindex })
    }

    fn send(&self, packet: &[u8], to: Ipv6Addr) -> io::Result<()> {
        let dst = SockAddr::from(SocketAddrV6::new(to, 0, 0, self.ifindex));
        self.fd.get_ref().send_to(packet, &dst).map(|_| ())
    }

    async fn serve(
        &self,
        interface: &str,
        last: &mut Option<Ipv6Addr>,
        learned: &mpsc::Sender<Learned>,
    ) -> io::Result<()> {
        // Ask the router to advertise itself now rather than at its next interval, and tell it
        // where we are.
        self.send(&router_solicitation(), ALL_ROUTERS)
            .map_err(context("send Router Solicitation", interface))?;
        self.send(&router_advertisement(), ALL_NODES)
            .map_err(context("send Router Advertisement", interface))?;
        let mut tick = tokio::time::interval(RA_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut buf = [0u8; 1500];
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.send(&router_advertisement(), ALL_NODES)
                        .map_err(context("send Router Advertisement", interface))?;
                }
                ready = self.fd.readable() => {
                    let mut guard = ready?;
                    let r = guard.try_io(|fd| recv_with_hop_limit(fd.get_ref().as_raw_fd(), &mut buf));
                    let Ok(result) = r else { continue };
                    let (len, source, hop_limit) = match result {
                        Ok(Some(x)) => x,
                        Ok(None) => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(context("receive", interface)(e)),
                    };
                    let Some(packet) = buf.get(..len) else { continue };
                    match parse(packet, source, hop_limit) {
                        Some(NdMessage::RouterAdvertisement(addr))
                            if *last != Some(addr) && !is_own_address(interface, addr) =>
                        {
                            tracing::info!(%interface, neighbor = %addr, "unnumbered neighbour learned from its Router Advertisement");
                            *last = Some(addr);
                            let msg = Learned { interface: interface.to_string(), address: addr };
                            if learned.send(msg).await.is_err() {
                                return Ok(());
                            }
                        }
                        Some(NdMessage::RouterSolicitation) => {
                            self.send(&router_advertisement(), ALL_NODES)
                                .map_err(context("send Router Advertisement", interface))?;
                        }
                        _ => {}
                    }
                }
                _ = learned.closed() => return Ok(()),
            }
        }
    }
}

/// Whether `addr` is one of our own addresses on `interface`.
fn is_own_address(interface: &str, addr: Ipv6Addr) -> bool {
    crate::socket::addresses_of(interface)
        .map(|list| list.contains(&IpAddr::V6(addr)))
        .unwrap_or(false)
}

/// One recvmsg(2) on the raw socket ([`crate::socket::recv_msg`]): (length, source, hop
/// limit), or `None` for a truncated message, one without the hop limit or not from IPv6.
fn recv_with_hop_limit(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<(usize, Ipv6Addr, u8)>> {
    let m = crate::socket::recv_msg(fd, buf)?;
    if m.truncated {
        return Ok(None);
    }
    Ok(match (m.source, m.hop_limit) {
        (Some(SocketAddr::V6(src)), Some(h)) => Some((m.len, *src.ip(), h)),
        _ => None,
    })
}

/// The scope (interface index) of a link-local socket address, if any.
pub fn link_local_scope(addr: &SocketAddr) -> Option<u32> {
    match addr {
        SocketAddr::V6(v6) if is_link_local(IpAddr::V6(*v6.ip())) && v6.scope_id() != 0 => {
            Some(v6.scope_id())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x2);

    #[test]
    fn our_messages_are_well_formed() {
        let ra = router_advertisement();
        assert_eq!(ra[0], 134);
        assert_eq!(ra[1], 0);
        assert_eq!(
            &ra[6..8],
            &[0, 0],
            "router lifetime 0: never a default router"
        );
        assert_eq!(
            parse(&ra, LL, 255),
            Some(NdMessage::RouterAdvertisement(LL))
        );
        let rs = router_solicitation();
        assert_eq!(parse(&rs, LL, 255), Some(NdMessage::RouterSolicitation));
    }

    #[test]
    fn invalid_advertisements_are_ignored() {
        let ra = router_advertisement();
        assert_eq!(parse(&ra, LL, 254), None, "hop limit below 255: off-link");
        let global: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_eq!(
            parse(&ra, global, 255),
            None,
            "RAs come from link-local addresses"
        );
        assert_eq!(parse(&ra[..15], LL, 255), None, "too short");
        let mut bad_code = ra;
        bad_code[1] = 1;
        assert_eq!(parse(&bad_code, LL, 255), None);
        assert_eq!(parse(&[], LL, 255), None);
        let mut other = ra;
        other[0] = 135;
        assert_eq!(
            parse(&other, LL, 255),
            None,
            "neighbour solicitation is not ours"
        );
    }

    #[test]
    fn scope_of_link_local_socket_addresses() {
        let a = SocketAddr::V6(SocketAddrV6::new(LL, 179, 0, 7));
        assert_eq!(link_local_scope(&a), Some(7));
        let g = SocketAddr::V6(SocketAddrV6::new("2001:db8::1".parse().unwrap(), 179, 0, 7));
        assert_eq!(link_local_scope(&g), None);
        let unscoped = SocketAddr::V6(SocketAddrV6::new(LL, 179, 0, 0));
        assert_eq!(link_local_scope(&unscoped), None);
    }
}
