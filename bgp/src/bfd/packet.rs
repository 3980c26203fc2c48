//! BFD version 1 control packets (RFC 5880 §4): the owned representation [`ControlPacket`], checked
//! decoding with the stateless reception checks of §6.8.6, encoding into a fixed stack buffer, and
//! the authentication section (§4.2–§4.4, §6.7): simple password, keyed / meticulous keyed MD5 and
//! keyed / meticulous keyed SHA1, parsed, verified and generated. Nothing here allocates.

use std::fmt;
use std::time::Duration;

use md5::{Digest as _, Md5};
use sha1::Sha1;

use super::Error;

/// Length of the mandatory section of a control packet.
pub const HEADER_LEN: usize = 24;
/// Largest control packet we build or accept: header plus the largest (SHA1) auth section.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + 28;
/// UDP destination port of single-hop control packets (RFC 5881).
pub const PORT_SINGLE_HOP: u16 = 3784;
/// UDP destination port of echo packets (RFC 5881).
pub const PORT_ECHO: u16 = 3785;
/// UDP destination port of multihop control packets (RFC 5883).
pub const PORT_MULTI_HOP: u16 = 4784;

/// Session state as carried in the Sta field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: administratively down.
    AdminDown,
    /// 1: down.
    Down,
    /// 2: init.
    Init,
    /// 3: up.
    Up,
}

impl State {
    fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// Diagnostic code (RFC 5880 §4.1): why the sender's session last changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    /// 0.
    NoDiagnostic,
    /// 1.
    ControlDetectionTimeExpired,
    /// 2.
    EchoFunctionFailed,
    /// 3.
    NeighborSignaledSessionDown,
    /// 4.
    ForwardingPlaneReset,
    /// 5.
    PathDown,
    /// 6.
    ConcatenatedPathDown,
    /// 7.
    AdministrativelyDown,
    /// 8.
    ReverseConcatenatedPathDown,
    /// 9–31: reserved values, kept as received.
    Reserved(u8),
}

impl Diagnostic {
    /// Decodes the 5-bit field.
    pub fn from_code(code: u8) -> Self {
        match code & 0x1f {
            0 => Self::NoDiagnostic,
            1 => Self::ControlDetectionTimeExpired,
            2 => Self::EchoFunctionFailed,
            3 => Self::NeighborSignaledSessionDown,
            4 => Self::ForwardingPlaneReset,
            5 => Self::PathDown,
            6 => Self::ConcatenatedPathDown,
            7 => Self::AdministrativelyDown,
            8 => Self::ReverseConcatenatedPathDown,
            n => Self::Reserved(n),
        }
    }
    /// The 5-bit wire value.
    pub fn code(self) -> u8 {
        match self {
            Self::NoDiagnostic => 0,
            Self::ControlDetectionTimeExpired => 1,
            Self::EchoFunctionFailed => 2,
            Self::NeighborSignaledSessionDown => 3,
            Self::ForwardingPlaneReset => 4,
            Self::PathDown => 5,
            Self::ConcatenatedPathDown => 6,
            Self::AdministrativelyDown => 7,
            Self::ReverseConcatenatedPathDown => 8,
            Self::Reserved(n) => n & 0x1f,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDiagnostic => f.write_str("no diagnostic"),
            Self::ControlDetectionTimeExpired => f.write_str("control detection time expired"),
            Self::EchoFunctionFailed => f.write_str("echo function failed"),
            Self::NeighborSignaledSessionDown => f.write_str("neighbor signaled session down"),
            Self::ForwardingPlaneReset => f.write_str("forwarding plane reset"),
            Self::PathDown => f.write_str("path down"),
            Self::ConcatenatedPathDown => f.write_str("concatenated path down"),
            Self::AdministrativelyDown => f.write_str("administratively down"),
            Self::ReverseConcatenatedPathDown => f.write_str("reverse concatenated path down"),
            Self::Reserved(n) => write!(f, "reserved diagnostic {n}"),
        }
    }
}

/// Authentication type (RFC 5880 §4.1 Auth Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 1: simple password.
    SimplePassword,
    /// 2: keyed MD5.
    KeyedMd5,
    /// 3: meticulous keyed MD5.
    MeticulousKeyedMd5,
    /// 4: keyed SHA1.
    KeyedSha1,
    /// 5: meticulous keyed SHA1.
    MeticulousKeyedSha1,
}

