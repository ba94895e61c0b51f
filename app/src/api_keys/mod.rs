//! API keys: what an integration presents to get access tokens for one connection.

use leptos::prelude::*;

use crate::components::{FieldError, FormAlert, refusal_in_address, shown_error, time_or_never};
use crate::error::AppError;
use console_model::{ApiKeyView, NewApiKey, format_time};

#[server(prefix = "/api", endpoint = "create_api_key")]
pub async fn create_api_key(id: String, label: String) -> Result<NewApiKey, AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let made = console_core::api_keys::create(&state, &id, &label).await?;
    let detail = format!("{} ({})", made.view.name, made.view.prefix);
    crate::ssr::by_admin(&state, &admin, "api_key_created", Some(&id), "ok", &detail).await;
    // The page is shown again with the key in its list; the island keeps the key on screen.
    leptos_axum::redirect(&format!("/connections/{id}"));
    Ok(NewApiKey {
        key: made.key,
        label: made.view.name,
    })
}

#[server(prefix = "/api", endpoint = "list_api_keys")]
pub async fn list_api_keys(id: String) -> Result<Vec<ApiKeyView>, AppError> {
    crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    Ok(console_core::api_keys::list(&state, &id).await?)
}

#[server(prefix = "/api", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: String, key_id: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    console_core::api_keys::revoke(&state, &key_id, Some(&id)).await?;
    let detail = format!("key {key_id}");
    crate::ssr::by_admin(&state, &admin, "api_key_revoked", Some(&id), "ok", &detail).await;
    Ok(())
}

/// The connection page's API keys: make one (shown once), see when each was last used, revoke.
#[component]
pub fn ApiKeys(connection_id: String) -> impl IntoView {
    let created = refusal_in_address::<CreateApiKey>();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let errors = Signal::derive(move || revoke.value().get().and_then(Result::err));
    let id = connection_id.clone();
    let keys = Resource::new(move || id.clone(), list_api_keys);
    let revoke_id = connection_id.clone();
    view! {
        <section class="card api-keys">
            <h2>"API keys"</h2>
            <p class="hint">
                "An integration presents a key to " <code>{format!("GET /api/v1/connections/{connection_id}/token")}</code>
                " and gets a fresh access token. Each key opens this connection only."
            </p>
            <NewApiKey connection_id=connection_id refused=created/>
            <FormAlert error=errors/>
            <Suspense fallback=|| view! { <p>"Loading keys…"</p> }>
                {move || {
                    let revoke_id = revoke_id.clone();
                    Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => view! { <p class="empty">"No API keys yet."</p> }.into_any(),
                        Ok(list) => {
                            let rows = list.into_iter().map(|k| {
                                let connection = revoke_id.clone();
                                let live = k.revoked_at.is_none();
                                view! {
                                    <tr class=if live { "live" } else { "revoked" }>
                                        <td>{k.name}</td>
                                        <td class="mono">{k.prefix}</td>
                                        <td>{format_time(k.created_at)}</td>
                                        <td>{time_or_never(k.last_used_at)}</td>
                                        <td>{match k.revoked_at {
                                            Some(at) => format!("Revoked {}", format_time(at)).into_any(),
                                            None => view! {
                                                <ActionForm action=revoke>
                                                    <input type="hidden" name="id" value=connection/>
                                                    <input type="hidden" name="key_id" value=k.id/>
                                                    <button type="submit" class="danger">"Revoke"</button>
                                                </ActionForm>
                                            }.into_any(),
                                        }}</td>
                                    </tr>
                                }
                            }).collect_view();
                            view! {
                                <table class="keys">
                                    <thead><tr><th>"Label"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th><th>"State"</th></tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            }.into_any()
                        }
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}}
            </Suspense>
        </section>
    }
}

/// Making a key: an island, because the key is shown only in the answer to this form, never in a
/// page the server renders.
#[island]
fn NewApiKey(connection_id: String, refused: Option<AppError>) -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let error = shown_error(create.value(), refused);
    view! {
        {move || create.value().get().and_then(Result::ok).map(|made| view! {
            <div class="new-key" role="status">
                <p>"Copy the key for “"{made.label.clone()}"” now: it is shown only this once."</p>
                <input class="mono" readonly aria-label="New API key" value=made.key/>
            </div>
        })}
        <FormAlert error=error/>
        <ActionForm action=create>
            <input type="hidden" name="id" value=connection_id/>
            <label for="key-label">"Label"</label>
            <input id="key-label" name="label" placeholder="e.g. Expense bot production" maxlength="100" required/>
            <button type="submit">"Create API key"</button>
            <FieldError error=error field="label"/>
        </ActionForm>
    }
}
