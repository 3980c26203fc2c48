//! The wire side of the RFC 5881 §4 echo function, as pure functions: building the IPv4/IPv6 +
//! UDP packet of an echo (addressed from and to our own address, UDP destination port 3785, TTL /
//! hop limit 255, checksums computed here), checking a packet that came back, and the classic BPF
//! program the transport attaches to its AF_PACKET receive socket.
//!
//! Why by hand: an echo is handed to the peer's link-layer address with IP source = destination =
//! our own address, so the peer's forwarding plane (not its BFD process) sends it straight back.
//! A UDP socket cannot send that (the kernel would deliver it locally), and the kernel's IP layer
//! drops the returning packet as a martian (source is a local address) unless `accept_local` is
//! set — which we never change. So the transport sends and receives raw IP packets on AF_PACKET
//! sockets (as FRR's bfdd does on Linux) and this module builds and checks them. Nothing here
//! allocates except [`echo_filter`], which runs once per socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::packet::PORT_ECHO;

/// Largest echo packet we build or accept: IPv6 header (40) + UDP header (8) + our echo (24),
/// with room to spare.
pub const MAX_ECHO_FRAME: usize = 128;
/// TTL / hop limit our echoes are sent with.
pub const ECHO_TTL: u8 = 255;
/// Traffic class / TOS of our echoes: CS6 (network control), like the control packets of FRR.
const TOS_CS6: u8 = 0xc0;
const IPPROTO_UDP: u8 = 17;
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;

/// One's-complement sum of 16-bit big-endian words (odd trailing byte padded with zero).
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds a 32-bit one's-complement sum to 16 bits and complements it.
fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16) // acc <= 0xffff after folding
}

/// UDP checksum over the pseudo-header (addresses, protocol, UDP length) and the UDP segment
/// (whose checksum field must be zero). Zero is sent as 0xffff (RFC 768).
fn udp_checksum(src: &[u8], dst: &[u8], segment: &[u8]) -> u16 {
    let mut acc = sum16(src, 0);
    acc = sum16(dst, acc);
    acc += u32::from(IPPROTO_UDP);
    acc += segment.len() as u32; // at most MAX_ECHO_FRAME
    acc = sum16(segment, acc);
    match fold(acc) {
        0 => 0xffff,
        c => c,
    }
}

/// Builds an IPv4 echo packet from and to `addr` (UDP `sport` → 3785, TTL 255, DF, CS6, IP ID
/// `ident`) carrying `payload`, into `out`; returns its length, or `None` if it does not fit.
pub fn build_ipv4(
    out: &mut [u8; MAX_ECHO_FRAME],
    addr: Ipv4Addr,
    sport: u16,
    ident: u16,
    payload: &[u8],
) -> Option<usize> {
    let udp_len = UDP_HEADER + payload.len();
    let total = IPV4_HEADER + udp_len;
    if total > out.len() {
        return None;
    }
    let a = addr.octets();
    let ip = &mut out[..IPV4_HEADER];
    ip[0] = 0x45;
    ip[1] = TOS_CS6;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes()); // <= 128
    ip[4..6].copy_from_slice(&ident.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
    ip[8] = ECHO_TTL;
    ip[9] = IPPROTO_UDP;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&a);
    ip[16..20].copy_from_slice(&a);
    let c = fold(sum16(ip, 0));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    write_udp(&mut out[IPV4_HEADER..total], sport, payload);
    let c = udp_checksum(&a, &a, &out[IPV4_HEADER..total]);
    out[IPV4_HEADER + 6..IPV4_HEADER + 8].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