impl AuthType {
    /// Decodes the Auth Type byte; `None` for reserved values.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::SimplePassword,
            2 => Self::KeyedMd5,
            3 => Self::MeticulousKeyedMd5,
            4 => Self::KeyedSha1,
            5 => Self::MeticulousKeyedSha1,
            _ => return None,
        })
    }
    /// The Auth Type byte.
    pub fn code(self) -> u8 {
        match self {
            Self::SimplePassword => 1,
            Self::KeyedMd5 => 2,
            Self::MeticulousKeyedMd5 => 3,
            Self::KeyedSha1 => 4,
            Self::MeticulousKeyedSha1 => 5,
        }
    }
    /// Whether the sequence number must increase on every packet (meticulous variants).
    pub fn is_meticulous(self) -> bool {
        matches!(self, Self::MeticulousKeyedMd5 | Self::MeticulousKeyedSha1)
    }
    /// Length of the digest (0 for simple password).
    fn digest_len(self) -> usize {
        match self {
            Self::SimplePassword => 0,
            Self::KeyedMd5 | Self::MeticulousKeyedMd5 => 16,
            Self::KeyedSha1 | Self::MeticulousKeyedSha1 => 20,
        }
    }
    /// Auth Len of the section for digest types (§4.3, §4.4).
    fn digest_section_len(self) -> usize {
        8 + self.digest_len()
    }
}

/// The authentication section of a received packet, kept as fixed arrays (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSection {
    /// Simple password (§4.2): 1–16 bytes.
    Password {
        /// Auth Key ID.
        key_id: u8,
        /// Password bytes (first `len` are valid).
        password: [u8; 16],
        /// Password length, 1..=16.
        len: u8,
    },
    /// Keyed / meticulous keyed MD5 or SHA1 (§4.3, §4.4).
    Digest {
        /// MD5/SHA1, keyed or meticulous.
        auth_type: AuthType,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence number.
        sequence: u32,
        /// Digest (first 16 bytes for MD5, 20 for SHA1).
        digest: [u8; 20],
    },
}

impl AuthSection {
    /// The section's Auth Type.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Self::Password { .. } => AuthType::SimplePassword,
            Self::Digest { auth_type, .. } => *auth_type,
        }
    }
    /// The section's Auth Key ID.
    pub fn key_id(&self) -> u8 {
        match self {
            Self::Password { key_id, .. } | Self::Digest { key_id, .. } => *key_id,
        }
    }
    /// The sequence number (digest types only).
    pub fn sequence(&self) -> Option<u32> {
        match self {
            Self::Password { .. } => None,
            Self::Digest { sequence, .. } => Some(*sequence),
        }
    }
}

/// A configured authentication key: type, key id and secret (1–16 bytes for password and MD5,
/// 1–20 for SHA1).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    auth_type: AuthType,
    key_id: u8,
    secret: [u8; 20],
    len: u8,
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl AuthKey {
    /// Builds a key; the secret must be 1–16 bytes (password, MD5) or 1–20 bytes (SHA1).
    pub fn new(auth_type: AuthType, key_id: u8, secret: &[u8]) -> Result<Self, Error> {
        let max = match auth_type {
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => 20,
            _ => 16,
        };
        if secret.is_empty() || secret.len() > max {
            return Err(Error::Param {
                field: "auth.secret",
                value: format!("{} bytes", secret.len()),
                reason: "must be 1-16 bytes (password, MD5) or 1-20 bytes (SHA1)",
            });
        }
        let mut s = [0u8; 20];
        s[..secret.len()].copy_from_slice(secret);
        Ok(Self {
            auth_type,
            key_id,
            secret: s,
            len: secret.len() as u8, // at most 20, checked above
        })
    }
    /// The authentication type.
    pub fn auth_type(&self) -> AuthType {
        self.auth_type
    }
    /// The key id.
    pub fn key_id(&self) -> u8 {
        self.key_id
    }
    fn secret(&self) -> &[u8] {
        &self.secret[..self.len as usize]
    }
}

