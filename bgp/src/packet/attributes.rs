//! Path attributes (RFC 4271 §5, RFC 1997, RFC 6793, RFC 8092, RFC 4456, RFC 4760): their
//! owned representation, the decoder that walks an UPDATE's attribute list and classifies every
//! malformed attribute as RFC 7606 §7 prescribes, and the encoder (with AS_TRANS + AS4_PATH
//! toward 2-octet speakers and the Partial bit on re-sent unknown transitive attributes).

use std::fmt;
use std::net::Ipv4Addr;

use super::reader::Reader;
use super::update::{decode_prefixes, MpReach, MpUnreach, NextHop};
use super::{DecodeContext, EncodeContext, Family, AS_TRANS};
use crate::error::{DecodeError, EncodeError};
use crate::packet::open::{Afi, Safi};

/// Attribute flag: optional.
pub const FLAG_OPTIONAL: u8 = 0x80;
/// Attribute flag: transitive.
pub const FLAG_TRANSITIVE: u8 = 0x40;
/// Attribute flag: partial.
pub const FLAG_PARTIAL: u8 = 0x20;
/// Attribute flag: two-octet length.
pub const FLAG_EXTENDED_LENGTH: u8 = 0x10;

/// Attribute type codes this codec recognizes.
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;

    /// All of the above.
    pub const KNOWN: [u8; 15] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 17, 18, 32];
}
use type_code as tc;

/// ORIGIN values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// 0: IGP.
    #[default]
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: INCOMPLETE.
    Incomplete,
}

/// AS_PATH segment types (RFC 4271, RFC 5065).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentType {
    /// 1: AS_SET.
    Set,
    /// 2: AS_SEQUENCE.
    Sequence,
    /// 3: AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// 4: AS_CONFED_SET.
    ConfedSet,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(SegmentType::Set),
            2 => Some(SegmentType::Sequence),
            3 => Some(SegmentType::ConfedSequence),
            4 => Some(SegmentType::ConfedSet),
            _ => None,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            SegmentType::Set => 1,
            SegmentType::Sequence => 2,
            SegmentType::ConfedSequence => 3,
            SegmentType::ConfedSet => 4,
        }
    }

    /// True for the confederation segment types.
    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// ASNs (4-octet values; never empty after decoding).
    pub asns: Vec<u32>,
}

/// An AS_PATH with real (4-octet) ASNs, AS4_PATH already merged in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsPath {
    /// Segments in wire order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE (empty path if `asns` is empty).
    pub fn from_sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// The first AS of the path when it starts with an AS_SEQUENCE (the neighbour AS on eBGP).
    pub fn first_asn(&self) -> Option<u32> {
        let seg = self.segments.first()?;
        match seg.kind {
            SegmentType::Sequence => seg.asns.first().copied(),
            _ => None,
        }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2: a set counts 1, confederation
    /// segments 0).
    pub fn len_for_selection(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// True if `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// This path with `asn` prepended to its leading AS_SEQUENCE (a new one if needed).
    pub fn prepend(&self, asn: u32) -> AsPath {
        let mut path = self.clone();
        match path.segments.first_mut() {
            Some(seg) if seg.kind == SegmentType::Sequence && seg.asns.len() < 255 => {
                seg.asns.insert(0, asn)
            }
            _ => path.segments.insert(
                0,
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![asn],
                },
            ),
        }
        path
    }
}

impl fmt::Display for AsPath {
    /// `65001 65002 {65003,65004}`; confederation segments in parentheses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let list = |sep: &str| {
                seg.asns
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(sep)
            };
            match seg.kind {
                SegmentType::Sequence => f.write_str(&list(" "))?,
                SegmentType::Set => write!(f, "{{{}}}", list(","))?,
                SegmentType::ConfedSequence => write!(f, "({})", list(" "))?,
                SegmentType::ConfedSet => write!(f, "[{}]", list(","))?,
            }
        }
        Ok(())
    }
}

