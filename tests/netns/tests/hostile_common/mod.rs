//! Shared code of the hostile-peer suite: a scripted BGP peer on a plain TCP socket (blocking
//! std I/O with deadlines) and builders for valid and deliberately broken BGP messages.
#![allow(dead_code)]

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Message types (RFC 4271 §4.1, RFC 2918).
pub const OPEN: u8 = 1;
/// UPDATE.
pub const UPDATE: u8 = 2;
/// NOTIFICATION.
pub const NOTIFICATION: u8 = 3;
/// KEEPALIVE.
pub const KEEPALIVE: u8 = 4;
/// ROUTE-REFRESH.
pub const ROUTE_REFRESH: u8 = 5;

/// Attribute flags.
pub const WELL_KNOWN: u8 = 0x40;
/// Optional transitive.
pub const OPT_TRANS: u8 = 0xC0;
/// Optional non-transitive.
pub const OPT: u8 = 0x80;
/// Extended length bit.
pub const EXT_LEN: u8 = 0x10;

/// A whole message: marker, length computed from the body, type.
pub fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    msg_with_len(kind, body, (19 + body.len()) as u16)
}

/// A message whose length field says `len` whatever the body is.
pub fn msg_with_len(kind: u8, body: &[u8], len: u16) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&len.to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// KEEPALIVE.
pub fn keepalive() -> Vec<u8> {
    msg(KEEPALIVE, &[])
}

/// A capability TLV.
pub fn cap(code: u8, value: &[u8]) -> Vec<u8> {
    let mut c = vec![code, value.len() as u8];
    c.extend_from_slice(value);
    c
}

/// Multiprotocol capability for (afi, safi).
pub fn cap_mp(afi: u16, safi: u8) -> Vec<u8> {
    let mut v = afi.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, safi]);
    cap(1, &v)
}

/// The capabilities a well-behaved peer sends: IPv4 and IPv6 unicast, route refresh, 4-octet AS.
pub fn std_caps(asn: u32) -> Vec<Vec<u8>> {
    vec![
        cap_mp(1, 1),
        cap_mp(2, 1),
        cap(2, &[]),
        cap(65, &asn.to_be_bytes()),
    ]
}

/// OPEN body with my-AS field `my_as`, the given capabilities each in its own optional
/// parameter of type 2, and `extra_params` (raw parameter bytes) appended.
pub fn open_body(
    version: u8,
    my_as: u16,
    hold: u16,
    router_id: Ipv4Addr,
    caps: &[Vec<u8>],
    extra_params: &[u8],
) -> Vec<u8> {
    let mut params = Vec::new();
    for c in caps {
        params.push(2);
        params.push(c.len() as u8);
        params.extend_from_slice(c);
    }
    params.extend_from_slice(extra_params);
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&router_id.octets());
    b.push(params.len() as u8);
    b.extend_from_slice(&params);
    b
}

/// A standard OPEN of a 2-octet-representable AS.
pub fn open(asn: u32, hold: u16, router_id: Ipv4Addr) -> Vec<u8> {
    msg(
        OPEN,
        &open_body(4, asn as u16, hold, router_id, &std_caps(asn), &[]),
    )
}

/// One path attribute (extended length when the flags say so).
pub fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code];
    if flags & EXT_LEN != 0 {
        a.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        a.push(value.len() as u8);
    }
    a.extend_from_slice(value);
    a
}

/// ORIGIN IGP.
pub fn origin_igp() -> Vec<u8> {
    attr(WELL_KNOWN, 1, &[0])
}

/// AS_PATH of one AS_SEQUENCE (4-octet ASNs).
pub fn as_path(asns: &[u32]) -> Vec<u8> {
    let mut v = vec![2, asns.len() as u8];
    for a in asns {
        v.extend_from_slice(&a.to_be_bytes());
    }
    attr(WELL_KNOWN, 2, &v)
}

/// NEXT_HOP.
pub fn next_hop(nh: Ipv4Addr) -> Vec<u8> {
    attr(WELL_KNOWN, 3, &nh.octets())
}