/// An owned BFD control packet (RFC 5880 §4.1). `multipoint` does not exist here: decoding rejects
/// it and encoding always writes zero. The A bit is `auth.is_some()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPacket {
    /// Diagnostic code.
    pub diag: Diagnostic,
    /// Sender's session state.
    pub state: State,
    /// Poll (P) bit.
    pub poll: bool,
    /// Final (F) bit.
    pub final_: bool,
    /// Control Plane Independent (C) bit.
    pub cpi: bool,
    /// Demand (D) bit.
    pub demand: bool,
    /// Detect Mult, never zero after decoding.
    pub detect_mult: u8,
    /// My Discriminator, never zero after decoding.
    pub my_discriminator: u32,
    /// Your Discriminator (zero while the sender has not learnt ours).
    pub your_discriminator: u32,
    /// Desired Min TX Interval (microsecond resolution on the wire).
    pub desired_min_tx: Duration,
    /// Required Min RX Interval.
    pub required_min_rx: Duration,
    /// Required Min Echo RX Interval.
    pub required_min_echo_rx: Duration,
    /// Authentication section, when the A bit is set.
    pub auth: Option<AuthSection>,
}

/// An encoded packet in a fixed buffer: control packets and echo packets both fit.
#[derive(Clone, Copy)]
pub struct PacketBuf {
    bytes: [u8; MAX_PACKET_LEN],
    len: u8,
}

impl Default for PacketBuf {
    fn default() -> Self {
        Self {
            bytes: [0; MAX_PACKET_LEN],
            len: 0,
        }
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketBuf({:02x?})", self.as_slice())
    }
}

impl PacketBuf {
    /// The encoded bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn be32(b: &[u8], at: usize) -> u32 {
    // Callers only pass offsets inside the checked length.
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl ControlPacket {
    /// Decodes a datagram with the stateless reception checks of RFC 5880 §6.8.6: version 1,
    /// Length within the datagram and at least 24 (26 with A), Detect Mult ≠ 0, M = 0,
    /// My Discriminator ≠ 0, Your Discriminator ≠ 0 unless the sender is Down/AdminDown, not both P
    /// and F, and a well-formed authentication section exactly when A is set. Bytes past Length are
    /// ignored. Never panics.
    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated {
                len: buf.len(),
                need: HEADER_LEN,
            });
        }
        let version = buf[0] >> 5;
        if version != 1 {
            return Err(Error::Version(version));
        }
        let flags = buf[1];
        let auth_bit = flags & 0x04 != 0;
        let length = buf[3];
        let min = if auth_bit { 26 } else { 24 };
        if length < min || length as usize > buf.len() {
            return Err(Error::Length {
                field: length,
                datagram: buf.len(),
                min,
            });
        }
        let pkt = &buf[..length as usize];
        let state = State::from_bits(flags >> 6);
        let poll = flags & 0x20 != 0;
        let final_ = flags & 0x10 != 0;
        if flags & 0x01 != 0 {
            return Err(Error::Multipoint);
        }
        if poll && final_ {
            return Err(Error::PollAndFinal);
        }
        let detect_mult = pkt[2];
        if detect_mult == 0 {
            return Err(Error::ZeroDetectMult);
        }
        let my_discriminator = be32(pkt, 4);
        if my_discriminator == 0 {
            return Err(Error::ZeroMyDiscriminator);
        }
        let your_discriminator = be32(pkt, 8);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(Error::ZeroYourDiscriminator(state));
        }
        let auth = if auth_bit {
            Some(decode_auth(&pkt[HEADER_LEN..])?)
        } else {
            None
        };
        Ok(Self {
            diag: Diagnostic::from_code(pkt[0]),
            state,
            poll,
            final_,
            cpi: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx: Duration::from_micros(be32(pkt, 12).into()),
            required_min_rx: Duration::from_micros(be32(pkt, 16).into()),
            required_min_echo_rx: Duration::from_micros(be32(pkt, 20).into()),
            auth,
        })
    }

    /// Encodes the mandatory section into `out[..24]` with the given Length and A bit.
    fn encode_header(&self, out: &mut [u8; MAX_PACKET_LEN], length: u8, auth: bool) {
        out[0] = (1 << 5) | self.diag.code();
        out[1] = (self.state.bits() << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(auth) << 2)
            | (u8::from(self.demand) << 1);
        out[2] = self.detect_mult;
        out[3] = length;
        out[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        out[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        out[12..16].copy_from_slice(&micros(self.desired_min_tx).to_be_bytes());
        out[16..20].copy_from_slice(&micros(self.required_min_rx).to_be_bytes());
        out[20..24].copy_from_slice(&micros(self.required_min_echo_rx).to_be_bytes());
    }

    /// Encodes the packet as it is, including `self.auth` verbatim (no digest is computed; use
    /// [`ControlPacket::encode_signed`] to authenticate).
    pub fn encode(&self, buf: &mut PacketBuf) {
        let mut len = HEADER_LEN;
        if let Some(a) = &self.auth {
            len += write_auth(&mut buf.bytes[HEADER_LEN..], a);
        }
        self.encode_header(&mut buf.bytes, len as u8, self.auth.is_some());
        buf.len = len as u8; // at most 52
    }

    /// Encodes the packet authenticated with `key` (ignoring `self.auth`): the password, or the
    /// MD5/SHA1 digest over the whole packet with the key in the digest field (§6.7.3, §6.7.4),
    /// using `sequence` as the sequence number.
    pub fn encode_signed(&self, key: &AuthKey, sequence: u32, buf: &mut PacketBuf) {
        let section = match key.auth_type {
            AuthType::SimplePassword => {
                let mut password = [0u8; 16];
                let n = key.secret().len().min(16);
                password[..n].copy_from_slice(&key.secret()[..n]);
                AuthSection::Password {
                    key_id: key.key_id,
                    password,
                    len: n as u8,
                }
            }
            t => {
                // The digest field holds the key, zero-padded, while the hash is computed.
                let mut digest = [0u8; 20];
                let n = key.secret().len().min(t.digest_len());
                digest[..n].copy_from_slice(&key.secret()[..n]);
                AuthSection::Digest {
                    auth_type: t,
                    key_id: key.key_id,
                    sequence,
                    digest,
                }
            }
        };
        let mut len = HEADER_LEN;
        len += write_auth(&mut buf.bytes[HEADER_LEN..], &section);
        self.encode_header(&mut buf.bytes, len as u8, true);
        buf.len = len as u8;
        if key.auth_type != AuthType::SimplePassword {
            let dl = key.auth_type.digest_len();
            let mut out = [0u8; 20];
            hash(key.auth_type, &buf.bytes[..len], &mut out);
            buf.bytes[len - dl..len].copy_from_slice(&out[..dl]);
        }
    }
}

fn hash(t: AuthType, data: &[u8], out: &mut [u8; 20]) {
    match t {
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
            let d = Md5::digest(data);
            out[..16].copy_from_slice(&d);
        }
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
            let d = Sha1::digest(data);
            out.copy_from_slice(&d);
        }
        AuthType::SimplePassword => {}
    }
}

