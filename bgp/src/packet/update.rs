//! UPDATE messages (RFC 4271 §4.3) with MP_REACH_NLRI/MP_UNREACH_NLRI (RFC 4760), NLRI
//! encoding, and the RFC 7606 outcome of decoding (treat-as-withdraw, discarded attributes).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::attributes::{decode_attributes, put_attribute, type_code as tc, Action};
use super::attributes::{PathAttributes, FLAG_OPTIONAL};
use super::open::{Afi, Family, Safi};
use super::reader::Reader;
use super::{DecodeContext, EncodeContext};
use crate::error::{DecodeError, EncodeError};

/// The next hop carried in MP_REACH_NLRI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    /// An IPv4 next hop (4 octets).
    Ipv4(Ipv4Addr),
    /// An IPv6 global next hop (16 octets).
    Ipv6(Ipv6Addr),
    /// An IPv6 global plus link-local next hop (32 octets, RFC 2545).
    Ipv6LinkLocal {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address.
        link_local: Ipv6Addr,
    },
}

impl NextHop {
    /// Encoded length in octets.
    pub fn wire_len(&self) -> usize {
        match self {
            NextHop::Ipv4(_) => 4,
            NextHop::Ipv6(_) => 16,
            NextHop::Ipv6LinkLocal { .. } => 32,
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            NextHop::Ipv4(a) => out.extend_from_slice(&a.octets()),
            NextHop::Ipv6(g) => out.extend_from_slice(&g.octets()),
            NextHop::Ipv6LinkLocal { global, link_local } => {
                out.extend_from_slice(&global.octets());
                out.extend_from_slice(&link_local.octets());
            }
        }
    }

    /// Whether this next hop can be sent with NLRI of `afi` (IPv6 next hops for IPv4 NLRI as
    /// RFC 8950 allows).
    fn fits(&self, afi: Afi) -> bool {
        match (afi, self) {
            (Afi::Ipv4, _) => true,
            (Afi::Ipv6, NextHop::Ipv4(_)) => false,
            (Afi::Ipv6, _) => true,
            (Afi::Other(_), _) => false,
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3): reachable NLRI of one family with their next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// Address family (IPv4 or IPv6 after decoding).
    pub afi: Afi,
    /// Subsequent address family (unicast after decoding).
    pub safi: Safi,
    /// Next hop.
    pub next_hop: NextHop,
    /// Reachable prefixes, all of `afi`.
    pub nlri: Vec<IpNet>,
}

impl MpReach {
    /// The family.
    pub fn family(&self) -> Family {
        Family::new(self.afi, self.safi)
    }
}

/// MP_UNREACH_NLRI (RFC 4760 §4): withdrawn NLRI of one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Withdrawn prefixes, all of `afi`.
    pub withdrawn: Vec<IpNet>,
}

impl MpUnreach {
    /// The family.
    pub fn family(&self) -> Family {
        Family::new(self.afi, self.safi)
    }
}

/// An UPDATE message, decoded with RFC 7606 error handling applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// Withdrawn IPv4 unicast routes (classic field).
    pub withdrawn: Vec<Ipv4Net>,
    /// Path attributes other than MP_REACH/MP_UNREACH; `None` when the UPDATE carried none.
    pub attributes: Option<Arc<PathAttributes>>,
    /// Reachable IPv4 unicast routes (classic field).
    pub nlri: Vec<Ipv4Net>,
    /// MP_REACH_NLRI, if present (and of a negotiated family).
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI, if present (and of a negotiated family).
    pub mp_unreach: Option<MpUnreach>,
    /// RFC 7606 treat-as-withdraw: an attribute was malformed, so every prefix in `nlri` and
    /// `mp_reach` must be handled as withdrawn. Use [`Update::reachable`] /
    /// [`Update::unreachable`], which apply this.
    pub treat_as_withdraw: bool,
    /// Type codes of attributes that were dropped (RFC 7606 attribute discard, duplicates,
    /// LOCAL_PREF/ORIGINATOR_ID/CLUSTER_LIST from an external peer, AS4 attributes from a
    /// 4-octet speaker, MP attributes of families not negotiated).
    pub discarded: Vec<u8>,
    /// The malformations behind `treat_as_withdraw` and `discarded`, for logs and counters.
    pub errors: Vec<DecodeError>,
}

impl Update {
    /// Prefixes this UPDATE makes reachable (none when treat-as-withdraw).
    pub fn reachable(&self) -> Vec<IpNet> {
        if self.treat_as_withdraw {
            return Vec::new();
        }
        self.announced().collect()
    }

    /// Prefixes this UPDATE withdraws, including the announced ones when treat-as-withdraw.
    pub fn unreachable(&self) -> Vec<IpNet> {
        let mut out: Vec<IpNet> = self.withdrawn.iter().map(|p| IpNet::V4(*p)).collect();
        if let Some(mp) = &self.mp_unreach {
            out.extend(mp.withdrawn.iter().copied());
        }
        if self.treat_as_withdraw {
            out.extend(self.announced());
        }
        out
    }

