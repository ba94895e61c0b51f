//! The connections' server functions: Validate, replace, "Validate now", rename, delete, asking
//! the customer for a renewal, and the dashboard's and a connection's page data. Each checks the role, calls the core, records the
//! audit and maps the error.

use leptos::prelude::*;

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::Error;
use console_model::{ConnectionDetail, CredentialsForm, Dashboard};

/// Validates new credentials with Concur and, when Concur accepts them, stores the connection
/// and opens its page. When Concur refuses, nothing is stored.
#[server(prefix = "/api", endpoint = "validate_connection")]
pub async fn validate_connection(form: CredentialsForm) -> Result<String, AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let name = form.name.trim().chars().take(100).collect::<String>();
    let result = console_core::connections::create(&state, form).await;
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
    state: &console_core::state::AppState,
    admin: &console_core::auth::Account,
    kind: &str,
    connection: Option<&str>,
    result: &Result<T, Error>,
    detail: &str,
) {
    let (outcome, detail) = match result {
        Ok(_) => ("ok", detail.to_owned()),
        Err(Error::Concur(d)) => ("refused", format!("{detail} — {}", d.code)),
        Err(Error::Invalid { field, .. }) => ("invalid", format!("{detail} — {field}")),
        Err(e) => (
            "error",
            format!("{detail} — {e:?}").chars().take(200).collect(),
        ),
    };
    crate::ssr::by_admin(state, admin, kind, connection, outcome, &detail).await;
}

/// The renewal path: new credentials for a stored connection. A refusal changes nothing.
#[server(prefix = "/api", endpoint = "replace_credentials")]
pub async fn replace_credentials(id: String, form: CredentialsForm) -> Result<String, AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let result = console_core::connections::replace(&state, &id, form).await;
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
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let result = console_core::connections::recheck(&state, &id).await;
    audited(
        &state,
        &admin,
        "connection_validated",
        Some(&id),
        &result,
        "Validate now",
    )
    .await;
    Ok(result?)
}

#[server(prefix = "/api", endpoint = "rename_connection")]
pub async fn rename_connection(id: String, name: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let result = console_core::connections::rename(&state, &id, &name).await;
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
    Ok(result?)
}

/// Changes who the connection belongs to (external id, tags, contact, owner) as the form gives
/// them; audited old → new. A bad value names its field and changes nothing.
#[server(prefix = "/api", endpoint = "update_belonging")]
pub async fn update_belonging(
    id: String,
    external_id: String,
    tags: String,
    contact_name: String,
    contact_email: String,
    owner: String,
) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let result = console_core::connections::fleet::replace(
        &state,
        &id,
        &external_id,
        &tags,
        &contact_name,
        &contact_email,
        &owner,
    )
    .await;
    let detail = result
        .as_ref()
        .map(|said| said.join("; "))
        .unwrap_or_default();
    if !matches!(&result, Ok(said) if said.is_empty()) {
        audited(
            &state,
            &admin,
            "connection_updated",
            Some(&id),
            &result,
            &detail,
        )
        .await;
    }
    result?;
    Ok(())
}

/// Deletes the connection here (Concur is not told; revoking there is a separate action).
#[server(prefix = "/api", endpoint = "delete_connection")]
pub async fn delete_connection(id: String, confirm: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    let result = console_core::connections::delete(&state, &id, &confirm).await;
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

/// Asks the connection's contact for a renewal now, or sends the open request's mail again
/// (the console records who asked).
#[server(prefix = "/api", endpoint = "request_renewal")]
pub async fn request_renewal(id: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    let actor = admin.name(&state).await?;
    console_core::renewals::request(&state, &id, &actor).await?;
    Ok(())
}

/// Stops asking the customer: the open request ends, no more reminders.
#[server(prefix = "/api", endpoint = "stop_renewal")]
pub async fn stop_renewal(id: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    let actor = admin.name(&state).await?;
    console_core::renewals::cancel(&state, &id, &actor).await?;
    Ok(())
}

/// Whether the console asks this connection's customer on its own: `always`, `never`, or
/// `default` (as the console-wide setting says).
#[server(prefix = "/api", endpoint = "set_renewal_automatic")]
pub async fn set_renewal_automatic(id: String, asks: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    let automatic = console_core::renewals::asking_of(&asks)?;
    let actor = admin.name(&state).await?;
    console_core::renewals::set_automatic(&state, &id, automatic, &actor).await?;
    Ok(())
}

/// The dashboard, narrowed by the address's filters: `tags` as `key:value`, `owner` a user
/// name or `me` (the signed-in account), `status` a status's key.
#[server(prefix = "/api", endpoint = "load_dashboard")]
pub async fn load_dashboard(
    search: String,
    page: i64,
    #[server(default)] week: Option<i64>,
    #[server(default)] tags: Vec<String>,
    #[server(default)] owner: Option<String>,
    #[server(default)] status: Option<String>,
    #[server(default)] renewal: Option<String>,
) -> Result<Dashboard, AppError> {
    use console_core::connections::{fleet, metadata::Selector};
    let account = crate::ssr::require(console_model::Role::Viewer).await?;
    let state = crate::ssr::state()?;
    let me = owner.as_deref().map(str::trim) == Some("me");
    let query = fleet::Query {
        selector: Selector::of_pairs(tags.iter().map(String::as_str))?,
        owner: if me {
            Some(account.name(&state).await?)
        } else {
            owner
        },
        status,
        external_id: None,
        renewal,
    };
    let mut dashboard =
        console_core::connections::dashboard(&state, &search, week, page, &query).await?;
    if me {
        dashboard.filter.owner = Some("me".into());
    }
    Ok(dashboard)
}

#[server(prefix = "/api", endpoint = "load_connection")]
pub async fn load_connection(id: String) -> Result<ConnectionDetail, AppError> {
    crate::ssr::require(console_model::Role::Viewer).await?;
    let state = crate::ssr::state()?;
    Ok(console_core::connections::detail(&state, &id).await?)
}