/// Writes an auth section at the start of `out`; returns its length.
fn write_auth(out: &mut [u8], a: &AuthSection) -> usize {
    match a {
        AuthSection::Password {
            key_id,
            password,
            len,
        } => {
            let n = (*len as usize).clamp(1, 16);
            out[0] = AuthType::SimplePassword.code();
            out[1] = (3 + n) as u8;
            out[2] = *key_id;
            out[3..3 + n].copy_from_slice(&password[..n]);
            3 + n
        }
        AuthSection::Digest {
            auth_type,
            key_id,
            sequence,
            digest,
        } => {
            let dl = auth_type.digest_len();
            let l = auth_type.digest_section_len();
            out[0] = auth_type.code();
            out[1] = l as u8;
            out[2] = *key_id;
            out[3] = 0;
            out[4..8].copy_from_slice(&sequence.to_be_bytes());
            out[8..8 + dl].copy_from_slice(&digest[..dl]);
            l
        }
    }
}

fn decode_auth(sec: &[u8]) -> Result<AuthSection, Error> {
    // Length >= 26 was checked, so at least two bytes are here.
    let (t, len) = (sec[0], sec[1]);
    let bad = |reason| Error::AuthMalformed {
        auth_type: t,
        len,
        reason,
    };
    if len as usize != sec.len() {
        return Err(bad("Auth Len does not match the packet's Length field"));
    }
    let auth_type = AuthType::from_code(t).ok_or_else(|| bad("reserved Auth Type"))?;
    match auth_type {
        AuthType::SimplePassword => {
            if !(4..=19).contains(&len) {
                return Err(bad("simple password must be 1-16 bytes"));
            }
            let n = len as usize - 3;
            let mut password = [0u8; 16];
            password[..n].copy_from_slice(&sec[3..3 + n]);
            Ok(AuthSection::Password {
                key_id: sec[2],
                password,
                len: n as u8,
            })
        }
        t => {
            if len as usize != t.digest_section_len() {
                return Err(bad("digest section has the wrong length for its type"));
            }
            let dl = t.digest_len();
            let mut digest = [0u8; 20];
            digest[..dl].copy_from_slice(&sec[8..8 + dl]);
            Ok(AuthSection::Digest {
                auth_type: t,
                key_id: sec[2],
                sequence: be32(sec, 4),
                digest,
            })
        }
    }
}

