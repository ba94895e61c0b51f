//! What the dashboard and a connection's page show: the counts, the page of rows, the history,
//! the hand-off links waiting and the alerts sent, read together.

use console_model::{
    ConnectionDetail, ConnectionSummary, Dashboard, DashboardFilter, RenewalMark, ScopeLine,
    Status, ValidationEntry, WeekBar,
};

use super::fleet;
use super::stored::{stored, stored_profile};
use crate::Error;
use crate::state::{AppState, internal};
use crate::store::{self, PAGE_SIZE};

const HISTORY_ROWS: i64 = 20;

fn summary(
    row: store::DashboardRow,
    now: i64,
    tags: Vec<(String, String)>,
    renewal: Option<RenewalMark>,
) -> ConnectionSummary {
    ConnectionSummary {
        tags,
        renewal,
        external_id: row.external_id,
        status: Status::of(
            row.failing != 0,
            row.degraded != 0,
            row.refresh_token_expires_at,
            now,
        ),
        id: row.id,
        name: row.name,
        client_id: row.client_id,
        company_uuid: row.company_uuid,
        refresh_token_expires_at: row.refresh_token_expires_at,
        last_checked_at: row.last_checked_at,
    }
}

/// The dashboard: counts, timeline and a page of rows of the connections `query` keeps (tags,
/// owner, status), narrowed by a week of expiries or a search.
pub async fn dashboard(
    state: &AppState,
    search: &str,
    week: Option<i64>,
    page: i64,
    query: &fleet::Query,
) -> Result<Dashboard, Error> {
    let now = state.now();
    let filter = fleet::filter(state, query).await?;
    let week = week.filter(|w| (0..store::TIMELINE_WEEKS).contains(w));
    let expiring = week.map(|w| (now + w * store::WEEK, now + (w + 1) * store::WEEK));
    let (overview, share) = state
        .overview
        .share(&state.pool, now, &filter)
        .await
        .map_err(internal)?;
    let timeline = (0..store::TIMELINE_WEEKS)
        .map(|w| WeekBar {
            week: w,
            count: overview
                .timeline
                .iter()
                .find(|(k, _)| *k == w)
                .map_or(0, |(_, n)| *n),
            band: Status::of(false, false, Some(now + w * store::WEEK + 1), now),
        })
        .collect();
    let search: String = search.trim().chars().take(100).collect();
    let counts = overview.counts.clone();
    let total = overview.total();
    let (rows, matching) =
        store::dashboard_page(&state.pool, &search, expiring, page, (&filter, share), now)
            .await
            .map_err(internal)?;
    let (matching, more_than) = match matching {
        store::Matching::All => (total, None),
        store::Matching::Exactly(n) => (n, None),
        store::Matching::MoreThan(n) => (n, Some(n)),
    };
    let waiting = state
        .overview
        .waiting(&state.pool, now)
        .await
        .map_err(internal)?;
    let horizon = now + state.renewal.lead;
    let rows = rows
        .into_iter()
        .map(|r| {
            let own = store::split_tags(&r.tags);
            let open = &r.open_request;
            let needs_human =
                r.failing != 0 || r.refresh_token_expires_at.is_some_and(|at| at < horizon);
            let mark = match open.asked_at {
                Some(asked_at) => Some(RenewalMark::Requested {
                    asked_at,
                    reminders: open.reminders.unwrap_or(0),
                    opened: open.opened_at.is_some(),
                }),
                None if needs_human && r.contact_email.is_none() => Some(RenewalMark::NoContact),
                None => None,
            };
            summary(r, now, own, mark)
        })
        .collect();
    Ok(Dashboard {
        now,
        timeline,
        week,
        total,
        counts,
        rows,
        page: page.clamp(0, store::MAX_PAGE),
        pages: (matching + PAGE_SIZE - 1) / PAGE_SIZE,
        more_than,
        handoffs_waiting: waiting.handoffs,
        renewals_waiting: waiting.renewals,
        filter: DashboardFilter {
            tags: query.selector.pairs().to_vec(),
            owner: query
                .owner
                .as_deref()
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned),
            status: filter.status,
            waiting: filter.waiting,
        },
    })
}

pub async fn detail(state: &AppState, id: &str) -> Result<ConnectionDetail, Error> {
    let now = state.now();
    let row = stored(state, id).await?;
    let history = store::history(&state.pool, id, HISTORY_ROWS)
        .await
        .map_err(internal)?;
    let granted: Vec<&str> = row.granted_scopes.split_whitespace().collect();
    let required: Vec<&str> = row.required_scopes.split_whitespace().collect();
    Ok(ConnectionDetail {
        now,
        summary: summary(store::DashboardRow::from(&row), now, Vec::new(), None),
        authorization_url: row.authorization_url.clone(),
        geolocation: row.geolocation.clone(),
        scope_profile: stored_profile(&row)?.label().to_owned(),
        scopes: required
            .iter()
            .map(|s| ScopeLine {
                scope: s.to_string(),
                granted: granted.contains(s),
            })
            .collect(),
        extra_granted: granted.iter().filter(|g| !required.contains(g)).count(),
        access_token_expires_at: row.access_token_expires_at,
        last_ok_at: row.last_ok_at,
        last_problem: row.last_problem.clone(),
        client_secret_mask: row.client_secret_mask.clone(),
        refresh_token_mask: row.refresh_token_mask.clone(),
        history: history
            .into_iter()
            .map(|v| ValidationEntry {
                at: v.at,
                ok: v.ok != 0,
                message: v.message,
                concur_code: v.concur_code,
                correlation_id: v.correlation_id,
                duration_ms: v.duration_ms,
                source: v.source,
                status_change: v.status_change,
            })
            .collect(),
        next_refresh_at: row.next_refresh_at,
        deliveries: crate::alerts::deliveries(state, Some(id), HISTORY_ROWS).await?,
        belonging: fleet::shown_one(state, &row).await?.view(),
        renewal: crate::renewals::view(state, &row).await?,
        probes: super::probes::lines(state, id).await?,
    })
}
