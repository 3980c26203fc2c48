//! The BGP crate's errors. Decoding errors *are* protocol codes: every [`DecodeError`] maps to the
//! exact NOTIFICATION (code, subcode, data) that RFC 4271 §6, RFC 5492, RFC 7313 and RFC 7606
//! prescribe, through [`DecodeError::to_notification`]. Errors that RFC 7606 handles without a
//! session reset (treat-as-withdraw, attribute discard) are not returned as `Err` by the decoder:
//! they are recorded in [`crate::packet::Update::errors`].

use std::net::Ipv4Addr;

use crate::packet::notification::{
    ErrorCode, MessageHeaderSubcode, Notification, OpenSubcode, RouteRefreshSubcode, UpdateSubcode,
};

/// A received message (or part of one) that is malformed. Each variant is one RFC error
/// subcode; the fields are what the NOTIFICATION's data field carries or what a log line needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    /// Message header: the 16-octet marker is not all ones (1/1).
    #[error("message header: marker is not all ones (connection not synchronized)")]
    ConnectionNotSynchronized,
    /// Message header: the length field is out of range for the message type (1/2).
    #[error("message header: bad message length {length}")]
    BadMessageLength {
        /// The length field as received.
        length: u16,
    },
    /// Message header: unknown message type (1/3).
    #[error("message header: bad message type {message_type}")]
    BadMessageType {
        /// The type octet as received.
        message_type: u8,
    },
    /// OPEN: version is not 4 (2/1).
    #[error("OPEN: unsupported version number {version} (only 4 is supported)")]
    UnsupportedVersion {
        /// The version the peer bid.
        version: u8,
    },
    /// OPEN: the peer's AS is not the one configured (2/2). Raised by the session, not the codec.
    #[error("OPEN: bad peer AS {asn}")]
    BadPeerAs {
        /// The AS the peer announced.
        asn: u32,
    },
    /// OPEN: the BGP identifier is not acceptable (2/3).
    #[error("OPEN: bad BGP identifier {id}")]
    BadBgpIdentifier {
        /// The identifier the peer sent.
        id: Ipv4Addr,
    },
    /// OPEN: an optional parameter other than Capabilities (2/4).
    #[error("OPEN: unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter {
        /// The parameter type octet.
        param_type: u8,
    },
    /// OPEN: hold time 1 or 2 seconds, or refused by local policy (2/6).
    #[error("OPEN: unacceptable hold time {hold_time}s")]
    UnacceptableHoldTime {
        /// The hold time the peer proposed, in seconds.
        hold_time: u16,
    },
    /// OPEN: a capability we require is missing or one the peer requires is unsupported (2/7,
    /// RFC 5492). `capabilities` is the encoded capability list for the data field.
    #[error("OPEN: unsupported capability")]
    UnsupportedCapability {
        /// Encoded capabilities (code, length, value) for the NOTIFICATION data.
        capabilities: Vec<u8>,
    },
    /// OPEN: malformed body (optional parameter or capability overruns, short OPEN) (2/0).
    #[error("OPEN: malformed message: {reason}")]
    MalformedOpen {
        /// What was wrong.
        reason: &'static str,
    },
    /// UPDATE: lengths do not add up, or MP_REACH/MP_UNREACH appears twice (3/1).
    #[error("UPDATE: malformed attribute list: {reason}")]
    MalformedAttributeList {
        /// What was wrong.
        reason: &'static str,
    },
    /// UPDATE: a well-known (non-optional) attribute with a type code we do not know (3/2).
    #[error("UPDATE: unrecognized well-known attribute type {type_code}")]
    UnrecognizedWellKnownAttribute {
        /// The attribute type code.
        type_code: u8,
        /// The whole attribute (flags, type, length, value) for the NOTIFICATION data.
        attribute: Vec<u8>,
    },
    /// UPDATE: a mandatory well-known attribute is missing (3/3).
    #[error("UPDATE: missing well-known attribute type {type_code}")]
    MissingWellKnownAttribute {
        /// The missing attribute's type code.
        type_code: u8,
    },
    /// UPDATE: the Optional/Transitive flags conflict with the attribute's type (3/4).
    #[error("UPDATE: attribute type {type_code}: flags 0x{flags:02x} conflict with its type")]
    AttributeFlags {
        /// The attribute type code.
        type_code: u8,
        /// The flags octet as received.
        flags: u8,
        /// The whole attribute for the NOTIFICATION data.
        attribute: Vec<u8>,
    },
    /// UPDATE: an attribute's length is wrong for its type (3/5).
    #[error("UPDATE: attribute type {type_code}: bad length {length}")]
    AttributeLength {
        /// The attribute type code.
        type_code: u8,
        /// The length as received.
        length: usize,
        /// The whole attribute for the NOTIFICATION data.
        attribute: Vec<u8>,
    },
    /// UPDATE: ORIGIN value other than 0, 1, 2 (3/6).
    #[error("UPDATE: invalid ORIGIN value {value}")]
    InvalidOrigin {
        /// The value as received.
        value: u8,
        /// The whole attribute for the NOTIFICATION data.
        attribute: Vec<u8>,
    },
    /// UPDATE: NEXT_HOP is not a usable unicast address (3/8).
    #[error("UPDATE: invalid NEXT_HOP {next_hop}")]
    InvalidNextHop {
        /// The next hop as received.
        next_hop: Ipv4Addr,
        /// The whole attribute for the NOTIFICATION data.
        attribute: Vec<u8>,
    },
    /// UPDATE: a recognized optional attribute's value is malformed (3/9).
    #[error("UPDATE: optional attribute type {type_code}: {reason}")]
    OptionalAttribute {
        /// The attribute type code.
        type_code: u8,
        /// What was wrong.
        reason: &'static str,
        /// The whole attribute for the NOTIFICATION data.
        attribute: Vec<u8>,
    },
    /// UPDATE: syntactically wrong NLRI or withdrawn routes (3/10).
    #[error("UPDATE: invalid network field: {reason}")]
    InvalidNetworkField {
        /// What was wrong.
        reason: &'static str,
    },
    /// UPDATE: AS_PATH segment type unknown, zero-length, or overrunning (3/11).
    #[error("UPDATE: malformed AS_PATH: {reason}")]
    MalformedAsPath {
        /// What was wrong.
        reason: &'static str,
    },
    /// ROUTE-REFRESH with a length other than 4 octets of body (7/1, RFC 7313).
    #[error("ROUTE-REFRESH: invalid message length {length}")]
    RouteRefreshLength {
        /// The message length.
        length: u16,
        /// The complete message, for the NOTIFICATION data.
        message: Vec<u8>,
    },
}

