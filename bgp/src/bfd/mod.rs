//! BFD (RFC 5880/5881/5883): the control-packet codec, the sans-IO session engine (many sessions,
//! one timer heap, injected clock and entropy) and the thin tokio transport that owns the UDP
//! sockets. BGP couples to it through the engine's state-change [`Event`]s.
//!
//! Layout: [`packet`] (wire format, authentication, echo format), [`params`] (BFDProfile
//! parameters, entropy), [`session`] (one session's pure decisions), [`engine`] (sessions and
//! timers), [`transport`] (sockets and the driver task), [`coupling`] (BFD Down → BGP Cease/BFD
//! Down), [`error`].

pub mod coupling;
pub mod engine;
pub mod error;
pub mod packet;
pub mod params;
pub mod session;
pub mod transport;

pub use coupling::couple_to_speaker;
pub use engine::{
    EchoVerdict, Engine, Event, RxMeta, SessionId, SessionStatus, Transmit, TransmitKind,
};
pub use error::Error;
pub use packet::{AuthKey, AuthType, ControlPacket, Diagnostic, State};
pub use params::{DetectMultiplier, Entropy, Interval, SessionParams, SplitMix64};
pub use session::{HopMode, SessionKey};
pub use transport::BfdHandle;
