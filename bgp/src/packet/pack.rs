//! The UPDATE packer: turns routes of one family into as few wire UPDATEs as possible. Routes
//! with identical attributes share UPDATEs, each filled with as many NLRI as fit in 4096 octets
//! (65,535 once both sides announced Extended Message, RFC 8654); withdrawals are batched the same way. Also End-of-RIB markers (RFC 4724 §2).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::IpNet;

use super::attributes::{put_attribute, type_code as tc, PathAttributes, FLAG_OPTIONAL};
use super::open::Family;
use super::update::{
    check_family, mp_reach_header, mp_unreach_header, prefix_wire_len, put_prefix, NextHop,
};
use super::{EncodeContext, MessageType, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
use crate::error::EncodeError;

/// The two 2-octet length fields of an UPDATE body.
const BODY_LENGTHS: usize = 4;
/// Longest encoded prefix (an IPv6 /128).
const MAX_PREFIX_WIRE_LEN: usize = 17;
/// Attribute header with a 2-octet length.
const EXT_ATTR_HEADER: usize = 4;

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
    let max_len = max_len.clamp(MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN);
    // Room for the UPDATE body after the header and the two length fields.
    let body_room = max_len - HEADER_LEN - BODY_LENGTHS;
    if !family.is_supported() {
        return Err(EncodeError::FamilyMismatch {
            what: "UPDATE packing".to_string(),
            family: family.to_string(),
        });
    }
    let classic = family == Family::IPV4_UNICAST && !ctx.ipv4_via_mp;
    for p in withdraw.iter().chain(announce.iter().map(|(p, _)| p)) {
        check_family(*p, family.afi)?;
    }
    let mut out = Vec::new();

    // Withdrawals.
    if !withdraw.is_empty() {
        let room = if classic {
            body_room
        } else {
            body_room - EXT_ATTR_HEADER - mp_unreach_header(family).len()
        };
        for chunk in chunk_prefixes(withdraw.iter().copied(), room) {
            let msg = if classic {
                update_message(&chunk, &[], &[])
            } else {
                let mut value = mp_unreach_header(family);
                value.extend_from_slice(&chunk);
                let mut attr = Vec::with_capacity(value.len() + EXT_ATTR_HEADER);
                put_attribute(&mut attr, FLAG_OPTIONAL, tc::MP_UNREACH_NLRI, &value)?;
                update_message(&[], &attr, &[])
            };
            out.push(msg);
        }
    }

    // Announcements, grouped by identical attributes.
    let mut groups: Vec<(Arc<PathAttributes>, Vec<IpNet>)> = Vec::new();
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
                    groups.push((Arc::clone(attrs), Vec::new()));
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
        let mut attrs = (*attrs).clone();
        let mp_header = if classic {
            if attrs.next_hop.is_none() {
                match next_hop {
                    NextHop::Ipv4(a) => attrs.next_hop = Some(*a),
                    other => {
                        return Err(EncodeError::FamilyMismatch {
                            what: format!("next hop {other:?}"),
                            family: family.to_string(),
                        })
                    }
                }
            }
            None
        } else {
            attrs.next_hop = None;
            Some(mp_reach_header(family, next_hop)?)
        };
        let list = attrs.encode_list(ctx)?;
        let mut fixed: Vec<u8> = Vec::new();
        let mut after: Vec<u8> = Vec::new();
        for (code, a) in &list {
            // MP_REACH_NLRI (14) goes in type-code order among the others.
            if *code < tc::MP_REACH_NLRI {
                fixed.extend_from_slice(a);
            } else {
                after.extend_from_slice(a);
            }
        }
        let overhead =
            fixed.len() + after.len() + mp_header.as_ref().map_or(0, |h| h.len() + EXT_ATTR_HEADER);
        let room = body_room
            .checked_sub(overhead)
            .filter(|r| *r >= MAX_PREFIX_WIRE_LEN)
            .ok_or(EncodeError::MessageTooLong {
                message: "UPDATE (attributes leave no room for NLRI)",
                length: overhead + HEADER_LEN + BODY_LENGTHS,
                max: max_len,
            })?;
        let classic_attrs: Vec<u8> = if mp_header.is_none() {
            [fixed.as_slice(), after.as_slice()].concat()
        } else {
            Vec::new()
        };
        for chunk in chunk_prefixes(prefixes.into_iter(), room) {
            let msg = match &mp_header {
                None => update_message(&[], &classic_attrs, &chunk),
                Some(h) => {
                    let mut value = Vec::with_capacity(h.len() + chunk.len());
                    value.extend_from_slice(h);
                    value.extend_from_slice(&chunk);
                    let mut attrs_field =
                        Vec::with_capacity(fixed.len() + value.len() + after.len() + 4);
                    attrs_field.extend_from_slice(&fixed);
                    put_attribute(&mut attrs_field, FLAG_OPTIONAL, tc::MP_REACH_NLRI, &value)?;
                    attrs_field.extend_from_slice(&after);
                    update_message(&[], &attrs_field, &[])
                }
            };
            out.push(msg);
        }
    }
    Ok(out)
}

/// Splits prefixes into encoded runs of at most `room` octets.
fn chunk_prefixes(prefixes: impl Iterator<Item = IpNet>, room: usize) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut cur: Vec<u8> = Vec::with_capacity(room);
    for p in prefixes {
        if cur.len() + prefix_wire_len(&p) > room {
            chunks.push(std::mem::replace(&mut cur, Vec::with_capacity(room)));
        }
        put_prefix(&mut cur, p);
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    chunks
}

/// Builds one UPDATE from its three fields (callers keep it within 65,535 octets).
fn update_message(withdrawn: &[u8], attributes: &[u8], nlri: &[u8]) -> Bytes {
    let len = HEADER_LEN + BODY_LENGTHS + withdrawn.len() + attributes.len() + nlri.len();
    let mut b = BytesMut::with_capacity(len);
    b.put_slice(&[0xff; 16]);
    // Callers bound every field so that `len` <= 65535 (`max_len` is clamped to it).
    b.put_u16(len as u16);
    b.put_u8(MessageType::Update as u8);
    b.put_u16(withdrawn.len() as u16);
    b.put_slice(withdrawn);
    b.put_u16(attributes.len() as u16);
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