/// Encodes IPv4 prefixes as NLRI.
pub fn nlri4(prefixes: &[(Ipv4Addr, u8)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (a, len) in prefixes {
        v.push(*len);
        let n = (*len as usize).div_ceil(8).min(4);
        v.extend_from_slice(&a.octets()[..n]);
    }
    v
}

/// UPDATE body from raw withdrawn field, raw attributes and raw NLRI (lengths computed).
pub fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

/// UPDATE message from parts.
pub fn update(withdrawn: &[u8], attrs: &[Vec<u8>], nlri: &[u8]) -> Vec<u8> {
    msg(UPDATE, &update_body(withdrawn, &attrs.concat(), nlri))
}

/// A reaction read from our speaker.
#[derive(Debug, PartialEq, Eq)]
pub enum Reaction {
    /// A NOTIFICATION (code, subcode, data), then the connection closed.
    Notification(u8, u8, Vec<u8>),
    /// The connection closed without a NOTIFICATION.
    Closed,
    /// Nothing but KEEPALIVE/UPDATE within the wait.
    Quiet,
}

/// The scripted peer's end of one TCP connection to our speaker.
pub struct Conn {
    stream: TcpStream,
    /// Messages other than KEEPALIVE read so far (type, body).
    pub seen: Vec<(u8, Vec<u8>)>,
}

impl Conn {
    /// Connects from `source` to `dest` (call inside the peer's namespace).
    pub fn connect(source: Ipv4Addr, dest: SocketAddr) -> Conn {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        s.bind(&SockAddr::from(SocketAddr::from((source, 0))))
            .expect("bind source");
        s.connect_timeout(&SockAddr::from(dest), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect {source} -> {dest}: {e}"));
        s.set_tcp_nodelay(true).expect("nodelay");
        Conn {
            stream: s.into(),
            seen: Vec::new(),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to our speaker");
    }

    fn read_exact_by(&mut self, buf: &mut [u8], until: Instant) -> Result<(), ErrorKind> {
        let mut got = 0;
        while got < buf.len() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ErrorKind::TimedOut);
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| e.kind())?;
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ErrorKind::TimedOut)
                }
                Err(e) => return Err(e.kind()),
            }
        }
        Ok(())
    }

    /// Reads one message (type, body) before `until`.
    pub fn read_msg(&mut self, until: Instant) -> Result<(u8, Vec<u8>), ErrorKind> {
        let mut h = [0u8; 19];
        self.read_exact_by(&mut h, until)?;
        assert_eq!(&h[..16], &[0xff; 16], "our speaker sent a bad marker");
        let len = u16::from_be_bytes([h[16], h[17]]) as usize;
        assert!((19..=4096).contains(&len), "our speaker sent length {len}");
        let mut body = vec![0u8; len - 19];
        self.read_exact_by(&mut body, until)?;
        if h[18] != KEEPALIVE {
            self.seen.push((h[18], body.clone()));
        }
        Ok((h[18], body))
    }

    /// Reads until a message of type `kind` arrives; panics on NOTIFICATION, close or deadline.
    pub fn expect(&mut self, kind: u8, wait: Duration) -> Vec<u8> {
        let until = Instant::now() + wait;
        loop {
            match self.read_msg(until) {
                Ok((t, b)) if t == kind => return b,
                Ok((NOTIFICATION, b)) => panic!("waiting for type {kind}: NOTIFICATION {b:02x?}"),
                Ok(_) => {}
                Err(e) => panic!("waiting for message type {kind}: {e:?}"),
            }
        }
    }

    /// Watches the connection for `wait`: the first NOTIFICATION (then waits for the close),
    /// a close, or quiet.
    pub fn reaction(&mut self, wait: Duration) -> Reaction {
        let until = Instant::now() + wait;
        loop {
            match self.read_msg(until) {
                Ok((NOTIFICATION, b)) => {
                    let (code, sub) = (b.first().copied(), b.get(1).copied());
                    let data = b.get(2..).map(<[u8]>::to_vec).unwrap_or_default();
                    // The speaker must close after a NOTIFICATION.
                    let close_by = Instant::now() + Duration::from_secs(10);
                    match self.read_msg(close_by) {
                        Ok(m) => panic!("message after NOTIFICATION: {m:02x?}"),
                        Err(ErrorKind::TimedOut) => {
                            panic!("connection not closed after NOTIFICATION")
                        }
                        Err(_) => {}
                    }
                    return Reaction::Notification(
                        code.expect("NOTIFICATION code"),
                        sub.expect("NOTIFICATION subcode"),
                        data,
                    );
                }
                Ok(_) => {}
                Err(ErrorKind::TimedOut) => return Reaction::Quiet,
                Err(_) => return Reaction::Closed,
            }
        }
    }

    /// Closes the connection.
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
