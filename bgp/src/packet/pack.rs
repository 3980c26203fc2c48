//! The UPDATE packer: turns routes of one family into as few wire UPDATEs as possible. Routes
//! with identical attributes share UPDATEs, each filled with as many NLRI as fit in 4096 octets
//! (65,535 once both sides announced Extended Message, RFC 8654); withdrawals are batched the same way. Also End-of-RIB markers (RFC 4724 §2).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::IpNet;

#[cfg(doc)]
use super::attributes::put_attribute;
use super::attributes::{type_code as tc, PathAttributes, FLAG_EXTENDED_LENGTH, FLAG_OPTIONAL};
use super::open::Family;
use super::update::{check_family, mp_reach_header, mp_unreach_header, prefix_wire_len, NextHop};
use super::{EncodeContext, MessageType, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
use crate::error::EncodeError;

/// The two 2-octet length fields of an UPDATE body.
const BODY_LENGTHS: usize = 4;
/// Longest encoded prefix (an IPv6 /128).
const MAX_PREFIX_WIRE_LEN: usize = 17;
/// Attribute header with a 2-octet length.
const EXT_ATTR_HEADER: usize = 4;
/// Offset of the message length field.
const LENGTH_AT: usize = 16;
/// Offset of the withdrawn routes length field.
const WITHDRAWN_LEN_AT: usize = HEADER_LEN;
/// Offset of the total path attribute length field.
const ATTRS_LEN_AT: usize = HEADER_LEN + 2;

/// Packs announcements and withdrawals of `family` into wire UPDATEs (header included).
///
/// Withdrawals come first, then announcements grouped by identical attributes in the order each
/// attribute set first appears. IPv4 unicast uses the classic withdrawn/NLRI fields unless
/// `ctx.ipv4_via_mp`; every other family uses MP_REACH_NLRI/MP_UNREACH_NLRI. For the classic
/// fields the NEXT_HOP attribute is the attributes' own `next_hop` when set, else `next_hop`
/// (which must then be IPv4); for MP_REACH `next_hop` is the attribute's next hop and any
/// NEXT_HOP in the attributes is left out (RFC 4760 §3).
pub fn encode_updates(
    family: Family,
    announce: &[(IpNet, Arc<PathAttributes>)],
    withdraw: &[IpNet],
    next_hop: &NextHop,
    ctx: &EncodeContext,
) -> Result<Vec<Bytes>, EncodeError> {
    encode_updates_up_to(family, announce, withdraw, next_hop, ctx, MAX_MESSAGE_LEN)
}

/// [`encode_updates`] with UPDATEs of up to `max_len` octets: [`MAX_MESSAGE_LEN`], or up to
/// [`MAX_EXTENDED_MESSAGE_LEN`] on a session that negotiated Extended Message (RFC 8654). Values
/// outside that range are clamped into it.
pub fn encode_updates_up_to(
    family: Family,
    announce: &[(IpNet, Arc<PathAttributes>)],
    withdraw: &[IpNet],
    next_hop: &NextHop,
    ctx: &EncodeContext,
    max_len: usize,
) -> Result<Vec<Bytes>, EncodeError> {
    let mut w = UpdateWriter::new(family, *next_hop, ctx, max_len)?;
    for p in withdraw.iter().chain(announce.iter().map(|(p, _)| p)) {
        check_family(*p, family.afi)?;
    }
    w.reserve_prefixes(withdraw.len() + announce.len());
    for p in withdraw {
        w.withdraw(*p)?;
    }

    // Announcements, grouped by identical attributes.
    let mut groups: Vec<(&Arc<PathAttributes>, Vec<IpNet>)> = Vec::new();
    let mut by_ptr: HashMap<*const PathAttributes, usize> = HashMap::new();
    let mut by_value: HashMap<&PathAttributes, usize> = HashMap::new();
    let mut last: Option<(*const PathAttributes, usize)> = None;
    for (prefix, attrs) in announce {
        let ptr = Arc::as_ptr(attrs);
        // Routes sharing one Arc usually come in runs: skip the hash lookups for those.
        let cached = last.filter(|(p, _)| *p == ptr).map(|(_, i)| i);
        let idx = match cached.or_else(|| by_ptr.get(&ptr).copied()) {
            Some(i) => i,
            None => {
                let i = *by_value.entry(attrs.as_ref()).or_insert_with(|| {
                    groups.push((attrs, Vec::new()));
                    groups.len() - 1
                });
                by_ptr.insert(ptr, i);
                i
            }
        };
        last = Some((ptr, idx));
        if let Some(g) = groups.get_mut(idx) {
            g.1.push(*prefix);
        }
    }
    for (attrs, prefixes) in groups {
        w.attributes(attrs)?;
        for p in prefixes {
            w.announce(p)?;
        }
    }
    let (mut buf, _) = w.finish();
    // Split the buffer at message boundaries (zero-copy: every message shares the buffer).
    let mut out = Vec::new();
    while buf.len() >= HEADER_LEN {
        let len = usize::from(u16::from_be_bytes([buf[LENGTH_AT], buf[LENGTH_AT + 1]]));
        if len < HEADER_LEN || len > buf.len() {
            break;
        }
        out.push(buf.split_to(len));
    }
    Ok(out)
}

/// What the prefixes pushed next become.
enum Section {
    /// Nothing chosen yet.
    None,
    /// Withdrawn routes.
    Withdraw,
    /// NLRI with one attribute set, encoded once: attributes before MP_REACH_NLRI in type-code
    /// order (all of them for the classic fields), those after it, the MP_REACH_NLRI value up to
    /// its NLRI (None: classic fields), and the room left for NLRI in one message.
    Announce {
        fixed: Vec<u8>,
        after: Vec<u8>,
        mp_header: Option<Vec<u8>>,
        room: usize,
    },
}

/// The message being filled.
struct OpenMessage {
    /// Its offset in the buffer.
    start: usize,
    /// Where its prefixes start.
    nlri_start: usize,
    /// How many octets of prefixes fit.
    room: usize,
    /// Offset of the MP_REACH_NLRI/MP_UNREACH_NLRI attribute (written with a 2-octet length).
    mp_attr: Option<usize>,
}

/// Writes the UPDATEs of one family straight into one buffer, prefix by prefix: withdrawals
/// (see [`UpdateWriter::withdraw`]), then for each attribute set
/// ([`UpdateWriter::attributes`]) its NLRI ([`UpdateWriter::announce`]). Each UPDATE is filled
/// with as many prefixes as fit in `max_len` octets, exactly as [`encode_updates_up_to`] packs
/// them, with no intermediate list of routes or of messages.
pub struct UpdateWriter {
    family: Family,
    classic: bool,
    next_hop: NextHop,
    ctx: EncodeContext,
    max_len: usize,
    body_room: usize,
    out: Vec<u8>,
    messages: u64,
    section: Section,
    open: Option<OpenMessage>,
}

impl UpdateWriter {
    /// A writer for `family` with next hop `next_hop` (see [`encode_updates`]) and UPDATEs of up
    /// to `max_len` octets (clamped to 4,096..=65,535).
    pub fn new(
        family: Family,
        next_hop: NextHop,
        ctx: &EncodeContext,
        max_len: usize,
    ) -> Result<UpdateWriter, EncodeError> {
        if !family.is_supported() {
            return Err(EncodeError::FamilyMismatch {
                what: "UPDATE packing".to_string(),
                family: family.to_string(),
            });
        }
        let max_len = max_len.clamp(MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN);
        Ok(UpdateWriter {
            family,
            classic: family == Family::IPV4_UNICAST && !ctx.ipv4_via_mp,
            next_hop,
            ctx: ctx.clone(),
            max_len,
            // Room for the UPDATE body after the header and the two length fields.
            body_room: max_len - HEADER_LEN - BODY_LENGTHS,
            out: Vec::new(),
            messages: 0,
            section: Section::None,
            open: None,
        })
    }

    /// Reserves buffer room for about `prefixes` more prefixes (avoids regrowing the buffer
    /// while a large table is written).
    pub fn reserve_prefixes(&mut self, prefixes: usize) {
        let per = if self.family.afi == super::Afi::Ipv6 {
            MAX_PREFIX_WIRE_LEN
        } else {
            5
        };
        let bytes = prefixes.saturating_mul(per);
        // One header and attribute block per message.
        let messages = bytes / self.body_room.saturating_sub(256).max(1) + 1;
        self.out
            .reserve(bytes.saturating_add(messages.saturating_mul(HEADER_LEN + 256)));
    }

    /// Adds a withdrawn route. Withdrawals must come before every announcement.
    #[inline]
    pub fn withdraw(&mut self, prefix: IpNet) -> Result<(), EncodeError> {
        self.check(prefix)?;
        if !matches!(self.section, Section::Withdraw) {
            self.close();
            self.section = Section::Withdraw;
        }
        self.push(prefix);
        Ok(())
    }

    /// Starts the routes with `attrs` (exported: AS_PATH and LOCAL_PREF as the peer gets
    /// them; NEXT_HOP comes from the writer's next hop unless set).
    pub fn attributes(&mut self, attrs: &PathAttributes) -> Result<(), EncodeError> {
        self.close();
        let mut attrs = attrs.clone();
        let mp_header = if self.classic {
            if attrs.next_hop.is_none() {
                match self.next_hop {
                    NextHop::Ipv4(a) => attrs.next_hop = Some(a),
                    other => {
                        return Err(EncodeError::FamilyMismatch {
                            what: format!("next hop {other:?}"),
                            family: self.family.to_string(),
                        })
                    }
                }
            }
            None
        } else {
            attrs.next_hop = None;
            Some(mp_reach_header(self.family, &self.next_hop)?)
        };
        let list = attrs.encode_list(&self.ctx)?;
        let mut fixed: Vec<u8> = Vec::new();
        let mut after: Vec<u8> = Vec::new();
        for (code, a) in &list {
            // MP_REACH_NLRI (14) goes in type-code order among the others; with the classic
            // fields everything is one block.
            if *code < tc::MP_REACH_NLRI || mp_header.is_none() {
                fixed.extend_from_slice(a);
            } else {
                after.extend_from_slice(a);
            }
        }
        let overhead =
            fixed.len() + after.len() + mp_header.as_ref().map_or(0, |h| h.len() + EXT_ATTR_HEADER);
        let room = self
            .body_room
            .checked_sub(overhead)
            .filter(|r| *r >= MAX_PREFIX_WIRE_LEN)
            .ok_or(EncodeError::MessageTooLong {
                message: "UPDATE (attributes leave no room for NLRI)",
                length: overhead + HEADER_LEN + BODY_LENGTHS,
                max: self.max_len,
            })?;
        self.section = Section::Announce {
            fixed,
            after,
            mp_header,
            room,
        };
        Ok(())
    }

    /// Adds a route with the attributes of the last [`UpdateWriter::attributes`].
    #[inline]
    pub fn announce(&mut self, prefix: IpNet) -> Result<(), EncodeError> {
        self.check(prefix)?;
        if !matches!(self.section, Section::Announce { .. }) {
            return Err(EncodeError::MissingAttributes {
                prefix: prefix.to_string(),
            });
        }
        self.push(prefix);
        Ok(())
    }

    /// Number of complete messages so far (the open one not counted).
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Octets written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty() && self.open.is_none()
    }

    /// Closes the last message; returns every UPDATE back to back, and how many there are.
    pub fn finish(mut self) -> (Bytes, u64) {
        self.close();
        (Bytes::from(self.out), self.messages)
    }

    #[inline]
    fn check(&self, prefix: IpNet) -> Result<(), EncodeError> {
        match (prefix, self.family.afi) {
            (IpNet::V4(_), super::Afi::Ipv4) | (IpNet::V6(_), super::Afi::Ipv6) => Ok(()),
            _ => check_family(prefix, self.family.afi),
        }
    }

    #[inline]
    fn push(&mut self, prefix: IpNet) {
        let len = prefix_wire_len(&prefix);
        let full = self
            .open
            .as_ref()
            .is_some_and(|m| self.out.len() - m.nlri_start + len > m.room);
        if full {
            self.close();
        }
        if self.open.is_none() {
            self.open_message();
        }
        put_prefix_bytes(&mut self.out, prefix);
    }

    fn open_message(&mut self) {
        let out = &mut self.out;
        let start = out.len();
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&u16::to_be_bytes(0));
        out.push(MessageType::Update as u8);
        let (room, mp_attr) = match &self.section {
            Section::None => (self.body_room, None),
            Section::Withdraw if self.classic => {
                out.extend_from_slice(&u16::to_be_bytes(0));
                (self.body_room, None)
            }
            Section::Withdraw => {
                let h = mp_unreach_header(self.family);
                out.extend_from_slice(&u16::to_be_bytes(0));
                out.extend_from_slice(&u16::to_be_bytes(0));
                let at = out.len();
                out.extend_from_slice(&[
                    FLAG_OPTIONAL | FLAG_EXTENDED_LENGTH,
                    tc::MP_UNREACH_NLRI,
                    0,
                    0,
                ]);
                out.extend_from_slice(&h);
                (self.body_room - EXT_ATTR_HEADER - h.len(), Some(at))
            }
            Section::Announce {
                fixed,
                after,
                mp_header: None,
                room,
            } => {
                out.extend_from_slice(&u16::to_be_bytes(0));
                out.extend_from_slice(&u16::to_be_bytes(len16(fixed.len() + after.len())));
                out.extend_from_slice(fixed);
                out.extend_from_slice(after);
                (*room, None)
            }
            Section::Announce {
                fixed,
                mp_header: Some(h),
                room,
                ..
            } => {
                out.extend_from_slice(&u16::to_be_bytes(0));
                out.extend_from_slice(&u16::to_be_bytes(0));
                out.extend_from_slice(fixed);
                let at = out.len();
                out.extend_from_slice(&[
                    FLAG_OPTIONAL | FLAG_EXTENDED_LENGTH,
                    tc::MP_REACH_NLRI,
                    0,
                    0,
                ]);
                out.extend_from_slice(h);
                (*room, Some(at))
            }
        };
        self.open = Some(OpenMessage {
            start,
            nlri_start: out.len(),
            room,
            mp_attr,
        });
    }

    /// Completes the open message: its length fields, the short attribute length form when
    /// the MP attribute's value fits one octet (as [`put_attribute`] writes it), and the
    /// attributes that follow MP_REACH_NLRI.
    fn close(&mut self) {
        let Some(m) = self.open.take() else {
            return;
        };
        let out = &mut self.out;
        match (&self.section, m.mp_attr) {
            (Section::Withdraw, None) => {
                let n = out.len() - m.nlri_start;
                set16(out, m.start + WITHDRAWN_LEN_AT, n);
                out.extend_from_slice(&u16::to_be_bytes(0));
            }
            (section, Some(at)) => {
                let value_len = out.len() - (at + EXT_ATTR_HEADER);
                if let Ok(short) = u8::try_from(value_len) {
                    out[at] = FLAG_OPTIONAL;
                    out[at + 2] = short;
                    let end = out.len();
                    out.copy_within(at + EXT_ATTR_HEADER..end, at + 3);
                    out.truncate(end - 1);
                } else {
                    set16(out, at + 2, value_len);
                }
                if let Section::Announce { after, .. } = section {
                    out.extend_from_slice(after);
                }
                let attrs_len = out.len() - (m.start + ATTRS_LEN_AT + 2);
                set16(out, m.start + ATTRS_LEN_AT, attrs_len);
            }
            _ => {}
        }
        let total = out.len() - m.start;
        set16(out, m.start + LENGTH_AT, total);
        self.messages += 1;
    }
}

