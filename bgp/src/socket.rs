//! Socket options of BGP sessions: the only module that calls `setsockopt` directly.
//!
//! It owns how a session's TCP socket is made: bound to the VRF device (`SO_BINDTODEVICE`) and the
//! source address, keyed for TCP MD5 signatures (`TCP_MD5SIG`, RFC 2385) by peer address, with the
//! outgoing TTL / hop limit for single-hop eBGP (1) or multihop/iBGP (255), the GTSM minimum
//! (`IP_MINTTL` / `IPV6_MINHOPCOUNT`, RFC 5082) and `TCP_NODELAY`. Listening sockets get the same
//! VRF binding and carry the MD5 keys of every configured peer of that VRF.
//!
//! It also owns the one `recvmsg(2)` wrapper of the crate ([`recv_msg`]): a datagram with its
//! source address (IPv6 scope id included) and the control messages BFD and unnumbered neighbour
//! discovery ask for (TTL / hop limit, destination address and interface from the packet info).

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Longest key the kernel accepts for TCP MD5 (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// TTL the peer's packets must at least carry when GTSM is on (RFC 5082: 255 - 1 hop).
pub const GTSM_MIN_TTL: u32 = 254;

/// Outgoing TTL of a session's packets and whether GTSM is enforced on receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    /// TTL (IPv4) or unicast hop limit (IPv6) of packets we send.
    pub ttl: u32,
    /// When true, packets from the peer with a TTL below [`GTSM_MIN_TTL`] are dropped by the kernel.
    pub gtsm: bool,
}

impl TtlPolicy {
    /// The policy of a session: single-hop eBGP sends TTL 1, iBGP and multihop eBGP send 255
    /// (`ebgp_multihop` is the configured hop count, if any); GTSM always sends 255.
    pub fn for_session(ebgp: bool, ebgp_multihop: Option<u8>, gtsm: bool) -> Self {
        let ttl = if gtsm {
            255
        } else if ebgp {
            match ebgp_multihop {
                Some(hops) if hops > 1 => u32::from(hops),
                Some(_) => 255,
                None => 1,
            }
        } else {
            255
        };
        TtlPolicy { ttl, gtsm }
    }
}

/// Kernel `struct tcp_md5sig` (include/uapi/linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

fn sockaddr_storage_of(ip: IpAddr) -> libc::sockaddr_storage {
    let sa = SockAddr::from(SocketAddr::new(ip, 0));
    // SAFETY: sockaddr_storage is plain old data; an all-zero value is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = (sa.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: both pointers are valid for `len` bytes (len is capped at the storage size) and do
    // not overlap (storage is a fresh local).
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr() as *const u8,
            &mut storage as *mut libc::sockaddr_storage as *mut u8,
            len,
        );
    }
    storage
}