impl DecodeError {
    /// The NOTIFICATION a speaker sends when this error resets the session.
    pub fn to_notification(&self) -> Notification {
        use DecodeError as E;
        let header = |s: MessageHeaderSubcode, data: Vec<u8>| {
            Notification::new(ErrorCode::MessageHeader, s as u8, data)
        };
        let open =
            |s: OpenSubcode, data: Vec<u8>| Notification::new(ErrorCode::Open, s as u8, data);
        let update =
            |s: UpdateSubcode, data: Vec<u8>| Notification::new(ErrorCode::Update, s as u8, data);
        match self {
            E::ConnectionNotSynchronized => {
                header(MessageHeaderSubcode::ConnectionNotSynchronized, vec![])
            }
            E::BadMessageLength { length } => header(
                MessageHeaderSubcode::BadMessageLength,
                length.to_be_bytes().to_vec(),
            ),
            E::BadMessageType { message_type } => {
                header(MessageHeaderSubcode::BadMessageType, vec![*message_type])
            }
            // RFC 4271 §6.2: data is the largest locally supported version below the bid one.
            E::UnsupportedVersion { .. } => open(
                OpenSubcode::UnsupportedVersionNumber,
                4u16.to_be_bytes().to_vec(),
            ),
            E::BadPeerAs { .. } => open(OpenSubcode::BadPeerAs, vec![]),
            E::BadBgpIdentifier { .. } => open(OpenSubcode::BadBgpIdentifier, vec![]),
            E::UnsupportedOptionalParameter { .. } => {
                open(OpenSubcode::UnsupportedOptionalParameter, vec![])
            }
            E::UnacceptableHoldTime { .. } => open(OpenSubcode::UnacceptableHoldTime, vec![]),
            E::UnsupportedCapability { capabilities } => {
                open(OpenSubcode::UnsupportedCapability, capabilities.clone())
            }
            E::MalformedOpen { .. } => open(OpenSubcode::Unspecific, vec![]),
            E::MalformedAttributeList { .. } => {
                update(UpdateSubcode::MalformedAttributeList, vec![])
            }
            E::UnrecognizedWellKnownAttribute { attribute, .. } => update(
                UpdateSubcode::UnrecognizedWellKnownAttribute,
                attribute.clone(),
            ),
            E::MissingWellKnownAttribute { type_code } => {
                update(UpdateSubcode::MissingWellKnownAttribute, vec![*type_code])
            }
            E::AttributeFlags { attribute, .. } => {
                update(UpdateSubcode::AttributeFlagsError, attribute.clone())
            }
            E::AttributeLength { attribute, .. } => {
                update(UpdateSubcode::AttributeLengthError, attribute.clone())
            }
            E::InvalidOrigin { attribute, .. } => {
                update(UpdateSubcode::InvalidOriginAttribute, attribute.clone())
            }
            E::InvalidNextHop { attribute, .. } => {
                update(UpdateSubcode::InvalidNextHopAttribute, attribute.clone())
            }
            E::OptionalAttribute { attribute, .. } => {
                update(UpdateSubcode::OptionalAttributeError, attribute.clone())
            }
            E::InvalidNetworkField { .. } => update(UpdateSubcode::InvalidNetworkField, vec![]),
            E::MalformedAsPath { .. } => update(UpdateSubcode::MalformedAsPath, vec![]),
            E::RouteRefreshLength { message, .. } => Notification::new(
                ErrorCode::RouteRefresh,
                RouteRefreshSubcode::InvalidMessageLength as u8,
                message.clone(),
            ),
        }
    }
}