/// A length the writer bounded to the message size (at most 65,535).
fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn set16(out: &mut [u8], at: usize, n: usize) {
    if let Some(b) = out.get_mut(at..at + 2) {
        b.copy_from_slice(&len16(n).to_be_bytes());
    }
}

/// Appends one prefix (RFC 4271 §4.3 encoding), host bits cleared: a fixed-size copy of the
/// longest form, then cut to the prefix's length (cheaper than a variable-length copy).
#[inline]
fn put_prefix_bytes(out: &mut Vec<u8>, prefix: IpNet) {
    let len = prefix.prefix_len();
    let n = (len as usize).div_ceil(8);
    let end = out.len() + 1 + n;
    // IpNet guarantees len <= 32 (IPv4) / 128 (IPv6), so the shifts are in range.
    match prefix {
        IpNet::V4(p) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            let o = (u32::from(p.addr()) & mask).to_be_bytes();
            out.extend_from_slice(&[len, o[0], o[1], o[2], o[3]]);
        }
        IpNet::V6(p) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            let mut b = [0u8; MAX_PREFIX_WIRE_LEN];
            b[0] = len;
            b[1..].copy_from_slice(&(u128::from(p.addr()) & mask).to_be_bytes());
            out.extend_from_slice(&b);
        }
    }
    out.truncate(end);
}

