//! The dashboard's reads: counts per status, the expiry timeline, and a page of connections,
//! worst first, narrowed by a week of expiries or a search — each of them within the fleet a
//! filter keeps (tags, owner, status), when one is given.

use sqlx::FromRow;

use super::connections::ConnectionRow;
use super::fleet::{Bound, Driver, EXPIRY_KEY, FleetFilter, bind, plan, tag_count, tags_column};
use super::pool::{Pool, is_sqlite};
use console_model::Status;

/// The rows per dashboard page.
pub const PAGE_SIZE: i64 = 50;
/// The highest page number asked for that is honoured; past it the last pages are empty anyway.
pub const MAX_PAGE: i64 = i64::MAX / PAGE_SIZE / 2;

/// What the dashboard shows of a connection: no secrets, nothing it does not list.
#[derive(Debug, Clone, FromRow)]
pub struct DashboardRow {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub company_uuid: Option<String>,
    pub failing: i64,
    pub degraded: i64,
    pub refresh_token_expires_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub external_id: Option<String>,
    pub contact_email: Option<String>,
    /// Its tags, `key=value` one per line (see `split_tags`).
    pub tags: String,
    #[sqlx(flatten)]
    pub open_request: OpenRequest,
}

/// Where a connection's open renewal request stands, read with its page row: asked when,
/// reminders sent, when its link was opened. Without an open request, every field is `None`.
#[derive(Debug, Clone, Default, FromRow)]
pub struct OpenRequest {
    pub asked_at: Option<i64>,
    pub reminders: Option<i64>,
    pub opened_at: Option<i64>,
}

const DASHBOARD_COLUMNS: &str = "id, name, client_id, company_uuid, failing, degraded, refresh_token_expires_at, last_checked_at, external_id, contact_email";

impl From<&ConnectionRow> for DashboardRow {
    fn from(row: &ConnectionRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            client_id: row.client_id.clone(),
            company_uuid: row.company_uuid.clone(),
            failing: row.failing,
            degraded: row.degraded,
            refresh_token_expires_at: row.refresh_token_expires_at,
            last_checked_at: row.last_checked_at,
            external_id: row.belonging.external_id.clone(),
            contact_email: row.belonging.contact_email.clone(),
            tags: String::new(),
            open_request: OpenRequest::default(),
        }
    }
}

/// The status of a row as SQL, with the same bands as [`Status::of`]: `$1` is now.
pub(super) const STATUS_SQL: &str = "CASE WHEN failing <> 0 THEN 'failing' WHEN degraded <> 0 THEN 'degraded' WHEN refresh_token_expires_at IS NULL THEN 'unknown' WHEN refresh_token_expires_at <= $1 THEN 'expired' WHEN refresh_token_expires_at < $1 + 8 * 86400 THEN 'critical' WHEN refresh_token_expires_at < $1 + 31 * 86400 THEN 'expiring' ELSE 'healthy' END";

/// What needs a human first: failing, then by expiry (expired, critical, expiring, healthy),
/// unknown expiry last. The same expressions as the `connections_by_band` index, so a page is
/// read off the index instead of sorting every row.
fn order_sql() -> String {
    format!("ORDER BY failing DESC, {EXPIRY_KEY}, name, id")
}

/// The order of [`order_sql`] among degraded connections, none of which is failing: the same
/// expressions as their own `connections_degraded` index, so their page is read off it.
fn degraded_order_sql() -> String {
    format!("ORDER BY {EXPIRY_KEY}, name, id")
}

/// What a search looks in, lowercased: the same expression as the search index's.
const SEARCH_TEXT: &str = "lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '') || ' ' || COALESCE(external_id, '') || ' ' || COALESCE(contact_name, '') || ' ' || COALESCE(contact_email, ''))";

/// Seconds in a week, the width of one bar of the expiry timeline.
pub const WEEK: i64 = 7 * 86_400;
/// Bars in the expiry timeline.
pub const TIMELINE_WEEKS: i64 = 26;

/// The counts per status and the expiry timeline of the connections a filter keeps.
#[derive(Debug)]
pub struct Overview {
    pub counts: Vec<(Status, i64)>,
    /// (week from now, working refresh tokens expiring in it), weeks without any left out.
    pub timeline: Vec<(i64, i64)>,
}

