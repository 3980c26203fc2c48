//! Connectivity probes run before and after an apply: the default gateway of the main table
//! answers an ICMP echo, a TCP endpoint (the API server in a cluster) accepts a connection, a DNS
//! server answers a query. Only probes that passed before the apply count afterwards, so a node
//! that had no connectivity to begin with is not "rolled back" into the same state forever.

use crate::netlink::Netlink;
use netlink_packet_route::route::RouteType;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::Duration;
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Every default route of the main table has a gateway that answers ICMP echo (at least
    /// one gateway per family must answer).
    Gateway,
    /// A TCP connection to this endpoint succeeds.
    Tcp(SocketAddr),
    /// A DNS query for `name` (type A) to `server` gets a NOERROR answer.
    Dns {
        /// Name to resolve.
        name: String,
        /// DNS server (UDP).
        server: SocketAddr,
    },
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Gateway => write!(f, "default gateway"),
            Probe::Tcp(a) => write!(f, "tcp connect {a}"),
            Probe::Dns { name, server } => write!(f, "dns {name} via {server}"),
        }
    }
}

/// Which probes to run and how long one attempt may take.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// The probes.
    pub probes: Vec<Probe>,
    /// Time limit of one attempt of one probe.
    pub attempt_timeout: Duration,
}

impl Default for ProbeConfig {
    /// The gateway probe only, one second per attempt.
    fn default() -> Self {
        ProbeConfig {
            probes: vec![Probe::Gateway],
            attempt_timeout: Duration::from_secs(1),
        }
    }
}

/// The first nameserver of /etc/resolv.conf, for a DNS probe.
pub fn system_nameserver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == "nameserver")
            .then(|| it.next()?.parse::<IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// Runs one attempt of `probe`; `Err` says why it failed.
pub async fn run(probe: &Probe, nl: &Netlink, attempt: Duration) -> Result<(), String> {
    match probe {
        Probe::Gateway => gateway(nl, attempt).await,
        Probe::Tcp(addr) => match timeout(attempt, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
            Err(_) => Err(format!("connect {addr}: no answer within {attempt:?}")),
        },
        Probe::Dns { name, server } => dns(name, *server, attempt).await,
    }
}

async fn gateway(nl: &Netlink, attempt: Duration) -> Result<(), String> {
    let routes = nl.routes().await.map_err(|e| e.to_string())?;
    let mut gateways: Vec<(IpAddr, u32)> = Vec::new();
    for m in &routes {
        let Some(r) = crate::kernel::KRoute::from_message(m) else {
            continue;
        };
        if r.table != 254 || r.dst.prefix_len() != 0 || r.kind != RouteType::Unicast {
            continue;
        }
        for h in &r.hops {
            if let Some(gw) = h.gateway {
                gateways.push((gw, h.oif.unwrap_or(0)));
            }
        }
    }
    if gateways.is_empty() {
        return Err("no default route with a gateway in the main table".into());
    }
    let mut last = String::new();
    for (gw, oif) in &gateways {
        match ping(*gw, *oif, attempt).await {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("gateway {gw}: {e}"),
        }
    }
    Err(last)
}

fn echo_request(id: u16, seq: u16, v6: bool) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"metalroute-probe");
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends one ICMP echo to `target` and waits for the matching reply.
async fn ping(target: IpAddr, oif: u32, attempt: Duration) -> Result<(), String> {
    let v6 = target.is_ipv6();
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let sock =
        Socket::new(domain, Type::RAW, Some(proto)).map_err(|e| format!("icmp socket: {e}"))?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    let id = (std::process::id() & 0xffff) as u16;
    let seq = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_micros())
        .unwrap_or(0)
        & 0xffff) as u16;
    let dest: SockAddr = match target {
        IpAddr::V6(a) => {
            let scope = if (a.segments()[0] & 0xffc0) == 0xfe80 {
                oif
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope)).into()
        }
        IpAddr::V4(a) => SocketAddr::new(IpAddr::V4(a), 0).into(),
    };
    let req = echo_request(id, seq, v6);
    sock.send_to(&req, &dest)
        .map_err(|e| format!("send echo: {e}"))?;
    // Tokio's UdpSocket only serves as an async wrapper of the raw ICMP descriptor (recv_from
    // works the same on it).
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock)).map_err(|e| e.to_string())?;
    let wait = async {
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.map_err(|e| e.to_string())?;
            let bytes = &buf[..n];
            if from.ip() != target {
                continue;
            }
            let icmp = if v6 {
                bytes
            } else {
                let ihl = usize::from(bytes.first().copied().unwrap_or(0) & 0x0f) * 4;
                bytes.get(ihl..).unwrap_or(&[])
            };
            let reply_type = if v6 { 129 } else { 0 };
            if icmp.len() >= 8
                && icmp[0] == reply_type
                && icmp[4..6] == id.to_be_bytes()
                && icmp[6..8] == seq.to_be_bytes()
            {
                return Ok::<(), String>(());
            }
        }
    };
    match timeout(attempt, wait).await {
        Ok(r) => r,
        Err(_) => Err(format!("no echo reply within {attempt:?}")),
    }
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

async fn dns(name: &str, server: SocketAddr, attempt: Duration) -> Result<(), String> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|e| format!("{e}"))?
    } else {
        "[::]:0".parse().map_err(|e| format!("{e}"))?
    };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    sock.send_to(&dns_query(id, name), server)
        .await
        .map_err(|e| format!("dns query to {server}: {e}"))?;
    let mut buf = [0u8; 1500];
    let answer = async {
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.map_err(|e| e.to_string())?;
            if from != server || n < 12 || buf[0..2] != id.to_be_bytes() || buf[2] & 0x80 == 0 {
                continue;
            }
            let rcode = buf[3] & 0x0f;
            return if rcode == 0 {
                Ok(())
            } else {
                Err(format!("dns {name} via {server}: rcode {rcode}"))
            };
        }
    };
    match timeout(attempt, answer).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "dns {name} via {server}: no answer within {attempt:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_checksum_of_echo_verifies() {
        let p = echo_request(0x1234, 7, false);
        assert_eq!(checksum(&p), 0);
        assert_eq!(p[0], 8);
    }

    #[test]
    fn dns_query_encodes_labels() {
        let q = dns_query(1, "api.example.");
        assert_eq!(&q[12..], b"\x03api\x07example\x00\x00\x01\x00\x01");
    }
}
