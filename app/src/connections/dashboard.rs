//! The home page: every connection, what needs a human first, then soonest expiry.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::calls::load_dashboard;
use crate::components::{FormAlert, Page, Replaced, StatusBadge, expiry_words, time_or_never};
use console_model::{Dashboard, RenewalMark, Status, WeekBar, format_time};

/// Where the dashboard stands, as its address says: the search, a week of the timeline, the
/// page, and the filters (tags `key:value`, owner, status, renewal). Every link on the page is built
/// from it, so following one keeps the rest (a saved filter stays in the address).
#[derive(Debug, Clone, Default, PartialEq)]
struct Place {
    q: String,
    week: Option<i64>,
    page: i64,
    tags: Vec<String>,
    owner: Option<String>,
    status: Option<String>,
    /// `waiting`: customers asked for a renewal who have not answered.
    renewal: Option<String>,
}

impl Place {
    /// The address of this place, written into one string: a page of 50 rows links each of
    /// their tags, so this is built hundreds of times per page.
    fn href(&self) -> String {
        let mut href = String::with_capacity(64);
        href.push('/');
        let mut param = |name: &str, value: &str| {
            href.push(if href.len() == 1 { '?' } else { '&' });
            href.push_str(name);
            href.push('=');
            push_search_param(&mut href, value);
        };
        if !self.q.is_empty() {
            param("q", &self.q);
        }
        for tag in &self.tags {
            param("tag", tag);
        }
        let named = [
            ("owner", &self.owner),
            ("status", &self.status),
            ("renewal", &self.renewal),
        ];
        for (name, value) in named {
            if let Some(value) = value {
                param(name, value);
            }
        }
        if let Some(week) = self.week {
            param("week", &week.to_string());
        }
        if self.page > 0 {
            param("page", &self.page.to_string());
        }
        href
    }

    /// This place with `change` made, from its first page.
    fn with(&self, change: impl FnOnce(&mut Self)) -> String {
        let mut next = self.clone();
        next.page = 0;
        change(&mut next);
        next.href()
    }

