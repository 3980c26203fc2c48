//! NOTIFICATION messages (RFC 4271 §4.5): error codes and every registered subcode, including
//! the Cease subcodes of RFC 4486, RFC 8538 and RFC 9384 and the shutdown communication of
//! RFC 9003.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::reader::Reader;
use crate::error::DecodeError;

/// NOTIFICATION error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader,
    /// 2: OPEN Message Error.
    Open,
    /// 3: UPDATE Message Error.
    Update,
    /// 4: Hold Timer Expired.
    HoldTimerExpired,
    /// 5: Finite State Machine Error (RFC 6608 subcodes).
    Fsm,
    /// 6: Cease (RFC 4486 subcodes).
    Cease,
    /// 7: ROUTE-REFRESH Message Error (RFC 7313).
    RouteRefresh,
    /// 8: Send Hold Timer Expired (RFC 9687).
    SendHoldTimerExpired,
    /// Any other code, kept as received.
    Other(u8),
}

impl ErrorCode {
    /// The code octet.
    pub fn to_u8(self) -> u8 {
        match self {
            ErrorCode::MessageHeader => 1,
            ErrorCode::Open => 2,
            ErrorCode::Update => 3,
            ErrorCode::HoldTimerExpired => 4,
            ErrorCode::Fsm => 5,
            ErrorCode::Cease => 6,
            ErrorCode::RouteRefresh => 7,
            ErrorCode::SendHoldTimerExpired => 8,
            ErrorCode::Other(c) => c,
        }
    }

    /// The code for an octet (unknown codes become `Other`).
    pub fn from_u8(code: u8) -> Self {
        match code {
            1 => ErrorCode::MessageHeader,
            2 => ErrorCode::Open,
            3 => ErrorCode::Update,
            4 => ErrorCode::HoldTimerExpired,
            5 => ErrorCode::Fsm,
            6 => ErrorCode::Cease,
            7 => ErrorCode::RouteRefresh,
            8 => ErrorCode::SendHoldTimerExpired,
            c => ErrorCode::Other(c),
        }
    }
}

/// Declares a subcode enum with its octet values, names and conversions.
macro_rules! subcodes {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $val:literal => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name { $($(#[$vm])* $var = $val,)* }
        impl $name {
            /// The subcode for an octet, if it is a registered one.
            pub fn from_u8(v: u8) -> Option<Self> {
                match v { $($val => Some(Self::$var),)* _ => None }
            }
            /// The registered name of the subcode.
            pub fn name(self) -> &'static str {
                match self { $(Self::$var => $text,)* }
            }
        }
    };
}

subcodes!(
    /// Message Header Error subcodes (RFC 4271 §6.1).
    MessageHeaderSubcode {
        /// Marker not all ones.
        ConnectionNotSynchronized = 1 => "Connection Not Synchronized",
        /// Length out of range.
        BadMessageLength = 2 => "Bad Message Length",
        /// Unknown message type.
        BadMessageType = 3 => "Bad Message Type",
    }
);

subcodes!(
    /// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492, RFC 9234).
    OpenSubcode {
        /// No specific subcode.
        Unspecific = 0 => "Unspecific",
        /// Version is not 4.
        UnsupportedVersionNumber = 1 => "Unsupported Version Number",
        /// Peer AS not acceptable.
        BadPeerAs = 2 => "Bad Peer AS",
        /// BGP identifier not acceptable.
        BadBgpIdentifier = 3 => "Bad BGP Identifier",
        /// Optional parameter not understood.
        UnsupportedOptionalParameter = 4 => "Unsupported Optional Parameter",
        /// Hold time 1 or 2, or refused.
        UnacceptableHoldTime = 6 => "Unacceptable Hold Time",
        /// Capability required/unsupported (RFC 5492).
        UnsupportedCapability = 7 => "Unsupported Capability",
        /// BGP role mismatch (RFC 9234).
        RoleMismatch = 11 => "Role Mismatch",
    }
);

subcodes!(
    /// UPDATE Message Error subcodes (RFC 4271 §6.3).
    UpdateSubcode {
        /// Lengths inconsistent or duplicate MP attributes.
        MalformedAttributeList = 1 => "Malformed Attribute List",
        /// Unknown attribute with the Optional bit clear.
        UnrecognizedWellKnownAttribute = 2 => "Unrecognized Well-known Attribute",
        /// Mandatory attribute absent.
        MissingWellKnownAttribute = 3 => "Missing Well-known Attribute",
        /// Flags conflict with the type.
        AttributeFlagsError = 4 => "Attribute Flags Error",
        /// Length wrong for the type.
        AttributeLengthError = 5 => "Attribute Length Error",
        /// ORIGIN value undefined.
        InvalidOriginAttribute = 6 => "Invalid ORIGIN Attribute",
        /// NEXT_HOP not valid.
        InvalidNextHopAttribute = 8 => "Invalid NEXT_HOP Attribute",
        /// Optional attribute value malformed.
        OptionalAttributeError = 9 => "Optional Attribute Error",
        /// NLRI syntactically wrong.
        InvalidNetworkField = 10 => "Invalid Network Field",
        /// AS_PATH malformed.
        MalformedAsPath = 11 => "Malformed AS_PATH",
    }
);

subcodes!(
    /// Finite State Machine Error subcodes (RFC 6608).
    FsmSubcode {
        /// No specific subcode.
        Unspecified = 0 => "Unspecified Error",
        /// Unexpected message in OpenSent.
        UnexpectedMessageInOpenSent = 1 => "Receive Unexpected Message in OpenSent State",
        /// Unexpected message in OpenConfirm.
        UnexpectedMessageInOpenConfirm = 2 => "Receive Unexpected Message in OpenConfirm State",
        /// Unexpected message in Established.
        UnexpectedMessageInEstablished = 3 => "Receive Unexpected Message in Established State",
    }
);

subcodes!(
    /// Cease subcodes (RFC 4486, RFC 8538, RFC 9384).
    CeaseSubcode {
        /// Maximum number of prefixes reached.
        MaxPrefixesReached = 1 => "Maximum Number of Prefixes Reached",
        /// Administrative shutdown (may carry an RFC 9003 communication).
        AdministrativeShutdown = 2 => "Administrative Shutdown",
        /// Peer de-configured.
        PeerDeconfigured = 3 => "Peer De-configured",
        /// Administrative reset (may carry an RFC 9003 communication).
        AdministrativeReset = 4 => "Administrative Reset",
        /// Connection rejected.
        ConnectionRejected = 5 => "Connection Rejected",
        /// Other configuration change.
        OtherConfigurationChange = 6 => "Other Configuration Change",
        /// Connection collision resolution.
        ConnectionCollisionResolution = 7 => "Connection Collision Resolution",
        /// Out of resources.
        OutOfResources = 8 => "Out of Resources",
        /// Hard reset (RFC 8538).
        HardReset = 9 => "Hard Reset",
        /// BFD down (RFC 9384).
        BfdDown = 10 => "BFD Down",
    }
);

subcodes!(
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313).
    RouteRefreshSubcode {
        /// Body is not 4 octets.
        InvalidMessageLength = 1 => "Invalid Message Length",
    }
);

