//! One connection: its state, the checks it passed or failed, and what can be done with it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::belonging::Belonging;
use super::calls::{
    DeleteConnection, RenameConnection, UpdateBelonging, ValidateNow, load_connection,
};
use crate::alerts::Deliveries;
use crate::api_keys::ApiKeys;
use crate::components::{
    FieldError, FormAlert, Page, StatusBadge, expiry_words, plural, refusal_in_address,
    shown_error, time_or_never,
};
use crate::error::AppError;
use crate::handoffs::CreateHandoff;
use crate::session::may;
use console_model::{ConnectionDetail, Role, Status, format_time};

#[component]
pub fn ConnectionPage() -> impl IntoView {
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    let rename = ServerAction::<RenameConnection>::new();
    let delete = ServerAction::<DeleteConnection>::new();
    let update = ServerAction::<UpdateBelonging>::new();
    let checked = refusal_in_address::<ValidateNow>();
    let data = Resource::new(move || id.clone(), load_connection);
    let errors = Signal::derive(move || {
        [rename.value().get(), delete.value().get()]
            .into_iter()
            .flatten()
            .find_map(Result::err)
    });
    view! {
        <Page title="Connection" signed_in=true>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    let checked = checked.clone();
                    Suspend::new(async move {
                    match data.await {
                        Ok(c) => {
                            let id = c.summary.id.clone();
                            let (rename_id, delete_id) = (id.clone(), id.clone());
                            let name = c.summary.name.clone();
                            let urgent = matches!(
                                c.summary.status,
                                Status::Failing | Status::Critical | Status::Expired
                            );
                            view! {
                            {(urgent && may(Role::Editor)).then(|| view! { <RenewalLink id=id.clone() urgent=true/> })}
                            <Overview detail=c.clone()/>
                            <Belonging id=id.clone() view=c.belonging.clone() editable=may(Role::Editor) update/>
                            <FormAlert error=errors/>
                            {may(Role::Editor).then(|| view! {
                            <section class="actions card">
                                <h2>"Actions"</h2>
                                <ValidateNowButton id=id.clone() refused=checked/>
                                <a class="button" href=format!("/connections/{id}/replace")>"Replace credentials"</a>
                                <ActionForm action=rename>
                                    <input type="hidden" name="id" value=rename_id/>
                                    <label for="rename">"Name"</label>
                                    <input id="rename" name="name" value=name required/>
                                    <button type="submit">"Rename"</button>
                                    <FieldError error=errors field="name"/>
                                </ActionForm>
                                {may(Role::Admin).then(|| view! {
                                <ActionForm action=delete>
                                    <input type="hidden" name="id" value=delete_id/>
                                    <label class="inline"><input type="checkbox" name="confirm" value="yes" required/>" Yes, delete this connection from Concur Console (Concur itself is not told)"</label>
                                    <button type="submit" class="danger">"Delete connection"</button>
                                    <FieldError error=errors field="confirm"/>
                                </ActionForm>
                                }.into_any())}
                            </section>
                            {(!urgent).then(|| view! { <RenewalLink id=id.clone() urgent=false/> })}
                            <ApiKeys connection_id=c.summary.id.clone()/>
                            }.into_any())}
                            <section class="card">
                                <h2>"Alerts sent"</h2>
                                <Deliveries deliveries=c.deliveries.clone()/>
                            </section>
                            <History detail=c/>
                            }
                            .into_any()
                        }
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}}
            </Suspense>
        </Page>
    }
}

/// A renewal link: the customer's Concur admin enters a new Company Request Token on a page of
/// their own, and the connection's refresh token is replaced. Shown first when the connection
/// needs it.
#[component]
fn RenewalLink(id: String, urgent: bool) -> impl IntoView {
    let create = ServerAction::<CreateHandoff>::new();
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    view! {
        <section class=if urgent { "card renewal urgent" } else { "card renewal" }>
            <h2>"Renewal link"</h2>
            <p>{if urgent {
                "This connection needs a new refresh token. Send the customer's Concur admin a renewal link: they enter a new Company Request Token on a page of their own, and the connection is renewed at once."
            } else {
                "When the refresh token must be renewed, send the customer's Concur admin a renewal link: they enter a new Company Request Token, nothing else changes."
            }}</p>
            <ActionForm action=create>
                <input type="hidden" name="connection_id" value=id/>
                <input type="hidden" name="name" value=""/>
                <input type="hidden" name="profile" value=""/>
                <input type="hidden" name="valid_days" value="7"/>
                <button type="submit" class=if urgent { "primary" } else { "" }>"Create renewal link"</button>
                <FormAlert error=error/>
            </ActionForm>
        </section>
    }
}

/// "Validate now": an island that shows the check under way, then shows the page again with
/// its outcome (state, history).
#[island]
fn ValidateNowButton(id: String, refused: Option<AppError>) -> impl IntoView {
    let validate = ServerAction::<ValidateNow>::new();
    let error = shown_error(validate.value(), refused);
    view! {
        <ActionForm action=validate>
            <input type="hidden" name="id" value=id/>
            <button type="submit" class="primary" disabled=move || validate.pending().get()>"Validate now"</button>
            <span class="progress" role="status">{move || {
                let pending = validate.pending().get();
                // Once a check has answered, the page under the island is shown again (its
                // state, its history). Read in this order, this runs once per check.
                #[cfg(feature = "hydrate")]
                if !pending && validate.version().get() > 0 {
                    crate::browser::refresh();
                }
                pending.then_some("Checking with Concur…")
            }}</span>
            <FormAlert error=error/>
        </ActionForm>
    }
}

#[component]
fn Overview(detail: ConnectionDetail) -> impl IntoView {
    let c = detail;
    let now = c.now;
    let s = c.summary;
    let expiry = s
        .refresh_token_expires_at
        .map(format_time)
        .unwrap_or_else(|| "unknown".into());
    let scopes = c
        .scopes
        .into_iter()
        .map(|line| {
            let (mark, class) = if line.granted { ("✔", "granted") } else { ("✘", "missing") };
            view! { <li class=class><span aria-hidden="true">{mark}</span>" "{line.scope}{(!line.granted).then_some(" (missing)")}</li> }
        })
        .collect_view();
    view! {
        <section class="card overview">
            <h2>{s.name.clone()} " " <StatusBadge status=s.status/></h2>
            {c.last_problem.map(|p| view! { <p class="problem" role="alert">{p}</p> })}
            <dl>
                <dt>"Refresh token expires"</dt>
                <dd data-field="refresh-expiry">{expiry}" ("{expiry_words(s.refresh_token_expires_at, now)}")"</dd>
                <dt>"Access token expires"</dt><dd>{time_or_never(c.access_token_expires_at)}</dd>
                <dt>"Data centre (geolocation)"</dt><dd class="mono">{c.geolocation.unwrap_or(c.authorization_url)}</dd>
                <dt>"Company UUID"</dt><dd class="mono">{s.company_uuid.unwrap_or_else(|| "not revealed by Concur".into())}</dd>
                <dt>"Client ID"</dt><dd class="mono">{s.client_id}</dd>
                <dt>"Client Secret"</dt><dd class="mono">{c.client_secret_mask}</dd>
                <dt>"Refresh Token"</dt><dd class="mono">{c.refresh_token_mask}</dd>
                <dt>"Last check"</dt><dd>{time_or_never(s.last_checked_at)}</dd>
                <dt>"Last success"</dt><dd>{time_or_never(c.last_ok_at)}</dd>
                <dt>"Next keep-alive refresh"</dt><dd>{c.next_refresh_at.map_or_else(|| "at the next sweep".to_owned(), format_time)}</dd>
                <dt>"Scope profile"</dt><dd>{c.scope_profile}</dd>
            </dl>
            <h3>"Required scopes"</h3>
            <ul class="scopes">{scopes}</ul>
            {(c.extra_granted > 0).then(|| view! { <p class="hint">{format!("Concur also granted {}.", plural(c.extra_granted as i64, "other scope"))}</p> })}
        </section>
    }
}

#[component]
fn History(detail: ConnectionDetail) -> impl IntoView {
    let rows = detail
        .history
        .into_iter()
        .map(|v| {
            view! {
                <tr class=if v.ok { "ok" } else { "failed" }>
                    <td>{format_time(v.at)}</td>
                    <td>{if v.ok { "✔ OK" } else { "✘ Failed" }}</td>
                    <td>{source_label(&v.source)}</td>
                    <td>{v.message}{v.status_change.map(|c| view! { <strong class="status-change">" "{c}</strong> })}</td>
                    <td>{v.concur_code.map(|c| c.to_string())}</td>
                    <td class="mono">{v.correlation_id}</td>
                    <td>{format!("{} ms", v.duration_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"History"</h2>
            <table class="history">
                <thead><tr><th>"When"</th><th>"Result"</th><th>"By"</th><th>"Diagnosis"</th><th>"Concur code"</th><th>"Correlation id"</th><th>"Took"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

/// Who asked for a check, in words.
fn source_label(source: &str) -> &'static str {
    match source {
        "keep-alive" => "Keep-alive",
        "token-api" => "Token API",
        _ => "Validate",
    }
}
