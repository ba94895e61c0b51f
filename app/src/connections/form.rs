//! The credentials form: a new connection, or new credentials for a stored one.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::belonging::BelongingFields;
use super::calls::{ReplaceCredentials, ValidateConnection, load_connection};
use crate::components::{FieldError, FormAlert, Page, refusal_in_address, shown_error};
use crate::error::AppError;
use console_model::{BelongingView, KNOWN_DATA_CENTERS};

const REQUEST_MODE: &str = "request-token";

/// A labelled input with its error below.
#[component]
fn TextField(
    label: &'static str,
    field: &'static str,
    error: Signal<Option<AppError>>,
    #[prop(optional)] secret: bool,
    #[prop(optional, into)] value: String,
    #[prop(optional)] hint: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] list: &'static str,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let kind = if secret { "password" } else { "text" };
    let hint_id = format!("{field}-hint");
    let hint = (!hint.is_empty()).then_some(hint);
    let list = (!list.is_empty()).then_some(list);
    view! {
        <div class="field">
            <label for=field>{label}</label>
            <input
                id=field
                name=format!("form[{field}]")
                type=kind
                value=value
                placeholder=placeholder
                list=list
                required=required
                autocomplete="off"
                spellcheck="false"
                aria-describedby=hint.map(|_| hint_id.clone())
            />
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{h}</p> })}
            <FieldError error=error field=field/>
        </div>
    }
}

/// The fields both forms share, for the chosen mode.
#[component]
fn CredentialFields(
    request_mode: bool,
    error: Signal<Option<AppError>>,
    #[prop(optional, into)] client_id: String,
    #[prop(optional, into)] authorization_url: String,
    #[prop(optional, into)] company_uuid: String,
    #[prop(optional)] replacing: bool,
) -> impl IntoView {
    let secret_hint = if replacing {
        "Leave empty to keep the stored Client Secret."
    } else {
        ""
    };
    view! {
        <input type="hidden" name="form[mode]" value=if request_mode { REQUEST_MODE } else { "refresh-token" }/>
        <TextField label="Client ID" field="client_id" error=error value=client_id required=true
            placeholder="1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"/>
        <TextField label="Client Secret" field="client_secret" error=error secret=true required=!replacing hint=secret_hint/>
        {if request_mode {
            Either::Left(view! {
                <TextField label="Company UUID" field="company_uuid" error=error value=company_uuid required=true
                    hint="The company's ID, shown with the request token in Concur."/>
                <TextField label="Company Request Token" field="request_token" error=error secret=true required=true
                    hint="Generated in Concur under Administration → Company → Authentication Admin → Company Request Token. It is valid for 24 hours and can be used once; it is exchanged for a refresh token here."/>
            })
        } else {
            Either::Right(view! {
                <TextField label="Refresh Token" field="refresh_token" error=error secret=true required=true
                    hint="Paste a token that no other system refreshes. Concur Console becomes its only holder and gives integrations access tokens; if two systems refresh one token, Concur can rotate it out from under one of them."/>
            })
        }}
        <TextField label="Authorization URL" field="authorization_url" error=error value=authorization_url required=true
            list="data-centres" placeholder="https://us2.api.concursolutions.com"
            hint="The Concur data centre (geolocation) base URL. The full …/oauth2/v0/token address works too."/>
        <datalist id="data-centres">
            {KNOWN_DATA_CENTERS.iter().map(|(label, url)| view! { <option value=*url label=*label/> }).collect_view()}
        </datalist>
    }
}

/// A refusal at the top of the form, with why the secret fields may have to be pasted again.
fn refusal(error: Signal<Option<AppError>>) -> impl IntoView {
    view! {
        <FormAlert error=error/>
        {move || error.get().map(|_| view! {
            <p class="hint">"Secret fields are never sent back to the browser: if they are empty, paste them again."</p>
        })}
    }
}

fn mode_tabs(base: String, request_mode: bool) -> impl IntoView {
    let refresh_class = if request_mode { "tab" } else { "tab active" };
    let request_class = if request_mode { "tab active" } else { "tab" };
    view! {
        <nav class="tabs" aria-label="Kind of credentials">
            <a class=refresh_class href=base.clone()>"Use a Refresh Token"</a>
            <a class=request_class href=format!("{base}?mode={REQUEST_MODE}")>"Use a Company Request Token"</a>
        </nav>
    }
}

fn submit_button(pending: Signal<bool>) -> impl IntoView {
    view! {
        <button type="submit" class="primary" disabled=move || pending.get() aria-busy=move || pending.get().to_string()>
            "Validate"
        </button>
        <span class="progress" role="status">
            {move || pending.get().then_some("Checking with Concur…")}
        </span>
    }
}

fn is_request_mode() -> bool {
    use_query_map().read_untracked().get("mode").as_deref() == Some(REQUEST_MODE)
}

/// Where new credentials go when replacing: the stored connection and what it already has.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReplaceTarget {
    id: String,
    client_id: String,
    authorization_url: String,
    company_uuid: String,
}