/// AGGREGATOR value (with AS4_AGGREGATOR merged in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aggregator {
    /// The aggregating AS.
    pub asn: u32,
    /// The aggregating speaker's address.
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997): high 16 bits AS, low 16 bits value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// NOPEER (RFC 3765).
    pub const NO_PEER: Community = Community(0xFFFF_FF04);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);

    /// `asn:value`.
    pub fn new(asn: u16, value: u16) -> Self {
        Community((u32::from(asn) << 16) | u32::from(value))
    }

    /// The high 16 bits.
    pub fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low 16 bits.
    pub fn value(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// The well-known name (as FRR prints it), if this is a well-known community.
    pub fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            Community::NO_EXPORT => "no-export",
            Community::NO_ADVERTISE => "no-advertise",
            Community::NO_EXPORT_SUBCONFED => "local-AS",
            Community::NO_PEER => "no-peer",
            Community::GRACEFUL_SHUTDOWN => "graceful-shutdown",
            Community::ACCEPT_OWN => "accept-own",
            Community::LLGR_STALE => "llgr-stale",
            Community::NO_LLGR => "no-llgr",
            Community::BLACKHOLE => "blackhole",
            _ => return None,
        })
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.well_known_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}:{}", self.asn(), self.value()),
        }
    }
}

/// A large community (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global_admin: u32,
    /// Local data part 1.
    pub local_data1: u32,
    /// Local data part 2.
    pub local_data2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

/// An optional transitive attribute this codec does not interpret, kept for propagation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawAttribute {
    /// Flags as they will be re-sent: Optional and Transitive as received, Partial set
    /// (RFC 4271 §5: unrecognized transitive attributes are passed on with Partial = 1); the
    /// Extended Length bit is chosen at encoding time.
    pub flags: u8,
    /// Type code (never one of [`type_code::KNOWN`] after decoding).
    pub type_code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// The path attributes of a route, MP_REACH/MP_UNREACH excluded (those carry the NLRI and are
/// in [`super::Update`]). `Eq + Hash + Ord`, so routes with identical attributes can be grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathAttributes {
    /// ORIGIN (IGP when the UPDATE had none; such an UPDATE is treat-as-withdraw if it had NLRI).
    pub origin: Origin,
    /// AS_PATH (AS4_PATH merged in).
    pub as_path: AsPath,
    /// NEXT_HOP (IPv4 unicast in the classic NLRI field).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (AS4_AGGREGATOR merged in).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES in the order received.
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID (route reflection, iBGP only).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (route reflection, iBGP only).
    pub cluster_list: Vec<Ipv4Addr>,
    /// LARGE_COMMUNITY in the order received.
    pub large_communities: Vec<LargeCommunity>,
    /// Unrecognized optional transitive attributes, by type code.
    pub unknown: Vec<RawAttribute>,
}

/// RFC 7606 reaction to an error, weakest first (the strongest one found wins, §3 (f)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    /// Drop the attribute, keep the route.
    AttributeDiscard,
    /// Handle the UPDATE's NLRI as withdrawals.
    TreatAsWithdraw,
}

/// Everything the attribute walk found.
#[derive(Debug, Default)]
pub(crate) struct ParsedAttributes {
    pub(crate) attrs: PathAttributes,
    /// At least one attribute other than MP_REACH/MP_UNREACH was present.
    pub(crate) any: bool,
    pub(crate) mp_reach: Option<MpReach>,
    pub(crate) mp_unreach: Option<MpUnreach>,
    pub(crate) seen: Vec<u8>,
    pub(crate) action: Option<Action>,
    pub(crate) discarded: Vec<u8>,
    pub(crate) errors: Vec<DecodeError>,
}

impl ParsedAttributes {
    fn escalate(&mut self, action: Action, error: DecodeError) {
        self.action = self.action.max(Some(action));
        self.errors.push(error);
    }

    fn discard(&mut self, type_code: u8, error: Option<DecodeError>) {
        if !self.discarded.contains(&type_code) {
            self.discarded.push(type_code);
        }
        self.action = self.action.max(Some(Action::AttributeDiscard));
        if let Some(e) = error {
            self.errors.push(e);
        }
    }

