//! Connections: the credentials form, Validate, the dashboard and the connection page.

mod dashboard;
mod detail;
mod form;
#[cfg(feature = "ssr")]
pub mod refresh;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use dashboard::DashboardPage;
pub use detail::ConnectionPage;
pub use form::{NewConnectionPage, ReplacePage};

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{ConnectionDetail, Dashboard};

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
            .finish_non_exhaustive()
    }
}

/// Validates new credentials with Concur and, when Concur accepts them, stores the connection
/// and opens its page. When Concur refuses, nothing is stored.
#[server(prefix = "/api", endpoint = "validate_connection")]
pub async fn validate_connection(form: CredentialsForm) -> Result<String, AppError> {
    crate::auth::ssr::require_admin().await?;
    let state = crate::ssr::state::state()?;
    let id = ssr::create(&state, form).await?;
    leptos_axum::redirect(&format!("/connections/{id}"));
    Ok(id)
}

/// The renewal path: new credentials for a stored connection. A refusal changes nothing.
#[server(prefix = "/api", endpoint = "replace_credentials")]
pub async fn replace_credentials(id: String, form: CredentialsForm) -> Result<String, AppError> {
    crate::auth::ssr::require_admin().await?;
    let state = crate::ssr::state::state()?;
    ssr::replace(&state, &id, form).await?;
    leptos_axum::redirect(&format!("/connections/{id}"));
    Ok(id)
}

/// Re-checks a stored connection with Concur ("Validate now").
#[server(prefix = "/api", endpoint = "validate_now")]
pub async fn validate_now(id: String) -> Result<(), AppError> {
    crate::auth::ssr::require_admin().await?;
    let state = crate::ssr::state::state()?;
    ssr::recheck(&state, &id).await
}

#[server(prefix = "/api", endpoint = "rename_connection")]
pub async fn rename_connection(id: String, name: String) -> Result<(), AppError> {
    crate::auth::ssr::require_admin().await?;
    let state = crate::ssr::state::state()?;
    ssr::rename(&state, &id, &name).await
}

/// Deletes the connection here (Concur is not told; revoking there is a separate action).
#[server(prefix = "/api", endpoint = "delete_connection")]
pub async fn delete_connection(id: String, confirm: String) -> Result<(), AppError> {
    crate::auth::ssr::require_admin().await?;
    let state = crate::ssr::state::state()?;
    ssr::delete(&state, &id, &confirm).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/api", endpoint = "load_dashboard")]
pub async fn load_dashboard(search: String, page: i64) -> Result<Dashboard, AppError> {
    crate::auth::ssr::require_admin().await?;
    let state = crate::ssr::state::state()?;
    ssr::dashboard(&state, &search, page).await
}

#[server(prefix = "/api", endpoint = "load_connection")]
pub async fn load_connection(id: String) -> Result<ConnectionDetail, AppError> {
    crate::auth::ssr::require_admin().await?;
    let state = crate::ssr::state::state()?;
    ssr::detail(&state, &id).await
}
