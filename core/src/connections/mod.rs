//! Connections: the Validate path ([`validate`]), the one refresh path ([`refresh`]) and the
//! row both write ([`stored`]), who a connection belongs to ([`fleet`], its parsed values in
//! [`metadata`]), the token caches ([`memory`]), the dashboard's counts ([`overview`]), what the
//! integration can do ([`probes`]) and what the pages show ([`views`]). The files depend downward only: `views` → `validate` →
//! `fleet`, `refresh` → `stored` → `metadata` and the store.

pub mod fleet;
pub mod memory;
pub mod metadata;
pub mod overview;
pub mod probes;
pub mod refresh;
pub mod stored;
pub mod validate;
pub mod views;

pub use stored::{HANDOFF_SOURCE, ThroughLink};
pub use validate::{
    check_form, create, create_through, delete, diagnosis_view, field_key, recheck, rename,
    renewal_form, replace, replace_through,
};
pub use views::{dashboard, detail};
