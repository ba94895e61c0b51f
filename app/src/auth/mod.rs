//! Sign-in: first-run setup, login, logout.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{FieldError, FormAlert, Page};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::Error;

#[cfg(feature = "ssr")]
use crate::session::set_cookie;

/// Where the single sign-on button leads.
pub const SSO_START_PATH: &str = "/auth/oidc/start";

/// Starts a password session for account `id` from this request (its address and browser),
/// sets its cookie and sends the browser to the dashboard.
#[cfg(feature = "ssr")]
pub(crate) async fn enter_with_password(
    state: &console_core::state::AppState,
    id: &str,
) -> Result<(), AppError> {
    let ip = client_ip(state);
    let cookie = console_core::auth::start_session(
        state,
        id,
        console_model::SignInMethod::Password,
        &ip,
        &user_agent(),
    )
    .await?;
    set_cookie(&cookie)?;
    leptos_axum::redirect("/");
    Ok(())
}

#[cfg(feature = "ssr")]
use crate::ssr::{client_ip, user_agent};

#[server(prefix = "/api", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    use crate::ssr::state;
    use console_core::state::internal;
    use console_core::store;

    let state = state()?;
    if !state.local_login {
        return Err(AppError(Error::PasswordSignInOff));
    }
    let ip = client_ip(&state);
    let username = username.trim().to_owned();
    if username.chars().count() > console_core::auth::MAX_USERNAME_CHARS {
        return Err(AppError::invalid(
            "username",
            "User name must be at most 64 characters.",
        ));
    }
    if username.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "username",
            "User name must not contain control characters.",
        ));
    }
    let now = state.now();
    let sign_in = |outcome: &'static str| {
        let (state, ip, username) = (state.clone(), ip.clone(), username.clone());
        async move {
            console_core::audit::record(
                &state,
                console_core::audit::Event {
                    actor: console_core::audit::Actor::Named(&username),
                    address: Some(&ip),
                    kind: "sign_in",
                    connection_id: None,
                    outcome,
                    detail: "",
                },
            )
            .await;
        }
    };
    if let Err(wait) = state.limiter.attempt(&ip, &username, now) {
        state
            .limiter
            .count_throttled(&ip, now, console_core::auth::Refusal::SlowedDown);
        return Err(AppError(Error::TooManyAttempts(wait)));
    }
    let found = store::admin_credentials(&state.pool, &username)
        .await
        .map_err(internal)?;
    let (id, hash) = found.unzip();
    let _slot = state.limiter.argon2_slot()?;
    let ok = console_core::auth::verify_password(password, hash).await?;
    let Some(id) = id.filter(|_| ok) else {
        tracing::info!(%ip, "failed sign-in");
        sign_in("failed").await;
        return Err(AppError(Error::BadLogin));
    };
    state.limiter.succeeded(&ip, &username);
    sign_in("ok").await;
    enter_with_password(&state, &id).await
}

#[server(prefix = "/api", endpoint = "setup")]
pub async fn setup(
    token: String,
    username: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    use crate::ssr::state;
    use console_core::state::internal;
    use console_core::store;

    let state = state()?;
    console_core::auth::passwords_allowed(&state)?;
    let now = state.now();
    let token_hash = console_core::auth::token_hash(token.trim());
    let open = store::admin_count(&state.pool).await.map_err(internal)? == 0
        && store::setup_token_valid(&state.pool, &token_hash, now)
            .await
            .map_err(internal)?;
    if !open {
        return Err(AppError(Error::SetupClosed));
    }
    let username = console_core::auth::validate_username(&username)?;
    console_core::auth::validate_new_password(&password, &confirm, &username)?;
    let hash = console_core::auth::hash_password(password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    // The token is consumed in the transaction that creates the admin: of two parallel setups
    // with one link, only one creates an admin.
    if !store::create_first_admin(&state.pool, &token_hash, &id, &username, &hash, now)
        .await
        .map_err(internal)?
    {
        return Err(AppError(Error::SetupClosed));
    }
    tracing::info!(%username, "first admin created through the setup link");
    let account = console_core::auth::Account {
        id: id.clone(),
        role: console_model::Role::Admin,
        method: console_model::SignInMethod::Password,
    };
    crate::ssr::by_admin(
        &state,
        &account,
        "setup",
        None,
        "ok",
        "first admin created with the setup link",
    )
    .await;
    enter_with_password(&state, &id).await
}

/// What the sign-in page offers, and what it says about a single sign-on that came back
/// without a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignInChoices {
    /// The single sign-on button's words, when an identity provider is configured.
    pub sso_label: Option<String>,
    pub local_login: bool,
    pub sso_message: Option<String>,
}

