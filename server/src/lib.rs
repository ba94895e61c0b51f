//! The `concur-console` binary's library: command line and commands, so tests run them in-process.

pub mod cli;
pub mod validate;
