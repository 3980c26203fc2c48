//! Where an echo goes on the link: the interface a single-hop peer is reached through (an
//! rtnetlink route lookup, the `ip route get` question) and the peer's link-layer address from the
//! kernel's neighbour table (RTM_GETNEIGH for one entry). A small synchronous rtnetlink client:
//! the kernel answers GET requests while the request is being sent, so a call costs two
//! syscalls; a receive timeout bounds it anyway. Used by the transport only when a session's echo
//! path is unknown, missing or due for a refresh — never per packet.
//!
//! We never add or refresh neighbour entries ourselves: the session's control packets are
//! unicast IP to the peer, so the kernel resolves and keeps the entry fresh.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::Error;

/// A link-layer address (Ethernet: 6 bytes; at most 8, the size of `sockaddr_ll.sll_addr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkAddr {
    bytes: [u8; 8],
    len: u8,
}

impl LinkAddr {
    /// From the bytes of an NDA_LLADDR attribute; `None` if empty or longer than 8 bytes.
    pub fn new(b: &[u8]) -> Option<Self> {
        if b.is_empty() || b.len() > 8 {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes[..b.len()].copy_from_slice(b);
        Some(Self {
            bytes,
            len: b.len() as u8, // <= 8
        })
    }
    /// The address bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
    /// The 8-byte `sll_addr` array and the length to put in `sll_halen`.
    pub fn sll(&self) -> ([u8; 8], u8) {
        (self.bytes, self.len)
    }
}

impl std::fmt::Display for LinkAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What the route lookup for a peer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRoute {
    /// Index of the interface the peer is reached through.
    pub ifindex: u32,
    /// The route goes through a gateway: the peer is not directly connected.
    pub via_gateway: bool,
}

/// What the neighbour table says about a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    /// A usable link-layer address (state REACHABLE, STALE, DELAY, PROBE, PERMANENT or NOARP).
    Known(LinkAddr),
    /// No entry, or one being resolved (INCOMPLETE) or failed (FAILED): try again later.
    Unresolved,
}

/// A synchronous rtnetlink socket in the network namespace of the thread that opened it.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rtnl").field("seq", &self.seq).finish()
    }
}

fn nl_err(what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Socket {
        what,
        addr: "rtnetlink".into(),
        source,
    }
}

