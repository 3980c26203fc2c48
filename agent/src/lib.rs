//! The metalroute agent as a library: the pure planner today; sources, actuators, status and
//! metrics join as they land. The `metalroute` binary (`src/main.rs`) is a thin CLI over it.

pub mod planner;
