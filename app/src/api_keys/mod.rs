//! API keys: what an integration presents to get access tokens for one connection (on its
//! page), and the keys that are not tied to one — fleet, management and hand-off keys (the
//! *API keys* page).

use leptos::prelude::*;

use crate::components::{
    FieldError, FormAlert, Page, Replaced, refusal_in_address, shown_error, time_or_never,
};
use crate::error::AppError;
use console_model::{ApiKeyView, NewApiKey, SharedKeyView, format_time};

/// Makes a key: one connection's (`id`), else a fleet or management key (`kind`, `selector`),
/// which only admins make.
#[server(prefix = "/api", endpoint = "create_api_key")]
pub async fn create_api_key(
    id: String,
    label: String,
    #[server(default)] kind: String,
    #[server(default)] selector: String,
) -> Result<NewApiKey, AppError> {
    let state = crate::ssr::state()?;
    if id.is_empty() {
        let admin = crate::ssr::require(console_model::Role::Admin).await?;
        let (made, detail) =
            console_core::fleet_keys::create_named(&state, &label, &kind, &selector).await?;
        crate::ssr::by_admin(&state, &admin, "api_key_created", None, "ok", &detail).await;
        leptos_axum::redirect("/keys?made");
        return Ok(NewApiKey {
            key: made.key,
            label: made.view.name,
        });
    }
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
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
                        Ok(list) => view! { <ConnectionKeys connection_id=revoke_id.clone() list revoke/> }.into_any(),
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}}
            </Suspense>
        </section>
    }
}

/// One connection's keys: when each was made and last used, and Revoke.
#[component]
fn ConnectionKeys(
    connection_id: String,
    list: Vec<ApiKeyView>,
    revoke: ServerAction<RevokeApiKey>,
) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No API keys yet."</p> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|k| {
            let connection = connection_id.clone();
            let state = match k.revoked_at {
                Some(at) => format!("Revoked {}", format_time(at)).into_any(),
                None => view! {
                    <ActionForm action=revoke>
                        <input type="hidden" name="id" value=connection/>
                        <input type="hidden" name="key_id" value=k.id/>
                        <button type="submit" class="danger">"Revoke"</button>
                    </ActionForm>
                }
                .into_any(),
            };
            view! {
                <tr class=if k.revoked_at.is_none() { "live" } else { "revoked" }>
                    <td>{k.name}</td>
                    <td class="mono">{k.prefix}</td>
                    <td>{format_time(k.created_at)}</td>
                    <td>{time_or_never(k.last_used_at)}</td>
                    <td>{state}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="keys">
            <thead><tr><th>"Label"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th><th>"State"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// Making a key: an island, because the key is shown only in the answer to this form, never in a
/// page the server renders. Fields outside it join its form by the form's id (`NEW_KEY_FORM`):
/// the *API keys* page's kind and selector.
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
        <ActionForm action=create attr:id=NEW_KEY_FORM>
            <input type="hidden" name="id" value=connection_id/>
            <label for="key-label">"Label"</label>
            <input id="key-label" name="label" placeholder="e.g. Expense bot production" maxlength="100" required/>
            <button type="submit">"Create API key"</button>
            <FieldError error=error field="label|selector"/>
        </ActionForm>
    }
}

/// The id of the form that makes a key.
const NEW_KEY_FORM: &str = "new-api-key";

#[server(prefix = "/api", endpoint = "load_shared_keys")]
pub async fn load_shared_keys() -> Result<Vec<SharedKeyView>, AppError> {
    crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    Ok(console_core::fleet_keys::list(&state)
        .await?
        .into_iter()
        .map(|key| SharedKeyView {
            reach: key.reach(),
            key: key.view,
        })
        .collect())
}