/// Builds an IPv6 echo packet from and to `addr` (UDP `sport` → 3785, hop limit 255, traffic
/// class CS6) carrying `payload`, into `out`; returns its length, or `None` if it does not fit.
pub fn build_ipv6(
    out: &mut [u8; MAX_ECHO_FRAME],
    addr: Ipv6Addr,
    sport: u16,
    payload: &[u8],
) -> Option<usize> {
    let udp_len = UDP_HEADER + payload.len();
    let total = IPV6_HEADER + udp_len;
    if total > out.len() {
        return None;
    }
    let a = addr.octets();
    let ip = &mut out[..IPV6_HEADER];
    // Version 6, traffic class CS6, flow label 0.
    ip[0] = 0x60 | (TOS_CS6 >> 4);
    ip[1] = (TOS_CS6 & 0x0f) << 4;
    ip[2..4].fill(0);
    ip[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes()); // <= 128
    ip[6] = IPPROTO_UDP;
    ip[7] = ECHO_TTL;
    ip[8..24].copy_from_slice(&a);
    ip[24..40].copy_from_slice(&a);
    write_udp(&mut out[IPV6_HEADER..total], sport, payload);
    let c = udp_checksum(&a, &a, &out[IPV6_HEADER..total]);
    out[IPV6_HEADER + 6..IPV6_HEADER + 8].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

/// Builds the echo packet for `addr`'s family (see [`build_ipv4`], [`build_ipv6`]).
pub fn build(
    out: &mut [u8; MAX_ECHO_FRAME],
    addr: IpAddr,
    sport: u16,
    ident: u16,
    payload: &[u8],
) -> Option<usize> {
    match addr {
        IpAddr::V4(a) => build_ipv4(out, a, sport, ident, payload),
        IpAddr::V6(a) => build_ipv6(out, a, sport, payload),
    }
}

fn write_udp(seg: &mut [u8], sport: u16, payload: &[u8]) {
    seg[0..2].copy_from_slice(&sport.to_be_bytes());
    seg[2..4].copy_from_slice(&PORT_ECHO.to_be_bytes());
    let len = seg.len() as u16; // <= 128
    seg[4..6].copy_from_slice(&len.to_be_bytes());
    seg[6..8].fill(0);
    seg[UDP_HEADER..].copy_from_slice(payload);
}

/// A returned echo, as checked by [`parse_returned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Returned<'a> {
    /// The UDP payload (our echo format, decoded by the engine).
    pub payload: &'a [u8],
    /// TTL / hop limit it arrived with (255 minus the hops that forwarded it).
    pub ttl: u8,
}