/// A message that cannot be put on the wire as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message would exceed the maximum message size.
    #[error("{message}: encoded length {length} exceeds the maximum of {max} octets")]
    MessageTooLong {
        /// Which message.
        message: &'static str,
        /// The length it would have.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// OPEN with a 4-octet AS but no FourOctetAs capability carrying it.
    #[error("OPEN: AS {asn} needs the 4-octet AS capability with the same AS")]
    OpenAsNeedsCapability {
        /// The local AS.
        asn: u32,
    },
    /// A capability value longer than 255 octets.
    #[error("OPEN: capability {code} value of {length} octets exceeds 255")]
    CapabilityTooLong {
        /// Capability code.
        code: u8,
        /// Its value's length.
        length: usize,
    },
    /// A path attribute longer than 65535 octets.
    #[error("UPDATE: attribute type {type_code} of {length} octets exceeds 65535")]
    AttributeTooLong {
        /// Attribute type code.
        type_code: u8,
        /// Its value's length.
        length: usize,
    },
    /// An announced route given to the UPDATE writer before any attribute set.
    #[error("UPDATE: route {prefix} announced without path attributes")]
    MissingAttributes {
        /// The route, printed.
        prefix: String,
    },
    /// A prefix or next hop whose address family does not match the family it is sent in.
    #[error("UPDATE: {what} does not belong to address family {family}")]
    FamilyMismatch {
        /// The offending prefix or next hop, printed.
        what: String,
        /// The family, printed.
        family: String,
    },
}
