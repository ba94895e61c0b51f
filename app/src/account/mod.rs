//! The account page: change your password, choose whether the alerts of the connections you
//! own are mailed to you, see and end your sessions.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{FieldError, FormAlert, Page, Replaced};
use crate::error::AppError;
use console_model::{AccountView, format_time};

/// The signed-in account (any role) and the request's headers, for the account server
/// functions.
#[cfg(feature = "ssr")]
async fn signed_in() -> Result<
    (
        console_core::state::AppState,
        console_core::auth::Account,
        axum::http::HeaderMap,
    ),
    AppError,
> {
    let admin = crate::ssr::require(console_model::Role::Viewer).await?;
    let state = crate::ssr::state()?;
    let headers = use_context::<axum::http::request::Parts>()
        .map(|p| p.headers)
        .unwrap_or_default();
    Ok((state, admin, headers))
}

#[server(prefix = "/api", endpoint = "load_account")]
pub async fn load_account() -> Result<AccountView, AppError> {
    let (state, admin, headers) = signed_in().await?;
    Ok(console_core::account::account(&state, &admin.id, &headers).await?)
}

#[server(prefix = "/api", endpoint = "change_password")]
pub async fn change_password(
    current: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    let (state, admin, headers) = signed_in().await?;
    let result = console_core::account::change_password(
        &state, &admin.id, &headers, current, &password, &confirm,
    )
    .await;
    let outcome = if result.is_ok() { "ok" } else { "refused" };
    crate::ssr::by_admin(
        &state,
        &admin,
        "password_changed",
        None,
        outcome,
        "other sessions ended",
    )
    .await;
    result?;
    leptos_axum::redirect("/account?changed");
    Ok(())
}

#[server(prefix = "/api", endpoint = "set_alert_email")]
pub async fn set_alert_email(
    email: String,
    #[server(default)] alerts_by_email: Option<String>,
) -> Result<(), AppError> {
    let (state, admin, _) = signed_in().await?;
    let result = console_core::account::set_alert_email(
        &state,
        &admin.id,
        &email,
        alerts_by_email.is_some(),
    )
    .await;
    let (outcome, detail) = match &result {
        Ok(detail) => ("ok", detail.as_str()),
        Err(_) => ("refused", "e-mail address"),
    };
    crate::ssr::by_admin(&state, &admin, "account_changed", None, outcome, detail).await;
    result?;
    leptos_axum::redirect("/account?saved");
    Ok(())
}

#[server(prefix = "/api", endpoint = "end_session")]
pub async fn end_session(id: String) -> Result<(), AppError> {
    let (state, admin, _) = signed_in().await?;
    Ok(console_core::account::end_session(&state, &admin.id, &id).await?)
}