/// Checks a packet received on the echo socket (starting at the IP header) and returns its UDP
/// payload: IPv4 (no options needed, not fragmented, header checksum right) or IPv6 (UDP as next
/// header), source and destination both `local`, UDP destination port 3785, lengths consistent,
/// UDP checksum right (zero allowed on IPv4), TTL at least 254 (sent with 255, forwarded once).
/// `None` for anything else. Never panics.
pub fn parse_returned(pkt: &[u8], local: IpAddr) -> Option<Returned<'_>> {
    let (ttl, seg, src, dst): (u8, &[u8], &[u8], &[u8]) = match local {
        IpAddr::V4(l) => {
            let ip = pkt.get(..IPV4_HEADER)?;
            if ip[0] >> 4 != 4 || ip[9] != IPPROTO_UDP {
                return None;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            if ihl < IPV4_HEADER || total < ihl || total > pkt.len() {
                return None;
            }
            // More-fragments bit or a fragment offset: not one of ours.
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return None;
            }
            if fold(sum16(pkt.get(..ihl)?, 0)) != 0 {
                return None;
            }
            if ip[12..16] != l.octets() || ip[16..20] != l.octets() {
                return None;
            }
            (ip[8], &pkt[ihl..total], &ip[12..16], &ip[16..20])
        }
        IpAddr::V6(l) => {
            let ip = pkt.get(..IPV6_HEADER)?;
            if ip[0] >> 4 != 6 || ip[6] != IPPROTO_UDP {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let end = IPV6_HEADER.checked_add(plen)?;
            if end > pkt.len() {
                return None;
            }
            if ip[8..24] != l.octets() || ip[24..40] != l.octets() {
                return None;
            }
            (ip[7], &pkt[IPV6_HEADER..end], &ip[8..24], &ip[24..40])
        }
    };
    if ttl < ECHO_TTL - 1 {
        return None;
    }
    let udp = seg.get(..UDP_HEADER)?;
    if u16::from_be_bytes([udp[2], udp[3]]) != PORT_ECHO {
        return None;
    }
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if ulen < UDP_HEADER || ulen > seg.len() {
        return None;
    }
    let seg = &seg[..ulen];
    let sent = u16::from_be_bytes([udp[6], udp[7]]);
    if sent == 0 {
        // No checksum: allowed on IPv4 only (RFC 768 / RFC 8200 §8.1).
        if local.is_ipv6() {
            return None;
        }
    } else {
        // Summing the segment with its checksum in place gives 0 (folded, complemented) when right.
        let mut acc = sum16(src, 0);
        acc = sum16(dst, acc);
        acc += u32::from(IPPROTO_UDP);
        acc += ulen as u32; // <= packet length
        acc = sum16(seg, acc);
        if fold(acc) != 0 {
            return None;
        }
    }
    Some(Returned {
        payload: &seg[UDP_HEADER..],
        ttl,
    })
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_LD_H_ABS: u16 = 0x28;
const BPF_LD_B_ABS: u16 = 0x30;
const BPF_LD_H_IND: u16 = 0x48;
const BPF_LDX_B_MSH: u16 = 0xb1;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;
/// Ancillary data offset (SKF_AD_OFF) + SKF_AD_PKTTYPE: loads the packet type.
const SKF_AD_PKTTYPE: u32 = (-0x1000i32 + 4) as u32;
/// `PACKET_HOST`: addressed to this host's link-layer address.
const PACKET_HOST: u32 = 0;

/// The classic BPF program for an AF_PACKET `SOCK_DGRAM` socket (offsets from the network
/// header) that accepts only returned echoes for `local`: packet type PACKET_HOST (not our own
/// outgoing copy), IPv4 (unfragmented) or IPv6 with UDP, source = destination = `local`, UDP
/// destination port 3785. Everything else is dropped in the kernel, so the socket sees nothing
/// of the interface's other traffic.
pub fn echo_filter(local: IpAddr) -> Vec<BpfInsn> {
    // Built as a list of checks, each "load; jump-if-not-equal to drop"; jumps are patched at the
    // end because "drop" is the last instruction.
    enum Step {
        Insn(BpfInsn),
        /// Load done before; drop unless A == k.
        Expect(u32),
        /// Drop if A & k != 0.
        DropIfSet(u32),
    }
    let ins = |code, k| {
        Step::Insn(BpfInsn {
            code,
            jt: 0,
            jf: 0,
            k,
        })
    };
    let mut steps = vec![ins(BPF_LD_W_ABS, SKF_AD_PKTTYPE), Step::Expect(PACKET_HOST)];
    match local {
        IpAddr::V4(a) => {
            let w = u32::from(a);
            steps.extend([
                ins(BPF_LD_B_ABS, 0),
                ins(BPF_ALU_AND_K, 0xf0),
                Step::Expect(0x40),
                ins(BPF_LD_B_ABS, 9),
                Step::Expect(u32::from(IPPROTO_UDP)),
                ins(BPF_LD_H_ABS, 6),
                Step::DropIfSet(0x3fff),
                ins(BPF_LD_W_ABS, 12),
                Step::Expect(w),
                ins(BPF_LD_W_ABS, 16),
                Step::Expect(w),
                ins(BPF_LDX_B_MSH, 0),
                ins(BPF_LD_H_IND, 2),
                Step::Expect(u32::from(PORT_ECHO)),
            ]);
        }
        IpAddr::V6(a) => {
            steps.extend([
                ins(BPF_LD_B_ABS, 0),
                ins(BPF_ALU_AND_K, 0xf0),
                Step::Expect(0x60),
                ins(BPF_LD_B_ABS, 6),
                Step::Expect(u32::from(IPPROTO_UDP)),
            ]);
            let o = a.octets();
            for base in [8u32, 24] {
                for (i, w) in o.chunks_exact(4).enumerate() {
                    steps.push(ins(BPF_LD_W_ABS, base + 4 * i as u32));
                    steps.push(Step::Expect(u32::from_be_bytes([w[0], w[1], w[2], w[3]])));
                }
            }
            steps.extend([ins(BPF_LD_H_ABS, 42), Step::Expect(u32::from(PORT_ECHO))]);
        }
    }
    // Layout: steps..., ret accept, ret drop.
    let n = steps.len();
    let mut prog = Vec::with_capacity(n + 2);
    for (i, s) in steps.into_iter().enumerate() {
        // Distance from the instruction after this one to "drop" (index n + 1).
        let to_drop = u8::try_from(n - i).unwrap_or(u8::MAX);
        prog.push(match s {
            Step::Insn(x) => x,
            Step::Expect(k) => BpfInsn {
                code: BPF_JEQ_K,
                jt: 0,
                jf: to_drop,
                k,
            },
            Step::DropIfSet(k) => BpfInsn {
                code: BPF_JSET_K,
                jt: to_drop,
                jf: 0,
                k,
            },
        });
    }
    prog.push(BpfInsn {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k: MAX_ECHO_FRAME as u32,
    });
    prog.push(BpfInsn {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k: 0,
    });
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic BPF interpreter for the instructions [`echo_filter`] emits, so the program is
    /// tested here without a socket (the interop tests run it in the kernel).
    fn run(prog: &[BpfInsn], pkt: &[u8], pkttype: u32) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let ld = |off: usize, n: usize| -> Option<u32> {
            let b = pkt.get(off..off + n)?;
            Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS if i.k == SKF_AD_PKTTYPE => a = pkttype,
                BPF_LD_W_ABS => match ld(i.k as usize, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                BPF_LD_H_ABS => match ld(i.k as usize, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                BPF_LD_B_ABS => match ld(i.k as usize, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                BPF_LD_H_IND => match ld(x as usize + i.k as usize, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                BPF_LDX_B_MSH => match ld(i.k as usize, 1) {
                    Some(v) => x = (v & 0xf) * 4,
                    None => return 0,
                },
                BPF_ALU_AND_K => a &= i.k,
                BPF_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                BPF_JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const L4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const L6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    /// What the peer's forwarding plane does: TTL - 1 and the IPv4 header checksum redone.
    fn forward(pkt: &mut [u8], v6: bool) {
        if v6 {
            pkt[7] -= 1;
        } else {
            pkt[8] -= 1;
            pkt[10..12].fill(0);
            let c = fold(sum16(&pkt[..20], 0));
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
    }

    #[test]
    fn ipv4_echo_is_well_formed_and_returns() {
        let mut b = [0u8; MAX_ECHO_FRAME];
        let payload = [7u8; 24];
        let n = build_ipv4(&mut b, L4, 49152, 9, &payload).unwrap();
        assert_eq!(n, 52);
        // Header checksum verifies; fields as RFC 5881 §4 wants.
        assert_eq!(fold(sum16(&b[..20], 0)), 0);
        assert_eq!((b[8], b[9]), (255, 17));
        assert_eq!(&b[12..16], &L4.octets());
        assert_eq!(&b[16..20], &L4.octets());
        assert_eq!(u16::from_be_bytes([b[22], b[23]]), 3785);
        // Forwarded once by the peer (TTL 254): accepted, payload intact.
        forward(&mut b[..n], false);
        let r = parse_returned(&b[..n], IpAddr::V4(L4)).unwrap();
        assert_eq!((r.payload, r.ttl), (&payload[..], 254));
        // Another local address, a corrupted byte, a second hop, a truncation: refused.
        assert!(parse_returned(&b[..n], IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))).is_none());
        let mut c = b;
        c[40] ^= 1;
        assert!(parse_returned(&c[..n], IpAddr::V4(L4)).is_none());
        let mut c = b;
        forward(&mut c[..n], false);
        assert!(parse_returned(&c[..n], IpAddr::V4(L4)).is_none());
        for cut in 0..n {
            assert!(parse_returned(&b[..cut], IpAddr::V4(L4)).is_none());
        }
    }

    #[test]
    fn ipv6_echo_is_well_formed_and_returns() {
        let mut b = [0u8; MAX_ECHO_FRAME];
        let payload = [3u8; 24];
        let n = build_ipv6(&mut b, L6, 65535, &payload).unwrap();
        assert_eq!(n, 72);
        assert_eq!((b[0] >> 4, b[6], b[7]), (6, 17, 255));
        forward(&mut b[..n], true);
        let r = parse_returned(&b[..n], IpAddr::V6(L6)).unwrap();
        assert_eq!(r.payload, &payload[..]);
        let mut c = b;
        c[60] ^= 0x80;
        assert!(parse_returned(&c[..n], IpAddr::V6(L6)).is_none());
        // IPv6 requires a UDP checksum.
        let mut c = b;
        c[46..48].fill(0);
        assert!(parse_returned(&c[..n], IpAddr::V6(L6)).is_none());
    }

    #[test]
    fn filter_accepts_only_returned_echoes_for_our_address() {
        let payload = [1u8; 24];
        let mut b = [0u8; MAX_ECHO_FRAME];
        let n = build_ipv4(&mut b, L4, 50000, 1, &payload).unwrap();
        let f = echo_filter(IpAddr::V4(L4));
        assert!(run(&f, &b[..n], PACKET_HOST) > 0);
        // Our outgoing copy (PACKET_OUTGOING = 4) is not a returned echo.
        assert_eq!(run(&f, &b[..n], 4), 0);
        // Another address, another port, a fragment, a TCP packet.
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
        assert_eq!(run(&echo_filter(other), &b[..n], PACKET_HOST), 0);
        let mut c = b;
        c[22..24].copy_from_slice(&3784u16.to_be_bytes());
        assert_eq!(run(&f, &c[..n], PACKET_HOST), 0);
        let mut c = b;
        c[6] |= 0x20;
        assert_eq!(run(&f, &c[..n], PACKET_HOST), 0);
        let mut c = b;
        c[9] = 6;
        assert_eq!(run(&f, &c[..n], PACKET_HOST), 0);
        // A peer's echo passing through (source = destination = the peer) is not ours.
        let mut c = [0u8; MAX_ECHO_FRAME];
        let m = build_ipv4(&mut c, Ipv4Addr::new(192, 0, 2, 2), 50000, 1, &payload).unwrap();
        assert_eq!(run(&f, &c[..m], PACKET_HOST), 0);
        // IPv6.
        let n6 = build_ipv6(&mut b, L6, 50000, &payload).unwrap();
        let f6 = echo_filter(IpAddr::V6(L6));
        assert!(run(&f6, &b[..n6], PACKET_HOST) > 0);
        assert_eq!(run(&f, &b[..n6], PACKET_HOST), 0);
        let mut c = b;
        c[39] ^= 1;
        assert_eq!(run(&f6, &c[..n6], PACKET_HOST), 0);
        // Packets too short for a load are dropped (a BPF load past the end returns 0), never
        // read out of bounds; lengths past the headers are parse_returned's job.
        for cut in 0..44 {
            assert_eq!(run(&f6, &b[..cut], PACKET_HOST), 0);
        }
    }
}