#[server(prefix = "/api", endpoint = "sign_in_options")]
pub async fn sign_in_options(sso: String) -> Result<SignInChoices, AppError> {
    let state = crate::ssr::state()?;
    let expected = state
        .oidc
        .as_ref()
        .map(|o| o.config.expected_groups())
        .unwrap_or_default();
    Ok(SignInChoices {
        sso_label: state.oidc.as_ref().map(|o| o.config.label.clone()),
        local_login: state.local_login,
        sso_message: console_core::auth::oidc::message_for(&sso, &expected),
    })
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = Signal::derive(move || login.value().get().and_then(Result::err));
    let sso = use_query_map()
        .read_untracked()
        .get("sso")
        .unwrap_or_default();
    let options = Resource::new(move || sso.clone(), sign_in_options);
    view! {
        <Page title="Sign in" signed_in=false>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let options = options.await.unwrap_or(SignInChoices {
                        sso_label: None,
                        local_login: true,
                        sso_message: None,
                    });
                    view! {
                        {options.sso_message.map(|m| view! { <p class="error" role="alert">{m}</p> })}
                        {options.sso_label.map(|label| view! {
                            <p><a class="button primary sso" href=SSO_START_PATH rel="external">{label}</a></p>
                        })}
                        {options.local_login.then(|| view! {
                            <ActionForm action=login>
                                <div class="card form">
                                    <FormAlert error=error/>
                                    <label for="username">"User name"</label>
                                    <input id="username" name="username" autocomplete="username" required/>
                                    <FieldError error=error field="username"/>
                                    <label for="password">"Password"</label>
                                    <input id="password" name="password" type="password" autocomplete="current-password" required/>
                                    <button type="submit">"Sign in"</button>
                                </div>
                            </ActionForm>
                        })}
                    }
                })}
            </Suspense>
        </Page>
    }
}

#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    let token = move || use_query_map().read().get("token").unwrap_or_default();
    let error = Signal::derive(move || setup.value().get().and_then(Result::err));
    view! {
        <Page title="Create the first admin" signed_in=false>
            <p class="lead">"This one-time link lets you choose the administrator's user name and password."</p>
            <ActionForm action=setup>
                <div class="card form">
                    <FormAlert error=error/>
                    <NewAccountFields token=token() error/>
                    <button type="submit">"Create admin"</button>
                </div>
            </ActionForm>
        </Page>
    }
}

/// What a one-time link (setup, invitation) asks of a new account: its user name and password
/// twice, with the link's token.
#[component]
pub fn NewAccountFields(token: String, error: Signal<Option<AppError>>) -> impl IntoView {
    view! {
        <input type="hidden" name="token" value=token/>
        <label for="username">"User name"</label>
        <input id="username" name="username" autocomplete="username" maxlength="64" required/>
        <FieldError error=error field="username"/>
        <label for="password">"Password"</label>
        <input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required/>
        <p class="hint">"At least 12 characters."</p>
        <FieldError error=error field="password"/>
        <label for="confirm">"Repeat the password"</label>
        <input id="confirm" name="confirm" type="password" autocomplete="new-password" required/>
        <FieldError error=error field="confirm"/>
    }
}