#[server(prefix = "/api", endpoint = "end_other_sessions")]
pub async fn end_other_sessions() -> Result<u64, AppError> {
    let (state, admin, headers) = signed_in().await?;
    Ok(console_core::account::end_other_sessions(&state, &admin.id, &headers).await?)
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let mail = ServerAction::<SetAlertEmail>::new();
    let end_one = ServerAction::<EndSession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    let data = Resource::new(|| (), |_| load_account());
    let query = use_query_map().get_untracked();
    let changed = query.get("changed").is_some();
    let saved = query.get("saved").is_some();
    let first_error = |results: Vec<Option<Result<(), AppError>>>| {
        results.into_iter().flatten().find_map(Result::err)
    };
    let change_errors = Signal::derive(move || first_error(vec![change.value().get()]));
    let mail_errors = Signal::derive(move || first_error(vec![mail.value().get()]));
    let session_errors = Signal::derive(move || {
        first_error(vec![
            end_one.value().get(),
            end_others.value().get().map(|r| r.map(|_| ())),
        ])
    });
    view! {
        <Page title="Your account" signed_in=true>
            {changed.then(|| view! {
                <p class="notice" role="status">"Password changed. Every other session has been ended."</p>
            })}
            {saved.then(|| view! { <p class="notice" role="status">"Saved."</p> })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(account) => view! {
                            {if account.sso {
                                view! {
                                    <p class="hint">"You sign in through single sign-on: your password is kept by your company's identity provider."</p>
                                }.into_any()
                            } else {
                                view! { <ChangePasswordForm change errors=change_errors/> }.into_any()
                            }}
                            <AlertEmail account=account.clone() mail errors=mail_errors/>
                            <Replaced>
                                <Sessions account=account.clone() end_one end_others errors=session_errors/>
                            </Replaced>
                        }.into_any(),
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

#[component]
fn ChangePasswordForm(
    change: ServerAction<ChangePassword>,
    errors: Signal<Option<AppError>>,
) -> impl IntoView {
    view! {
            <section class="card form">
                <h2>"Change password"</h2>
                <FormAlert error=errors/>
                <ActionForm action=change>
                    <label for="current">"Current password"</label>
                    <input id="current" name="current" type="password" autocomplete="current-password" required/>
                    <FieldError error=errors field="current"/>
                    <label for="new-password">"New password"</label>
                    <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="12" required/>
                    <FieldError error=errors field="password"/>
                    <label for="confirm">"Repeat the new password"</label>
                    <input id="confirm" name="confirm" type="password" autocomplete="new-password" required/>
                    <FieldError error=errors field="confirm"/>
                    <button type="submit" class="primary">"Change password"</button>
                </ActionForm>
            </section>
    }
}

/// Where the alerts of the connections this account owns are mailed, if anywhere.
#[component]
fn AlertEmail(
    account: AccountView,
    mail: ServerAction<SetAlertEmail>,
    errors: Signal<Option<AppError>>,
) -> impl IntoView {
    let hint = if account.mail_ready {
        "When on, each alert about a connection you own (its owner is you) is also mailed to this address, whatever other channels it goes to."
    } else {
        "The console has no SMTP server yet (an admin sets one on Settings): your choice is kept, and mails start once it has one."
    };
    view! {
        <section class="card form">
            <h2>"Alert e-mails"</h2>
            <ActionForm action=mail>
                <label for="email">"E-mail address"</label>
                <input id="email" name="email" type="email" autocomplete="email" maxlength="254" value=account.email/>
                <FieldError error=errors field="email"/>
                <label class="inline">
                    <input type="checkbox" name="alerts_by_email" checked=account.alerts_by_email/>
                    " E-mail me the alerts of the connections I own"
                </label>
                <p class="hint">{hint}</p>
                <button type="submit" class="primary">"Save"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Sessions(
    account: AccountView,
    end_one: ServerAction<EndSession>,
    end_others: ServerAction<EndOtherSessions>,
    errors: Signal<Option<AppError>>,
) -> impl IntoView {
    let rows = account
        .sessions
        .into_iter()
        .map(|s| {
            let action = match (s.current, s.id) {
                (true, _) => view! { <strong>"This session"</strong> }.into_any(),
                (false, Some(id)) => view! {
                    <ActionForm action=end_one>
                        <input type="hidden" name="id" value=id/>
                        <button type="submit">"End"</button>
                    </ActionForm>
                }
                .into_any(),
                (false, None) => "".into_any(),
            };
            view! {
                <tr>
                    <td class="mono">{s.address}</td>
                    <td>{s.user_agent}</td>
                    <td>{s.method.label()}</td>
                    <td>{format_time(s.created_at)}</td>
                    <td>{format_time(s.last_seen_at)}</td>
                    <td>{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Your sessions"</h2>
            <FormAlert error=errors/>
            <FieldError error=errors field="session"/>
            <table class="sessions">
                <thead><tr><th>"Address"</th><th>"Browser"</th><th>"Method"</th><th>"Signed in"</th><th>"Last seen"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <ActionForm action=end_others>
                <button type="submit" class="danger">"End all other sessions"</button>
            </ActionForm>
        </section>
    }
}