fn setsockopt_raw<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the given size for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Installs (`Some(key)`) or removes (`None`) the TCP MD5 key for `peer` on the socket `fd`
/// (listening or connecting). Keys longer than [`MD5_MAX_KEY_LEN`] bytes are refused.
pub fn set_md5_key(fd: RawFd, peer: IpAddr, key: Option<&[u8]>) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP MD5 password for peer {peer} is {} bytes long; the kernel accepts at most {MD5_MAX_KEY_LEN}",
                key.len()
            ),
        ));
    }
    let mut sig = TcpMd5Sig {
        addr: sockaddr_storage_of(peer),
        flags: 0,
        prefixlen: 0,
        keylen: key.len() as u16,
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    match setsockopt_raw(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig) {
        // Removing a key that is not there is not an error for us.
        Err(e) if key.is_empty() && e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

/// Sets the outgoing TTL / hop limit and, with GTSM, the minimum accepted TTL on `socket`.
pub fn set_ttl(fd: RawFd, peer: IpAddr, policy: TtlPolicy) -> io::Result<()> {
    let ttl = policy.ttl as libc::c_int;
    match peer {
        IpAddr::V4(_) => {
            setsockopt_raw(fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl)?;
            if policy.gtsm {
                let min = GTSM_MIN_TTL as libc::c_int;
                setsockopt_raw(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &min)?;
            }
        }
        IpAddr::V6(v6) => {
            setsockopt_raw(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ttl)?;
            // An IPv4-mapped peer on a v6 socket uses IPv4 packets: set both.
            if v6.to_ipv4_mapped().is_some() {
                setsockopt_raw(fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl)?;
            }
            if policy.gtsm {
                let min = GTSM_MIN_TTL as libc::c_int;
                setsockopt_raw(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &min)?;
            }
        }
    }
    Ok(())
}

/// Everything needed to open the active (connecting) socket of one session.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Peer address and port to connect to.
    pub peer: SocketAddr,
    /// Local address to bind before connecting (sourceAddress), if any.
    pub source: Option<IpAddr>,
    /// VRF (or other) device to bind to with `SO_BINDTODEVICE`.
    pub device: Option<String>,
    /// TCP MD5 password.
    pub password: Option<String>,
    /// TTL and GTSM.
    pub ttl: TtlPolicy,
}

/// Creates the non-blocking connecting socket for a session with every option applied; the
/// caller hands it to tokio and connects.
pub fn connecting_socket(opts: &ConnectOptions) -> io::Result<Socket> {
    let domain = Domain::for_address(opts.peer);
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    if let Some(dev) = &opts.device {
        socket.bind_device(Some(dev.as_bytes())).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("SO_BINDTODEVICE {dev} for peer {}: {e}", opts.peer),
            )
        })?;
    }
    if let Some(src) = opts.source {
        socket.set_reuse_address(true)?;
        socket
            .bind(&SockAddr::from(SocketAddr::new(src, 0)))
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("bind to source address {src} for peer {}: {e}", opts.peer),
                )
            })?;
    }
    if let Some(pw) = &opts.password {
        set_md5_key(socket.as_raw_fd(), opts.peer.ip(), Some(pw.as_bytes()))?;
    }
    set_ttl(socket.as_raw_fd(), opts.peer.ip(), opts.ttl)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket)
}

/// Creates a non-blocking listening socket on `addr`, bound to `device` if given (IPv6 sockets
/// are v6-only; IPv4 gets its own socket).
pub fn listening_socket(addr: SocketAddr, device: Option<&str>) -> io::Result<Socket> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if let Some(dev) = device {
        socket.bind_device(Some(dev.as_bytes())).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("SO_BINDTODEVICE {dev} for listener {addr}: {e}"),
            )
        })?;
    }
    socket
        .bind(&SockAddr::from(addr))
        .map_err(|e| io::Error::new(e.kind(), format!("bind listener {addr}: {e}")))?;
    socket.listen(64)?;
    Ok(socket)
}

/// Applies the per-session options to a socket accepted from a listener (the MD5 key is
/// inherited from the listener).
pub fn configure_accepted<S: AsRawFd>(sock: &S, peer: IpAddr, ttl: TtlPolicy) -> io::Result<()> {
    set_ttl(sock.as_raw_fd(), peer, ttl)?;
    let one: libc::c_int = 1;
    setsockopt_raw(sock.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, &one)
}

/// The device a socket is bound to (`getsockopt(SO_BINDTODEVICE)`), `None` when unbound.
///
/// For a socket accepted from a listener this is where the kernel says the connection belongs:
/// a listener bound to a VRF hands out sockets bound to that VRF; an unbound listener hands out
/// unbound sockets, except that with `net.ipv4.tcp_l3mdev_accept=1` a connection that arrived
/// through a VRF is bound to that VRF's device, and a connection from an IPv6 link-local address
/// is bound to the interface it arrived on.
pub fn bound_device<S: AsRawFd>(sock: &S) -> io::Result<Option<String>> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of `len` bytes for the duration of the call and `len`
    // points to a live socklen_t the kernel updates to the bytes written (at most `len`).
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("getsockopt SO_BINDTODEVICE: {e}"),
        ));
    }
    let written = (len as usize).min(buf.len());
    let name = &buf[..written];
    let name = name.split(|b| *b == 0).next().unwrap_or_default();
    if name.is_empty() {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(name).into_owned()))
}

