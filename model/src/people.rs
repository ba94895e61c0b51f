//! People and invitations as the People page shows them.

use serde::{Deserialize, Serialize};

use crate::Role;

/// How long an invitation link works.
pub const INVITATION_HOURS: i64 = 72;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonView {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub active: bool,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub me: bool,
    /// Signs in through the identity provider; its role follows the IdP's groups.
    pub sso: bool,
}

/// Where an invitation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvitationState {
    Waiting,
    /// Accepted by this user name.
    Used(String),
    Revoked,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub id: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: InvitationState,
    /// The link, while it still works.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleView {
    pub people: Vec<PersonView>,
    pub invitations: Vec<InvitationView>,
    /// Whether invitations can be made: they make password accounts, so not while password
    /// sign-in is off.
    pub invitations_open: bool,
}