impl Overview {
    /// How many connections the counts cover.
    pub fn total(&self) -> i64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// How many connections have `status`.
    pub fn count(&self, status: Status) -> i64 {
        self.counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

/// The counts per status of the connections `filter` keeps, and how many of their working
/// refresh tokens expire in each of the next 26 weeks: one aggregate, one pass over the rows
/// (grouped by status and week, the week only for a working token in the window).
pub async fn overview(pool: &Pool, now: i64, filter: &FleetFilter) -> sqlx::Result<Overview> {
    // The customers waiting for a renewal are few: on SQLite they are read off their index and
    // each tested for the rest, rather than a frequent tag's thousands read and each tested
    // for waiting.
    let driver = if filter.waiting && is_sqlite(pool) {
        Driver::Waiting
    } else if !is_sqlite(pool)
        && filter.external_id.is_none()
        && frequent_tags(pool, filter).await?
    {
        Driver::Probe
    } else {
        Driver::own_choice(pool)
    };
    let (narrowed, values) = filter.where_driven(now, 4, driver);
    let sql = format!(
        "SELECT {STATUS_SQL} AS status, \
         CASE WHEN failing = 0 AND refresh_token_expires_at > $1 AND refresh_token_expires_at < $1 + $2 * $3 \
         THEN (refresh_token_expires_at - $1) / $2 END AS week, COUNT(*) \
         FROM connections {narrowed} GROUP BY 1, 2"
    );
    let query = sqlx::query_as(&sql)
        .bind(now)
        .bind(WEEK)
        .bind(TIMELINE_WEEKS);
    let rows: Vec<(String, Option<i64>, i64)> = bind(query, &values).fetch_all(pool).await?;
    let counts = Status::ALL
        .iter()
        .map(|s| {
            let n = rows
                .iter()
                .filter(|(k, _, _)| k == s.key())
                .map(|(_, _, n)| n)
                .sum();
            (*s, n)
        })
        .collect();
    let mut timeline: Vec<(i64, i64)> = Vec::new();
    for (_, week, n) in &rows {
        let Some(week) = *week else { continue };
        match timeline.iter_mut().find(|(w, _)| *w == week) {
            Some((_, count)) => *count += n,
            None => timeline.push((week, *n)),
        }
    }
    timeline.sort_unstable();
    Ok(Overview { counts, timeline })
}

/// Whether each of `filter`'s tags (one at least) is frequent (see [`frequent_from`]), on
/// PostgreSQL: then counting is cheaper walking the whole order index, which carries each
/// connection's tags, status and owner, than looking up each tagged connection: for env:prod
/// and region:emea of 100 000, 40 ms against 100.
async fn frequent_tags(pool: &Pool, filter: &FleetFilter) -> sqlx::Result<bool> {
    if filter.tags.is_empty() {
        return Ok(false);
    }
    let (estimated,): (f32,) =
        sqlx::query_as("SELECT reltuples::real FROM pg_class WHERE relname = 'connections'")
            .fetch_one(pool)
            .await?;
    let frequent = frequent_from(estimated.max(0.0) as i64);
    for tag in &filter.tags {
        if tag_count(pool, tag, frequent).await? < frequent {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The fewest connections of a fleet of `fleet` that a frequent condition keeps: a tenth. An
/// index walked past the connections it does not keep then costs PostgreSQL less than looking
/// up each one it keeps (a lookup costs about ten index entries walked).
pub fn frequent_from(fleet: i64) -> i64 {
    (fleet / 10).max(1)
}

/// What waits for someone outside the console, as the dashboard's line above its table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// Hand-off links a customer could still use.
    pub handoffs: i64,
    /// Customers asked for a renewal who have not answered.
    pub renewals: i64,
}

/// [`Waiting`] at `now`, in one query: every dashboard view asks for it.
pub async fn waiting(pool: &Pool, now: i64) -> sqlx::Result<Waiting> {
    let sql = format!(
        "SELECT ({}) AS handoffs, ({}) AS renewals",
        super::handoffs::WAITING_HANDOFFS,
        super::renewals::OPEN_RENEWALS
    );
    let (handoffs, renewals) = sqlx::query_as(&sql).bind(now).fetch_one(pool).await?;
    Ok(Waiting { handoffs, renewals })
}

/// How many connections a dashboard page was picked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Every connection: the caller knows the total from the counts.
    All,
    Exactly(i64),
    /// More than this many match a search; only that many can be paged through.
    MoreThan(i64),
}

/// The matches of a search that are counted and paged through; past it, the page is found by
/// walking the dashboard order instead.
pub const SEARCH_CAP: i64 = 1000;
/// The matches of a search whose ids are read off the index in one reading, the page then
/// picked from those ids.
const SEARCH_FEW: i64 = 2 * PAGE_SIZE;

/// A page of connections, worst first then soonest expiry, of those `filter` keeps (`share` of
/// the whole), optionally narrowed to a week of expiries or to a search over name, Client ID
/// and company UUID.
///
/// Each page is one query for the few columns the dashboard lists, walked off the
/// `connections_by_band` index (offsets skip index entries, not rows). A search first counts
/// its matches up to `SEARCH_CAP + 1` off an index (see [`Matcher`]), the same query bringing
/// the ids of the first `SEARCH_FEW + 1`: with no more than `SEARCH_FEW` (a name, a company),
/// the page is picked from those ids; with no more than the cap, the page is picked from the
/// index again; with more, matches are frequent enough that walking the dashboard order with
/// the same filter finds a page at once, and the count stops at the cap (counting every match
/// of a fragment present in 100 000 rows costs far more than the page).
pub async fn dashboard_page(
    pool: &Pool,
    search: &str,
    expiring: Option<(i64, i64)>,
    page: i64,
    (filter, share): (&FleetFilter, Share),
    now: i64,
) -> sqlx::Result<(Vec<DashboardRow>, Matching)> {
    let offset = page.clamp(0, MAX_PAGE) * PAGE_SIZE;
    if !filter.is_empty() {
        return filtered_page(pool, search, expiring, offset, (filter, share), now).await;
    }
    if let Some((from, to)) = expiring {
        let window = "WHERE failing = 0 AND refresh_token_expires_at >= $1 AND refresh_token_expires_at < $2";
        let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM connections {window}"))
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?;
        let rows = sqlx::query_as(&page_sql(window, offset, Reading::of(pool)))
            .persistent(offset == 0)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
        return Ok((rows, Matching::Exactly(total)));
    }
    let Some(matcher) = Matcher::of(search) else {
        let rows = sqlx::query_as(&page_sql("", offset, Reading::of(pool)))
            .persistent(offset == 0)
            .fetch_all(pool)
            .await?;
        return Ok((rows, Matching::All));
    };
    let offset = offset.min(SEARCH_CAP);
    let values = matcher.values();
    let next = values.len() + 1;
    // The matches counted up to the cap and the first few of their ids, in one reading.
    let found_sql = format!(
        "SELECT id, COUNT(*) OVER () FROM ({}) AS capped LIMIT {}",
        matcher.ids(&format!("${next}")),
        SEARCH_FEW + 1
    );
    let mut found = sqlx::query_as(&found_sql);
    for value in &values {
        found = found.bind(*value);
    }
    let few: Vec<(String, i64)> = found.bind(SEARCH_CAP + 1).fetch_all(pool).await?;
    let found = few.first().map_or(0, |(_, counted)| *counted);
    if found <= SEARCH_FEW {
        let total = Matching::Exactly(found);
        if few.is_empty() {
            return Ok((Vec::new(), total));
        }
        let placeholders: Vec<String> = (1..=few.len()).map(|i| format!("${i}")).collect();
        let sql = page_sql(
            &format!("WHERE id IN ({})", placeholders.join(", ")),
            offset,
            Reading::of(pool),
        );
        let mut rows = sqlx::query_as(&sql).persistent(offset == 0);
        for (id, _) in &few {
            rows = rows.bind(id);
        }
        let rows = rows.fetch_all(pool).await?;
        return Ok((rows, total));
    }
    let (filter, total) = if found <= SEARCH_CAP {
        (
            format!("WHERE {}", matcher.filter()),
            Matching::Exactly(found),
        )
    } else {
        (
            format!("WHERE {}", matcher.walked(is_sqlite(pool))),
            Matching::MoreThan(SEARCH_CAP),
        )
    };
    // Planned for the values at hand, never cached with a generic plan: on PostgreSQL, how
    // many rows the search matches decides whether walking the dashboard order or reading the
    // matches and sorting them is cheaper.
    let sql = page_sql(&filter, offset, Reading::of(pool));
    let mut rows = sqlx::query_as(&sql).persistent(false);
    for value in &values {
        rows = rows.bind(*value);
    }
    let rows = rows.fetch_all(pool).await?;
    Ok((rows, total))
}

/// How many connections a filter keeps, of how many are stored, and how many have the
/// filter's status when it has one (the dashboard's counts hold them all): what decides how
/// SQLite finds a page of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub kept: i64,
    pub fleet: i64,
    pub of_status: Option<i64>,
    /// For a filter of the customers asked for a renewal: how many connections are failing,
    /// expired or critical. Those asked are among them, and they come first in the dashboard's
    /// order, so a walk of it for them passes about that many rows, not the whole fleet.
    pub needing_human: Option<i64>,
}

impl Share {
    /// Whether walking an order that passes `passed` rows and testing each reaches the end of
    /// a page `rows` into it sooner than reading every kept row off an index and sorting them:
    /// the walk reads about `passed / kept` rows for each row it keeps, the sort reads `kept`.
    pub(super) fn walks(self, rows: i64, passed: i64) -> bool {
        self.kept > 0 && rows.saturating_mul(passed) < self.kept.saturating_mul(self.kept)
    }
}

/// A dashboard page within the fleet `filter` keeps (`share` of the whole), narrowed further
/// by a week of expiries or a search: the same orders and indexes as without a filter, the
/// filter's conditions added. A search with few matches reads their ids off the search index
/// and keeps those the filter keeps; with many, the dashboard order is walked with both tests.
/// The count stops at [`SEARCH_CAP`]; without a week or a search, the caller knows it from the
/// filtered counts.
async fn filtered_page(
    pool: &Pool,
    search: &str,
    expiring: Option<(i64, i64)>,
    offset: i64,
    (filter, share): (&FleetFilter, Share),
    now: i64,
) -> sqlx::Result<(Vec<DashboardRow>, Matching)> {
    if share.kept == 0 {
        // Its counts, read within the same second, say the filter keeps none.
        let matching = if expiring.is_none() && search.trim().is_empty() {
            Matching::All
        } else {
            Matching::Exactly(0)
        };
        return Ok((Vec::new(), matching));
    }
    let mut narrowing = String::new();
    let mut values: Vec<Bound<'_>> = Vec::new();
    let matcher = Matcher::of(search);
    let few_ids: Vec<String>;
    if let Some((from, to)) = expiring {
        narrowing =
            "failing = 0 AND refresh_token_expires_at >= $1 AND refresh_token_expires_at < $2 AND "
                .into();
        values = vec![Bound::Int(from), Bound::Int(to)];
    } else if let Some(matcher) = &matcher {
        let searched = matcher.values();
        let few_sql = matcher.ids(&format!("${}", searched.len() + 1));
        let mut few = sqlx::query_scalar(&few_sql);
        for value in &searched {
            few = few.bind(*value);
        }
        few_ids = few.bind(SEARCH_FEW + 1).fetch_all(pool).await?;
        if few_ids.len() as i64 <= SEARCH_FEW {
            if few_ids.is_empty() {
                return Ok((Vec::new(), Matching::Exactly(0)));
            }
            let placeholders: Vec<String> = (1..=few_ids.len()).map(|i| format!("${i}")).collect();
            narrowing = format!("id IN ({}) AND ", placeholders.join(", "));
            values = few_ids.iter().map(|id| Bound::Text(id)).collect();
        } else {
            narrowing = format!("{} AND ", matcher.walked(is_sqlite(pool)));
            values = searched.into_iter().map(Bound::Text).collect();
        }
    }
    // Where the filter keeps many, SQLite walks the dashboard order; where it keeps few, it
    // reads them off the index of the condition that keeps the fewest (see `Driver`).
    let page_end = offset.saturating_add(PAGE_SIZE);
    let passed = [share.of_status, share.needing_human]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(share.fleet);
    let driver = plan(pool, filter, share, (page_end, passed, Driver::Status)).await?;
    let (conditions, filtered) = filter.driven(now, values.len() + 1, driver);
    values.extend(filtered);
    let clause = format!("WHERE {narrowing}{conditions}");
    let total = if narrowing.is_empty() {
        Matching::All
    } else {
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT id FROM connections {clause} LIMIT ${}) AS capped",
            values.len() + 1
        );
        let (found,): (i64,) = bind(sqlx::query_as(&sql), &values)
            .bind(SEARCH_CAP + 1)
            .fetch_one(pool)
            .await?;
        if found > SEARCH_CAP {
            Matching::MoreThan(SEARCH_CAP)
        } else {
            Matching::Exactly(found)
        }
    };
    let offset = if narrowing.is_empty() {
        offset
    } else {
        offset.min(SEARCH_CAP)
    };
    // The degraded are few: their page is read off their own index, in the same order, rather
    // than the dashboard's order walked past every other connection.
    let order = if filter.status == Some(Status::Degraded) {
        degraded_order_sql()
    } else {
        order_sql()
    };
    let reading = if driver == Driver::Probe {
        Reading::WalkedIds
    } else {
        Reading::of(pool)
    };
    let sql = page_sql_by(&clause, offset, &order, reading);
    let one_plan = offset == 0 && narrowing.is_empty() && filter.one_plan_fits(driver);
    let rows = bind(sqlx::query_as(&sql).persistent(one_plan), &values)
        .fetch_all(pool)
        .await?;
    Ok((rows, total))
}