/// Verifies the authentication of a decoded packet against `key`: same type and key id, and the
/// password or digest matches (recomputed over `raw`, the datagram the packet was decoded from).
/// Sequence-number windows are the session's business.
pub fn verify_auth(pkt: &ControlPacket, raw: &[u8], key: &AuthKey) -> Result<(), Error> {
    let Some(sec) = &pkt.auth else {
        return Err(Error::AuthMismatch(
            "authentication configured but A bit clear",
        ));
    };
    if sec.auth_type() != key.auth_type {
        return Err(Error::AuthMismatch(
            "Auth Type differs from the configured one",
        ));
    }
    if sec.key_id() != key.key_id {
        return Err(Error::AuthMismatch(
            "Auth Key ID differs from the configured one",
        ));
    }
    match sec {
        AuthSection::Password { password, len, .. } => {
            if &password[..*len as usize] == key.secret() {
                Ok(())
            } else {
                Err(Error::AuthFailed("wrong password"))
            }
        }
        AuthSection::Digest {
            auth_type, digest, ..
        } => {
            let dl = auth_type.digest_len();
            let length = raw.get(3).copied().unwrap_or(0) as usize;
            if length > MAX_PACKET_LEN || length > raw.len() || length < HEADER_LEN + dl {
                return Err(Error::AuthFailed("packet length unusable for digest"));
            }
            let mut copy = [0u8; MAX_PACKET_LEN];
            copy[..length].copy_from_slice(&raw[..length]);
            let field = &mut copy[length - dl..length];
            field.fill(0);
            let n = key.secret().len().min(dl);
            field[..n].copy_from_slice(&key.secret()[..n]);
            let mut out = [0u8; 20];
            hash(*auth_type, &copy[..length], &mut out);
            // Constant-time comparison: fold the differences.
            let diff = out[..dl]
                .iter()
                .zip(&digest[..dl])
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                Ok(())
            } else {
                Err(Error::AuthFailed("digest does not match"))
            }
        }
    }
}

/// Magic bytes opening metalroute's echo packets.
pub const ECHO_MAGIC: [u8; 4] = *b"MRBE";
/// Length of metalroute's echo packet.
pub const ECHO_LEN: usize = 24;

/// metalroute's echo packet (the payload is opaque to the peer, RFC 5880 §6.4): magic, version,
/// the sending session's discriminator, a sequence number and a send timestamp (nanoseconds since
/// the engine's epoch), so a returning echo is matched to its session and its round trip measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoPacket {
    /// Local discriminator of the session that sent it.
    pub discriminator: u32,
    /// Per-session sequence number.
    pub sequence: u32,
    /// Send time in nanoseconds since the engine's epoch.
    pub timestamp_ns: u64,
}

impl EchoPacket {
    /// Encodes into `buf`.
    pub fn encode(&self, buf: &mut PacketBuf) {
        let b = &mut buf.bytes;
        b[..4].copy_from_slice(&ECHO_MAGIC);
        b[4] = 1;
        b[5..8].fill(0);
        b[8..12].copy_from_slice(&self.discriminator.to_be_bytes());
        b[12..16].copy_from_slice(&self.sequence.to_be_bytes());
        b[16..24].copy_from_slice(&self.timestamp_ns.to_be_bytes());
        buf.len = ECHO_LEN as u8;
    }
    /// Decodes; anything not in our format is [`Error::EchoFormat`] (or truncated).
    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        if buf.len() < ECHO_LEN {
            return Err(Error::Truncated {
                len: buf.len(),
                need: ECHO_LEN,
            });
        }
        if buf[..4] != ECHO_MAGIC || buf[4] != 1 {
            return Err(Error::EchoFormat);
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&buf[16..24]);
        Ok(Self {
            discriminator: be32(buf, 8),
            sequence: be32(buf, 12),
            timestamp_ns: u64::from_be_bytes(ts),
        })
    }
}
