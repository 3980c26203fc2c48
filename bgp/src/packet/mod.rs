//! The BGP-4 wire codec: message framing, the five message types and their parts, RFC 7606
//! error classification for UPDATEs, and the UPDATE packer that turns a set of routes into as
//! few messages as fit in 4096 octets.
//!
//! Decoding goes through a checked reader and never panics; a `DecodeError` returned from here
//! is always a session reset and carries the NOTIFICATION to send. UPDATE errors that RFC 7606
//! handles without a reset are reported inside the decoded [`Update`].

pub mod attributes;
pub mod notification;
pub mod open;
pub mod pack;
mod reader;
pub mod route_refresh;
pub mod update;

use bytes::{BufMut, BytesMut};

pub use attributes::{
    Aggregator, AsPath, AsSegment, Community, LargeCommunity, Origin, PathAttributes, RawAttribute,
    SegmentType,
};
pub use notification::{
    CeaseSubcode, ErrorCode, FsmSubcode, MessageHeaderSubcode, Notification, OpenSubcode,
    RouteRefreshSubcode, UpdateSubcode,
};
pub use open::{
    AddPathDirection, AddPathFamily, Afi, Capability, ExtendedNextHopFamily, Family,
    GracefulRestartCap, GracefulRestartFamily, Open, Safi,
};
pub use pack::{encode_updates, encode_updates_up_to, end_of_rib, UpdateWriter};
pub use route_refresh::RouteRefresh;
pub use update::{MpReach, MpUnreach, NextHop, Update};

use crate::error::{DecodeError, EncodeError};
use reader::Reader;

/// Largest BGP message without the extended message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once both sides announced Extended Message (RFC 8654); OPEN and KEEPALIVE
/// stay within [`MAX_MESSAGE_LEN`] even then.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// Length of the message header: marker (16), length (2), type (1).
pub const HEADER_LEN: usize = 19;
/// AS_TRANS (RFC 6793): stands for a 4-octet AS toward a 2-octet speaker.
pub const AS_TRANS: u16 = 23456;

/// Smallest OPEN (header + 10 octets of fixed fields).
const MIN_OPEN_LEN: usize = 29;
/// Smallest UPDATE (header + two 2-octet length fields).
const MIN_UPDATE_LEN: usize = 23;
/// Smallest NOTIFICATION (header + code + subcode).
const MIN_NOTIFICATION_LEN: usize = 21;
/// Smallest ROUTE-REFRESH (header + AFI, subtype, SAFI).
const MIN_ROUTE_REFRESH_LEN: usize = 23;

/// Message type codes (RFC 4271 §4.1, RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// 1: OPEN.
    Open = 1,
    /// 2: UPDATE.
    Update = 2,
    /// 3: NOTIFICATION.
    Notification = 3,
    /// 4: KEEPALIVE.
    Keepalive = 4,
    /// 5: ROUTE-REFRESH.
    RouteRefresh = 5,
}

impl MessageType {
    /// The type for a code, if it is one of the five.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(MessageType::Open),
            2 => Some(MessageType::Update),
            3 => Some(MessageType::Notification),
            4 => Some(MessageType::Keepalive),
            5 => Some(MessageType::RouteRefresh),
            _ => None,
        }
    }
}

/// A decoded BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

/// What the decoder must know about the session: negotiated before UPDATEs arrive.
/// `Default` is the state before negotiation: 2-octet AS, IPv4 and IPv6 unicast accepted,
/// internal peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeContext {
    /// Both sides announced the 4-octet AS capability: AS_PATH and AGGREGATOR carry 4-octet
    /// ASNs, and AS4_PATH/AS4_AGGREGATOR are discarded (RFC 6793 §4.1).
    pub four_octet_as: bool,
    /// Families negotiated for this session. MP_REACH/MP_UNREACH for another family are
    /// discarded (and reported in [`Update::errors`]).
    pub families: Vec<Family>,
    /// The peer is external (eBGP): LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST from it are
    /// discarded and AS_CONFED segments make the UPDATE treat-as-withdraw (RFC 7606 §7).
    pub external: bool,
}

impl Default for DecodeContext {
    fn default() -> Self {
        DecodeContext {
            four_octet_as: false,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            external: false,
        }
    }
}

/// What the encoder must know about the session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeContext {
    /// Both sides announced the 4-octet AS capability. When false, ASNs above 65535 are sent
    /// as AS_TRANS with AS4_PATH/AS4_AGGREGATOR carrying the real values (RFC 6793 §4.2.2).
    pub four_octet_as: bool,
    /// Send IPv4 unicast routes in MP_REACH/MP_UNREACH instead of the classic UPDATE fields
    /// (e.g. on an IPv6 session that negotiated IPv4 with an extended next hop).
    pub ipv4_via_mp: bool,
}

/// Looks at the bytes received so far. `Ok(None)`: a whole header or message is not there
/// yet; `Ok(Some(n))`: a complete message of `n` octets is at the front of `buf`; `Err`: the
/// header is bad (marker, length, type), and the error carries the NOTIFICATION to send.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    frame_up_to(buf, MAX_MESSAGE_LEN)
}

/// [`frame`] accepting messages of up to `max_len` octets (at most
/// [`MAX_EXTENDED_MESSAGE_LEN`]); [`Message::decode_up_to`] then applies the session's limit.
pub fn frame_up_to(buf: &[u8], max_len: usize) -> Result<Option<usize>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let (length, _) = check_header(header, max_len)?;
    Ok((buf.len() >= length).then_some(length))
}