/// How a dashboard page's rows are read, by store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Sqlite,
    Postgres,
    /// PostgreSQL walking its order index for the page's ids, testing each entry off the
    /// index (which carries what a filter tests), then reading only the page's rows.
    WalkedIds,
}

impl Reading {
    fn of(pool: &Pool) -> Self {
        if is_sqlite(pool) {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }
}

/// The dashboard page at `offset` of the connections `filter` keeps, in the dashboard's order
/// (bind the filter's values, `$1`…). Each row carries its tags' list and its open renewal
/// request, if any.
///
/// The page's size and offset are written into the statement, not bound: PostgreSQL plans a
/// cached statement once (its generic plan) only when that plan is not costlier than one for
/// the values at hand, and a bound `LIMIT` is estimated as a tenth of the table, so the
/// unfiltered page was planned again on every view (0.2–0.5 ms of its 0.7). Each offset is then
/// a statement of its own: only the first page's is kept with its plan (`persistent`), as the
/// pages after it are read far less and would each take a place in every connection's cache.
fn page_sql(filter: &str, offset: i64, reading: Reading) -> String {
    page_sql_by(filter, offset, &order_sql(), reading)
}

/// [`page_sql`] with the page picked in another `order` (one that lists the page's rows in
/// the dashboard's order too). The open renewal requests are looked up for the page's rows
/// alone, each off the index of open requests: on PostgreSQL through `LATERAL` behind
/// `OFFSET 0`, which keeps its planner from flattening the lookup into a join that reads
/// every open request (2 000 of 100 000 in the bench: 0.43 ms a page against 0.17); that index
/// carries the columns read, so a lookup never costs more than a scan of few requests.
fn page_sql_by(filter: &str, offset: i64, order: &str, reading: Reading) -> String {
    let limit = format!("LIMIT {PAGE_SIZE} OFFSET {offset}");
    let tags = tags_column(reading != Reading::Sqlite);
    let page = if reading == Reading::WalkedIds {
        format!(
            "SELECT {DASHBOARD_COLUMNS}, {tags} FROM connections \
             WHERE id IN (SELECT id FROM connections {filter} {order} {limit})"
        )
    } else {
        format!("SELECT {DASHBOARD_COLUMNS}, {tags} FROM connections {filter} {order} {limit}")
    };
    let (columns, requests) = if reading == Reading::Sqlite {
        (
            "r.asked_at, r.reminders, h.opened_at",
            "LEFT JOIN renewal_requests AS r ON r.connection_id = page.id AND r.state = 'open' \
             LEFT JOIN handoffs AS h ON h.id = r.link_id",
        )
    } else {
        (
            "r.asked_at, r.reminders, r.opened_at",
            "LEFT JOIN LATERAL (SELECT r.asked_at, r.reminders, h.opened_at FROM renewal_requests AS r \
             LEFT JOIN handoffs AS h ON h.id = r.link_id \
             WHERE r.connection_id = page.id AND r.state = 'open' OFFSET 0) AS r ON TRUE",
        )
    };
    format!(
        "SELECT page.*, {columns} FROM ({page}) AS page {requests} ORDER BY page.failing DESC, \
         COALESCE(page.refresh_token_expires_at, 9223372036854775807), page.name, page.id"
    )
}

/// How a search term finds its connections.
#[derive(Debug, PartialEq, Eq)]
enum Matcher {
    /// Any fragment, anywhere in the name, Client ID or company UUID: a `LIKE` pattern read off
    /// the `connection_search` trigram index.
    Fragment(String),
    /// The beginning of a UUID (at least its first eight digits), as someone pastes a Client ID
    /// or a company UUID: the ids that start with it, read off their b-tree indexes as a range
    /// from the prefix to the prefix followed by `g` (a letter, so it sorts after every hex
    /// digit in any collation). A trigram index would read every match of a Client ID that
    /// thousands of connections share.
    IdPrefix { from: String, to: String },
}

impl Matcher {
    /// The matcher for a search box's text; `None` for an empty search.
    fn of(search: &str) -> Option<Self> {
        let term = search.to_lowercase();
        if term.is_empty() {
            return None;
        }
        if is_uuid_prefix(&term) {
            let to = format!("{term}g");
            return Some(Self::IdPrefix { from: term, to });
        }
        Some(Self::Fragment(format!(
            "%{}%",
            term.replace(['%', '_'], "")
        )))
    }