    pub(crate) fn has(&self, type_code: u8) -> bool {
        self.seen.contains(&type_code)
    }
}

/// (optional, transitive) as the attribute's specification requires.
fn expected_flags(type_code: u8) -> Option<(bool, bool)> {
    Some(match type_code {
        tc::ORIGIN | tc::AS_PATH | tc::NEXT_HOP | tc::LOCAL_PREF | tc::ATOMIC_AGGREGATE => {
            (false, true)
        }
        tc::MULTI_EXIT_DISC
        | tc::ORIGINATOR_ID
        | tc::CLUSTER_LIST
        | tc::MP_REACH_NLRI
        | tc::MP_UNREACH_NLRI => (true, false),
        tc::AGGREGATOR
        | tc::COMMUNITIES
        | tc::AS4_PATH
        | tc::AS4_AGGREGATOR
        | tc::LARGE_COMMUNITY => (true, true),
        _ => return None,
    })
}

/// What RFC 7606 §7 (and RFC 6793 §6, RFC 8092 §6) does with a malformed attribute of this
/// type: `None` means session reset.
fn malformed_action(type_code: u8) -> Option<Action> {
    match type_code {
        tc::ATOMIC_AGGREGATE | tc::AGGREGATOR | tc::AS4_PATH | tc::AS4_AGGREGATOR => {
            Some(Action::AttributeDiscard)
        }
        tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI => None,
        _ => Some(Action::TreatAsWithdraw),
    }
}

/// Walks the path attribute field of an UPDATE. `Err` is a session reset; every other problem
/// is recorded in the result with its RFC 7606 action.
pub(crate) fn decode_attributes(
    field: &[u8],
    ctx: &DecodeContext,
) -> Result<ParsedAttributes, DecodeError> {
    let mut p = ParsedAttributes::default();
    let mut as2_aggregator: Option<Aggregator> = None;
    let mut as4_path: Option<AsPath> = None;
    let mut as4_aggregator: Option<Aggregator> = None;
    let mut r = Reader::new(field);
    while !r.is_empty() {
        let start = r.rest();
        // RFC 7606 §4: too few octets for an attribute header, or an attribute that overruns
        // the path attribute field, is treat-as-withdraw; the Total Attribute Length still
        // locates the NLRI.
        let header = (|| {
            let flags = r.u8()?;
            let code = r.u8()?;
            let len = if flags & FLAG_EXTENDED_LENGTH != 0 {
                r.u16()? as usize
            } else {
                r.u8()? as usize
            };
            let value = r.take(len)?;
            Ok::<_, super::reader::Truncated>((flags, code, value))
        })();
        let Ok((flags, code, value)) = header else {
            p.escalate(
                Action::TreatAsWithdraw,
                DecodeError::MalformedAttributeList {
                    reason: "attribute header or value overruns the path attribute field",
                },
            );
            break;
        };
        let whole = start
            .get(..start.len() - r.remaining())
            .unwrap_or(start)
            .to_vec();

        if p.has(code) {
            if code == tc::MP_REACH_NLRI || code == tc::MP_UNREACH_NLRI {
                return Err(DecodeError::MalformedAttributeList {
                    reason: "MP_REACH_NLRI or MP_UNREACH_NLRI appears twice",
                });
            }
            // RFC 7606 §3 (g): keep the first occurrence, drop the others.
            p.discard(code, None);
            continue;
        }
        p.seen.push(code);
        if code != tc::MP_REACH_NLRI && code != tc::MP_UNREACH_NLRI {
            p.any = true;
        }

        let Some((optional, transitive)) = expected_flags(code) else {
            if flags & FLAG_OPTIONAL == 0 {
                return Err(DecodeError::UnrecognizedWellKnownAttribute {
                    type_code: code,
                    attribute: whole,
                });
            }
            if flags & FLAG_TRANSITIVE != 0 {
                p.attrs.unknown.push(RawAttribute {
                    flags: (flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE)) | FLAG_PARTIAL,
                    type_code: code,
                    value: value.to_vec(),
                });
            }
            // Unrecognized optional non-transitive attributes are quietly ignored (RFC 4271 §5).
            continue;
        };

        // Flags conflicting with the type make the attribute malformed (RFC 7606 §3 (c)).
        if (flags & FLAG_OPTIONAL != 0) != optional || (flags & FLAG_TRANSITIVE != 0) != transitive
        {
            let err = DecodeError::AttributeFlags {
                type_code: code,
                flags,
                attribute: whole,
            };
            match malformed_action(code) {
                None => return Err(err),
                Some(Action::AttributeDiscard) => p.discard(code, Some(err)),
                Some(a) => p.escalate(a, err),
            }
            continue;
        }

        if let Err(err) = decode_one(
            &mut p,
            code,
            value,
            &whole,
            ctx,
            &mut as2_aggregator,
            &mut as4_path,
            &mut as4_aggregator,
        ) {
            match malformed_action(code) {
                None => return Err(err),
                Some(Action::AttributeDiscard) => p.discard(code, Some(err)),
                Some(a) => p.escalate(a, err),
            }
        }
    }

    p.attrs.aggregator = as2_aggregator;
    if !ctx.four_octet_as {
        merge_as4(&mut p.attrs, as4_path, as4_aggregator);
    }
    p.attrs.unknown.sort_by_key(|a| a.type_code);
    Ok(p)
}

