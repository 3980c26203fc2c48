//! The `metalroute` subcommands, one module each.

pub mod machineconfig;
pub mod plan;
pub mod run;
pub mod show;
pub mod validate;
