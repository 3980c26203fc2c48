//! The `metalroute` subcommands, one module each.

pub mod machineconfig;
pub mod nmstate;
pub mod plan;
pub mod run;
pub mod show;
pub mod validate;
