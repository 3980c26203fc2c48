//! Actuators: level-triggered converters from a desired [`crate::planner::NodePlan`] to the
//! world. [`speaker`] drives the in-process BGP speaker (sessions keyed by (VRF, peer),
//! advertisements per family); [`bfd`] runs the BFD sessions of peers with a BFD profile and
//! couples BFD Down to the speaker; [`network`] drives the nmstate applier with the merged
//! desired network state.
//!
//! Each actuator splits a pure diff (desired × last applied → operations, unit-tested) from a
//! thin async shell that performs the operations.

pub mod bfd;
pub mod network;
pub mod speaker;
