//! Per-session BFD parameters, mirroring MetalLB's `BFDProfile` (field names, defaults and
//! ranges), plus the entropy source the engine draws discriminators and jitter from.

use std::time::Duration;

use super::packet::AuthKey;
use super::Error;

/// A BFD interval: whole milliseconds as the profile gives them, at most 60 s (MetalLB's range is
/// 10–60000 ms; values below 10 ms are refused here too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(Duration);

impl Interval {
    /// Smallest interval accepted.
    pub const MIN: Duration = Duration::from_millis(10);
    /// Largest interval accepted.
    pub const MAX: Duration = Duration::from_millis(60_000);

    /// Checks the range; `field` names the profile field for the error.
    pub fn new(field: &'static str, d: Duration) -> Result<Self, Error> {
        if d < Self::MIN || d > Self::MAX {
            return Err(Error::Param {
                field,
                value: format!("{}ms", d.as_millis()),
                reason: "must be between 10ms and 60000ms",
            });
        }
        Ok(Self(d))
    }
    /// From milliseconds.
    pub fn from_millis(field: &'static str, ms: u64) -> Result<Self, Error> {
        Self::new(field, Duration::from_millis(ms))
    }
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

/// Detect multiplier (MetalLB range 2–255; RFC 5880 allows 1, which we accept too so that the
/// 75–90 % jitter rule is reachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DetectMultiplier(u8);

impl DetectMultiplier {
    /// Non-zero.
    pub fn new(v: u8) -> Result<Self, Error> {
        if v == 0 {
            return Err(Error::Param {
                field: "detectMultiplier",
                value: "0".into(),
                reason: "must be between 1 and 255",
            });
        }
        Ok(Self(v))
    }
    /// The value.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// The parameters of one session: MetalLB `BFDProfile` fields (camelCase names in the docs) plus
/// optional authentication (not in BFDProfile; for completeness of RFC 5880).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// `receiveInterval`: our Required Min RX Interval. Default 300 ms.
    pub receive_interval: Interval,
    /// `transmitInterval`: our Desired Min TX Interval. Default 300 ms.
    pub transmit_interval: Interval,
    /// `detectMultiplier`. Default 3.
    pub detect_multiplier: DetectMultiplier,
    /// `echoInterval`: interval of echo packets, and our Required Min Echo RX when echo is on.
    /// Default 50 ms.
    pub echo_interval: Interval,
    /// `echoMode`: run the echo function (single-hop only). Default false.
    pub echo_mode: bool,
    /// `passiveMode`: send nothing until the peer has sent a packet. Default false.
    pub passive_mode: bool,
    /// `minimumTtl`: lowest TTL accepted on multihop sessions. Default 254.
    pub minimum_ttl: u8,
    /// Authentication (none by default).
    pub auth: Option<AuthKey>,
}

impl Default for SessionParams {
    /// MetalLB's BFDProfile defaults.
    fn default() -> Self {
        Self {
            receive_interval: Interval(Duration::from_millis(300)),
            transmit_interval: Interval(Duration::from_millis(300)),
            detect_multiplier: DetectMultiplier(3),
            echo_interval: Interval(Duration::from_millis(50)),
            echo_mode: false,
            passive_mode: false,
            minimum_ttl: 254,
            auth: None,
        }
    }
}

impl SessionParams {
    /// Sets receive and transmit interval to `ms` milliseconds and the multiplier (test helper
    /// and shorthand for the common "N ms × M" profile).
    pub fn with_timers(ms: u64, multiplier: u8) -> Result<Self, Error> {
        Ok(Self {
            receive_interval: Interval::from_millis("receiveInterval", ms)?,
            transmit_interval: Interval::from_millis("transmitInterval", ms)?,
            detect_multiplier: DetectMultiplier::new(multiplier)?,
            ..Self::default()
        })
    }
}

/// A source of random numbers, injected into the engine so tests are deterministic.
pub trait Entropy: Send {
    /// A uniformly distributed 32-bit value.
    fn next_u32(&mut self) -> u32;
}

/// SplitMix64: a small, fast, well-distributed generator for jitter and discriminators (not for
/// secrets; authentication keys never come from it).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with a fixed seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }
    /// A generator seeded from the operating system.
    pub fn from_os() -> Result<Self, Error> {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self(u64::from_le_bytes(b)))
    }
}

impl Entropy for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 32) as u32
    }
}
