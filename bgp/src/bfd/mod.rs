//! BFD (RFC 5880/5881/5883): the control-packet codec, the sans-IO session engine (many sessions,
//! one timer heap, injected clock and entropy) and the thin tokio transport that owns the UDP
//! sockets. BGP couples to it through the engine's state-change [`Event`]s.
//!
//! Layout: [`packet`] (wire format, authentication, echo format), [`params`] (BFDProfile
//! parameters, entropy), [`session`] (one session's pure decisions), [`engine`] (sessions and
//! timers), [`transport`] (sockets and the driver task), [`echo`] (the IP/UDP packets and BPF
//! filter of the echo function), [`neighbour`] (interface and link-layer address of a peer, via
//! rtnetlink), `echo_io` (the AF_PACKET echo sockets), [`coupling`] (BFD Down → BGP Cease/BFD
//! Down), [`error`].
//!
//! # Echo function (RFC 5880 §6.4, RFC 5881 §4)
//!
//! With `echoMode` on a single-hop session, once the session is Up and the peer advertises a
//! non-zero Required Min Echo RX Interval, we send echo packets every
//! max(`echoInterval`, peer's Required Min Echo RX) (jittered): IPv4/IPv6 + UDP with source and
//! destination both OUR address, destination port 3785, TTL 255, handed to the peer's
//! link-layer address (from the kernel's neighbour table). The peer's forwarding plane routes
//! them straight back to us — no BFD process on the peer is involved, so this works with FRR,
//! BIRD, routers and other metalroute nodes alike, provided the peer forwards IP. They are read
//! back on an AF_PACKET socket with a BPF filter (the kernel's IP layer drops them as martians;
//! we change no sysctl). We advertise Required Min Echo RX = `echoInterval`, inviting the
//! peer's echoes, which our kernel forwards back the same way (the node must forward IP).
//!
//! Failure detection: if echoes that this peer returned before stop returning for Detect Mult ×
//! the echo interval, the session goes Down with diagnostic 2 "Echo Function Failed" even if
//! control packets still flow, and is held Down (RFC 5880 §6.8.18) for 2 s, doubling with each
//! further echo failure up to 16 s (reset when an echo returns): control packets keep flowing
//! (we send Down with diagnostic 2), then the session comes back Up, restarts echo, and either
//! stays Up (path repaired) or fails again with a longer hold-down.
//! A peer that has NEVER returned one echo (its discriminator identifies it: a restarted peer
//! is probed anew) is not declared failed: after the same detection time echo is switched off
//! for that session ([`EchoState::NotReflected`], logged) and the session stays Up on control
//! packets alone until it leaves Up. That covers peers that do not forward IP, filter UDP 3785,
//! or sessions on link-local IPv6 addresses (routers do not forward those).
//!
//! The echo path is looked up per session (`ip route get PEER [vrf V]` and the neighbour entry,
//! through rtnetlink) at the first echo, every 5 s and after each state change, every 250 ms
//! while unresolved; no echo leaves while the peer's link-layer address is unknown or the peer
//! is reached through a gateway, which the rules above treat as echoes not returned. Where an
//! echo stands is [`SessionStatus::echo_state`] ([`EchoState`]), with the returned and sent
//! counts and the last round trip.
//!
//! Not handled: we invite the peer's echoes whenever `echoMode` is on without checking that
//! this node forwards IP on the interface; if it does not, a peer that runs echo declares echo
//! failure (FRR does). Kubernetes nodes forward (`net.ipv4.ip_forward=1`).

pub mod coupling;
pub mod echo;
mod echo_io;
pub mod engine;
pub mod error;
pub mod neighbour;
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
pub use session::{EchoState, HopMode, SessionKey};
pub use transport::BfdHandle;
