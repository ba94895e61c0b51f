//! SAP Concur authentication, as the console needs it: parse what an admin pastes, call the
//! token endpoint, and explain every failure in plain words.
//!
//! No web framework and no storage here: the console, the CLI and the tests share this crate.

pub mod answer;
pub mod client;
pub mod clock;
pub mod diagnosis;
pub mod input;
pub mod policy;
pub mod probes;
pub mod scopes;

pub use client::{
    ApiReply, Authorization, Checked, ClientConfig, ConcurClient, Credentials, Grant, http_builder,
};
pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use diagnosis::{ConcurReply, Diagnosis, GrantKind, Problem};
pub use input::{
    AccessToken, AuthorizationUrl, ClientId, ClientSecret, CompanyUuid, Field, InputError,
    RefreshToken, RequestToken, mask,
};
pub use policy::{HostPolicy, PolicyError};
pub use probes::{Failure, Finding, Probe, ProbeReport};
pub use scopes::{ScopeCheck, ScopeProfile};
