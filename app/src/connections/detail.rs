//! One connection: its state, the checks it passed or failed, and what can be done with it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::belonging::Belonging;
use super::calls::{
    DeleteConnection, RenameConnection, RequestRenewal, SetRenewalAutomatic, StopRenewal,
    UpdateBelonging, ValidateNow, load_connection,
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
use console_model::{ConnectionDetail, ProbeLine, RenewalBox, Role, Status, format_time};

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
                            {(urgent && may(Role::Editor)).then(|| view! { <RenewalLink id=id.clone() urgent=true renewal=c.renewal.clone()/> })}
                            <Overview detail=c.clone()/>
                            <Capabilities lines=c.probes.clone()/>
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
                            {(!urgent).then(|| view! { <RenewalLink id=id.clone() urgent=false renewal=c.renewal.clone()/> })}
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

/// Renewal: what the customer must fix (in the order they do it), where asking them stands,
/// and a renewal link to send by hand. Shown first when the connection needs it.
#[component]
fn RenewalLink(id: String, urgent: bool, renewal: RenewalBox) -> impl IntoView {
    let create = ServerAction::<CreateHandoff>::new();
    let ask = ServerAction::<RequestRenewal>::new();
    let stop = ServerAction::<StopRenewal>::new();
    let setting = ServerAction::<SetRenewalAutomatic>::new();
    let error = Signal::derive(move || {
        [
            create.value().get().and_then(Result::err),
            ask.value().get().and_then(Result::err),
            stop.value().get().and_then(Result::err),
            setting.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
    });
    let open = renewal.request.as_ref().is_some_and(|r| r.open);
    let needs = renewal.needs.clone().map(|needs| {
        let steps = renewal
            .steps
            .iter()
            .map(|step| view! { <li>{step.clone()}</li> })
            .collect_view();
        view! {
            <p><strong>"This connection needs the customer. "</strong>{needs}</p>
            <p>"What the customer's Concur admin does, in order:"</p>
            <ol class="steps">{steps}<li>"Opens the renewal link and pastes the new Company Request Token."</li></ol>
        }
    });
    let asking = match (&renewal.contact, renewal.automatic) {
        (Some(contact), true) => format!(
            "The console asks {contact} by e-mail when the connection needs them, and reminds them."
        ),
        (Some(contact), false) if renewal.automatic_set == Some(false) => format!(
            "Automatic requests are off for this connection: an admin can ask {contact} from here."
        ),
        (Some(contact), false) => format!(
            "Automatic requests are off: an admin can ask {contact} from here."
        ),
        (None, _) => "No contact to ask: add the customer's Concur admin under “Who it belongs to”, and the console asks them by e-mail.".to_owned(),
    };
    let timeline = renewal.request.clone().map(|request| {
        let steps = request
            .steps
            .into_iter()
            .map(|step| view! { <li><time>{format_time(step.at)}</time>" — "{step.what}</li> })
            .collect_view();
        let next = request.next_reminder_at.filter(|_| request.open).map(|at| {
            view! { <p class="hint">{format!("Next reminder to {}: {}", request.contact_email, format_time(at))}</p> }
        });
        view! {
            <h3>{if request.open { "Request to the customer" } else { "Last request to the customer" }}</h3>
            <ol class="episode">{steps}</ol>
            {next}
        }
    });
    let has_contact = renewal.contact.is_some();
    let (ask_id, stop_id, setting_id) = (id.clone(), id.clone(), id.clone());
    let console_word = if renewal.console_asks { "on" } else { "off" };
    let choices = [
        (
            "default",
            format!("As the console's setting ({console_word})"),
            None,
        ),
        ("always", "Always".to_owned(), Some(true)),
        (
            "never",
            "Never (an admin still can, from here)".to_owned(),
            Some(false),
        ),
    ]
    .into_iter()
    .map(|(value, words, set)| {
        view! { <option value=value selected=renewal.automatic_set == set>{words}</option> }
    })
    .collect_view();
    view! {
        <section class=if urgent { "card renewal urgent" } else { "card renewal" }>
            <h2>"Renewal"</h2>
            {needs}
            <p>{asking}</p>
            {timeline}
            {(may(Role::Admin) && has_contact).then(|| view! {
                <ActionForm action=ask>
                    <input type="hidden" name="id" value=ask_id/>
                    <button type="submit" class=if urgent && !open { "primary" } else { "" }>
                        {if open { "Send the request again" } else { "Ask the customer now" }}
                    </button>
                </ActionForm>
            })}
            {(may(Role::Admin) && open).then(|| view! {
                <ActionForm action=stop>
                    <input type="hidden" name="id" value=stop_id/>
                    <button type="submit">"Stop asking"</button>
                </ActionForm>
            })}
            {may(Role::Admin).then(|| view! {
                <ActionForm action=setting>
                    <input type="hidden" name="id" value=setting_id/>
                    <div class="field">
                        <label for="asks">"Ask this customer on its own"</label>
                        <select id="asks" name="asks">{choices}</select>
                    </div>
                    <button type="submit">"Apply"</button>
                </ActionForm>
            })}
            <p>"Or send a renewal link yourself: the customer's Concur admin enters a new Company Request Token on a page of their own, nothing else changes."</p>
            <ActionForm action=create>
                <input type="hidden" name="connection_id" value=id/>
                <input type="hidden" name="name" value=""/>
                <input type="hidden" name="profile" value=""/>
                <input type="hidden" name="valid_days" value="7"/>
                <button type="submit">"Create renewal link"</button>
            </ActionForm>
            <FormAlert error=error/>
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

/// What the integration can do: a line per read-only API probe, with the fact it proved or
/// Concur's refusal and the fix, and when it last ran.
#[component]
fn Capabilities(lines: Vec<ProbeLine>) -> impl IntoView {
    let last = lines.iter().map(|l| l.checked_at).max();
    let items = lines
        .into_iter()
        .map(|line| {
            let (mark, class) = match line.ok {
                Some(true) => ("✔", "works"),
                Some(false) if line.transient => ("…", "waiting"),
                Some(false) => ("✘", "fails"),
                None => ("–", "not-probed"),
            };
            let status = line.status.map(|s| format!("HTTP {s}: "));
            view! {
                <li class=class data-probe=line.name.clone()>
                    <span aria-hidden="true">{mark}</span>" "<strong>{line.label}</strong>": "{status}{line.detail}
                    {line.fix.map(|fix| view! { <p class="fix">{fix}</p> })}
                    {line.correlation_id.map(|id| view! { <p class="hint">"Correlation id: "<span class="mono">{id}</span></p> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card capabilities">
            <h2>"What the integration can do"</h2>
            {match last {
                Some(at) => view! {
                    <ul class="probes">{items}</ul>
                    <p class="hint">{format!("Read-only calls made with the connection's access token, last on {}.", format_time(at))}</p>
                }.into_any(),
                None => view! { <p class="hint">"Not checked yet: the read-only calls run after the next successful check (Validate now)."</p> }.into_any(),
            }}
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