    fn announced(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.nlri
            .iter()
            .map(|p| IpNet::V4(*p))
            .chain(self.mp_reach.iter().flat_map(|m| m.nlri.iter().copied()))
    }

    /// The family this UPDATE marks End-of-RIB for (RFC 4724 §2), if it is one.
    pub fn end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || self.attributes.is_some()
            || self.mp_reach.is_some()
        {
            return None;
        }
        match &self.mp_unreach {
            None if self.discarded.is_empty() => Some(Family::IPV4_UNICAST),
            Some(mp) if mp.withdrawn.is_empty() => Some(mp.family()),
            _ => None,
        }
    }

    /// Decodes an UPDATE body (after the header). `Err` is a session reset.
    pub(crate) fn decode_body(body: &[u8], ctx: &DecodeContext) -> Result<Update, DecodeError> {
        let mut r = Reader::new(body);
        let too_long = |reason| DecodeError::MalformedAttributeList { reason };
        let wlen = r
            .u16()
            .map_err(|_| too_long("no withdrawn routes length"))?;
        let wfield = r
            .take(wlen as usize)
            .map_err(|_| too_long("withdrawn routes length exceeds the message"))?;
        let alen = r
            .u16()
            .map_err(|_| too_long("no total path attribute length"))?;
        let afield = r
            .take(alen as usize)
            .map_err(|_| too_long("total path attribute length exceeds the message"))?;
        let nfield = r.rest();
        // RFC 7606 §5.3: NLRI that cannot be parsed is a session reset.
        let net_err = |reason| DecodeError::InvalidNetworkField { reason };
        let withdrawn = decode_ipv4_prefixes(wfield).map_err(net_err)?;
        let nlri = decode_ipv4_prefixes(nfield).map_err(net_err)?;
        let mut parsed = decode_attributes(afield, ctx)?;

        let mp_nlri = parsed.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        if !nlri.is_empty() || mp_nlri {
            // RFC 7606 §3 (d): a missing well-known mandatory attribute is treat-as-withdraw.
            let mut required = vec![tc::ORIGIN, tc::AS_PATH];
            if !nlri.is_empty() {
                required.push(tc::NEXT_HOP);
            }
            for code in required {
                if !parsed.has(code) {
                    parsed.action = parsed.action.max(Some(Action::TreatAsWithdraw));
                    parsed
                        .errors
                        .push(DecodeError::MissingWellKnownAttribute { type_code: code });
                }
            }
        }
        Ok(Update {
            withdrawn,
            attributes: parsed.any.then(|| Arc::new(parsed.attrs)),
            nlri,
            mp_reach: parsed.mp_reach,
            mp_unreach: parsed.mp_unreach,
            treat_as_withdraw: parsed.action == Some(Action::TreatAsWithdraw),
            discarded: parsed.discarded,
            errors: parsed.errors,
        })
    }

    /// Appends the UPDATE body. Attributes go out in type-code order.
    pub(crate) fn encode_body(
        &self,
        ctx: &EncodeContext,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let mut withdrawn = Vec::new();
        for p in &self.withdrawn {
            put_prefix(&mut withdrawn, IpNet::V4(*p));
        }
        let mut list = match &self.attributes {
            Some(a) => a.encode_list(ctx)?,
            None => Vec::new(),
        };
        if let Some(mp) = &self.mp_reach {
            let mut value = mp_reach_header(mp.family(), &mp.next_hop)?;
            for p in &mp.nlri {
                check_family(*p, mp.afi)?;
                put_prefix(&mut value, *p);
            }
            let mut a = Vec::new();
            put_attribute(&mut a, FLAG_OPTIONAL, tc::MP_REACH_NLRI, &value)?;
            list.push((tc::MP_REACH_NLRI, a));
        }
        if let Some(mp) = &self.mp_unreach {
            let mut value = mp_unreach_header(mp.family());
            for p in &mp.withdrawn {
                check_family(*p, mp.afi)?;
                put_prefix(&mut value, *p);
            }
            let mut a = Vec::new();
            put_attribute(&mut a, FLAG_OPTIONAL, tc::MP_UNREACH_NLRI, &value)?;
            list.push((tc::MP_UNREACH_NLRI, a));
        }
        list.sort_by_key(|(code, _)| *code);
        let attr_len: usize = list.iter().map(|(_, a)| a.len()).sum();
        let too_long = |length| EncodeError::MessageTooLong {
            message: "UPDATE",
            length,
            max: super::MAX_MESSAGE_LEN,
        };
        let wlen = u16::try_from(withdrawn.len()).map_err(|_| too_long(withdrawn.len()))?;
        let alen = u16::try_from(attr_len).map_err(|_| too_long(attr_len))?;
        out.put_u16(wlen);
        out.put_slice(&withdrawn);
        out.put_u16(alen);
        for (_, a) in &list {
            out.put_slice(a);
        }
        let mut nlri = Vec::new();
        for p in &self.nlri {
            put_prefix(&mut nlri, IpNet::V4(*p));
        }
        out.put_slice(&nlri);
        Ok(())
    }
}

