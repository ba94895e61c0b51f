//! The home page: every connection, what needs a human first, then soonest expiry.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::calls::load_dashboard;
use crate::components::{FormAlert, Page, StatusBadge, expiry_words, time_or_never};
use console_model::{Dashboard, WeekBar, format_time};

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
    let week = move || query.read().get("week").and_then(|w| w.parse::<i64>().ok());
    let data = Resource::new(
        move || (search(), page(), week()),
        |(s, p, w)| load_dashboard(s, p, w),
    );
    view! {
        <Page title="Connections" signed_in=true>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) if d.total == 0 => empty_state(d.handoffs_waiting).into_any(),
                        Ok(d) => view! { <Overview dashboard=d search=search()/> }.into_any(),
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

/// A line about the hand-off links customers have not completed yet, if any.
fn waiting_links(waiting: i64) -> impl IntoView {
    (waiting > 0).then(|| {
        let plural = if waiting == 1 { " is" } else { "s are" };
        view! {
            <p class="narrowed" role="status">
                <a href="/handoffs">{format!("{waiting} hand-off link{plural} waiting for a customer.")}</a>
            </p>
        }
    })
}

fn empty_state(waiting: i64) -> impl IntoView {
    view! {
        {waiting_links(waiting)}
        <div class="card empty">
            <h2>"No connections yet"</h2>
            <p>"A connection is one set of SAP Concur credentials that an integration (an expense bot, a mileage tracker, an approvals assistant) uses. Add one by pasting the Client ID, Client Secret, Refresh Token and Authorization URL the integration's vendor asked you for — or a Company UUID with a Company Request Token."</p>
            <p>"Concur Console checks them with Concur, stores them encrypted, and warns here long before the refresh token expires."</p>
            {if crate::session::may(console_model::Role::Editor) {
                view! {
                    <a class="button primary" href="/connections/new">"Add the first connection"</a>
                    " "
                    <a class="button" href="/handoffs">"Send a hand-off link to a customer"</a>
                }
                .into_any()
            } else {
                view! { <p class="hint">"Your role (viewer) reads connections; an editor adds them."</p> }.into_any()
            }}
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
    let more_than = dashboard.more_than;
    let term = search_param(&search);
    let narrowed = dashboard.week;
    let link = move |p: i64| match narrowed {
        Some(w) => format!("/?week={w}&page={p}"),
        None => format!("/?q={term}&page={p}"),
    };
    view! {
        <ul class="counts" aria-label="Connections per status">{counts}</ul>
        {waiting_links(dashboard.handoffs_waiting)}
        <Timeline bars=dashboard.timeline now=now selected=narrowed/>
        {narrowed.map(|w| view! {
            <p class="narrowed" role="status">
                {format!("Showing the refresh tokens that expire between {} and {}. ", format_time(now + w * WEEK), format_time(now + (w + 1) * WEEK))}
                <a href="/">"Show all connections"</a>
            </p>
        })}
        <form method="get" action="/" class="search">
            <label for="q">"Search"</label>
            <input id="q" name="q" type="search" placeholder="Name, Client ID or company" value=search.clone()/>
            <button type="submit">"Search"</button>
        </form>
        {more_than.map(|n| view! {
            <p class="narrowed" role="status">
                {format!("More than {n} connections match; the first {n} are listed. Add to the search to narrow it.")}
            </p>
        })}
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

const WEEK: i64 = 7 * 86_400;
const BAR_WIDTH: i64 = 24;
const CHART_HEIGHT: i64 = 120;

/// The expiry timeline: how many working refresh tokens expire in each of the next 26 weeks,
/// drawn on the server as SVG (no JavaScript needed). Each bar is an HTML link to the
/// connections it counts, so it works the same rendered on the server or in the browser.
#[component]
fn Timeline(bars: Vec<WeekBar>, now: i64, selected: Option<i64>) -> impl IntoView {
    let highest = bars.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let drawn = bars
        .into_iter()
        .map(|bar| {
            let height = if bar.count == 0 {
                0
            } else {
                (bar.count * CHART_HEIGHT / highest).max(3)
            };
            let starts = format_time(now + bar.week * WEEK);
            let label = format!(
                "{} expiring in the week from {}",
                crate::components::plural(bar.count, "refresh token"),
                &starts[..10]
            );
            let class = format!(
                "week {}{}",
                bar.band.key(),
                if selected == Some(bar.week) { " selected" } else { "" }
            );
            let tick = if bar.week % 4 == 0 { starts[5..10].to_owned() } else { String::new() };
            view! {
                <a class=class href=format!("/?week={}", bar.week) title=label.clone() aria-label=label>
                    <span class="bar-count">{(bar.count > 0).then_some(bar.count)}</span>
                    <svg viewBox=format!("0 0 {BAR_WIDTH} {CHART_HEIGHT}") preserveAspectRatio="none" aria-hidden="true">
                        <rect x="0" y=CHART_HEIGHT - height width=BAR_WIDTH height=height></rect>
                    </svg>
                    <span class="tick">{tick}</span>
                </a>
            }
        })
        .collect_view();
    view! {
        <figure class="card timeline">
            <figcaption>"Refresh tokens expiring in each of the next 26 weeks"</figcaption>
            <nav class="bars" aria-label="Expiry timeline">{drawn}</nav>
        </figure>
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
