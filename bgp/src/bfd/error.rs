//! The BFD error enum: every way a BFD packet can be discarded, a session request refused, or a
//! socket operation fail. Discard reasons carry only numbers so building one never allocates.

use std::net::{IpAddr, SocketAddr};

use super::session::SessionKey;

/// Everything that can go wrong in BFD: packet discards (RFC 5880 §6.8.6 reception checks and
/// authentication), bad session requests and socket errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The datagram is shorter than the fixed 24-byte BFD control header (or our echo header).
    #[error("BFD packet truncated: {len} bytes received, at least {need} needed")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Version field is not 1.
    #[error("BFD packet version {0} not supported (only version 1)")]
    Version(u8),
    /// The Length field is smaller than the minimum or larger than the datagram.
    #[error(
        "BFD packet Length field {field} invalid for a {datagram}-byte datagram (minimum {min})"
    )]
    Length {
        /// Length field value.
        field: u8,
        /// Datagram size.
        datagram: usize,
        /// Minimum allowed by the A bit.
        min: u8,
    },
    /// Detect Mult is zero.
    #[error("BFD packet Detect Mult is zero")]
    ZeroDetectMult,
    /// The Multipoint bit is set (RFC 5880 reserves it; must be zero).
    #[error("BFD packet has the Multipoint (M) bit set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("BFD packet My Discriminator is zero")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the sender's state is neither Down nor AdminDown.
    #[error("BFD packet Your Discriminator is zero in state {0}")]
    ZeroYourDiscriminator(super::packet::State),
    /// Both Poll and Final are set (RFC 5880 §6.5 forbids it).
    #[error("BFD packet has both Poll and Final bits set")]
    PollAndFinal,
    /// The authentication section is malformed (length, type or key length).
    #[error("BFD authentication section malformed: type {auth_type}, length {len}: {reason}")]
    AuthMalformed {
        /// Auth Type field.
        auth_type: u8,
        /// Auth Len field.
        len: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// Authentication present but not configured, or configured but absent, or another type/key id.
    #[error("BFD authentication mismatch: {0}")]
    AuthMismatch(&'static str),
    /// The password or digest does not verify.
    #[error("BFD authentication failed: {0}")]
    AuthFailed(&'static str),
    /// The sequence number is outside the accepted window (replay protection).
    #[error(
        "BFD authentication sequence number {got} outside the accepted window from {expected_from}"
    )]
    AuthSequence {
        /// Received sequence number.
        got: u32,
        /// Lowest acceptable sequence number.
        expected_from: u32,
    },
    /// No session has this Your Discriminator.
    #[error("no BFD session with local discriminator {0}")]
    UnknownDiscriminator(u32),
    /// Your Discriminator is zero and no session is configured for this address pair.
    #[error("no BFD session configured for peer {peer} local {local}")]
    NoSessionForPeer {
        /// Source address of the packet.
        peer: SocketAddr,
        /// Destination address of the packet.
        local: IpAddr,
    },
    /// The packet arrived for a session with another key (address, VRF or hop mode mismatch).
    #[error("BFD packet from {peer} does not match its session's addresses or hop mode")]
    WrongSession {
        /// Source address of the packet.
        peer: SocketAddr,
    },
    /// TTL / hop limit check failed (RFC 5881 §5: 255 single-hop; RFC 5883: minimum TTL).
    #[error("BFD packet from {peer} has TTL {ttl}, at least {min} required")]
    Ttl {
        /// Source address of the packet.
        peer: SocketAddr,
        /// Received TTL.
        ttl: u8,
        /// Required minimum.
        min: u8,
    },
    /// The packet is accepted but the local session is AdminDown, so it is ignored.
    #[error("BFD session is administratively down; packet ignored")]
    AdminDown,
    /// The echo packet is not in metalroute's echo format.
    #[error("BFD echo packet is not in metalroute's format")]
    EchoFormat,
    /// A session with this key already exists.
    #[error("BFD session {0} already exists")]
    SessionExists(SessionKey),
    /// No session with this key exists.
    #[error("BFD session {0} does not exist")]
    NoSuchSession(SessionKey),
    /// A parameter value is out of range.
    #[error("BFD parameter {field} = {value} invalid: {reason}")]
    Param {
        /// Parameter (BFDProfile field name).
        field: &'static str,
        /// Offending value, as text.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// The key is inconsistent (e.g. peer and local address of different families).
    #[error("BFD session key {key} invalid: {reason}")]
    Key {
        /// The key.
        key: SessionKey,
        /// Why.
        reason: &'static str,
    },
    /// Every source port in 49152–65535 is in use.
    #[error("no free BFD source port in 49152-65535")]
    NoSourcePort,
    /// The operating system's random generator failed.
    #[error("operating system random generator failed: {0}")]
    Random(String),
    /// A socket operation failed.
    #[error("BFD socket {what} ({addr}): {source}")]
    Socket {
        /// Operation (e.g. "bind", "setsockopt IP_RECVTTL").
        what: &'static str,
        /// Address or device involved, as text.
        addr: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The transport task has stopped.
    #[error("BFD transport task has stopped")]
    Stopped,
}
