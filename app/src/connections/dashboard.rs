//! The home page: every connection, what needs a human first, then soonest expiry.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::load_dashboard;
use crate::components::{FormAlert, Page, StatusBadge, expiry_words, time_or_never};
use crate::model::{Dashboard, format_time};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0i64)
    };
    let data = Resource::new(move || (search(), page()), |(s, p)| load_dashboard(s, p));
    view! {
        <Page title="Connections" signed_in=true>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) if d.total == 0 => empty_state().into_any(),
                        Ok(d) => view! { <Overview dashboard=d search=search()/> }.into_any(),
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

fn empty_state() -> impl IntoView {
    view! {
        <div class="card empty">
            <h2>"No connections yet"</h2>
            <p>"A connection is one set of SAP Concur credentials that an integration (an expense bot, a mileage tracker, an approvals assistant) uses. Add one by pasting the Client ID, Client Secret, Refresh Token and Authorization URL the integration's vendor asked you for — or a Company UUID with a Company Request Token."</p>
            <p>"Concur Console checks them with Concur, stores them encrypted, and warns here long before the refresh token expires."</p>
            <a class="button primary" href="/connections/new">"Add the first connection"</a>
        </div>
    }
}

#[component]
fn Overview(dashboard: Dashboard, search: String) -> impl IntoView {
    let now = dashboard.now;
    let counts = dashboard
        .counts
        .iter()
        .map(|(status, n)| {
            view! {
                <li class=format!("count {}", status.key())>
                    <StatusBadge status=*status/>
                    <strong>{*n}</strong>
                </li>
            }
        })
        .collect_view();
    let rows = dashboard
        .rows
        .into_iter()
        .map(|c| {
            let expires = c
                .refresh_token_expires_at
                .map(format_time)
                .unwrap_or_else(|| "—".into());
            view! {
                <tr data-status=c.status.key()>
                    <td><a href=format!("/connections/{}", c.id)>{c.name}</a></td>
                    <td><StatusBadge status=c.status/></td>
                    <td>{expires}</td>
                    <td>{expiry_words(c.refresh_token_expires_at, now)}</td>
                    <td>{time_or_never(c.last_checked_at)}</td>
                    <td class="mono">{c.client_id}</td>
                    <td class="mono">{c.company_uuid.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let (page, pages) = (dashboard.page, dashboard.pages);
    let term = search_param(&search);
    let link = move |p: i64| format!("/?q={term}&page={p}");
    view! {
        <ul class="counts" aria-label="Connections per status">{counts}</ul>
        <form method="get" action="/" class="search">
            <label for="q">"Search"</label>
            <input id="q" name="q" type="search" placeholder="Name, Client ID or company" value=search.clone()/>
            <button type="submit">"Search"</button>
        </form>
        <table class="connections">
            <thead>
                <tr>
                    <th>"Name"</th><th>"Status"</th><th>"Refresh token expires"</th><th>"Days left"</th>
                    <th>"Last check"</th><th>"Client ID"</th><th>"Company"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        {(pages > 1).then(|| view! {
            <nav class="pager" aria-label="Pages">
                {(page > 0).then(|| view! { <a href=link(page - 1)>"← Previous"</a> })}
                <span>{format!("Page {} of {pages}", page + 1)}</span>
                {(page + 1 < pages).then(|| view! { <a href=link(page + 1)>"Next →"</a> })}
            </nav>
        })}
    }
}

/// Percent-encodes a search term for a query string.
fn search_param(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