impl Rtnl {
    /// Opens and connects the socket, with a 200 ms receive timeout.
    pub fn open() -> Result<Self, Error> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(nl_err("socket"))?;
        sock.bind_auto().map_err(nl_err("bind"))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(nl_err("connect"))?;
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: passes a pointer to a live timeval and its size, as setsockopt(2) expects.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(nl_err("SO_RCVTIMEO")(io::Error::last_os_error()));
        }
        Ok(Self {
            sock,
            seq: 0,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Sends one GET request and returns the first answer of the kind `pick` accepts;
    /// `Ok(None)` when the kernel answers ENOENT / ENETUNREACH / EHOSTUNREACH (nothing there).
    fn get<T>(
        &mut self,
        what: &'static str,
        req: RouteNetlinkMessage,
        mut pick: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST;
        hdr.sequence_number = seq;
        let mut msg = NetlinkMessage::new(hdr, NetlinkPayload::from(req));
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        self.sock.send(&out, 0).map_err(nl_err(what))?;
        loop {
            let mut b = &mut self.buf[..];
            let n = self.sock.recv(&mut b, 0).map_err(nl_err(what))?;
            let mut off = 0;
            while off < n.min(self.buf.len()) {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                    .map_err(|e| nl_err(what)(io::Error::new(io::ErrorKind::InvalidData, e)))?;
                let len = m.header.length as usize;
                if len == 0 {
                    break;
                }
                off += len;
                if m.header.sequence_number != seq {
                    continue; // an answer to an earlier, timed-out request
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(inner) => {
                        if let Some(v) = pick(inner) {
                            return Ok(Some(v));
                        }
                    }
                    NetlinkPayload::Error(e) => {
                        let code = e.code.map_or(0, |c| -c.get());
                        return match code {
                            0 => Ok(None),
                            libc::ENOENT | libc::ENETUNREACH | libc::EHOSTUNREACH => Ok(None),
                            _ => Err(nl_err(what)(io::Error::from_raw_os_error(code))),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(None),
                    _ => {}
                }
            }
        }
    }

    /// The interface `peer` is reached through, looked up in the default VRF or in the VRF whose
    /// device index is `vrf_ifindex` (like `ip route get PEER [vrf NAME]`). `None`: no route.
    pub fn route_to(
        &mut self,
        peer: IpAddr,
        vrf_ifindex: Option<u32>,
    ) -> Result<Option<PeerRoute>, Error> {
        let mut m = RouteMessage::default();
        let (fam, plen, dst) = match peer {
            IpAddr::V4(a) => (AddressFamily::Inet, 32, RouteAddress::Inet(a)),
            IpAddr::V6(a) => (AddressFamily::Inet6, 128, RouteAddress::Inet6(a)),
        };
        m.header.address_family = fam;
        m.header.destination_prefix_length = plen;
        m.attributes.push(RouteAttribute::Destination(dst));
        if let Some(i) = vrf_ifindex {
            m.attributes.push(RouteAttribute::Oif(i));
        }
        self.get(
            "RTM_GETROUTE",
            RouteNetlinkMessage::GetRoute(m),
            |r| match r {
                RouteNetlinkMessage::NewRoute(r) => {
                    let mut ifindex = None;
                    let mut via_gateway = false;
                    for a in &r.attributes {
                        match a {
                            RouteAttribute::Oif(i) => ifindex = Some(*i),
                            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) => {
                                via_gateway = true
                            }
                            _ => {}
                        }
                    }
                    ifindex.map(|ifindex| PeerRoute {
                        ifindex,
                        via_gateway,
                    })
                }
                _ => None,
            },
        )
    }

    /// The neighbour table entry for `peer` on interface `ifindex`.
    pub fn neighbour(&mut self, ifindex: u32, peer: IpAddr) -> Result<Neighbour, Error> {
        let mut m = NeighbourMessage::default();
        m.header.family = match peer {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        m.header.ifindex = ifindex;
        m.attributes
            .push(NeighbourAttribute::Destination(match peer {
                IpAddr::V4(a) => NeighbourAddress::Inet(a),
                IpAddr::V6(a) => NeighbourAddress::Inet6(a),
            }));
        let found = self.get(
            "RTM_GETNEIGH",
            RouteNetlinkMessage::GetNeighbour(m),
            |r| match r {
                RouteNetlinkMessage::NewNeighbour(n) => Some(neighbour_of(&n)),
                _ => None,
            },
        )?;
        Ok(found.unwrap_or(Neighbour::Unresolved))
    }
}

/// Interprets a neighbour entry: usable states with a link-layer address give the address.
fn neighbour_of(n: &NeighbourMessage) -> Neighbour {
    let usable = matches!(
        n.header.state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp
    );
    if !usable {
        return Neighbour::Unresolved;
    }
    n.attributes
        .iter()
        .find_map(|a| match a {
            NeighbourAttribute::LinkLayerAddress(b) => LinkAddr::new(b),
            _ => None,
        })
        .map_or(Neighbour::Unresolved, Neighbour::Known)
}

/// The interface index of device `name` (a VRF device), via if_nametoindex(3).
pub fn ifindex_of(name: &str) -> Result<u32, Error> {
    let c = std::ffi::CString::new(name).map_err(|_| Error::Socket {
        what: "if_nametoindex",
        addr: name.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in device name"),
    })?;
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(Error::Socket {
            what: "if_nametoindex",
            addr: name.to_owned(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::neighbour::NeighbourHeader;

    fn entry(state: NeighbourState, ll: Option<&[u8]>) -> NeighbourMessage {
        let mut n = NeighbourMessage::default();
        n.header = NeighbourHeader {
            state,
            ..Default::default()
        };
        if let Some(b) = ll {
            n.attributes
                .push(NeighbourAttribute::LinkLayerAddress(b.to_vec()));
        }
        n
    }

    #[test]
    fn neighbour_states() {
        let mac = [2, 0, 0, 0, 0, 1];
        let known = Neighbour::Known(LinkAddr::new(&mac).unwrap());
        for s in [
            NeighbourState::Reachable,
            NeighbourState::Stale,
            NeighbourState::Delay,
            NeighbourState::Probe,
            NeighbourState::Permanent,
        ] {
            assert_eq!(neighbour_of(&entry(s, Some(&mac))), known, "{s:?}");
        }
        for s in [NeighbourState::Incomplete, NeighbourState::Failed] {
            assert_eq!(
                neighbour_of(&entry(s, Some(&mac))),
                Neighbour::Unresolved,
                "{s:?}"
            );
        }
        assert_eq!(
            neighbour_of(&entry(NeighbourState::Reachable, None)),
            Neighbour::Unresolved
        );
        assert_eq!(
            LinkAddr::new(&mac).unwrap().to_string(),
            "02:00:00:00:00:01"
        );
        assert!(LinkAddr::new(&[0; 9]).is_none() && LinkAddr::new(&[]).is_none());
    }
}
