//! Concur Console's UI: pages, components and server functions. A server function checks the
//! role, calls `console_core` and maps its error; that side compiles under `ssr`, never into wasm.

pub mod account;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod auth;
#[cfg(feature = "hydrate")]
pub mod browser;
mod components;
pub mod connections;
pub mod error;
pub mod handoffs;
pub mod people;
pub mod session;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use account::AccountPage;
use alerts::SettingsPage;
use api_keys::KeysPage;
use audit::AuditPage;
use auth::{LoginPage, SetupPage};
use components::Page;
use connections::{ConnectionPage, DashboardPage, NewConnectionPage, ReplacePage};
use handoffs::HandoffsPage;
use people::{InvitePage, PeoplePage};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true islands_router=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    #[cfg(feature = "ssr")]
    ssr::content_security_policy();
    view! {
        <Stylesheet id="leptos" href="/pkg/concur-console.css"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async/>
                <Route path=path!("/invite") view=InvitePage ssr=SsrMode::Async/>
                <Route path=path!("/people") view=PeoplePage ssr=SsrMode::Async/>
                <Route path=path!("/") view=DashboardPage ssr=SsrMode::Async/>
                <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                <Route path=path!("/audit") view=AuditPage ssr=SsrMode::Async/>
                <Route path=path!("/settings") view=SettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/keys") view=KeysPage ssr=SsrMode::Async/>
                <Route path=path!("/handoffs") view=HandoffsPage ssr=SsrMode::Async/>
                <Route path=path!("/connections/new") view=NewConnectionPage ssr=SsrMode::Async/>
                <Route path=path!("/connections/:id") view=ConnectionPage ssr=SsrMode::Async/>
                <Route path=path!("/connections/:id/replace") view=ReplacePage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <Page title="Page not found" signed_in=true>
            <p>"There is nothing at this address. " <a href="/">"Back to the connections"</a></p>
        </Page>
    }
}