/// Validates a header (at least 19 octets) against a length limit for UPDATE, NOTIFICATION and
/// ROUTE-REFRESH (OPEN and KEEPALIVE always within [`MAX_MESSAGE_LEN`], RFC 8654 §3): returns
/// the message length and type.
fn check_header(header: &[u8], max_len: usize) -> Result<(usize, MessageType), DecodeError> {
    let mut r = Reader::new(header);
    let marker = r
        .array::<16>()
        .map_err(|_| DecodeError::ConnectionNotSynchronized)?;
    if marker != [0xff; 16] {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let length = r
        .u16()
        .map_err(|_| DecodeError::ConnectionNotSynchronized)?;
    let type_code = r.u8().map_err(|_| DecodeError::ConnectionNotSynchronized)?;
    let len = length as usize;
    let Some(message_type) = MessageType::from_u8(type_code) else {
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
            return Err(DecodeError::BadMessageLength { length });
        }
        return Err(DecodeError::BadMessageType {
            message_type: type_code,
        });
    };
    let max = match message_type {
        MessageType::Open | MessageType::Keepalive => MAX_MESSAGE_LEN,
        _ => max_len.clamp(MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN),
    };
    if !(HEADER_LEN..=max).contains(&len) {
        return Err(DecodeError::BadMessageLength { length });
    }
    let ok = match message_type {
        MessageType::Open => len >= MIN_OPEN_LEN,
        MessageType::Update => len >= MIN_UPDATE_LEN,
        MessageType::Notification => len >= MIN_NOTIFICATION_LEN,
        MessageType::Keepalive => len == HEADER_LEN,
        MessageType::RouteRefresh => len >= MIN_ROUTE_REFRESH_LEN,
    };
    if !ok {
        return Err(DecodeError::BadMessageLength { length });
    }
    Ok((len, message_type))
}

impl Message {
    /// Decodes one whole message (header included, exactly as [`frame`] delimited it).
    pub fn decode(msg: &[u8], ctx: &DecodeContext) -> Result<Message, DecodeError> {
        Message::decode_up_to(msg, ctx, MAX_MESSAGE_LEN)
    }

    /// [`Message::decode`] with UPDATE/NOTIFICATION/ROUTE-REFRESH of up to `max_len` octets
    /// ([`MAX_EXTENDED_MESSAGE_LEN`] on a session that negotiated Extended Message).
    pub fn decode_up_to(
        msg: &[u8],
        ctx: &DecodeContext,
        max_len: usize,
    ) -> Result<Message, DecodeError> {
        let header = msg.get(..HEADER_LEN).ok_or(DecodeError::BadMessageLength {
            length: u16::try_from(msg.len()).unwrap_or(u16::MAX),
        })?;
        let (len, message_type) = check_header(header, max_len)?;
        if len != msg.len() {
            return Err(DecodeError::BadMessageLength {
                length: u16::try_from(len).unwrap_or(u16::MAX),
            });
        }
        // `len` <= 65535 was checked by `check_header`.
        let length = len as u16;
        let body = msg.get(HEADER_LEN..).unwrap_or_default();
        Ok(match message_type {
            MessageType::Open => Message::Open(Open::decode_body(body)?),
            MessageType::Update => Message::Update(Update::decode_body(body, ctx)?),
            MessageType::Notification => {
                Message::Notification(Notification::decode_body(body, length)?)
            }
            MessageType::Keepalive => Message::Keepalive,
            MessageType::RouteRefresh => {
                Message::RouteRefresh(RouteRefresh::decode_body(body, msg)?)
            }
        })
    }

    /// The message's type code.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Appends the whole message (header included) to `out`. On error nothing is appended.
    pub fn encode(&self, ctx: &EncodeContext, out: &mut BytesMut) -> Result<(), EncodeError> {
        let mut body = BytesMut::new();
        match self {
            Message::Open(o) => o.encode_body(&mut body)?,
            Message::Update(u) => u.encode_body(ctx, &mut body)?,
            Message::Notification(n) => n.encode_body(&mut body),
            Message::Keepalive => {}
            Message::RouteRefresh(r) => r.encode_body(&mut body),
        }
        write_message(self.message_type(), &body, out)
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self, ctx: &EncodeContext) -> Result<bytes::Bytes, EncodeError> {
        let mut out = BytesMut::new();
        self.encode(ctx, &mut out)?;
        Ok(out.freeze())
    }
}

/// Appends header + body, checking the 4096-octet limit.
pub(crate) fn write_message(
    message_type: MessageType,
    body: &[u8],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let len = HEADER_LEN + body.len();
    if len > MAX_MESSAGE_LEN {
        return Err(EncodeError::MessageTooLong {
            message: match message_type {
                MessageType::Open => "OPEN",
                MessageType::Update => "UPDATE",
                MessageType::Notification => "NOTIFICATION",
                MessageType::Keepalive => "KEEPALIVE",
                MessageType::RouteRefresh => "ROUTE-REFRESH",
            },
            length: len,
            max: MAX_MESSAGE_LEN,
        });
    }
    out.reserve(len);
    out.put_slice(&[0xff; 16]);
    // `len` <= 4096 checked above.
    out.put_u16(len as u16);
    out.put_u8(message_type as u8);
    out.put_slice(body);
    Ok(())
}