/// An address of the other family on the interface that holds `local` (a global IPv6 address
/// for an IPv4 session, an IPv4 address for an IPv6 session): the next hop we announce for the
/// other family of a dual-stack session. `None` if the interface has none.
pub fn other_family_address(local: IpAddr) -> Option<IpAddr> {
    let addrs = interface_addresses().ok()?;
    let ifname = addrs
        .iter()
        .find(|(_, a)| *a == local)
        .map(|(n, _)| n.clone())?;
    addrs
        .into_iter()
        .filter(|(n, a)| *n == ifname && a.is_ipv4() != local.is_ipv4())
        .map(|(_, a)| a)
        .find(|a| match a {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
            IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn interface_index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} contains a NUL byte"),
        )
    })?;
    // SAFETY: `c` is a NUL-terminated string that lives for the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("interface {name} does not exist: {e}"),
        ));
    }
    Ok(index)
}

/// The name of the interface with index `index`, if it exists.
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Every address on interface `name`.
pub fn addresses_of(name: &str) -> io::Result<Vec<IpAddr>> {
    Ok(interface_addresses()?
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, a)| a)
        .collect())
}

/// A global (not link-local, not loopback) IPv6 address on interface `name`, and a usable
/// IPv4 address on it: the next hops an unnumbered session announces besides its link-local
/// address.
pub fn link_addresses(name: &str) -> (Option<std::net::Ipv6Addr>, Option<std::net::Ipv4Addr>) {
    let list = addresses_of(name).unwrap_or_default();
    let v6 = list.iter().find_map(|a| match a {
        IpAddr::V6(v6) if !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80 => Some(*v6),
        _ => None,
    });
    let v4 = list.iter().find_map(|a| match a {
        IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_link_local() => Some(*v4),
        _ => None,
    });
    (v6, v4)
}

/// Every (interface name, address) of the calling thread's network namespace.
fn interface_addresses() -> io::Result<Vec<(String, IpAddr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() && !ifa.ifa_name.is_null() {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: ifa_addr is non-null and points to a sockaddr whose family says its size.
            let family = unsafe { (*ifa.ifa_addr).sa_family } as libc::c_int;
            if family == libc::AF_INET {
                // SAFETY: family AF_INET means the sockaddr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push((
                    name,
                    IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                ));
            } else if family == libc::AF_INET6 {
                // SAFETY: family AF_INET6 means the sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push((
                    name,
                    IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                ));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// One datagram received by [`recv_msg`]: its length and what the kernel said about it.
///
/// The ancillary fields are `Some` only when the socket asked for them (`IP_RECVTTL` /
/// `IPV6_RECVHOPLIMIT` for [`RecvMeta::hop_limit`], `IP_PKTINFO` / `IPV6_RECVPKTINFO` for
/// [`RecvMeta::destination`] and [`RecvMeta::ifindex`]) and the kernel delivered them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The datagram was larger than the buffer (`MSG_TRUNC`): the buffer holds only its start.
    pub truncated: bool,
    /// The sender's address and port; an IPv6 link-local source carries its scope id (the
    /// interface index it arrived on).
    pub source: Option<SocketAddr>,
    /// TTL (IPv4) or hop limit (IPv6) the datagram arrived with.
    pub hop_limit: Option<u8>,
    /// The datagram's destination address (packet info).
    pub destination: Option<IpAddr>,
    /// Index of the interface it arrived on (packet info).
    pub ifindex: Option<u32>,
}

/// Room for the control messages we ask for: a TTL / hop limit (`CMSG_SPACE(4)` = 24 bytes) and
/// an `in6_pktinfo` (`CMSG_SPACE(20)` = 40) or `in_pktinfo` (`CMSG_SPACE(12)` = 32), with slack.
/// `u64` elements keep the buffer aligned for `cmsghdr`.
const CONTROL_WORDS: usize = 16;