    /// The values the SQL below binds, as `$1`, `$2`…
    fn values(&self) -> Vec<&str> {
        match self {
            Self::Fragment(pattern) => vec![pattern],
            Self::IdPrefix { from, to } => vec![from, to],
        }
    }

    /// The ids of matching connections, read off an index: at most `limit` (a placeholder),
    /// or twice that for a prefix (its Client IDs, then its company UUIDs, each read in one
    /// range that stops at the limit).
    fn ids(&self, limit: &str) -> String {
        match self {
            Self::Fragment(_) => {
                format!("SELECT id FROM connection_search WHERE text LIKE $1 LIMIT {limit}")
            }
            Self::IdPrefix { .. } => format!(
                "SELECT id FROM (SELECT id FROM connections WHERE {CLIENT_ID_PREFIX} LIMIT {limit}) AS by_client \
                 UNION ALL SELECT id FROM (SELECT id FROM connections WHERE {COMPANY_PREFIX} AND NOT {CLIENT_ID_PREFIX} LIMIT {limit}) AS by_company"
            ),
        }
    }

    /// The matching connections, for a search with few enough matches to sort them.
    fn filter(&self) -> String {
        match self {
            Self::Fragment(_) => {
                "id IN (SELECT id FROM connection_search WHERE text LIKE $1)".into()
            }
            Self::IdPrefix { .. } => format!("({CLIENT_ID_PREFIX} OR {COMPANY_PREFIX})"),
        }
    }