#[server(prefix = "/api", endpoint = "revoke_shared_key")]
pub async fn revoke_shared_key(key_id: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    if !console_core::fleet_keys::revoke(&state, &key_id).await? {
        return Err(console_model::Error::NotFound.into());
    }
    let detail = format!("key {key_id}");
    crate::ssr::by_admin(&state, &admin, "api_key_revoked", None, "ok", &detail).await;
    leptos_axum::redirect("/keys?revoked");
    Ok(())
}

/// The *API keys* page (admins): the keys that are not tied to one connection — fleet,
/// management and hand-off keys — made, listed with what each opens and when it was last used,
/// revoked.
#[component]
pub fn KeysPage() -> impl IntoView {
    let created = refusal_in_address::<CreateApiKey>();
    let revoke = ServerAction::<RevokeSharedKey>::new();
    let errors = Signal::derive(move || revoke.value().get().and_then(Result::err));
    let keys = Resource::new(|| (), |_| load_shared_keys());
    view! {
        <Page title="API keys" signed_in=true>
            <section class="card form">
                <h2>"Make a key"</h2>
                <p class="hint">
                    "A fleet key opens the token of every connection its selector matches at the time of each call ("
                    <code>"GET /api/v1/connections/{id}/token"</code>" or "<code>"…/by-external-id/{external_id}/token"</code>
                    "); to any other it answers as for a connection that does not exist. A management key opens the management API ("
                    <code>"/api/v1/connections"</code>", renewal links, hand-off links); a hand-off key only creates and reads hand-off links. A connection's own keys are on its page."
                </p>
                <label for="key-kind">"Kind"</label>
                <select id="key-kind" name="kind" form=NEW_KEY_FORM>
                    <option value="fleet">"Fleet key: tokens of the connections a selector matches"</option>
                    <option value="manage">"Management key"</option>
                    <option value="read">"Management key, read-only"</option>
                    <option value="handoff">"Hand-off key: creates and reads hand-off links"</option>
                </select>
                <label for="key-selector">"Selector (fleet keys)"</label>
                <input id="key-selector" name="selector" form=NEW_KEY_FORM placeholder="env=prod,region=emea" autocomplete="off" maxlength="2048"/>
                <p class="hint">"Tags a connection must all have, as key=value pairs separated by commas; empty: every connection."</p>
                <NewApiKey connection_id=String::new() refused=created/>
                // Not the section's last node: the islands router steps over an island to its
                // next sibling, and would patch the island's inside were there none.
                <p class="hint">"The key is shown once, here; the console keeps only a hash of it."</p>
            </section>
            <section class="card">
                <h2>"Keys"</h2>
                <FormAlert error=errors/>
                <Suspense fallback=|| view! { <p>"Loading keys…"</p> }>
                    {move || Suspend::new(async move {
                        match keys.await {
                            Ok(list) => view! { <Replaced><SharedKeys list revoke/></Replaced> }.into_any(),
                            Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </Page>
    }
}

#[component]
fn SharedKeys(list: Vec<SharedKeyView>, revoke: ServerAction<RevokeSharedKey>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No fleet, management or hand-off keys yet."</p> }
            .into_any();
    }
    let rows = list
        .into_iter()
        .map(|k| {
            let state = match k.key.revoked_at {
                Some(at) => format!("Revoked {}", format_time(at)).into_any(),
                None => view! {
                    <ActionForm action=revoke>
                        <input type="hidden" name="key_id" value=k.key.id/>
                        <button type="submit" class="danger">"Revoke"</button>
                    </ActionForm>
                }
                .into_any(),
            };
            view! {
                <tr class=if k.key.revoked_at.is_none() { "live" } else { "revoked" }>
                    <td>{k.key.name}</td>
                    <td class="mono">{k.key.prefix}</td>
                    <td>{k.reach}</td>
                    <td>{format_time(k.key.created_at)}</td>
                    <td>{time_or_never(k.key.last_used_at)}</td>
                    <td>{state}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="keys">
            <thead><tr><th>"Label"</th><th>"Key"</th><th>"Opens"</th><th>"Created"</th><th>"Last used"</th><th>"State"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