    fn filtered(&self) -> bool {
        !self.tags.is_empty()
            || self.owner.is_some()
            || self.status.is_some()
            || self.renewal.is_some()
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let place = move || {
        let query = query.read();
        let text = |key: &str| {
            query
                .get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Place {
            q: query.get("q").unwrap_or_default(),
            week: query.get("week").and_then(|w| w.parse::<i64>().ok()),
            page: query.get("page").and_then(|p| p.parse().ok()).unwrap_or(0),
            tags: query
                .get_all("tag")
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            owner: text("owner"),
            status: text("status"),
            renewal: text("renewal"),
        }
    };
    let data = Resource::new(place, |p| {
        load_dashboard(p.q, p.page, p.week, p.tags, p.owner, p.status, p.renewal)
    });
    view! {
        <Page title="Connections" signed_in=true>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let here = place();
                    match data.await {
                        Ok(d) if d.total == 0 && !here.filtered() => empty_state(d.handoffs_waiting).into_any(),
                        Ok(d) => view! {
                            <Replaced>
                                <Overview dashboard=d place=here/>
                            </Replaced>
                        }.into_any(),
                        Err(e) => view! {
                            <FormAlert error=Signal::derive(move || Some(e.clone()))/>
                            <p><a href="/">"Show all connections"</a></p>
                        }.into_any(),
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

/// A line about the customers asked for a renewal who have not answered, if any, linking to
/// them.
fn waiting_renewals(waiting: i64, place: &Place) -> impl IntoView + use<> {
    let href = place.with(|p| p.renewal = Some("waiting".into()));
    (waiting > 0 && place.renewal.is_none()).then(|| {
        let words = if waiting == 1 {
            "1 customer was asked for a renewal and has not answered yet.".to_owned()
        } else {
            format!("{waiting} customers were asked for a renewal and have not answered yet.")
        };
        view! {
            <p class="narrowed" role="status"><a href=href>{words}</a></p>
        }
    })
}

/// What the status column says about asking the connection's customer.
fn renewal_mark(mark: Option<RenewalMark>) -> impl IntoView {
    mark.map(|mark| match mark {
        RenewalMark::Requested {
            asked_at,
            reminders,
            opened,
        } => {
            let mut words = format!("Renewal requested {}", &format_time(asked_at)[..10]);
            if reminders > 0 {
                words.push_str(&format!(
                    " · {}",
                    crate::components::plural(reminders, "reminder")
                ));
            }
            words.push_str(if opened {
                " · link opened"
            } else {
                " · link not opened"
            });
            view! { <br/><span class="renewal-mark asked">{words}</span> }.into_any()
        }
        RenewalMark::NoContact => view! {
            <br/><span class="renewal-mark no-contact" title="Give it the customer's Concur admin as its contact, and the console asks them.">"No contact to ask"</span>
        }
        .into_any(),
    })
}

/// Each tag chip's link and words, written once per tag for a page: the same few tags come
/// back on most rows, and each chip then costs two copies.
#[derive(Default)]
struct ChipLinks(std::collections::HashMap<(String, String), (String, String)>);

impl ChipLinks {
    fn of(&mut self, pair: &(String, String), place: &Place) -> (String, String) {
        if let Some(written) = self.0.get(pair) {
            return written.clone();
        }
        let (key, value) = pair;
        let chosen = format!("{key}:{value}");
        let href = place.with(|p| {
            if !p.tags.contains(&chosen) {
                p.tags.push(chosen.clone());
            }
        });
        let written = (href, format!("{key}={value}"));
        self.0.insert(pair.clone(), written.clone());
        written
    }
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

/// The filters in force, each with a link that removes it, and one that clears them all.
fn active_filters(place: &Place) -> impl IntoView + use<> {
    let mut chips = Vec::new();
    for tag in &place.tags {
        let gone = place.with(|p| p.tags.retain(|t| t != tag));
        chips.push((format!("tag {}", tag.replacen(':', "=", 1)), gone));
    }
    if let Some(owner) = &place.owner {
        chips.push((format!("owner {owner}"), place.with(|p| p.owner = None)));
    }
    if let Some(status) = &place.status {
        chips.push((format!("status {status}"), place.with(|p| p.status = None)));
    }
    if let Some(renewal) = &place.renewal {
        chips.push((
            format!("renewal {renewal}"),
            place.with(|p| p.renewal = None),
        ));
    }
    let cleared = place.with(|p| {
        p.tags.clear();
        p.owner = None;
        p.status = None;
        p.renewal = None;
    });
    (!chips.is_empty()).then(|| {
        let chips = chips
            .into_iter()
            .map(|(words, gone)| {
                view! {
                    <li class="tag active">
                        {words.clone()}
                        " "
                        <a href=gone aria-label=format!("Remove the filter {words}")>"×"</a>
                    </li>
                }
            })
            .collect_view();
        view! {
            <div class="filters" role="status">
                <span>"Filtered by "</span>
                <ul class="tags">{chips}</ul>
                <a href=cleared>"Clear filters"</a>
            </div>
        }
    })
}

/// The search and filter form: a GET to the dashboard, keeping the tags already chosen.
fn filter_form(place: &Place, owner_shown: Option<String>) -> impl IntoView + use<> {
    let kept = place
        .tags
        .iter()
        .map(|t| view! { <input type="hidden" name="tag" value=t.clone()/> })
        .collect_view();
    let status = place.status.clone().unwrap_or_default();
    let options = Status::ALL
        .iter()
        .map(|s| {
            view! { <option value=s.key() selected=status == s.key()>{s.label()}</option> }
        })
        .collect_view();
    view! {
        <form method="get" action="/" class="search">
            {kept}
            <div class="field">
                <label for="q">"Search"</label>
                <input id="q" name="q" type="search" placeholder="Name, Client ID, company, external id or contact" value=place.q.clone()/>
            </div>
            <div class="field">
                <label for="status">"Status"</label>
                <select id="status" name="status">
                    <option value="" selected=status.is_empty()>"Any status"</option>
                    {options}
                </select>
            </div>
            <div class="field">
                <label for="owner">"Owner"</label>
                <input id="owner" name="owner" placeholder="me, or a user name" value=owner_shown.unwrap_or_default() autocomplete="off"/>
            </div>
            <div class="field">
                <label for="tag">"Tag"</label>
                <input id="tag" name="tag" placeholder="env:prod" autocomplete="off"/>
            </div>
            <div class="field check">
                <input id="renewal" name="renewal" type="checkbox" value="waiting" checked=place.renewal.is_some()/>
                <label for="renewal">"Waiting for the customer"</label>
            </div>
            <button type="submit">"Search"</button>
        </form>
    }
}

#[component]
fn Overview(dashboard: Dashboard, place: Place) -> impl IntoView {
    let now = dashboard.now;
    let counts = dashboard
        .counts
        .iter()
        .map(|(status, n)| {
            let key = status.key().to_owned();
            let chosen = place.status.as_deref() == Some(status.key());
            let href = place.with(|p| p.status = (!chosen).then_some(key));
            view! {
                <li class=format!("count {}{}", status.key(), if chosen { " chosen" } else { "" })>
                    <a href=href title=if chosen { "Show every status" } else { "Show only these" }>
                        <StatusBadge status=*status/>
                        <strong>{*n}</strong>
                    </a>
                </li>
            }
        })
        .collect_view();
    let mut chip_links = ChipLinks::default();
    let rows = dashboard
        .rows
        .into_iter()
        .map(|c| {
            let expires = c
                .refresh_token_expires_at
                .map(format_time)
                .unwrap_or_else(|| "—".into());
            let chips = c
                .tags
                .iter()
                .map(|pair| {
                    let (href, words) = chip_links.of(pair, &place);
                    view! { <li class="tag"><a href=href>{words}</a></li> }
                })
                .collect_view();
            let tagged = !c.tags.is_empty();
            view! {
                <tr data-status=c.status.key()>
                    <td>
                        <a href=format!("/connections/{}", c.id)>{c.name}</a>
                        {c.external_id.map(|e| view! { <br/><span class="hint mono">{e}</span> })}
                        {tagged.then(|| view! { <ul class="tags">{chips}</ul> })}
                    </td>
                    <td><StatusBadge status=c.status/>{renewal_mark(c.renewal)}</td>
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
    let narrowed = dashboard.week;
    let paged = |p: i64| {
        let mut at = place.clone();
        at.page = p;
        at.href()
    };
    let nothing = dashboard.total == 0;
    let whole = place.with(|p| p.week = None);
    let filtered = place.filtered() || !place.q.is_empty();
    // Parts of the page as views of their own type: one type for the whole page overflows
    // the compiler's query depth when the browser side is built.
    let form = filter_form(&place, dashboard.filter.owner.clone()).into_any();
    let filters = active_filters(&place).into_any();
    let table = view! {
        <table class="connections">
            <caption class="hint">"Select a tag to show only the connections that have it."</caption>
            <thead>
                <tr>
                    <th>"Name"</th><th>"Status"</th><th>"Refresh token expires"</th><th>"Days left"</th>
                    <th>"Last check"</th><th>"Client ID"</th><th>"Company"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any();
    let counts =
        view! { <ul class="counts" aria-label="Connections per status">{counts}</ul> }.into_any();
    view! {
        {counts}
        {waiting_links(dashboard.handoffs_waiting)}
        {waiting_renewals(dashboard.renewals_waiting, &place)}
        <Timeline bars=dashboard.timeline now=now selected=narrowed place=place.clone()/>
        {narrowed.map(|w| view! {
            <p class="narrowed" role="status">
                {format!("Showing the refresh tokens that expire between {} and {}. ", format_time(now + w * WEEK), format_time(now + (w + 1) * WEEK))}
                <a href=whole>{if filtered { "Show every week" } else { "Show all connections" }}</a>
            </p>
        })}
        {form}
        {filters}
        {more_than.map(|n| view! {
            <p class="narrowed" role="status">
                {format!("More than {n} connections match; the first {n} are listed. Add to the search to narrow it.")}
            </p>
        })}
        {nothing.then(|| view! { <p class="empty">"No connection matches these filters."</p> })}
        {table}
        {(pages > 1).then(|| view! {
            <nav class="pager" aria-label="Pages">
                {(page > 0).then(|| view! { <a href=paged(page - 1)>"← Previous"</a> })}
                <span>{format!("Page {} of {pages}", page + 1)}</span>
                {(page + 1 < pages).then(|| view! { <a href=paged(page + 1)>"Next →"</a> })}
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
fn Timeline(bars: Vec<WeekBar>, now: i64, selected: Option<i64>, place: Place) -> impl IntoView {
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
                <a class=class href=place.with(|p| p.week = Some(bar.week)) title=label.clone() aria-label=label>
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

/// Percent-encodes `s` onto `out`, for a query string.
fn push_search_param(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(char::from(b)),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_writes_each_part_of_its_address_once_and_encoded() {
        assert_eq!(Place::default().href(), "/");
        let place = Place {
            q: "Acme & Co/é".into(),
            week: Some(3),
            page: 2,
            tags: vec!["env:prod".into(), "region:emea".into()],
            owner: Some("me".into()),
            status: Some("critical".into()),
            renewal: Some("waiting".into()),
        };
        assert_eq!(
            place.href(),
            "/?q=Acme%20%26%20Co%2F%C3%A9&tag=env%3Aprod&tag=region%3Aemea&owner=me&status=critical&renewal=waiting&week=3&page=2"
        );
        assert_eq!(
            place.with(|p| p.tags.retain(|t| t != "env:prod")),
            "/?q=Acme%20%26%20Co%2F%C3%A9&tag=region%3Aemea&owner=me&status=critical&renewal=waiting&week=3",
            "a link from the place starts at its first page"
        );
    }
}