/// Builds one UPDATE from its three fields (callers keep it within 65,535 octets).
fn update_message(withdrawn: &[u8], attributes: &[u8], nlri: &[u8]) -> Bytes {
    let len = HEADER_LEN + BODY_LENGTHS + withdrawn.len() + attributes.len() + nlri.len();
    let mut b = BytesMut::with_capacity(len);
    b.put_slice(&[0xff; 16]);
    b.put_u16(len16(len));
    b.put_u8(MessageType::Update as u8);
    b.put_u16(len16(withdrawn.len()));
    b.put_slice(withdrawn);
    b.put_u16(len16(attributes.len()));
    b.put_slice(attributes);
    b.put_slice(nlri);
    b.freeze()
}

/// The End-of-RIB marker for a family (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an
/// UPDATE with an empty MP_UNREACH_NLRI otherwise.
pub fn end_of_rib(family: Family, _ctx: &EncodeContext) -> Bytes {
    if family == Family::IPV4_UNICAST {
        return update_message(&[], &[], &[]);
    }
    let [afi_hi, afi_lo] = family.afi.to_u16().to_be_bytes();
    let attr = [
        FLAG_OPTIONAL,
        tc::MP_UNREACH_NLRI,
        3, // AFI (2) + SAFI (1), no withdrawn routes
        afi_hi,
        afi_lo,
        family.safi.to_u8(),
    ];
    update_message(&[], &attr, &[])
}

