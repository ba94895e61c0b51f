//! The `concur-console` binary's library: command line and commands, so tests run them in-process.

pub mod admin;
pub mod alerts;
pub mod api;
pub mod backup;
pub mod cli;
pub mod connect;
pub mod customer;
pub mod demo;
pub mod files;
pub mod fleet;
pub mod handoff;
pub mod keepalive;
pub mod manage;
pub mod management;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod protect;
pub mod renewal;
pub mod rotate;
pub mod serve;
pub mod site;
pub mod sso;
pub mod terminal;
pub mod upkeep;
pub mod validate;