#[component]
pub fn NewConnectionPage() -> impl IntoView {
    let refused = refusal_in_address::<ValidateConnection>();
    let request_mode = is_request_mode();
    view! {
        <Page title="New connection" signed_in=true>
            <p class="lead">"Paste the credentials your integration asks for, then Validate: Concur is asked, and the connection is stored only if Concur accepts them."</p>
            {mode_tabs("/connections/new".into(), request_mode)}
            {if request_mode {
                Either::Left(view! { <NewConnectionForm request_mode=true refused=refused/> })
            } else {
                Either::Right(view! { <NewConnectionForm request_mode=false refused=refused/> })
            }}
            {belonging_fields()}
        </Page>
    }
}

/// The id of the new-connection form, which the fields of who the connection belongs to name
/// as theirs.
const NEW_FORM: &str = "new-connection";

/// Who the new connection belongs to, folded away below the form and sent with it (each field
/// names the form as its own): rendered by the server, so it adds nothing to the island's code.
fn belonging_fields() -> impl IntoView {
    view! {
        <details class="card belonging-fields">
            <summary>"Who it belongs to (optional)"</summary>
            <BelongingFields view=BelongingView::default() within="form" form=NEW_FORM/>
        </details>
    }
}

/// The new-connection form. An island: it shows Validate's progress and keeps what was typed
/// when Concur refuses; a refusal of who the connection belongs to is shown above its button.
#[island]
fn NewConnectionForm(request_mode: bool, refused: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<ValidateConnection>::new();
    let error = shown_error(action.value(), refused);
    view! {
        <ActionForm action=action attr:id=NEW_FORM>
            <div class="card form">
                {refusal(error)}
                <div class="field">
                    <label for="name">"Name"</label>
                    <input id="name" name="form[name]" required placeholder="Expense bot – ACME" autocomplete="off"/>
                    <FieldError error=error field="name"/>
                </div>
                <CredentialFields request_mode=request_mode error=error/>
                <div class="field">
                    <label for="scope_profile">"Scope profile"</label>
                    <select id="scope_profile" name="form[scope_profile]">
                        <option value="expense-approvals">"Expense approvals"</option>
                        <option value="mileage-to-expense">"Mileage to expense"</option>
                        <option value="custom">"Custom list"</option>
                    </select>
                    <p class="hint">"The scopes the integration needs; Validate checks that Concur granted each one."</p>
                </div>
                <div class="field">
                    <label for="custom_scopes">"Custom scopes"</label>
                    <textarea id="custom_scopes" name="form[custom_scopes]" rows="2" placeholder="EXPRPT expense.report.read"></textarea>
                    <p class="hint">"Only for Custom list: scope names separated by spaces."</p>
                </div>
                // One line for the scopes (the profile or the custom list above) and for who it
                // belongs to (the fields below the form): each error names its field.
                <FieldError error=error field="scope_profile|external_id|tags|contact_name|contact_email|owner"/>
                {submit_button(action.pending().into())}
            </div>
        </ActionForm>
    }
}

#[component]
pub fn ReplacePage() -> impl IntoView {
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    let refused = refusal_in_address::<ReplaceCredentials>();
    let request_mode = is_request_mode();
    let current = Resource::new(move || id.clone(), load_connection);
    view! {
        <Page title="Replace credentials" signed_in=true>
            <p class="lead">"The renewal path: paste a new Refresh Token, or a new Company Request Token. Nothing changes unless Concur accepts them."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    let refused = refused.clone();
                    Suspend::new(async move {
                    match current.await {
                        Ok(c) => {
                            let target = ReplaceTarget {
                                id: c.summary.id.clone(),
                                client_id: c.summary.client_id.clone(),
                                authorization_url: c.geolocation.clone().unwrap_or(c.authorization_url.clone()),
                                company_uuid: c.summary.company_uuid.clone().unwrap_or_default(),
                            };
                            let base = format!("/connections/{}/replace", c.summary.id);
                            view! {
                                {mode_tabs(base, request_mode)}
                                <p><a href=format!("/connections/{}", c.summary.id)>"← " {c.summary.name.clone()}</a></p>
                                {if request_mode {
                                    Either::Left(view! { <ReplaceForm request_mode=true target=target refused=refused/> })
                                } else {
                                    Either::Right(view! { <ReplaceForm request_mode=false target=target refused=refused/> })
                                }}
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

/// The replace form, an island for the same reasons as the new-connection form.
#[island]
fn ReplaceForm(
    request_mode: bool,
    target: ReplaceTarget,
    refused: Option<AppError>,
) -> impl IntoView {
    let action = ServerAction::<ReplaceCredentials>::new();
    let error = shown_error(action.value(), refused);
    view! {
        <ActionForm action=action>
            <div class="card form">
                {refusal(error)}
                <input type="hidden" name="id" value=target.id/>
                <CredentialFields request_mode=request_mode error=error replacing=true
                    client_id=target.client_id
                    authorization_url=target.authorization_url
                    company_uuid=target.company_uuid/>
                {submit_button(action.pending().into())}
            </div>
        </ActionForm>
    }
}
