//! The transport's echo datapath (RFC 5881 §4 on Linux): AF_PACKET sockets that send our echo
//! packets — IP source and destination both our own address, UDP port 3785 — to the peer's
//! link-layer address, and receive them when the peer's forwarding plane sends them back.
//!
//! - Transmit: one `AF_PACKET`/`SOCK_DGRAM` socket with protocol 0 (so it receives nothing) for
//!   all sessions; each echo goes out with `sendto` naming the interface, EtherType and the
//!   peer's link-layer address. The IP and UDP headers come from [`super::echo`].
//! - Where to: per session an [`EchoPath`] — the interface the peer is reached through (route
//!   lookup, in the session's VRF) and the peer's link-layer address from the neighbour table
//!   ([`super::neighbour`]). Looked up at the first echo, again every [`REFRESH`] and when the
//!   session changes state, and every [`RETRY`] while unresolved (no echo leaves then; the
//!   session's unicast control packets make the kernel resolve the neighbour). A peer that is not
//!   directly connected (route through a gateway) gets no echoes.
//! - Receive: one `AF_PACKET`/`SOCK_DGRAM` socket per (interface, local address) in use, bound
//!   to the interface, with `PACKET_IGNORE_OUTGOING` and a classic BPF filter
//!   ([`super::echo::echo_filter`]) so the kernel hands it nothing but returned echoes for that
//!   address; a reader task checks each packet ([`super::echo::parse_returned`]) and passes the
//!   payload to the driver. The kernel's IP layer still drops the same packet as a martian
//!   (source is local), which is why it is read here; no sysctl is changed.
//!
//! Nothing here allocates per packet: frames are built in a fixed buffer, received into fixed
//! buffers, and the per-session paths live in a vector indexed by session slot.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::echo::{self, MAX_ECHO_FRAME};
use super::neighbour::{ifindex_of, LinkAddr, Neighbour, Rtnl};
use super::session::{HopMode, SessionKey};
use super::Error;

/// How often a resolved echo path is looked up again (catches a changed link-layer address).
pub const REFRESH: Duration = Duration::from_secs(5);
/// How soon an unresolved echo path (no route, neighbour incomplete or failed) is tried again.
pub const RETRY: Duration = Duration::from_millis(250);

/// `SO_ATTACH_FILTER` (asm-generic/socket.h; not exported by libc for Linux targets).
const SO_ATTACH_FILTER: libc::c_int = 26;
/// `PACKET_IGNORE_OUTGOING` (linux/if_packet.h, Linux 4.20).
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `PACKET_HOST` (linux/if_packet.h).
const PACKET_HOST: u8 = 0;

/// A returned echo handed from a reader task to the driver (fixed buffer: no allocation).
pub struct ReturnedEcho {
    /// UDP payload length.
    pub len: usize,
    /// UDP payload (our echo format).
    pub buf: [u8; MAX_ECHO_FRAME],
}

/// Where one session's echoes go.
#[derive(Debug)]
struct EchoPath {
    key: SessionKey,
    /// Interface and the peer's link-layer address, once resolved.
    link: Option<(u32, LinkAddr)>,
    /// The receive socket this session holds a reference on: (interface, local address).
    rx: Option<(u32, IpAddr)>,
    next_lookup: Instant,
    /// Why the path is unresolved, last time it was logged (log changes only).
    last_problem: Option<&'static str>,
}

struct RxSocket {
    users: usize,
    task: tokio::task::JoinHandle<()>,
}

/// The echo datapath of one transport.
pub struct EchoIo {
    rtnl: Option<Rtnl>,
    tx: Option<OwnedFd>,
    rx: HashMap<(u32, IpAddr), RxSocket>,
    paths: Vec<Option<EchoPath>>,
    sport: u16,
    ident: u16,
    frame: [u8; MAX_ECHO_FRAME],
    out: mpsc::Sender<ReturnedEcho>,
}

impl EchoIo {
    /// A datapath that sends from UDP source port `sport` and hands returned echoes to `out`.
    /// Opens nothing until the first echo.
    pub fn new(sport: u16, out: mpsc::Sender<ReturnedEcho>) -> Self {
        Self {
            rtnl: None,
            tx: None,
            rx: HashMap::new(),
            paths: Vec::new(),
            sport,
            ident: 0,
            frame: [0; MAX_ECHO_FRAME],
            out,
        }
    }

    /// Registers session slot `index` (single-hop sessions only; others never send echoes).
    pub fn add(&mut self, index: usize, key: &SessionKey, now: Instant) {
        if key.hop != HopMode::SingleHop {
            return;
        }
        if self.paths.len() <= index {
            self.paths.resize_with(index + 1, || None);
        }
        self.paths[index] = Some(EchoPath {
            key: key.clone(),
            link: None,
            rx: None,
            next_lookup: now,
            last_problem: None,
        });
    }

