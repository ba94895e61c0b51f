//! Sign-in: first-run setup, login, logout.

#[cfg(feature = "ssr")]
pub mod limiter;
#[cfg(feature = "ssr")]
pub mod oidc;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{FieldError, FormAlert, Page};
use crate::error::AppError;
use crate::model::Role;

/// Where the single sign-on button leads.
pub const SSO_START_PATH: &str = "/auth/oidc/start";

/// The role each signed-in page needs, by route (`{id}` stands for one path segment). The page
/// guard reads this table; server functions name their role where they start. A page missing
/// here needs an admin.
pub const PAGES: &[(&str, Role)] = &[
    ("/", Role::Viewer),
    ("/connections/{id}", Role::Viewer),
    ("/audit", Role::Viewer),
    ("/handoffs", Role::Viewer),
    ("/account", Role::Viewer),
    ("/connections/new", Role::Editor),
    ("/connections/{id}/replace", Role::Editor),
    ("/settings", Role::Admin),
    ("/people", Role::Admin),
];

/// The role the page at `path` needs: the most specific route of [`PAGES`] that matches (a
/// literal segment beats `{id}`), else admin.
pub fn page_role(path: &str) -> Role {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    PAGES
        .iter()
        .filter_map(|(route, role)| {
            let pattern: Vec<&str> = route.trim_end_matches('/').split('/').collect();
            let matches = pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()));
            let literal = pattern.iter().filter(|p| !p.starts_with('{')).count();
            matches.then_some((literal, *role))
        })
        .max_by_key(|(literal, _)| *literal)
        .map_or(Role::Admin, |(_, role)| role)
}

/// The role of the account the page is being rendered for, as the page guard found it; none
/// when not signed in (and in the browser, where only islands run).
pub fn signed_in_role() -> Option<Role> {
    #[cfg(feature = "ssr")]
    {
        use_context::<axum::http::request::Parts>()?
            .extensions
            .get::<ssr::SignedIn>()
            .map(|s| s.0.role)
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// Whether the account the page is rendered for may do what `needed` allows.
pub fn may(needed: Role) -> bool {
    signed_in_role().is_some_and(|role| role.allows(needed))
}

#[cfg(feature = "ssr")]
pub(crate) fn set_cookie(value: &str) -> Result<(), AppError> {
    let header = value.parse().map_err(crate::ssr::state::internal)?;
    expect_context::<leptos_axum::ResponseOptions>()
        .insert_header(axum::http::header::SET_COOKIE, header);
    Ok(())
}

/// Starts a password session for account `id` from this request (its address and browser),
/// sets its cookie and sends the browser to the dashboard.
#[cfg(feature = "ssr")]
pub(crate) async fn enter_with_password(
    state: &crate::ssr::state::AppState,
    id: &str,
) -> Result<(), AppError> {
    let ip = client_ip(&state.trusted_proxies);
    let cookie = ssr::start_session(
        state,
        id,
        crate::model::SignInMethod::Password,
        &ip,
        &user_agent(),
    )
    .await?;
    set_cookie(&cookie)?;
    leptos_axum::redirect("/");
    Ok(())
}

#[cfg(feature = "ssr")]
pub(crate) use crate::ssr::request::{client_ip, user_agent};

#[server(prefix = "/api", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    use crate::ssr::state::{internal, state};
    use crate::ssr::store;

    let state = state()?;
    if !state.local_login {
        return Err(AppError::PasswordSignInOff);
    }
    let ip = client_ip(&state.trusted_proxies);
    let username = username.trim().to_owned();
    if username.chars().count() > ssr::MAX_USERNAME_CHARS {
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
            crate::audit::ssr::record(
                &state,
                crate::audit::ssr::Event {
                    actor: crate::audit::ssr::Actor::Named(&username),
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
            .count_throttled(&ip, now, ssr::Refusal::SlowedDown);
        return Err(AppError::TooManyAttempts(wait));
    }
    let found = store::admin_credentials(&state.pool, &username)
        .await
        .map_err(internal)?;
    let (id, hash) = found.unzip();
    let _slot = state.limiter.argon2_slot()?;
    let ok = ssr::verify_password(password, hash).await?;
    let Some(id) = id.filter(|_| ok) else {
        tracing::info!(%ip, "failed sign-in");
        sign_in("failed").await;
        return Err(AppError::BadLogin);
    };
    state.limiter.succeeded(&ip, &username);
    sign_in("ok").await;
    enter_with_password(&state, &id).await
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::ssr::state::{internal, state};

    let state = state()?;
    let parts = use_context::<axum::http::request::Parts>().ok_or(AppError::Unauthorized)?;
    if let Some(admin) = ssr::current_account(&state, &parts.headers).await? {
        crate::audit::ssr::by_admin(&state, &admin, "sign_out", None, "ok", "").await;
    }
    if let Some(token) = ssr::session_token(&parts.headers, state.secure_cookies) {
        crate::ssr::store::delete_session(&state.pool, &ssr::token_hash(&token))
            .await
            .map_err(internal)?;
    }
    set_cookie(&ssr::clear_cookie(state.secure_cookies))?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/api", endpoint = "setup")]
pub async fn setup(
    token: String,
    username: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    use crate::ssr::state::{internal, state};
    use crate::ssr::store;

    let state = state()?;
    ssr::passwords_allowed(&state)?;
    let now = state.now();
    let token_hash = ssr::token_hash(token.trim());
    let open = store::admin_count(&state.pool).await.map_err(internal)? == 0
        && store::setup_token_valid(&state.pool, &token_hash, now)
            .await
            .map_err(internal)?;
    if !open {
        return Err(AppError::SetupClosed);
    }
    let username = ssr::validate_username(&username)?;
    ssr::validate_new_password(&password, &confirm, &username)?;
    let hash = ssr::hash_password(password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    // The token is consumed in the transaction that creates the admin: of two parallel setups
    // with one link, only one creates an admin.
    if !store::create_first_admin(&state.pool, &token_hash, &id, &username, &hash, now)
        .await
        .map_err(internal)?
    {
        return Err(AppError::SetupClosed);
    }
    tracing::info!(%username, "first admin created through the setup link");
    let account = ssr::Account {
        id: id.clone(),
        role: crate::model::Role::Admin,
        method: crate::model::SignInMethod::Password,
    };
    crate::audit::ssr::by_admin(
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
    let state = crate::ssr::state::state()?;
    let expected = state
        .oidc
        .as_ref()
        .map(|o| o.config.expected_groups())
        .unwrap_or_default();
    Ok(SignInChoices {
        sso_label: state.oidc.as_ref().map(|o| o.config.label.clone()),
        local_login: state.local_login,
        sso_message: oidc::message_for(&sso, &expected),
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

/// The sign-out button in the header.
#[component]
pub fn SignOut() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    view! {
        <ActionForm action=logout>
            <button type="submit" class="link">"Sign out"</button>
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_page_needs_the_role_of_its_most_specific_route() {
        assert_eq!(page_role("/"), Role::Viewer);
        assert_eq!(page_role("/connections/new"), Role::Editor);
        assert_eq!(page_role("/connections/abc"), Role::Viewer);
        assert_eq!(page_role("/connections/abc/replace"), Role::Editor);
        assert_eq!(page_role("/settings"), Role::Admin);
        assert_eq!(page_role("/people/"), Role::Admin);
        assert_eq!(page_role("/nothing-here"), Role::Admin);
        assert_eq!(page_role("/connections//replace"), Role::Admin);
    }
}