#[cfg(test)]
mod tests {
    //! The RFC 8654 size limit: large UPDATEs only when asked for, and decoding honours the
    //! limit the session negotiated.

    use std::net::Ipv4Addr;

    use ipnet::Ipv4Net;

    use super::*;
    use crate::error::DecodeError;
    use crate::packet::{
        frame, frame_up_to, AsPath, DecodeContext, Message, MAX_EXTENDED_MESSAGE_LEN,
    };

    fn routes(n: u32) -> Vec<(IpNet, Arc<PathAttributes>)> {
        let a = Arc::new(PathAttributes {
            as_path: AsPath::from_sequence([64500]),
            ..PathAttributes::default()
        });
        (0..n)
            .map(|i| {
                let p = Ipv4Net::new(Ipv4Addr::from(0xC612_0000 + i), 32).unwrap();
                (IpNet::V4(p), Arc::clone(&a))
            })
            .collect()
    }

    fn ctx() -> EncodeContext {
        EncodeContext {
            four_octet_as: true,
            ipv4_via_mp: false,
        }
    }

    fn nlri_count(msgs: &[Bytes], max: usize) -> usize {
        msgs.iter()
            .map(
                |m| match Message::decode_up_to(m, &DecodeContext::default(), max).unwrap() {
                    Message::Update(u) => u.nlri.len(),
                    other => panic!("not an UPDATE: {other:?}"),
                },
            )
            .sum()
    }

