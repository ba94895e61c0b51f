//! Who the page is rendered for, and signing out: the role each page needs, the signed-in
//! account's role, the session cookie, the sign-out button. Every page may use it; it uses no
//! page or component.

use leptos::prelude::*;

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::Error;
use console_model::Role;

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
    ("/keys", Role::Admin),
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
            .get::<console_core::auth::SignedIn>()
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
    let header = value.parse().map_err(console_core::state::internal)?;
    expect_context::<leptos_axum::ResponseOptions>()
        .insert_header(axum::http::header::SET_COOKIE, header);
    Ok(())
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::ssr::state;
    use console_core::state::internal;

    let state = state()?;
    let parts = use_context::<axum::http::request::Parts>().ok_or(AppError(Error::Unauthorized))?;
    if let Some(admin) = console_core::auth::current_account(&state, &parts.headers).await? {
        crate::ssr::by_admin(&state, &admin, "sign_out", None, "ok", "").await;
    }
    if let Some(token) = console_core::auth::session_token(&parts.headers, state.secure_cookies) {
        console_core::store::delete_session(&state.pool, &console_core::auth::token_hash(&token))
            .await
            .map_err(internal)?;
    }
    set_cookie(&console_core::auth::clear_cookie(state.secure_cookies))?;
    leptos_axum::redirect("/login");
    Ok(())
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