/// One non-blocking `recvmsg(2)` on `fd` into `buf`, with the source address and the TTL / hop
/// limit and packet-info control messages (see [`RecvMeta`]). Nothing is allocated: the source
/// address and control buffers live on the stack, so this is fit for per-packet paths.
///
/// Errors are the system call's (`WouldBlock` when nothing is queued).
pub fn recv_msg(fd: RawFd, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let mut src = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; CONTROL_WORDS];
    // SAFETY: msghdr is plain data; all-zero (null pointers, zero lengths) is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = src.as_mut_ptr().cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live local buffer (`src`, `iov` over `buf`,
    // `control`) of the length stated next to it; they outlive the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // recvmsg returns at most iov_len (buf.len()) bytes, so n fits in usize and in the buffer.
    let len = (n as usize).min(buf.len());
    // SAFETY: `src` was zero-initialised, and sockaddr_storage is plain data valid for any
    // bytes; recvmsg wrote at most msg_namelen bytes of an address into it.
    let storage = unsafe { src.assume_init() };
    let source = if msg.msg_namelen == 0 {
        None
    } else {
        sockaddr_to_std(&storage)
    };
    let mut meta = RecvMeta {
        len,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        source,
        hop_limit: None,
        destination: None,
        ifindex: None,
    };
    // SAFETY: the libc CMSG_* macros walk the control messages recvmsg wrote into `control`;
    // CMSG_FIRSTHDR/CMSG_NXTHDR bound every header by msg_control + msg_controllen (which the
    // kernel set to the bytes written) and return null past the end. Each payload is checked to
    // be as long as the type read from it, and read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = std::ptr::read_unaligned(c);
            let data = libc::CMSG_DATA(c);
            let payload = (h.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            match (h.cmsg_level, h.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                    if payload >= std::mem::size_of::<libc::c_int>() =>
                {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    meta.hop_limit = u8::try_from(v).ok();
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if payload >= std::mem::size_of::<libc::in_pktinfo>() =>
                {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    meta.destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                    meta.ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if payload >= std::mem::size_of::<libc::in6_pktinfo>() =>
                {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    meta.destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    meta.ifindex = Some(info.ipi6_ifindex);
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(meta)
}

/// A kernel socket address as a std one (IPv4 or IPv6 with flow info and scope id); `None` for
/// other families.
fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in, which is smaller than
            // sockaddr_storage and needs no stricter alignment.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6, which is smaller than
            // sockaddr_storage and needs no stricter alignment.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_policy() {
        assert_eq!(TtlPolicy::for_session(true, None, false).ttl, 1);
        assert_eq!(TtlPolicy::for_session(true, Some(3), false).ttl, 3);
        assert_eq!(TtlPolicy::for_session(false, None, false).ttl, 255);
        assert_eq!(TtlPolicy::for_session(true, None, true).ttl, 255);
    }

    #[test]
    fn md5_key_too_long_is_refused() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let key = [b'x'; 81];
        let err = set_md5_key(s.as_raw_fd(), "192.0.2.1".parse().unwrap(), Some(&key)).unwrap_err();
        assert!(err.to_string().contains("192.0.2.1"), "{err}");
    }

    #[test]
    fn bound_device_of_an_unbound_socket_is_none() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        assert_eq!(bound_device(&s).unwrap(), None);
    }

    #[test]
    fn bound_device_reads_back_the_device() {
        // Binding needs CAP_NET_RAW; `lo` exists in every namespace and nothing is sent.
        let s = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        match s.bind_device(Some(b"lo")) {
            Ok(()) => assert_eq!(bound_device(&s).unwrap().as_deref(), Some("lo")),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                assert!(
                    std::env::var_os("METALROUTE_REQUIRE_NETNS").is_none(),
                    "SO_BINDTODEVICE needs root: {e}"
                );
            }
            Err(e) => panic!("SO_BINDTODEVICE lo: {e}"),
        }
    }

    #[test]
    fn options_apply_on_fresh_sockets() {
        // Applies to an unconnected socket: no packet leaves, no namespace needed.
        let opts = ConnectOptions {
            peer: "[2001:db8::1]:179".parse().unwrap(),
            source: None,
            device: None,
            password: Some("secret".into()),
            ttl: TtlPolicy::for_session(true, None, true),
        };
        let s = connecting_socket(&opts).unwrap();
        assert_eq!(s.unicast_hops_v6().unwrap(), 255);
        let opts4 = ConnectOptions {
            peer: "192.0.2.1:179".parse().unwrap(),
            ..opts
        };
        let s4 = connecting_socket(&opts4).unwrap();
        assert_eq!(s4.ttl_v4().unwrap(), 255);
        set_md5_key(s4.as_raw_fd(), "192.0.2.1".parse().unwrap(), None).unwrap();
    }
}
