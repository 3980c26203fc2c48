//! metalroute's BGP-4 speaker and BFD: wire codecs, sans-IO protocol state machines driven by an
//! injected clock, and the thin tokio transport that owns the sockets.

pub mod bfd;
pub mod config;
pub mod error;
pub mod fsm;
pub mod packet;
pub mod routes;
pub mod session;
pub mod socket;
pub mod speaker;
pub mod unnumbered;
