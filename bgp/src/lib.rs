//! metalroute's BGP-4 speaker and BFD: wire codecs, sans-IO protocol state machines driven by an
//! injected clock, and the thin tokio transport that owns the sockets.

pub mod bfd;
pub mod error;
pub mod packet;
