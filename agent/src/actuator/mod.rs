//! Actuators: level-triggered converters from a desired [`crate::planner::NodePlan`] to the
//! world. [`speaker`] drives the in-process BGP speaker (sessions keyed by (VRF, peer),
//! advertisements per family); [`network`] drives the nmstate applier with the merged desired
//! network state. BFD sessions will get their own actuator next to these, fed from
//! `SessionParams::bfd` and coupled to the speaker by `metalroute_bgp::bfd::couple_to_speaker`.
//!
//! Each actuator splits a pure diff (desired × last applied → operations, unit-tested) from a
//! thin async shell that performs the operations.

pub mod network;
pub mod speaker;