/// Fails unless `prefix` belongs to `afi`.
pub(crate) fn check_family(prefix: IpNet, afi: Afi) -> Result<(), EncodeError> {
    match (prefix, afi) {
        (IpNet::V4(_), Afi::Ipv4) | (IpNet::V6(_), Afi::Ipv6) => Ok(()),
        _ => Err(EncodeError::FamilyMismatch {
            what: prefix.to_string(),
            family: format!("{afi:?}"),
        }),
    }
}

/// MP_REACH_NLRI value up to (and including) the reserved octet.
pub(crate) fn mp_reach_header(family: Family, nh: &NextHop) -> Result<Vec<u8>, EncodeError> {
    if !nh.fits(family.afi) {
        return Err(EncodeError::FamilyMismatch {
            what: format!("next hop {nh:?}"),
            family: family.to_string(),
        });
    }
    let mut v = Vec::with_capacity(5 + nh.wire_len());
    v.extend_from_slice(&family.afi.to_u16().to_be_bytes());
    v.push(family.safi.to_u8());
    // At most 32.
    v.push(nh.wire_len() as u8);
    nh.put(&mut v);
    v.push(0);
    Ok(v)
}

/// MP_UNREACH_NLRI value up to the withdrawn routes.
pub(crate) fn mp_unreach_header(family: Family) -> Vec<u8> {
    let mut v = Vec::with_capacity(3);
    v.extend_from_slice(&family.afi.to_u16().to_be_bytes());
    v.push(family.safi.to_u8());
    v
}

/// Encoded size of a prefix: length octet plus the significant octets.
pub(crate) fn prefix_wire_len(prefix: &IpNet) -> usize {
    1 + (prefix.prefix_len() as usize).div_ceil(8)
}

/// Appends one prefix (RFC 4271 §4.3 encoding), host bits cleared.
pub(crate) fn put_prefix(out: &mut Vec<u8>, prefix: IpNet) {
    let len = prefix.prefix_len();
    let n = (len as usize).div_ceil(8);
    out.push(len);
    match prefix.trunc() {
        IpNet::V4(p) => out.extend_from_slice(&p.addr().octets()[..n.min(4)]),
        IpNet::V6(p) => out.extend_from_slice(&p.addr().octets()[..n.min(16)]),
    }
}

/// Decodes a run of prefixes of `afi`. `Err` names what is wrong.
pub(crate) fn decode_prefixes(afi: Afi, field: &[u8]) -> Result<Vec<IpNet>, &'static str> {
    match afi {
        Afi::Ipv4 => Ok(decode_ipv4_prefixes(field)?
            .into_iter()
            .map(IpNet::V4)
            .collect()),
        Afi::Ipv6 => {
            let mut r = Reader::new(field);
            let mut out = Vec::new();
            while !r.is_empty() {
                let len = r.u8().map_err(|_| "prefix length missing")?;
                if len > 128 {
                    return Err("IPv6 prefix length above 128");
                }
                let bytes = r
                    .take((len as usize).div_ceil(8))
                    .map_err(|_| "prefix overruns the field")?;
                let mut octets = [0u8; 16];
                octets
                    .get_mut(..bytes.len())
                    .ok_or("prefix overruns the field")?
                    .copy_from_slice(bytes);
                let net = Ipv6Net::new(Ipv6Addr::from(octets), len)
                    .map_err(|_| "IPv6 prefix length above 128")?;
                out.push(IpNet::V6(net.trunc()));
            }
            Ok(out)
        }
        Afi::Other(_) => Err("unsupported address family"),
    }
}

/// Decodes a run of IPv4 prefixes (withdrawn routes or NLRI field).
pub(crate) fn decode_ipv4_prefixes(field: &[u8]) -> Result<Vec<Ipv4Net>, &'static str> {
    let mut r = Reader::new(field);
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = r.u8().map_err(|_| "prefix length missing")?;
        if len > 32 {
            return Err("IPv4 prefix length above 32");
        }
        let bytes = r
            .take((len as usize).div_ceil(8))
            .map_err(|_| "prefix overruns the field")?;
        let mut octets = [0u8; 4];
        octets
            .get_mut(..bytes.len())
            .ok_or("prefix overruns the field")?
            .copy_from_slice(bytes);
        let net =
            Ipv4Net::new(Ipv4Addr::from(octets), len).map_err(|_| "IPv4 prefix length above 32")?;
        out.push(net.trunc());
    }
    Ok(out)
}
