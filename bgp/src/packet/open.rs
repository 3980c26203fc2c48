//! OPEN messages (RFC 4271 §4.2) with optional parameters (RFC 5492 capabilities, RFC 9072
//! extended optional parameters length) and the address-family identifiers (AFI/SAFI) that
//! capabilities, MP_REACH/MP_UNREACH and ROUTE-REFRESH share.

use std::fmt;
use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::reader::Reader;
use super::AS_TRANS;
use crate::error::{DecodeError, EncodeError};

/// Address Family Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Afi {
    /// 1: IPv4.
    Ipv4,
    /// 2: IPv6.
    Ipv6,
    /// Any other AFI, kept as received (never 1 or 2 when built by [`Afi::from_u16`]).
    Other(u16),
}

impl Afi {
    /// The AFI for a wire value.
    pub fn from_u16(v: u16) -> Self {
        match v {
            1 => Afi::Ipv4,
            2 => Afi::Ipv6,
            v => Afi::Other(v),
        }
    }

    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
            Afi::Other(v) => v,
        }
    }
}

/// Subsequent Address Family Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Safi {
    /// 1: unicast.
    Unicast,
    /// Any other SAFI, kept as received (never 1 when built by [`Safi::from_u8`]).
    Other(u8),
}

impl Safi {
    /// The SAFI for a wire value.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Safi::Unicast,
            v => Safi::Other(v),
        }
    }

    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Safi::Unicast => 1,
            Safi::Other(v) => v,
        }
    }
}

/// An address family: AFI plus SAFI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl Family {
    /// IPv4 unicast.
    pub const IPV4_UNICAST: Family = Family {
        afi: Afi::Ipv4,
        safi: Safi::Unicast,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Family = Family {
        afi: Afi::Ipv6,
        safi: Safi::Unicast,
    };

    /// A family from its parts.
    pub fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// True for the families whose NLRI this codec decodes (IPv4 and IPv6 unicast).
    pub fn is_supported(self) -> bool {
        self == Family::IPV4_UNICAST || self == Family::IPV6_UNICAST
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.afi {
            Afi::Ipv4 => f.write_str("ipv4")?,
            Afi::Ipv6 => f.write_str("ipv6")?,
            Afi::Other(v) => write!(f, "afi{v}")?,
        }
        match self.safi {
            Safi::Unicast => f.write_str("-unicast"),
            Safi::Other(v) => write!(f, "-safi{v}"),
        }
    }
}

/// The graceful restart capability (RFC 4724, N bit from RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GracefulRestartCap {
    /// R bit: the sender has restarted.
    pub restart_state: bool,
    /// N bit: the sender supports graceful restart for NOTIFICATIONs (RFC 8538).
    pub notification: bool,
    /// Restart time in seconds (12 bits on the wire; larger values are clamped to 4095).
    pub restart_time_secs: u16,
    /// Families for which the sender preserves state.
    pub families: Vec<GracefulRestartFamily>,
}

/// One family of the graceful restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// F bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// One family of the extended next hop capability (RFC 8950).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedNextHopFamily {
    /// The NLRI family.
    pub family: Family,
    /// The AFI of the next hop that may be used for it.
    pub next_hop_afi: Afi,
}

/// Direction of ADD-PATH support (RFC 7911).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddPathDirection {
    /// 1: able to receive.
    Receive,
    /// 2: able to send.
    Send,
    /// 3: both.
    Both,
    /// Other values, kept.
    Other(u8),
}

/// One family of the ADD-PATH capability (RFC 7911).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddPathFamily {
    /// The family.
    pub family: Family,
    /// Send/receive.
    pub direction: AddPathDirection,
}

/// Capability codes this module parses.
mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// Capability codes with a typed [`Capability`] variant; anything else decodes as `Unknown`.
pub const KNOWN_CAPABILITY_CODES: [u8; 8] = [1, 2, 5, 6, 64, 65, 69, 70];