/// Longest RFC 9003 shutdown communication, in octets of UTF-8.
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code.
    pub code: ErrorCode,
    /// Error subcode (meaning depends on `code`; see the `*Subcode` enums).
    pub subcode: u8,
    /// Data field.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with the given code, subcode and data.
    pub fn new(code: ErrorCode, subcode: u8, data: Vec<u8>) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// Cease with a subcode. For Administrative Shutdown and Administrative Reset a `reason`
    /// becomes the RFC 9003 shutdown communication (truncated to 255 octets at a character
    /// boundary); other subcodes ignore it.
    pub fn cease(subcode: CeaseSubcode, reason: Option<&str>) -> Self {
        let mut data = Vec::new();
        if let (
            Some(reason),
            CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset,
        ) = (reason, subcode)
        {
            let mut end = reason.len().min(MAX_SHUTDOWN_COMMUNICATION);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            // `end` <= 255, so it fits the length octet.
            data.push(end as u8);
            data.extend_from_slice(&reason.as_bytes()[..end]);
        }
        Notification::new(ErrorCode::Cease, subcode as u8, data)
    }

    /// Hold Timer Expired.
    pub fn hold_timer_expired() -> Self {
        Notification::new(ErrorCode::HoldTimerExpired, 0, Vec::new())
    }

    /// Send Hold Timer Expired (RFC 9687).
    pub fn send_hold_timer_expired() -> Self {
        Notification::new(ErrorCode::SendHoldTimerExpired, 0, Vec::new())
    }

    /// Finite State Machine Error with an RFC 6608 subcode (the data field stays empty).
    pub fn fsm_error(subcode: FsmSubcode) -> Self {
        Notification::new(ErrorCode::Fsm, subcode as u8, Vec::new())
    }

    /// OPEN Message Error with a subcode and data.
    pub fn open_error(subcode: OpenSubcode, data: Vec<u8>) -> Self {
        Notification::new(ErrorCode::Open, subcode as u8, data)
    }

    /// The Cease subcode, when this is a Cease with a registered subcode.
    pub fn cease_subcode(&self) -> Option<CeaseSubcode> {
        match self.code {
            ErrorCode::Cease => CeaseSubcode::from_u8(self.subcode),
            _ => None,
        }
    }

    /// The RFC 9003 shutdown communication of an Administrative Shutdown/Reset, if the data
    /// field carries a well-formed one (length octet, then that many octets of UTF-8).
    pub fn shutdown_communication(&self) -> Option<String> {
        match self.cease_subcode()? {
            CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset => {}
            _ => return None,
        }
        let mut r = Reader::new(&self.data);
        let len = r.u8().ok()?;
        let text = r.take(len as usize).ok()?;
        String::from_utf8(text.to_vec()).ok()
    }

    /// The subcode's registered name, if known.
    pub fn subcode_name(&self) -> Option<&'static str> {
        match self.code {
            ErrorCode::MessageHeader => {
                MessageHeaderSubcode::from_u8(self.subcode).map(|s| s.name())
            }
            ErrorCode::Open => OpenSubcode::from_u8(self.subcode).map(|s| s.name()),
            ErrorCode::Update => UpdateSubcode::from_u8(self.subcode).map(|s| s.name()),
            ErrorCode::Fsm => FsmSubcode::from_u8(self.subcode).map(|s| s.name()),
            ErrorCode::Cease => CeaseSubcode::from_u8(self.subcode).map(|s| s.name()),
            ErrorCode::RouteRefresh => RouteRefreshSubcode::from_u8(self.subcode).map(|s| s.name()),
            _ => None,
        }
    }

    /// Decodes a NOTIFICATION body (after the 19-octet header).
    pub(crate) fn decode_body(body: &[u8], length: u16) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let code = r
            .u8()
            .map_err(|_| DecodeError::BadMessageLength { length })?;
        let subcode = r
            .u8()
            .map_err(|_| DecodeError::BadMessageLength { length })?;
        Ok(Notification::new(
            ErrorCode::from_u8(code),
            subcode,
            r.rest().to_vec(),
        ))
    }

    /// Appends the body (code, subcode, data).
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.code.to_u8());
        out.put_u8(self.subcode);
        out.put_slice(&self.data);
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::MessageHeader => f.write_str("Message Header Error"),
            ErrorCode::Open => f.write_str("OPEN Message Error"),
            ErrorCode::Update => f.write_str("UPDATE Message Error"),
            ErrorCode::HoldTimerExpired => f.write_str("Hold Timer Expired"),
            ErrorCode::Fsm => f.write_str("Finite State Machine Error"),
            ErrorCode::Cease => f.write_str("Cease"),
            ErrorCode::RouteRefresh => f.write_str("ROUTE-REFRESH Message Error"),
            ErrorCode::SendHoldTimerExpired => f.write_str("Send Hold Timer Expired"),
            ErrorCode::Other(c) => write!(f, "error code {c}"),
        }
    }
}