    #[test]
    fn extended_limit_packs_fewer_larger_updates_that_decode_only_with_that_limit() {
        let r = routes(100_000);
        let nh = NextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 1));
        let small = encode_updates(Family::IPV4_UNICAST, &r, &[], &nh, &ctx()).unwrap();
        let large = encode_updates_up_to(
            Family::IPV4_UNICAST,
            &r,
            &[],
            &nh,
            &ctx(),
            MAX_EXTENDED_MESSAGE_LEN,
        )
        .unwrap();
        assert!(small.iter().all(|m| m.len() <= MAX_MESSAGE_LEN));
        assert!(large.iter().all(|m| m.len() <= MAX_EXTENDED_MESSAGE_LEN));
        assert!(
            large.len() * 10 < small.len(),
            "{} vs {}",
            large.len(),
            small.len()
        );
        assert_eq!(nlri_count(&small, MAX_MESSAGE_LEN), 100_000);
        assert_eq!(nlri_count(&large, MAX_EXTENDED_MESSAGE_LEN), 100_000);
        // Without the capability a large UPDATE is a Bad Message Length.
        let big = &large[0];
        assert!(big.len() > MAX_MESSAGE_LEN);
        assert!(matches!(
            Message::decode(big, &DecodeContext::default()),
            Err(DecodeError::BadMessageLength { .. })
        ));
        assert!(frame(big).is_err());
        assert_eq!(
            frame_up_to(big, MAX_EXTENDED_MESSAGE_LEN),
            Ok(Some(big.len()))
        );
    }

    #[test]
    fn open_and_keepalive_stay_within_4096_even_with_the_extended_limit() {
        for (ty, len) in [(1u8, 4097u16), (4, 20)] {
            let mut m = vec![0xff; 16];
            m.extend_from_slice(&len.to_be_bytes());
            m.push(ty);
            m.resize(usize::from(len), 0);
            assert!(
                matches!(
                    frame_up_to(&m, MAX_EXTENDED_MESSAGE_LEN),
                    Err(DecodeError::BadMessageLength { .. })
                ),
                "type {ty} length {len}"
            );
        }
    }

    #[test]
    fn limit_is_clamped_to_the_rfc_range() {
        let r = routes(2_000);
        let nh = NextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 1));
        let tiny = encode_updates_up_to(Family::IPV4_UNICAST, &r, &[], &nh, &ctx(), 100).unwrap();
        let normal = encode_updates(Family::IPV4_UNICAST, &r, &[], &nh, &ctx()).unwrap();
        assert_eq!(tiny, normal);
        let huge =
            encode_updates_up_to(Family::IPV4_UNICAST, &r, &[], &nh, &ctx(), 1 << 20).unwrap();
        assert!(huge.iter().all(|m| m.len() <= MAX_EXTENDED_MESSAGE_LEN));
    }
}
