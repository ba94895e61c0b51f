//! Every integration suite of the server in one test binary (one build, one link): a module
//! per suite, and `support` for what they share — the console's settings and a served console,
//! the simulator's companies, the store a suite runs on, the signed-webhook receiver.

mod support;

mod access;
mod alerts;
mod audit;
mod backup;
mod console;
mod deploy;
mod docs;
mod fleet;
mod fleet_dashboard;
mod fleet_keys;
mod handoffs;
mod keepalive;
mod management;
mod ops;
mod outage;
mod owners;
mod people;
mod probes;
mod renewals;
mod replicas;
mod review;
mod rotation;
mod search;
mod security;
mod settings;
mod sso;
mod startup;
mod upgrade;
mod validate_cli;