    /// Forgets session slot `index` and closes its receive socket if no one else uses it.
    pub fn remove(&mut self, index: usize) {
        if let Some(p) = self.paths.get_mut(index).and_then(Option::take) {
            if let Some(k) = p.rx {
                self.release(k);
            }
        }
    }

    /// The session changed state: look its path up again before the next echo.
    pub fn state_changed(&mut self, index: usize, now: Instant) {
        if let Some(Some(p)) = self.paths.get_mut(index) {
            p.next_lookup = now;
        }
    }

    /// Sends one echo payload for session slot `index`: the packet addressed to ourselves, to
    /// the peer's link-layer address. Returns `Ok(false)` when the path is not resolved yet.
    pub fn send(&mut self, index: usize, payload: &[u8], now: Instant) -> Result<bool, Error> {
        let Some(Some(path)) = self.paths.get(index) else {
            return Ok(false);
        };
        if now >= path.next_lookup {
            self.resolve(index, now);
        }
        let Some(Some(path)) = self.paths.get(index) else {
            return Ok(false);
        };
        let Some((ifindex, lladdr)) = path.link else {
            return Ok(false);
        };
        let local = path.key.local;
        let tx = match &self.tx {
            Some(fd) => fd.as_raw_fd(),
            None => {
                let fd = packet_socket().map_err(sock_err("socket AF_PACKET (echo transmit)"))?;
                let raw = fd.as_raw_fd();
                self.tx = Some(fd);
                raw
            }
        };
        self.ident = self.ident.wrapping_add(1);
        let Some(n) = echo::build(&mut self.frame, local, self.sport, self.ident, payload) else {
            return Ok(false);
        };
        let proto = if local.is_ipv6() {
            libc::ETH_P_IPV6
        } else {
            libc::ETH_P_IP
        };
        send_frame(tx, &self.frame[..n], ifindex, proto, lladdr)
            .map_err(sock_err("sendto AF_PACKET (echo)"))?;
        Ok(true)
    }

    /// Looks up the interface and the peer's link-layer address of session slot `index`, and
    /// makes sure the receive socket for (interface, local address) is open.
    fn resolve(&mut self, index: usize, now: Instant) {
        let r = self.lookup(index);
        let Some(Some(path)) = self.paths.get_mut(index) else {
            return;
        };
        let problem = match r {
            Ok(Ok((ifindex, lladdr))) => {
                if path.link != Some((ifindex, lladdr)) {
                    tracing::debug!(session = %path.key, ifindex, lladdr = %lladdr, "BFD echo path");
                }
                path.link = Some((ifindex, lladdr));
                path.next_lookup = now + REFRESH;
                None
            }
            Ok(Err(why)) => Some(why),
            Err(e) => {
                tracing::debug!(session = %path.key, error = %e, "BFD echo path lookup failed");
                Some("lookup failed")
            }
        };
        if let Some(why) = problem {
            path.link = None;
            path.next_lookup = now + RETRY;
            if path.last_problem != Some(why) {
                tracing::info!(session = %path.key, reason = why, "BFD echo path unresolved; echoes wait");
            }
        }
        path.last_problem = problem;
    }

    /// The lookup itself: `Ok(Err(reason))` for a peer that cannot get echoes now.
    #[allow(clippy::type_complexity)]
    fn lookup(&mut self, index: usize) -> Result<Result<(u32, LinkAddr), &'static str>, Error> {
        let Some(Some(path)) = self.paths.get(index) else {
            return Ok(Err("no session"));
        };
        let (peer, local) = (path.key.peer, path.key.local);
        let vrf = path.key.vrf.as_deref().map(ifindex_of).transpose()?;
        if self.rtnl.is_none() {
            self.rtnl = Some(Rtnl::open()?);
        }
        let Some(rtnl) = self.rtnl.as_mut() else {
            return Ok(Err("no rtnetlink socket"));
        };
        let Some(route) = rtnl.route_to(peer, vrf)? else {
            return Ok(Err("no route to the peer"));
        };
        if route.via_gateway {
            return Ok(Err("peer is not directly connected"));
        }
        let neighbour = rtnl.neighbour(route.ifindex, peer)?;
        // The receive socket must be there before the first echo leaves.
        let want = (route.ifindex, local);
        let held = self.paths.get(index).and_then(|p| p.as_ref()?.rx);
        if held != Some(want) {
            self.acquire(want)?;
            if let Some(old) = held {
                self.release(old);
            }
            if let Some(Some(p)) = self.paths.get_mut(index) {
                p.rx = Some(want);
            }
        }
        Ok(match neighbour {
            Neighbour::Known(ll) => Ok((route.ifindex, ll)),
            Neighbour::Unresolved => Err("peer's link-layer address not resolved"),
        })
    }

    fn acquire(&mut self, k: (u32, IpAddr)) -> Result<(), Error> {
        if let Some(s) = self.rx.get_mut(&k) {
            s.users += 1;
            return Ok(());
        }
        let fd = rx_socket(k.0, k.1).map_err(sock_err("AF_PACKET echo receive socket"))?;
        // SAFETY: `fd` is an open descriptor owned by the OwnedFd the AsyncFd takes ownership
        // of, so it stays open and the same for the AsyncFd's whole lifetime.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| sock_err("register echo socket with tokio")(io::Error::from(e)))?;
        let task = tokio::spawn(reader(fd, k.1, self.out.clone()));
        self.rx.insert(k, RxSocket { users: 1, task });
        Ok(())
    }

    fn release(&mut self, k: (u32, IpAddr)) {
        if let Some(s) = self.rx.get_mut(&k) {
            s.users -= 1;
            if s.users == 0 {
                s.task.abort();
                self.rx.remove(&k);
            }
        }
    }

    /// Closes every receive socket (transport shutdown).
    pub fn close(&mut self) {
        for (_, s) in self.rx.drain() {
            s.task.abort();
        }
    }
}