    /// The same test for a walk of the dashboard order, checked row by row. PostgreSQL plans
    /// each search for its values with statistics, and walks the order index itself when the
    /// matches are frequent; SQLite has no statistics and, offered an index for the test,
    /// would read every match and sort them, so there the test is written so that no index
    /// answers it.
    fn walked(&self, sqlite: bool) -> String {
        match self {
            Self::Fragment(_) => format!("{SEARCH_TEXT} LIKE $1"),
            Self::IdPrefix { .. } if sqlite => {
                "(client_id || '' >= $1 AND client_id || '' < $2 OR company_uuid || '' >= $1 AND company_uuid || '' < $2)".into()
            }
            Self::IdPrefix { .. } => self.filter(),
        }
    }
}

/// A Client ID from `$1` (included) to `$2` (excluded).
const CLIENT_ID_PREFIX: &str = "(client_id >= $1 AND client_id < $2)";
/// A company UUID from `$1` (included) to `$2` (excluded).
const COMPANY_PREFIX: &str = "(company_uuid >= $1 AND company_uuid < $2)";

/// Whether `term` is the start of a lowercase UUID, eight digits or more: the first group's
/// hex digits, then dashes exactly where a UUID has them.
fn is_uuid_prefix(term: &str) -> bool {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    (8..=36).contains(&term.len())
        && term.bytes().enumerate().all(|(i, b)| {
            if DASHES.contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_a_frequent_part_is_walked_to_and_a_rare_part_is_sorted() {
        let of = 100_000;
        let walks = |kept: i64, page: i64| {
            let share = Share {
                kept,
                fleet: of,
                of_status: None,
                needing_human: None,
            };
            share.walks((page + 1) * PAGE_SIZE, of)
        };
        assert!(
            walks(33_000, 0),
            "a third of the fleet: a page is 150 rows away"
        );
        assert!(
            walks(10_000, 0),
            "a tenth: 500 rows away, where a sort reads 10 000"
        );
        assert!(
            !walks(2_000, 0),
            "2 000 kept: a sort reads fewer than the walk's 2 500"
        );
        assert!(!walks(0, 0), "nothing kept: the index answers at once");
        assert!(walks(33_000, 10));
        assert!(
            !walks(33_000, 1_000),
            "deep pages of a frequent part are sorted"
        );
        assert!(
            !Share {
                kept: i64::MAX,
                fleet: of,
                of_status: None,
                needing_human: None,
            }
            .walks(i64::MAX, of),
            "no overflow at the last page"
        );
    }

    /// Twenty tags of a hundred letters each (some of two bytes, none repeating) are stored,
    /// found by a filter on one of them and listed whole, on both stores: PostgreSQL's order
    /// index carries each connection's tag list, and keeps an entry to 2 704 bytes.
    #[tokio::test]
    async fn the_longest_tags_a_connection_may_have_are_stored_found_and_listed_whole() {
        super::super::on_both_stores("cc_long_tags", long_tags).await;
    }

    async fn long_tags(pool: &Pool) {
        use super::super::fleet::{Known, fleet_page, split_tags};
        let now = 1_000_000_000;
        let mut tags = Vec::new();
        for i in 0..20 {
            let key = format!("{i:02}{}", "k".repeat(38));
            let letters: String = (0..4)
                .map(|_| uuid::Uuid::new_v4().simple().to_string())
                .collect();
            let value = format!("é{}", &letters[..99]);
            tags.push((key, value));
        }
        for i in 0..3 {
            let id = format!("c{i}");
            super::super::test_connection(pool, (&id, &id), false, Some(now + 90 * 86_400), None)
                .await;
        }
        for (key, value) in tags.iter().chain([&("short".to_owned(), "one".to_owned())]) {
            sqlx::query(
                "INSERT INTO connection_tags (connection_id, key, value) VALUES ('c1', $1, $2)",
            )
            .bind(key)
            .bind(value)
            .execute(pool)
            .await
            .expect("a long tag stored");
        }
        tags.push(("short".to_owned(), "one".to_owned()));
        tags.sort();
        for chosen in [tags[7].clone(), tags[20].clone()] {
            let filter = FleetFilter {
                tags: vec![chosen.clone()],
                ..FleetFilter::default()
            };
            let counted = overview(pool, now, &filter).await.expect("counts");
            assert_eq!(counted.total(), 1, "{chosen:?}");
            // Read off the tag's index, then found walking the order (as for a frequent tag).
            for kept in [1, 1000] {
                let share = Share {
                    kept,
                    fleet: kept,
                    of_status: None,
                    needing_human: None,
                };
                let (rows, _) = dashboard_page(pool, "", None, 0, (&filter, share), now)
                    .await
                    .expect("a page");
                let shown: Vec<_> = rows
                    .iter()
                    .map(|r| (r.id.as_str(), split_tags(&r.tags)))
                    .collect();
                assert_eq!(shown, [("c1", tags.clone())], "{chosen:?}, {share:?}");
            }
            for known in [Known::Nothing, Known::FrequentTags] {
                let listed = fleet_page(pool, &filter, known, None, 10, now)
                    .await
                    .expect("a list");
                let listed: Vec<_> = listed
                    .iter()
                    .map(|r| (r.id.as_str(), split_tags(&r.tags)))
                    .collect();
                assert_eq!(listed, [("c1", tags.clone())], "{chosen:?}, {known:?}");
            }
        }
    }

    /// PostgreSQL plans the statements read most once and keeps the plan (a plan made for each
    /// view had cost as much as reading the page): the unfiltered dashboard, a page of frequent
    /// tags alone, and the management list without a filter and with frequent tags. The kept
    /// plans still find each value's own rows.
    #[tokio::test]
    async fn postgres_keeps_one_plan_for_the_pages_read_most() {
        use super::super::fleet::{Known, fleet_page, split_tags};
        let seeded = super::super::pool::test_postgres("cc_plans").await;
        let now = 1_000_000_000;
        for i in 0..40 {
            let id = format!("c{i:02}");
            let expires = Some(now + (i % 9) * 86_400);
            super::super::test_connection(&seeded, (&id, &id), i % 13 == 0, expires, None).await;
            sqlx::query(
                "INSERT INTO connection_tags (connection_id, key, value) VALUES ($1, 'env', $2)",
            )
            .bind(&id)
            .bind(["prod", "dev"][i as usize % 2])
            .execute(&seeded)
            .await
            .expect("a tag");
        }
        // One connection, so that every statement is prepared on the one whose plans are read.
        let url = seeded.connect_options().database_url.to_string();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("one connection");
        let env = |value: &str| FleetFilter {
            tags: vec![("env".to_owned(), value.to_owned())],
            ..FleetFilter::default()
        };
        // Half of a large fleet, as its counts would say: a page is walked to (see
        // `Share::walks`).
        let frequent = Share {
            kept: 1_000,
            fleet: 2_000,
            of_status: None,
            needing_human: None,
        };
        let everything = Share {
            kept: 40,
            fleet: 40,
            ..frequent
        };
        for value in [
            "prod", "prod", "prod", "prod", "prod", "prod", "prod", "dev",
        ] {
            let all = FleetFilter::default();
            let (rows, _) = dashboard_page(&pool, "", None, 0, (&all, everything), now)
                .await
                .expect("the dashboard");
            assert_eq!(rows.len(), 40);
            let (rows, _) = dashboard_page(&pool, "", None, 0, (&env(value), frequent), now)
                .await
                .expect("a tag's page");
            let wanted = vec![("env".to_owned(), value.to_owned())];
            assert_eq!(rows.len(), 20, "{value}");
            assert!(
                rows.iter().all(|r| split_tags(&r.tags) == wanted),
                "{value}"
            );
            let listed = fleet_page(&pool, &env(value), Known::FrequentTags, None, 30, now)
                .await
                .expect("a tag's list");
            assert_eq!(listed.len(), 20, "{value}");
            assert!(
                listed.iter().all(|r| split_tags(&r.tags) == wanted),
                "{value}"
            );
            let listed = fleet_page(&pool, &all, Known::Nothing, Some("c09"), 5, now)
                .await
                .expect("the list");
            let ids: Vec<_> = listed.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, ["c10", "c11", "c12", "c13", "c14"]);
        }
        let plans: Vec<(String, i64)> = sqlx::query_as(
            "SELECT statement, generic_plans FROM pg_prepared_statements \
             WHERE statement LIKE 'SELECT page.%' OR statement LIKE 'SELECT id, name, client_id, company_uuid, required_scopes%'",
        )
        .fetch_all(&pool)
        .await
        .expect("the prepared statements");
        assert_eq!(plans.len(), 4, "{plans:#?}");
        for (statement, generic) in &plans {
            assert!(*generic >= 2, "planned for each value: {statement}");
        }
        pool.close().await;
        seeded.close().await;
    }

    /// Whichever way a page of a filter is found (walking the order, off the index of the
    /// condition that keeps the fewest, or as the store's planner chooses), it holds the same
    /// rows, in the dashboard's order and in the management API's, on SQLite and on PostgreSQL
    /// (a database of its own on the throwaway cluster `make test` starts).
    #[tokio::test]
    async fn a_filtered_page_is_the_same_walked_to_or_read_off_an_index() {
        super::super::on_both_stores("cc_walk", same_pages).await;
    }

    async fn same_pages(pool: &Pool) {
        use super::super::fleet::{Known, Parts, fleet_page};
        let now = 1_000_000_000;
        let fleet = 240;
        let mut stored = Vec::new();
        for i in 0..fleet {
            let id = format!("c{i:03}");
            let expires = (i % 7 != 0).then_some(now + (i as i64 % 40 - 5) * 86_400);
            let failing = i % 11 == 0;
            let owner = (i % 5 == 0).then_some("ann");
            let name = format!("Name {}", i % 13);
            super::super::test_connection(pool, (&id, &name), failing, expires, owner).await;
            let degraded = i % 17 == 0;
            if degraded {
                super::super::test_failed_probe(pool, &id).await;
            }
            let env = ["prod", "dev"][i % 2];
            let team = format!("t{}", i % 4);
            for (key, value) in [("env", env), ("team", team.as_str())] {
                sqlx::query(
                    "INSERT INTO connection_tags (connection_id, key, value) VALUES ($1, $2, $3)",
                )
                .bind(&id)
                .bind(key)
                .bind(value)
                .execute(pool)
                .await
                .expect("tag");
            }
            if i % 3 == 0 {
                sqlx::query(
                    "INSERT INTO renewal_requests (id, connection_id, reason, contact_email, state, asked_at) \
                     VALUES ($1, $1, 'token', 'it@example.com', 'open', 0)",
                )
                .bind(&id)
                .execute(pool)
                .await
                .expect("a renewal request");
            }
            stored.push((id, failing, degraded, expires, env, team, owner));
        }
        let waiting = |id: &str| id[1..].parse::<usize>().unwrap() % 3 == 0;
        let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let filters = [
            FleetFilter {
                tags: vec![tag("env", "prod")],
                ..FleetFilter::default()
            },
            FleetFilter {
                tags: vec![tag("env", "prod"), tag("team", "t2")],
                ..FleetFilter::default()
            },
            FleetFilter {
                tags: vec![tag("team", "t1")],
                owner_id: Some("ann".into()),
                ..FleetFilter::default()
            },
            FleetFilter {
                tags: vec![tag("team", "t0")],
                owner_id: Some("ann".into()),
                status: Some(Status::Expired),
                ..FleetFilter::default()
            },
            FleetFilter {
                tags: vec![tag("env", "dev")],
                waiting: true,
                ..FleetFilter::default()
            },
            FleetFilter {
                tags: vec![tag("env", "prod")],
                status: Some(Status::Degraded),
                ..FleetFilter::default()
            },
            FleetFilter {
                status: Some(Status::Healthy),
                ..FleetFilter::default()
            },
        ];
        for filter in &filters {
            let kept: Vec<_> = stored
                .iter()
                .filter(|(id, failing, degraded, expires, env, team, owner)| {
                    (!filter.waiting || waiting(id))
                        && filter.tags.iter().all(|(k, v)| match k.as_str() {
                            "env" => env == v,
                            _ => team == v,
                        })
                        && filter.owner_id.as_deref().is_none_or(|o| *owner == Some(o))
                        && filter
                            .status
                            .is_none_or(|s| Status::of(*failing, *degraded, *expires, now) == s)
                })
                .collect();
            let counted = overview(pool, now, filter).await.unwrap();
            for status in Status::ALL {
                let expected = kept
                    .iter()
                    .filter(|k| Status::of(k.1, k.2, k.3, now) == status)
                    .count() as i64;
                assert_eq!(
                    counted.count(status),
                    expected,
                    "{filter:?}: {status:?} count"
                );
            }
            let has = |(k, v): &(String, String)| {
                stored
                    .iter()
                    .filter(
                        |(_, _, _, _, env, team, _)| if k == "env" { env == v } else { team == v },
                    )
                    .count() as i64
            };
            let parts = Parts {
                tags: filter.tags.iter().map(has).collect(),
                owner: filter
                    .owner_id
                    .as_deref()
                    .map(|o| stored.iter().filter(|s| s.6 == Some(o)).count() as i64),
            };
            let mut by_id: Vec<&str> = kept.iter().map(|k| k.0.as_str()).collect();
            by_id.sort_unstable();
            by_id.truncate(30);
            let walked = Share {
                kept: fleet as i64,
                fleet: fleet as i64,
                of_status: filter.status.map(|_| fleet as i64),
                needing_human: None,
            };
            let few = Share {
                kept: 1,
                fleet: 1 << 40,
                of_status: filter.status.map(|_| 1 << 40),
                needing_human: None,
            };
            assert!(walked.walks(PAGE_SIZE, walked.fleet) && !few.walks(30, few.fleet));
            // Few kept, and the status is what keeps the fewest: its range is read.
            let by_status = Share {
                of_status: filter.status.map(|_| 2),
                needing_human: None,
                ..few
            };
            let mut pages = Vec::new();
            for share in [walked, few, by_status] {
                let (rows, _) = dashboard_page(pool, "", None, 0, (filter, share), now)
                    .await
                    .expect("a page");
                let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
                assert_eq!(ids.len(), kept.len().min(PAGE_SIZE as usize), "{filter:?}");
                pages.push(ids);
                let listed = fleet_page(pool, filter, Known::Counts(share, &parts), None, 30, now)
                    .await
                    .expect("a list");
                let listed: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
                assert_eq!(listed, by_id, "{filter:?}, {share:?}");
                let mut paged: Vec<String> = Vec::new();
                while paged.len() < by_id.len() {
                    let after = paged.last().map(String::as_str);
                    let page =
                        fleet_page(pool, filter, Known::Counts(share, &parts), after, 4, now)
                            .await
                            .expect("a page after a cursor");
                    assert!(!page.is_empty(), "{filter:?}, {share:?} after {after:?}");
                    paged.extend(page.into_iter().map(|r| r.id));
                }
                paged.truncate(by_id.len());
                assert_eq!(paged, by_id, "page by page: {filter:?}, {share:?}");
            }
            for known in [Known::Nothing, Known::FrequentTags] {
                let planned = fleet_page(pool, filter, known, None, 30, now)
                    .await
                    .expect("a list the store's planner chose how to find");
                let planned: Vec<&str> = planned.iter().map(|r| r.id.as_str()).collect();
                assert_eq!(planned, by_id, "{filter:?}, {known:?}");
            }
            assert_eq!(pages[0], pages[1], "{filter:?}");
            assert_eq!(pages[0], pages[2], "{filter:?}");
            assert!(!pages[0].is_empty(), "{filter:?} keeps some");
        }
    }

    #[test]
    fn the_start_of_a_uuid_is_searched_as_a_prefix_and_anything_else_as_a_fragment() {
        let prefix = |from: &str| Matcher::IdPrefix {
            from: from.into(),
            to: format!("{from}g"),
        };
        assert_eq!(Matcher::of("0A1B2C3D"), Some(prefix("0a1b2c3d")));
        assert_eq!(Matcher::of("0a1b2c3d-"), Some(prefix("0a1b2c3d-")));
        let whole = "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d";
        assert_eq!(Matcher::of(whole), Some(prefix(whole)));
        for fragment in [
            "0a1b2c3",
            "deadbeefcafe",
            "0a1b2c3d-4e5f4",
            "4e5f-4a7b",
            "0a1b2c3g",
        ] {
            assert_eq!(
                Matcher::of(fragment),
                Some(Matcher::Fragment(format!("%{fragment}%"))),
                "{fragment}"
            );
        }
        assert_eq!(
            Matcher::of(&format!("{whole}0")),
            Some(Matcher::Fragment(format!("%{whole}0%")))
        );
        assert_eq!(
            Matcher::of("50%_off"),
            Some(Matcher::Fragment("%50off%".into()))
        );
        assert_eq!(Matcher::of(""), None);
    }
}
