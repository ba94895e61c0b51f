//! The `concur-console` binary's library: command line and commands, so tests run them in-process.

pub mod admin;
pub mod cli;
pub mod demo;
pub mod serve;
pub mod validate;