/// A capability (RFC 5492) from the OPEN's Capabilities optional parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// 1: Multiprotocol extensions (RFC 4760).
    Multiprotocol {
        /// Address family.
        afi: Afi,
        /// Subsequent address family.
        safi: Safi,
    },
    /// 2: Route refresh (RFC 2918).
    RouteRefresh,
    /// 5: Extended next hop encoding (RFC 8950).
    ExtendedNextHop(Vec<ExtendedNextHopFamily>),
    /// 6: Extended message (RFC 8654).
    ExtendedMessage,
    /// 64: Graceful restart (RFC 4724).
    GracefulRestart(GracefulRestartCap),
    /// 65: 4-octet AS number (RFC 6793), carrying the sender's real AS.
    FourOctetAs(u32),
    /// 69: ADD-PATH (RFC 7911).
    AddPath(Vec<AddPathFamily>),
    /// 70: Enhanced route refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// Any other capability, kept as received.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

fn malformed(reason: &'static str) -> DecodeError {
    DecodeError::MalformedOpen { reason }
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol { .. } => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value.
    fn decode(code: u8, value: &[u8]) -> Result<Capability, DecodeError> {
        let mut r = Reader::new(value);
        let cap = match code {
            code::MULTIPROTOCOL => {
                if value.len() != 4 {
                    return Err(malformed("multiprotocol capability length is not 4"));
                }
                let afi = Afi::from_u16(r.u16().map_err(|_| malformed("multiprotocol"))?);
                let _reserved = r.u8().map_err(|_| malformed("multiprotocol"))?;
                let safi = Safi::from_u8(r.u8().map_err(|_| malformed("multiprotocol"))?);
                Capability::Multiprotocol { afi, safi }
            }
            code::ROUTE_REFRESH | code::EXTENDED_MESSAGE | code::ENHANCED_ROUTE_REFRESH => {
                if !value.is_empty() {
                    return Err(malformed(
                        "route refresh/extended message capability has a value",
                    ));
                }
                match code {
                    code::ROUTE_REFRESH => Capability::RouteRefresh,
                    code::EXTENDED_MESSAGE => Capability::ExtendedMessage,
                    _ => Capability::EnhancedRouteRefresh,
                }
            }
            code::EXTENDED_NEXT_HOP => {
                if value.len() % 6 != 0 {
                    return Err(malformed(
                        "extended next hop capability length is not a multiple of 6",
                    ));
                }
                let mut list = Vec::new();
                while !r.is_empty() {
                    let bad = |_| malformed("extended next hop capability");
                    let afi = Afi::from_u16(r.u16().map_err(bad)?);
                    let safi = r.u16().map_err(bad)?;
                    let nh = Afi::from_u16(r.u16().map_err(bad)?);
                    let safi = u8::try_from(safi)
                        .map_err(|_| malformed("extended next hop capability SAFI above 255"))?;
                    list.push(ExtendedNextHopFamily {
                        family: Family::new(afi, Safi::from_u8(safi)),
                        next_hop_afi: nh,
                    });
                }
                Capability::ExtendedNextHop(list)
            }
            code::GRACEFUL_RESTART => {
                if value.len() < 2 || (value.len() - 2) % 4 != 0 {
                    return Err(malformed(
                        "graceful restart capability length is not 2 + 4n",
                    ));
                }
                let bad = |_| malformed("graceful restart capability");
                let head = r.u16().map_err(bad)?;
                let mut families = Vec::new();
                while !r.is_empty() {
                    let afi = Afi::from_u16(r.u16().map_err(bad)?);
                    let safi = Safi::from_u8(r.u8().map_err(bad)?);
                    let flags = r.u8().map_err(bad)?;
                    families.push(GracefulRestartFamily {
                        family: Family::new(afi, safi),
                        forwarding_preserved: flags & 0x80 != 0,
                    });
                }
                Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time_secs: head & 0x0fff,
                    families,
                })
            }
            code::FOUR_OCTET_AS => {
                if value.len() != 4 {
                    return Err(malformed("4-octet AS capability length is not 4"));
                }
                Capability::FourOctetAs(r.u32().map_err(|_| malformed("4-octet AS"))?)
            }
            code::ADD_PATH => {
                if value.len() % 4 != 0 {
                    return Err(malformed(
                        "ADD-PATH capability length is not a multiple of 4",
                    ));
                }
                let bad = |_| malformed("ADD-PATH capability");
                let mut list = Vec::new();
                while !r.is_empty() {
                    let afi = Afi::from_u16(r.u16().map_err(bad)?);
                    let safi = Safi::from_u8(r.u8().map_err(bad)?);
                    let direction = match r.u8().map_err(bad)? {
                        1 => AddPathDirection::Receive,
                        2 => AddPathDirection::Send,
                        3 => AddPathDirection::Both,
                        v => AddPathDirection::Other(v),
                    };
                    list.push(AddPathFamily {
                        family: Family::new(afi, safi),
                        direction,
                    });
                }
                Capability::AddPath(list)
            }
            code => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        };
        Ok(cap)
    }

    /// Appends code, length and value.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut v = Vec::new();
        match self {
            Capability::Multiprotocol { afi, safi } => {
                v.extend_from_slice(&afi.to_u16().to_be_bytes());
                v.push(0);
                v.push(safi.to_u8());
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => {}
            Capability::ExtendedNextHop(list) => {
                for e in list {
                    v.extend_from_slice(&e.family.afi.to_u16().to_be_bytes());
                    v.extend_from_slice(&u16::from(e.family.safi.to_u8()).to_be_bytes());
                    v.extend_from_slice(&e.next_hop_afi.to_u16().to_be_bytes());
                }
            }
            Capability::GracefulRestart(gr) => {
                let mut head = gr.restart_time_secs.min(0x0fff);
                if gr.restart_state {
                    head |= 0x8000;
                }
                if gr.notification {
                    head |= 0x4000;
                }
                v.extend_from_slice(&head.to_be_bytes());
                for f in &gr.families {
                    v.extend_from_slice(&f.family.afi.to_u16().to_be_bytes());
                    v.push(f.family.safi.to_u8());
                    v.push(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => v.extend_from_slice(&asn.to_be_bytes()),
            Capability::AddPath(list) => {
                for e in list {
                    v.extend_from_slice(&e.family.afi.to_u16().to_be_bytes());
                    v.push(e.family.safi.to_u8());
                    v.push(match e.direction {
                        AddPathDirection::Receive => 1,
                        AddPathDirection::Send => 2,
                        AddPathDirection::Both => 3,
                        AddPathDirection::Other(x) => x,
                    });
                }
            }
            Capability::Unknown { value, .. } => v.extend_from_slice(value),
        }
        let len = u8::try_from(v.len()).map_err(|_| EncodeError::CapabilityTooLong {
            code: self.code(),
            length: v.len(),
        })?;
        out.push(self.code());
        out.push(len);
        out.extend_from_slice(&v);
        Ok(())
    }
}

/// Optional parameter type carrying capabilities (RFC 5492).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072: a non-extended parameter length of 255 followed by type 255 marks the extended
/// format.
const PARAM_EXTENDED: u8 = 255;

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Open {
    /// BGP version; always 4 after decoding (other versions are a decode error).
    pub version: u8,
    /// The sender's real AS: from the 4-octet AS capability when present, otherwise the
    /// 2-octet My Autonomous System field.
    pub my_as: u32,
    /// Proposed hold time in seconds (0, or at least 3; 1 and 2 are a decode error).
    pub hold_time: u16,
    /// BGP identifier (never 0.0.0.0 after decoding).
    pub router_id: Ipv4Addr,
    /// Capabilities in the order received, from all Capabilities parameters.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The families announced with the multiprotocol capability (IPv4 unicast implied when
    /// there is none, RFC 4760 §8).
    pub fn families(&self) -> Vec<Family> {
        let list: Vec<Family> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol { afi, safi } => Some(Family::new(*afi, *safi)),
                _ => None,
            })
            .collect();
        if list.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            list
        }
    }

    /// The 4-octet AS capability's value, if present.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// The graceful restart capability, if present.
    pub fn graceful_restart(&self) -> Option<&GracefulRestartCap> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g),
            _ => None,
        })
    }

    /// True if the given capability code was announced.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities.iter().any(|c| c.code() == code)
    }

    /// Decodes an OPEN body (after the 19-octet header).
    pub(crate) fn decode_body(body: &[u8]) -> Result<Open, DecodeError> {
        let short = |_| malformed("OPEN shorter than its fixed fields");
        let mut r = Reader::new(body);
        let version = r.u8().map_err(short)?;
        if version != 4 {
            return Err(DecodeError::UnsupportedVersion { version });
        }
        let as2 = r.u16().map_err(short)?;
        let hold_time = r.u16().map_err(short)?;
        let router_id = r.ipv4().map_err(short)?;
        let opt_len = r.u8().map_err(short)?;
        // RFC 9072: length 255 followed by type 255 announces the extended format.
        let extended = opt_len == 255 && r.rest().first() == Some(&PARAM_EXTENDED);
        let params = if extended {
            r.u8().map_err(short)?;
            let len = r.u16().map_err(short)?;
            r.take(len as usize)
                .map_err(|_| malformed("extended optional parameters length overruns the OPEN"))?
        } else {
            r.take(opt_len as usize)
                .map_err(|_| malformed("optional parameters length overruns the OPEN"))?
        };
        if !r.is_empty() {
            return Err(malformed("bytes after the optional parameters"));
        }
        let mut capabilities = Vec::new();
        let mut pr = Reader::new(params);
        while !pr.is_empty() {
            let bad = |_| malformed("optional parameter overruns the parameters length");
            let ptype = pr.u8().map_err(bad)?;
            let plen = if extended {
                pr.u16().map_err(bad)? as usize
            } else {
                pr.u8().map_err(bad)? as usize
            };
            let pval = pr.take(plen).map_err(bad)?;
            if ptype != PARAM_CAPABILITIES {
                return Err(DecodeError::UnsupportedOptionalParameter { param_type: ptype });
            }
            let mut cr = Reader::new(pval);
            while !cr.is_empty() {
                let bad = |_| malformed("capability overruns its optional parameter");
                let code = cr.u8().map_err(bad)?;
                let len = cr.u8().map_err(bad)?;
                let value = cr.take(len as usize).map_err(bad)?;
                capabilities.push(Capability::decode(code, value)?);
            }
        }
        if hold_time == 1 || hold_time == 2 {
            return Err(DecodeError::UnacceptableHoldTime { hold_time });
        }
        if router_id.is_unspecified() {
            return Err(DecodeError::BadBgpIdentifier { id: router_id });
        }
        let mut open = Open {
            version,
            my_as: u32::from(as2),
            hold_time,
            router_id,
            capabilities,
        };
        if let Some(asn) = open.four_octet_as() {
            // RFC 6793 §4.1: the 2-octet field holds AS_TRANS when the real ASN needs four
            // octets, and the ASN itself otherwise. A field that is neither contradicts the
            // capability: refused with Bad Peer AS, as FRR does.
            if as2 != AS_TRANS && u32::from(as2) != asn {
                return Err(DecodeError::BadPeerAs {
                    asn: u32::from(as2),
                });
            }
            open.my_as = asn;
        }
        // RFC 7607 §2: AS 0 in the OPEN (either field) MUST be refused with Bad Peer AS.
        if open.my_as == 0 {
            return Err(DecodeError::BadPeerAs { asn: 0 });
        }
        Ok(open)
    }

    /// Appends the OPEN body.
    pub(crate) fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let as2 = match u16::try_from(self.my_as) {
            Ok(a) => a,
            Err(_) if self.four_octet_as() == Some(self.my_as) => AS_TRANS,
            Err(_) => return Err(EncodeError::OpenAsNeedsCapability { asn: self.my_as }),
        };
        let mut caps = Vec::new();
        for c in &self.capabilities {
            c.encode(&mut caps)?;
        }
        out.put_u8(self.version);
        out.put_u16(as2);
        out.put_u16(self.hold_time);
        out.put_slice(&self.router_id.octets());
        if caps.is_empty() {
            out.put_u8(0);
        } else if caps.len() <= 253 {
            out.put_u8(caps.len() as u8 + 2);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u8(caps.len() as u8);
            out.put_slice(&caps);
        } else {
            // RFC 9072 extended format: one Capabilities parameter with a 2-octet length.
            let len = u16::try_from(caps.len()).map_err(|_| EncodeError::MessageTooLong {
                message: "OPEN",
                length: caps.len(),
                max: u16::MAX as usize,
            })?;
            let total = len.checked_add(3).ok_or(EncodeError::MessageTooLong {
                message: "OPEN",
                length: caps.len() + 3,
                max: u16::MAX as usize,
            })?;
            out.put_u8(255);
            out.put_u8(PARAM_EXTENDED);
            out.put_u16(total);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u16(len);
            out.put_slice(&caps);
        }
        Ok(())
    }
}