/// Decodes one attribute with correct flags into `p`. `Err` means malformed; the caller picks
/// the RFC 7606 action by type.
#[allow(clippy::too_many_arguments)]
fn decode_one(
    p: &mut ParsedAttributes,
    code: u8,
    value: &[u8],
    whole: &[u8],
    ctx: &DecodeContext,
    as2_aggregator: &mut Option<Aggregator>,
    as4_path: &mut Option<AsPath>,
    as4_aggregator: &mut Option<Aggregator>,
) -> Result<(), DecodeError> {
    let length_error = || DecodeError::AttributeLength {
        type_code: code,
        length: value.len(),
        attribute: whole.to_vec(),
    };
    let u32_value = || -> Result<u32, DecodeError> {
        let bytes: [u8; 4] = value.try_into().map_err(|_| length_error())?;
        Ok(u32::from_be_bytes(bytes))
    };
    match code {
        tc::ORIGIN => {
            let [v] = value else {
                return Err(length_error());
            };
            p.attrs.origin = match v {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                _ => {
                    return Err(DecodeError::InvalidOrigin {
                        value: *v,
                        attribute: whole.to_vec(),
                    })
                }
            };
        }
        tc::AS_PATH => {
            let path = decode_as_path(value, ctx.four_octet_as)?;
            if ctx.external && path.segments.iter().any(|s| s.kind.is_confed()) {
                return Err(DecodeError::MalformedAsPath {
                    reason: "AS_CONFED segment from an external peer",
                });
            }
            p.attrs.as_path = path;
        }
        tc::NEXT_HOP => {
            let nh = Ipv4Addr::from(u32_value()?);
            if !valid_next_hop(nh) {
                return Err(DecodeError::InvalidNextHop {
                    next_hop: nh,
                    attribute: whole.to_vec(),
                });
            }
            p.attrs.next_hop = Some(nh);
        }
        tc::MULTI_EXIT_DISC => p.attrs.med = Some(u32_value()?),
        tc::LOCAL_PREF => {
            let v = u32_value()?;
            if ctx.external {
                // RFC 4271 §5.1.5 / RFC 7606 §7.5: ignored when received from an external peer.
                p.discard(code, None);
            } else {
                p.attrs.local_pref = Some(v);
            }
        }
        tc::ATOMIC_AGGREGATE => {
            if !value.is_empty() {
                return Err(length_error());
            }
            p.attrs.atomic_aggregate = true;
        }
        tc::AGGREGATOR => {
            let want = if ctx.four_octet_as { 8 } else { 6 };
            if value.len() != want {
                return Err(length_error());
            }
            let mut r = Reader::new(value);
            let asn = if ctx.four_octet_as {
                r.u32().map_err(|_| length_error())?
            } else {
                u32::from(r.u16().map_err(|_| length_error())?)
            };
            let address = r.ipv4().map_err(|_| length_error())?;
            *as2_aggregator = Some(Aggregator { asn, address });
        }
        tc::COMMUNITIES => {
            if value.is_empty() || value.len() % 4 != 0 {
                return Err(length_error());
            }
            p.attrs.communities = value
                .chunks_exact(4)
                .map(|c| Community(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
        }
        tc::ORIGINATOR_ID => {
            let id = Ipv4Addr::from(u32_value()?);
            if ctx.external {
                p.discard(code, None);
            } else {
                p.attrs.originator_id = Some(id);
            }
        }
        tc::CLUSTER_LIST => {
            if value.is_empty() || value.len() % 4 != 0 {
                return Err(length_error());
            }
            if ctx.external {
                p.discard(code, None);
            } else {
                p.attrs.cluster_list = value
                    .chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect();
            }
        }
        tc::MP_REACH_NLRI => decode_mp_reach(p, value, whole, ctx)?,
        tc::MP_UNREACH_NLRI => decode_mp_unreach(p, value, whole, ctx)?,
        tc::AS4_PATH => {
            let path = decode_as_path(value, true).map_err(|_| DecodeError::OptionalAttribute {
                type_code: code,
                reason: "malformed AS4_PATH",
                attribute: whole.to_vec(),
            })?;
            if ctx.four_octet_as {
                // RFC 6793 §4.1: a NEW speaker never sends AS4_PATH to a NEW speaker.
                p.discard(code, None);
            } else {
                *as4_path = Some(path);
            }
        }
        tc::AS4_AGGREGATOR => {
            if value.len() != 8 {
                return Err(length_error());
            }
            let mut r = Reader::new(value);
            let asn = r.u32().map_err(|_| length_error())?;
            let address = r.ipv4().map_err(|_| length_error())?;
            if ctx.four_octet_as {
                p.discard(code, None);
            } else {
                *as4_aggregator = Some(Aggregator { asn, address });
            }
        }
        tc::LARGE_COMMUNITY => {
            if value.is_empty() || value.len() % 12 != 0 {
                return Err(length_error());
            }
            p.attrs.large_communities = value
                .chunks_exact(12)
                .map(|c| LargeCommunity {
                    global_admin: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                    local_data1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                    local_data2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                })
                .collect();
        }
        // `expected_flags` returned Some only for the codes above.
        _ => {}
    }
    Ok(())
}

/// RFC 4271 §6.3 semantic check: not 0.0.0.0/8, loopback, multicast or class E/broadcast.
fn valid_next_hop(nh: Ipv4Addr) -> bool {
    let first = nh.octets()[0];
    first != 0 && first != 127 && first < 224
}

/// Decodes AS_PATH (or AS4_PATH with `four_octet`): RFC 7606 §7.2 malformed cases are an
/// unknown segment type, a zero segment length, a segment that overruns, or a lone trailing
/// octet.
fn decode_as_path(value: &[u8], four_octet: bool) -> Result<AsPath, DecodeError> {
    let mut r = Reader::new(value);
    let mut segments = Vec::new();
    let overrun = || DecodeError::MalformedAsPath {
        reason: "segment overruns the attribute",
    };
    while !r.is_empty() {
        let kind = r.u8().map_err(|_| overrun())?;
        let count = r.u8().map_err(|_| DecodeError::MalformedAsPath {
            reason: "fewer than two octets for a segment header",
        })?;
        let Some(kind) = SegmentType::from_u8(kind) else {
            return Err(DecodeError::MalformedAsPath {
                reason: "unknown segment type",
            });
        };
        if count == 0 {
            return Err(DecodeError::MalformedAsPath {
                reason: "zero-length segment",
            });
        }
        let mut asns = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let asn = if four_octet {
                r.u32().map_err(|_| overrun())?
            } else {
                u32::from(r.u16().map_err(|_| overrun())?)
            };
            asns.push(asn);
        }
        segments.push(AsSegment { kind, asns });
    }
    Ok(AsPath { segments })
}

/// RFC 6793 §4.2.3: rebuild the real AS_PATH and AGGREGATOR from a 2-octet speaker's
/// attributes.
fn merge_as4(attrs: &mut PathAttributes, as4_path: Option<AsPath>, as4_agg: Option<Aggregator>) {
    if let (Some(agg), Some(_)) = (attrs.aggregator, as4_agg) {
        if agg.asn != u32::from(AS_TRANS) {
            // The aggregation was done by a 2-octet speaker after the AS4 attributes were
            // added: both AS4 attributes are stale and ignored.
            return;
        }
    }
    if let (Some(_), Some(a4)) = (attrs.aggregator, as4_agg) {
        attrs.aggregator = Some(a4);
    }
    let Some(as4) = as4_path else {
        return;
    };
    let as4_segments: Vec<AsSegment> = as4
        .segments
        .into_iter()
        .filter(|s| !s.kind.is_confed())
        .collect();
    let as4 = AsPath {
        segments: as4_segments,
    };
    let have = attrs.as_path.len_for_selection();
    let want = as4.len_for_selection();
    if have < want {
        return;
    }
    let mut lead = have - want;
    let mut merged: Vec<AsSegment> = Vec::new();
    for seg in &attrs.as_path.segments {
        if seg.kind.is_confed() {
            merged.push(seg.clone());
            continue;
        }
        if lead == 0 {
            break;
        }
        match seg.kind {
            SegmentType::Set => {
                merged.push(seg.clone());
                lead -= 1;
            }
            _ => {
                let n = lead.min(seg.asns.len());
                merged.push(AsSegment {
                    kind: seg.kind,
                    asns: seg.asns.iter().take(n).copied().collect(),
                });
                lead -= n;
            }
        }
    }
    let mut rest = as4.segments.into_iter();
    if let (Some(last), Some(first)) = (merged.last_mut(), rest.as_slice().first()) {
        if last.kind == SegmentType::Sequence
            && first.kind == SegmentType::Sequence
            && last.asns.len() + first.asns.len() <= 255
        {
            last.asns.extend_from_slice(&first.asns);
            rest.next();
        }
    }
    merged.extend(rest);
    attrs.as_path = AsPath { segments: merged };
}

/// Decodes MP_REACH_NLRI (RFC 4760 §3). Malformed is a session reset (RFC 7606 §7.11): the
/// NLRI cannot be located reliably.
fn decode_mp_reach(
    p: &mut ParsedAttributes,
    value: &[u8],
    whole: &[u8],
    ctx: &DecodeContext,
) -> Result<(), DecodeError> {
    let err = |reason| DecodeError::OptionalAttribute {
        type_code: tc::MP_REACH_NLRI,
        reason,
        attribute: whole.to_vec(),
    };
    let mut r = Reader::new(value);
    let afi = Afi::from_u16(r.u16().map_err(|_| err("shorter than AFI/SAFI"))?);
    let safi = Safi::from_u8(r.u8().map_err(|_| err("shorter than AFI/SAFI"))?);
    let family = Family::new(afi, safi);
    if !family.is_supported() || !ctx.families.contains(&family) {
        p.discard(
            tc::MP_REACH_NLRI,
            Some(err("address family not negotiated; attribute ignored")),
        );
        return Ok(());
    }
    let nh_len = r.u8().map_err(|_| err("no next hop length"))?;
    let nh = r
        .take(nh_len as usize)
        .map_err(|_| err("next hop overruns the attribute"))?;
    let mut nr = Reader::new(nh);
    let next_hop = match (afi, nh_len) {
        (Afi::Ipv4, 4) => NextHop::Ipv4(nr.ipv4().map_err(|_| err("next hop"))?),
        (_, 16) => NextHop::Ipv6(nr.ipv6().map_err(|_| err("next hop"))?),
        (_, 32) => NextHop::Ipv6LinkLocal {
            global: nr.ipv6().map_err(|_| err("next hop"))?,
            link_local: nr.ipv6().map_err(|_| err("next hop"))?,
        },
        _ => return Err(err("next hop length inconsistent with the address family")),
    };
    let _reserved = r.u8().map_err(|_| err("no reserved octet"))?;
    let nlri = decode_prefixes(afi, r.rest()).map_err(err)?;
    p.mp_reach = Some(MpReach {
        afi,
        safi,
        next_hop,
        nlri,
    });
    Ok(())
}

/// Decodes MP_UNREACH_NLRI (RFC 4760 §4).
fn decode_mp_unreach(
    p: &mut ParsedAttributes,
    value: &[u8],
    whole: &[u8],
    ctx: &DecodeContext,
) -> Result<(), DecodeError> {
    let err = |reason| DecodeError::OptionalAttribute {
        type_code: tc::MP_UNREACH_NLRI,
        reason,
        attribute: whole.to_vec(),
    };
    let mut r = Reader::new(value);
    let afi = Afi::from_u16(r.u16().map_err(|_| err("shorter than AFI/SAFI"))?);
    let safi = Safi::from_u8(r.u8().map_err(|_| err("shorter than AFI/SAFI"))?);
    let family = Family::new(afi, safi);
    if !family.is_supported() || !ctx.families.contains(&family) {
        p.discard(
            tc::MP_UNREACH_NLRI,
            Some(err("address family not negotiated; attribute ignored")),
        );
        return Ok(());
    }
    let withdrawn = decode_prefixes(afi, r.rest()).map_err(err)?;
    p.mp_unreach = Some(MpUnreach {
        afi,
        safi,
        withdrawn,
    });
    Ok(())
}

/// Appends one attribute: flags (Extended Length set only when the value needs it), type,
/// length, value.
pub(crate) fn put_attribute(
    out: &mut Vec<u8>,
    flags: u8,
    type_code: u8,
    value: &[u8],
) -> Result<(), EncodeError> {
    let flags = flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL);
    if let Ok(len) = u8::try_from(value.len()) {
        out.extend_from_slice(&[flags, type_code, len]);
    } else {
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::AttributeTooLong {
            type_code,
            length: value.len(),
        })?;
        out.extend_from_slice(&[flags | FLAG_EXTENDED_LENGTH, type_code]);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(value);
    Ok(())
}