fn sock_err(what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Socket {
        what,
        addr: "echo".into(),
        source,
    }
}

/// An `AF_PACKET`/`SOCK_DGRAM` socket with protocol 0: it receives nothing until bound.
fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: passes a pointer to a live T and its size, as setsockopt(2) expects.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn sockaddr_ll(ifindex: u32, proto: libc::c_int, lladdr: Option<LinkAddr>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = (proto as u16).to_be(); // ETH_P_* fit in 16 bits
    sa.sll_ifindex = ifindex as i32; // kernel interface indexes are positive ints
    if let Some(ll) = lladdr {
        let (addr, len) = ll.sll();
        sa.sll_addr = addr;
        sa.sll_halen = len;
    }
    sa
}

/// The receive socket for returned echoes of `local` on interface `ifindex`: filter attached
/// before binding, so it never sees anything else.
fn rx_socket(ifindex: u32, local: IpAddr) -> io::Result<OwnedFd> {
    let fd = packet_socket()?;
    let raw = fd.as_raw_fd();
    let mut prog: Vec<libc::sock_filter> = echo::echo_filter(local)
        .into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: prog.len() as u16, // at most ~30 instructions
        filter: prog.as_mut_ptr(),
    };
    setsockopt(raw, libc::SOL_SOCKET, SO_ATTACH_FILTER, &fprog)?;
    // Our own transmitted echoes would otherwise be copied here (and filtered) too.
    let one: libc::c_int = 1;
    let _ = setsockopt(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &one);
    let proto = if local.is_ipv6() {
        libc::ETH_P_IPV6
    } else {
        libc::ETH_P_IP
    };
    let sa = sockaddr_ll(ifindex, proto, None);
    // SAFETY: sa is a valid sockaddr_ll of the stated size.
    let r = unsafe {
        libc::bind(
            raw,
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn send_frame(
    fd: RawFd,
    frame: &[u8],
    ifindex: u32,
    proto: libc::c_int,
    lladdr: LinkAddr,
) -> io::Result<()> {
    let sa = sockaddr_ll(ifindex, proto, Some(lladdr));
    // SAFETY: frame and sa are live buffers of the stated sizes.
    let n = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One recvfrom(2) into `buf`: the packet length, or `None` if it is not addressed to this host
/// (packet type) or was truncated.
fn recv_packet(fd: RawFd, buf: &mut [u8; MAX_ECHO_FRAME]) -> io::Result<Option<usize>> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buf and sa are live buffers of the stated sizes.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            (&mut sa as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize; // n >= 0
    if n > buf.len() || sa.sll_pkttype != PACKET_HOST {
        return Ok(None);
    }
    Ok(Some(n))
}

/// Reads returned echoes for `local` and hands their payloads to the driver.
async fn reader(fd: AsyncFd<OwnedFd>, local: IpAddr, out: mpsc::Sender<ReturnedEcho>) {
    let mut frame = [0u8; MAX_ECHO_FRAME];
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return;
        };
        match guard.try_io(|inner| recv_packet(inner.as_raw_fd(), &mut frame)) {
            Ok(Ok(Some(n))) => {
                let Some(r) = echo::parse_returned(&frame[..n], local) else {
                    continue;
                };
                let mut e = ReturnedEcho {
                    len: r.payload.len(),
                    buf: [0; MAX_ECHO_FRAME],
                };
                e.buf[..r.payload.len()].copy_from_slice(r.payload);
                if out.send(e).await.is_err() {
                    return;
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "BFD echo receive failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_would_block) => {}
        }
    }
}
