//! What the forms post, before the core parses it into domain types.

use serde::{Deserialize, Serialize};

/// What the credentials form posts. It carries secrets: `Debug` masks them, and no server
/// function ever sends this type back.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct CredentialsForm {
    /// `refresh-token` or `request-token`.
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub refresh_token: String,
    #[serde(default)]
    pub authorization_url: String,
    #[serde(default)]
    pub company_uuid: String,
    #[serde(default)]
    pub request_token: String,
    #[serde(default)]
    pub scope_profile: String,
    #[serde(default)]
    pub custom_scopes: String,
    /// Who the connection belongs to: the vendor's own id for the customer, tags one
    /// `key=value` per line, the customer's Concur admin, and the owning account's user name.
    #[serde(default)]
    pub external_id: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_email: String,
    #[serde(default)]
    pub owner: String,
}

/// The pasted secrets are wiped from memory when the form goes.
impl Drop for CredentialsForm {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.client_secret.zeroize();
        self.refresh_token.zeroize();
        self.request_token.zeroize();
    }
}

impl std::fmt::Debug for CredentialsForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsForm")
            .field("mode", &self.mode)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("authorization_url", &self.authorization_url)
            .field("company_uuid", &self.company_uuid)
            .field("scope_profile", &self.scope_profile)
            .field("external_id", &self.external_id)
            .field("tags", &self.tags)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}
