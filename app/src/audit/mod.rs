//! The audit log: who did what, when, from where, to which connection, and how it ended.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::components::{FormAlert, Page, Replaced};
use crate::error::AppError;
use console_model::format_time;

/// Every kind of event the log records, for the filter.
pub const KINDS: &[&str] = &[
    "sign_in",
    "sign_out",
    "setup",
    "admin_created",
    "admin_deleted",
    "password_changed",
    "account_changed",
    "invitation_created",
    "invitation_revoked",
    "invitation_accepted",
    "role_changed",
    "account_deactivated",
    "account_reactivated",
    "sessions_ended",
    "exported",
    "imported",
    "key_rotated",
    "connection_created",
    "connection_validated",
    "connection_replaced",
    "connection_renamed",
    "connection_updated",
    "connection_deleted",
    "status_changed",
    "api_key_created",
    "api_key_revoked",
    "alert_sent",
    "alert_failed",
    "settings_changed",
    "handoff_created",
    "handoff_opened",
    "handoff_completed",
    "handoff_refused",
    "handoff_locked",
    "handoff_expired",
    "handoff_revoked",
    "renewal_requested",
    "renewal_reminded",
    "renewal_unanswered",
    "renewal_completed",
    "renewal_cancelled",
    "renewal_setting",
];

/// Events per page.
#[cfg(feature = "ssr")]
const PAGE: i64 = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    /// The actor's role at the time, when a signed-in account acted.
    pub actor_role: Option<String>,
    /// How the actor's session signed in (password, sso).
    pub actor_method: Option<String>,
    pub address: Option<String>,
    pub kind: String,
    pub connection_id: Option<String>,
    pub outcome: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub page: i64,
    pub more: bool,
}

#[server(prefix = "/api", endpoint = "load_audit")]
pub async fn load_audit(
    connection: String,
    kind: String,
    since: String,
    until: String,
    page: i64,
) -> Result<AuditPage, AppError> {
    use console_core::store::{self, AuditFilter};
    crate::ssr::require(console_model::Role::Viewer).await?;
    let state = crate::ssr::state()?;
    let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = AuditFilter {
        connection_id: nonempty(&connection),
        kind: nonempty(&kind),
        since: console_core::audit::parse_day(&since)?,
        until: console_core::audit::parse_day(&until)?.map(|d| d + console_model::DAY),
    };
    let page = page.clamp(0, 1_000_000);
    let (rows, more) = store::audit_page(&state.pool, &filter, page * PAGE, PAGE)
        .await
        .map_err(console_core::state::internal)?;
    Ok(AuditPage {
        entries: rows
            .into_iter()
            .map(|r| AuditEntry {
                at: r.at,
                actor: r.actor,
                actor_role: r.actor_role,
                actor_method: r.actor_method,
                address: r.address,
                kind: r.kind,
                connection_id: r.connection_id,
                outcome: r.outcome,
                detail: r.detail,
            })
            .collect(),
        page,
        more,
    })
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |key: &str| query.read().get(key).unwrap_or_default();
    let params = move || {
        (
            get("connection"),
            get("kind"),
            get("since"),
            get("until"),
            get("page").parse::<i64>().unwrap_or(0),
        )
    };
    let data = Resource::new(params, |(c, k, s, u, p)| load_audit(c, k, s, u, p));
    let kinds = KINDS
        .iter()
        .map(|k| view! { <option value=*k selected=move || get("kind") == *k>{k.replace('_', " ")}</option> })
        .collect_view();
    view! {
        <Page title="Audit log" signed_in=true>
            <form class="filters card" method="get" action="/audit">
                <label for="kind">"Kind"</label>
                <select id="kind" name="kind">
                    <option value="">"Any"</option>
                    {kinds}
                </select>
                <label for="connection">"Connection id"</label>
                <input id="connection" name="connection" value=move || get("connection")/>
                <label for="since">"From (UTC)"</label>
                <input id="since" name="since" type="date" value=move || get("since")/>
                <label for="until">"To (UTC)"</label>
                <input id="until" name="until" type="date" value=move || get("until")/>
                <button type="submit">"Filter"</button>
            </form>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(page) => view! { <Replaced><Entries page/></Replaced> }.into_any(),
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

#[component]
fn Entries(page: AuditPage) -> impl IntoView {
    if page.entries.is_empty() {
        return view! { <p class="empty">"No events match."</p> }.into_any();
    }
    let query = leptos_router::hooks::use_query_map();
    let link = move |p: i64| {
        let q = query.read();
        let keep = |k: &str| q.get(k).unwrap_or_default();
        format!(
            "/audit?kind={}&connection={}&since={}&until={}&page={p}",
            keep("kind"),
            keep("connection"),
            keep("since"),
            keep("until")
        )
    };
    let rows = page
        .entries
        .into_iter()
        .map(|e| {
            let connection = e.connection_id.map(|id| {
                view! { <a href=format!("/connections/{id}")>"open"</a> }
            });
            let class = e.outcome.clone();
            view! {
                <tr class=class>
                    <td>{format_time(e.at)}</td>
                    <td>{e.kind.replace('_', " ")}</td>
                    <td>{match (e.actor_role, e.actor_method) {
                        (Some(role), Some(method)) => format!("{} ({role}, {method})", e.actor),
                        (Some(role), None) => format!("{} ({role})", e.actor),
                        _ => e.actor,
                    }}</td>
                    <td class="mono">{e.address}</td>
                    <td>{e.outcome}</td>
                    <td>{e.detail}</td>
                    <td>{connection}</td>
                </tr>
            }
        })
        .collect_view();
    let (current, more) = (page.page, page.more);
    view! {
        <table class="audit">
            <thead><tr><th>"When"</th><th>"Event"</th><th>"Who"</th><th>"From"</th><th>"Outcome"</th><th>"Detail"</th><th>"Connection"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <nav class="pager" aria-label="Pages">
            {(current > 0).then(|| view! { <a href=link(current - 1)>"← Newer"</a> })}
            {more.then(|| view! { <a href=link(current + 1)>"Older →"</a> })}
        </nav>
    }
    .into_any()
}
