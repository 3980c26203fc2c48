//! The metalroute agent as a library: the pure planner, the file source and its watch, the
//! actuators (BGP speaker, nmstate), the admin socket, metrics and logging. The `metalroute`
//! binary (`src/main.rs`) is a thin CLI over it.

pub mod actuator;
pub mod admin;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod planner;
pub mod runtime;
pub mod source;
pub mod watch;