impl fmt::Display for Notification {
    /// `Cease/Administrative Shutdown ("maintenance")`, `UPDATE Message Error/subcode 42`...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        match self.subcode_name() {
            Some(name) => write!(f, "/{name}")?,
            None if self.subcode != 0 => write!(f, "/subcode {}", self.subcode)?,
            None => {}
        }
        if let Some(text) = self.shutdown_communication() {
            write!(f, " ({text:?})")?;
        } else if !self.data.is_empty() {
            write!(f, " data ")?;
            for b in self.data.iter().take(32) {
                write!(f, "{b:02x}")?;
            }
            if self.data.len() > 32 {
                write!(f, "…")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_communication_round_trips_and_truncates() {
        let n = Notification::cease(CeaseSubcode::AdministrativeShutdown, Some("maintenance"));
        assert_eq!(n.data[0], 11);
        assert_eq!(n.shutdown_communication().as_deref(), Some("maintenance"));
        assert_eq!(
            n.to_string(),
            "Cease/Administrative Shutdown (\"maintenance\")"
        );
        let long = "é".repeat(200); // 400 octets
        let n = Notification::cease(CeaseSubcode::AdministrativeReset, Some(&long));
        assert_eq!(n.data[0], 254); // 127 whole characters of 2 octets
        assert_eq!(n.shutdown_communication().unwrap().chars().count(), 127);
        let n = Notification::cease(CeaseSubcode::PeerDeconfigured, Some("ignored"));
        assert!(n.data.is_empty());
    }

    #[test]
    fn every_cease_subcode_is_registered() {
        for v in 1..=10u8 {
            let s = CeaseSubcode::from_u8(v).unwrap();
            assert_eq!(s as u8, v);
        }
        assert_eq!(CeaseSubcode::from_u8(11), None);
        assert_eq!(CeaseSubcode::BfdDown.name(), "BFD Down");
    }
}
