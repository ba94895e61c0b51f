//! Connections: the credentials form, Validate, the dashboard and the connection page.

mod dashboard;
mod detail;
mod form;
#[cfg(feature = "ssr")]
pub mod memory;
#[cfg(feature = "ssr")]
pub mod overview;
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
    let admin = crate::auth::ssr::require(crate::model::Role::Editor).await?;
    let state = crate::ssr::state::state()?;
    let name = form.name.trim().chars().take(100).collect::<String>();
    let result = ssr::create(&state, form).await;
    audited(
        &state,
        &admin,
        "connection_created",
        result.as_ref().ok().map(String::as_str),
        &result,
        &name,
    )
    .await;
    let id = result?;
    leptos_axum::redirect(&format!("/connections/{id}"));
    Ok(id)
}

/// Records a connection action in the audit log with how it ended.
#[cfg(feature = "ssr")]
async fn audited<T>(
    state: &crate::ssr::state::AppState,
    admin: &crate::auth::ssr::Account,
    kind: &str,
    connection: Option<&str>,
    result: &Result<T, AppError>,
    detail: &str,
) {
    let (outcome, detail) = match result {
        Ok(_) => ("ok", detail.to_owned()),
        Err(AppError::Concur(d)) => ("refused", format!("{detail} — {}", d.code)),
        Err(AppError::Invalid { field, .. }) => ("invalid", format!("{detail} — {field}")),
        Err(e) => (
            "error",
            format!("{detail} — {e:?}").chars().take(200).collect(),
        ),
    };
    crate::audit::ssr::by_admin(state, admin, kind, connection, outcome, &detail).await;
}

/// The renewal path: new credentials for a stored connection. A refusal changes nothing.
#[server(prefix = "/api", endpoint = "replace_credentials")]
pub async fn replace_credentials(id: String, form: CredentialsForm) -> Result<String, AppError> {
    let admin = crate::auth::ssr::require(crate::model::Role::Editor).await?;
    let state = crate::ssr::state::state()?;
    let result = ssr::replace(&state, &id, form).await;
    audited(
        &state,
        &admin,
        "connection_replaced",
        Some(&id),
        &result,
        "new credentials",
    )
    .await;
    result?;
    leptos_axum::redirect(&format!("/connections/{id}"));
    Ok(id)
}

/// Re-checks a stored connection with Concur ("Validate now").
#[server(prefix = "/api", endpoint = "validate_now")]
pub async fn validate_now(id: String) -> Result<(), AppError> {
    let admin = crate::auth::ssr::require(crate::model::Role::Editor).await?;
    let state = crate::ssr::state::state()?;
    let result = ssr::recheck(&state, &id).await;
    audited(
        &state,
        &admin,
        "connection_validated",
        Some(&id),
        &result,
        "Validate now",
    )
    .await;
    result
}

#[server(prefix = "/api", endpoint = "rename_connection")]
pub async fn rename_connection(id: String, name: String) -> Result<(), AppError> {
    let admin = crate::auth::ssr::require(crate::model::Role::Editor).await?;
    let state = crate::ssr::state::state()?;
    let result = ssr::rename(&state, &id, &name).await;
    let detail = format!(
        "renamed to “{}”",
        name.trim().chars().take(100).collect::<String>()
    );
    audited(
        &state,
        &admin,
        "connection_renamed",
        Some(&id),
        &result,
        &detail,
    )
    .await;
    result
}

/// Deletes the connection here (Concur is not told; revoking there is a separate action).
#[server(prefix = "/api", endpoint = "delete_connection")]
pub async fn delete_connection(id: String, confirm: String) -> Result<(), AppError> {
    let admin = crate::auth::ssr::require(crate::model::Role::Admin).await?;
    let state = crate::ssr::state::state()?;
    let result = ssr::delete(&state, &id, &confirm).await;
    audited(
        &state,
        &admin,
        "connection_deleted",
        Some(&id),
        &result,
        "deleted",
    )
    .await;
    result?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/api", endpoint = "load_dashboard")]
pub async fn load_dashboard(
    search: String,
    page: i64,
    #[server(default)] week: Option<i64>,
) -> Result<Dashboard, AppError> {
    crate::auth::ssr::require(crate::model::Role::Viewer).await?;
    let state = crate::ssr::state::state()?;
    ssr::dashboard(&state, &search, week, page).await
}

#[server(prefix = "/api", endpoint = "load_connection")]
pub async fn load_connection(id: String) -> Result<ConnectionDetail, AppError> {
    crate::auth::ssr::require(crate::model::Role::Viewer).await?;
    let state = crate::ssr::state::state()?;
    ssr::detail(&state, &id).await
}