/// Encodes an AS path; with `four_octet` false, ASNs above 65535 become AS_TRANS. Segments
/// longer than 255 ASNs are split. Confederation segments are left out when `skip_confed`.
fn encode_as_path(path: &AsPath, four_octet: bool, skip_confed: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for seg in &path.segments {
        if skip_confed && seg.kind.is_confed() {
            continue;
        }
        for chunk in seg.asns.chunks(255) {
            v.push(seg.kind.to_u8());
            // `chunks(255)` bounds the length.
            v.push(chunk.len() as u8);
            for &asn in chunk {
                if four_octet {
                    v.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let a = u16::try_from(asn).unwrap_or(AS_TRANS);
                    v.extend_from_slice(&a.to_be_bytes());
                }
            }
        }
    }
    v
}

impl PathAttributes {
    /// Encodes every attribute as (type code, encoded attribute), in type-code order.
    /// MP_REACH/MP_UNREACH are not included.
    pub(crate) fn encode_list(
        &self,
        ctx: &EncodeContext,
    ) -> Result<Vec<(u8, Vec<u8>)>, EncodeError> {
        let mut list: Vec<(u8, Vec<u8>)> = Vec::with_capacity(8 + self.unknown.len());
        let mut add = |flags: u8, code: u8, value: &[u8]| -> Result<(), EncodeError> {
            let mut a = Vec::with_capacity(value.len() + 4);
            put_attribute(&mut a, flags, code, value)?;
            list.push((code, a));
            Ok(())
        };
        const WK: u8 = FLAG_TRANSITIVE;
        const OPT: u8 = FLAG_OPTIONAL;
        const OPT_TRANS: u8 = FLAG_OPTIONAL | FLAG_TRANSITIVE;
        let origin = match self.origin {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        };
        add(WK, tc::ORIGIN, &[origin])?;
        add(
            WK,
            tc::AS_PATH,
            &encode_as_path(&self.as_path, ctx.four_octet_as, false),
        )?;
        if let Some(nh) = self.next_hop {
            add(WK, tc::NEXT_HOP, &nh.octets())?;
        }
        if let Some(med) = self.med {
            add(OPT, tc::MULTI_EXIT_DISC, &med.to_be_bytes())?;
        }
        if let Some(lp) = self.local_pref {
            add(WK, tc::LOCAL_PREF, &lp.to_be_bytes())?;
        }
        if self.atomic_aggregate {
            add(WK, tc::ATOMIC_AGGREGATE, &[])?;
        }
        let mut as4_aggregator = None;
        if let Some(agg) = self.aggregator {
            let mut v = Vec::with_capacity(8);
            if ctx.four_octet_as {
                v.extend_from_slice(&agg.asn.to_be_bytes());
            } else {
                let a = u16::try_from(agg.asn).unwrap_or_else(|_| {
                    as4_aggregator = Some(agg);
                    AS_TRANS
                });
                v.extend_from_slice(&a.to_be_bytes());
            }
            v.extend_from_slice(&agg.address.octets());
            add(OPT_TRANS, tc::AGGREGATOR, &v)?;
        }
        if !self.communities.is_empty() {
            let v: Vec<u8> = self
                .communities
                .iter()
                .flat_map(|c| c.0.to_be_bytes())
                .collect();
            add(OPT_TRANS, tc::COMMUNITIES, &v)?;
        }
        if let Some(id) = self.originator_id {
            add(OPT, tc::ORIGINATOR_ID, &id.octets())?;
        }
        if !self.cluster_list.is_empty() {
            let v: Vec<u8> = self.cluster_list.iter().flat_map(|c| c.octets()).collect();
            add(OPT, tc::CLUSTER_LIST, &v)?;
        }
        if !ctx.four_octet_as
            && self
                .as_path
                .segments
                .iter()
                .any(|s| !s.kind.is_confed() && s.asns.iter().any(|&a| a > 0xffff))
        {
            add(
                OPT_TRANS,
                tc::AS4_PATH,
                &encode_as_path(&self.as_path, true, true),
            )?;
        }
        if let Some(agg) = as4_aggregator {
            let mut v = Vec::with_capacity(8);
            v.extend_from_slice(&agg.asn.to_be_bytes());
            v.extend_from_slice(&agg.address.octets());
            add(OPT_TRANS, tc::AS4_AGGREGATOR, &v)?;
        }
        if !self.large_communities.is_empty() {
            let v: Vec<u8> = self
                .large_communities
                .iter()
                .flat_map(|c| {
                    let mut b = [0u8; 12];
                    b[..4].copy_from_slice(&c.global_admin.to_be_bytes());
                    b[4..8].copy_from_slice(&c.local_data1.to_be_bytes());
                    b[8..].copy_from_slice(&c.local_data2.to_be_bytes());
                    b
                })
                .collect();
            add(OPT_TRANS, tc::LARGE_COMMUNITY, &v)?;
        }
        for raw in &self.unknown {
            // RFC 4271 §5: a propagated unrecognized transitive attribute has Partial set.
            let partial = if raw.flags & FLAG_TRANSITIVE != 0 {
                FLAG_PARTIAL
            } else {
                0
            };
            let flags = raw.flags | FLAG_OPTIONAL | partial;
            add(flags, raw.type_code, &raw.value)?;
        }
        list.sort_by_key(|(code, _)| *code);
        Ok(list)
    }
}
