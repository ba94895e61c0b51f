//! The fleet's reads: connections narrowed by tags, owner, status and external id, as the
//! terminal lists them (by name) and as the management API pages through them (by id, a page
//! after a cursor). Filtering is SQL, never rows loaded to filter.

use console_model::Status;
use sqlx::any::AnyArguments;
use sqlx::{Any, FromRow};

use super::connections::{Belonging, ConnectionRow, select_columns};
use super::dashboard::Share;
use super::pool::{Pool, is_sqlite};

/// What narrows the fleet; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FleetFilter {
    /// Tags a connection must all have.
    pub tags: Vec<(String, String)>,
    pub owner_id: Option<String>,
    pub status: Option<Status>,
    pub external_id: Option<String>,
    /// Only connections whose customer was asked for a renewal and has not answered yet.
    pub waiting: bool,
}

/// A value a filter binds.
pub(super) enum Bound<'a> {
    Text(&'a str),
    Int(i64),
}

/// A connection's expiry as the dashboard's order index holds it (unknown sorts last), so a
/// status condition on it is a range of that index.
pub(super) const EXPIRY_KEY: &str = "COALESCE(refresh_token_expires_at, 9223372036854775807)";

/// The rows of one status, as a range of the dashboard's order index: `{now}` stands for the
/// placeholder of now. The same bands as [`Status::of`] and `STATUS_SQL` (a test holds them
/// equal at every boundary).
/// With `indexed` false, the order index cannot answer it (its first column is `+failing`).
/// Degraded connections are few: that status is read off their own index, and each expiry
/// band leaves them out row by row (`+degraded`). With `hinted` false (PostgreSQL) no column
/// is hidden from the indexes that way: a column written `+degraded` has no statistics there,
/// and the planner took `+degraded = 0` to keep 1 row in 200 where it keeps nearly all.
fn status_range(status: Status, indexed: bool, hinted: bool) -> String {
    let plus = if hinted { "+" } else { "" };
    let failing = if indexed {
        "failing".to_owned()
    } else {
        format!("{plus}failing")
    };
    let working = format!("{failing} = 0 AND {plus}degraded = 0");
    let band = |from: &str, to: &str| {
        format!("{working} AND {EXPIRY_KEY} > {from} AND {EXPIRY_KEY} < {to}")
    };
    match status {
        Status::Failing => format!("{failing} <> 0"),
        Status::Degraded => format!("{plus}failing = 0 AND degraded <> 0"),
        Status::Unknown => format!("{working} AND {EXPIRY_KEY} = 9223372036854775807"),
        Status::Expired => format!("{working} AND {EXPIRY_KEY} <= {{now}}"),
        Status::Critical => band("{now}", "{now} + 8 * 86400"),
        Status::Expiring => format!(
            "{working} AND {EXPIRY_KEY} >= {{now}} + 8 * 86400 AND {EXPIRY_KEY} < {{now}} + 31 * 86400"
        ),
        Status::Healthy => format!(
            "{working} AND {EXPIRY_KEY} >= {{now}} + 31 * 86400 AND {EXPIRY_KEY} < 9223372036854775807"
        ),
    }
}

/// The rows of one status written on the expiry column itself, for PostgreSQL's management
/// list: no order to walk, so nothing gained from the order index's expression, whose
/// statistics PostgreSQL lacks from the index's building until the table is analyzed (without
/// them it took the expiring band for 466 rows of 9 313 and hash-joined it with a tag's 25 000
/// connections for each page). A missing expiry fails every comparison, as `Status::of` makes
/// it unknown.
fn status_on_column(status: Status) -> String {
    let working = "failing = 0 AND degraded = 0";
    let expiry = "refresh_token_expires_at";
    match status {
        Status::Failing => "failing <> 0".to_owned(),
        Status::Degraded => "failing = 0 AND degraded <> 0".to_owned(),
        Status::Unknown => format!("{working} AND {expiry} IS NULL"),
        Status::Expired => format!("{working} AND {expiry} <= {{now}}"),
        Status::Critical => {
            format!("{working} AND {expiry} > {{now}} AND {expiry} < {{now}} + 8 * 86400")
        }
        Status::Expiring => format!(
            "{working} AND {expiry} >= {{now}} + 8 * 86400 AND {expiry} < {{now}} + 31 * 86400"
        ),
        Status::Healthy => format!("{working} AND {expiry} >= {{now}} + 31 * 86400"),
    }
}

/// Which of a filter's conditions SQLite may answer with an index. Keeping no statistics, it
/// takes any equality on an index to be rare: offered an owner's and a tag's, it may read the
/// larger off its index and test each row for the smaller; offered a frequent tag, it reads
/// every connection with it and sorts them all where walking the order would find a page at
/// once. The others are written so that no index answers them (a tag is found in the row's
/// own list, the owner is `+owner_id`, a status's range starts with `+failing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Driver {
    /// Every condition may be answered by an index (SQLite, where its own choice is right).
    Any,
    /// PostgreSQL, which plans with its own statistics: every condition written plainly.
    Planned,
    /// None: the order asked for is walked, each row tested as it comes.
    Walk,
    /// The filter's `n`th tag.
    Tag(usize),
    /// The filter's `n`th tag's index walked in the order of ids, each connection it reaches
    /// tested for the rest (the management list's order, never sorted).
    TagWalk(usize),
    Owner,
    /// The status's range of the dashboard's order index (walking that order, the range of it
    /// that holds the status).
    Status,
    /// The open renewal requests' index.
    Waiting,
    /// PostgreSQL's management list, in the order of ids: every condition written plainly, a
    /// status on the expiry column itself (see [`status_on_column`]).
    ById,
    /// PostgreSQL's management list where each of the filter's tags is frequent (see
    /// `frequent_from`): as [`Driver::ById`], but the tags tested in the row's own list, which
    /// the index of ids carries, so the ids are walked in order off that index alone.
    IdWalk,
    /// PostgreSQL, where walking the order finds a page sooner than reading every kept row:
    /// each tag tested row by row through a subquery it cannot turn into a join (it had joined
    /// two frequent tags' thousands of rows, then sorted them, for a page of 50).
    Probe,
}

impl Driver {
    /// Every condition, as the store's own planner is to choose among them: SQLite's with
    /// its hints, PostgreSQL's plainly.
    pub(super) fn own_choice(pool: &Pool) -> Driver {
        if is_sqlite(pool) {
            Driver::Any
        } else {
            Driver::Planned
        }
    }

    fn indexes(self, part: Driver) -> bool {
        match self {
            Driver::Any | Driver::Planned | Driver::ById => true,
            Driver::Probe | Driver::IdWalk => !matches!(part, Driver::Tag(_)),
            _ => self == part,
        }
    }
}

impl FleetFilter {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.owner_id.is_none()
            && self.status.is_none()
            && self.external_id.is_none()
            && !self.waiting
    }

    /// Whether PostgreSQL may keep one plan for the filter's statement under `driver`, whatever
    /// values it binds: when the filter is tags alone, each tested in the row's own list
    /// (frequent tags). The planner cannot estimate such a test from its value, so the plan for
    /// one tag is the plan for any, and planning it again on each page cost more than reading
    /// the page (0.6 ms against 0.7). A status, an owner or an external id is estimated from
    /// its value, and a plan kept for one value can read thousands of rows for another.
    pub(super) fn one_plan_fits(&self, driver: Driver) -> bool {
        matches!(driver, Driver::Probe | Driver::IdWalk)
            && !self.tags.is_empty()
            && self.owner_id.is_none()
            && self.status.is_none()
            && self.external_id.is_none()
            && !self.waiting
    }

    /// The conditions (joined by AND; empty when none) with placeholders from `$first`, and
    /// the values to bind in order; `now` is the time statuses are taken at. Only the `driver`
    /// condition is written so that an index can answer it, on SQLite ([`Driver::Any`]: each).
    pub(super) fn driven(
        &self,
        now: i64,
        first: usize,
        driver: Driver,
    ) -> (String, Vec<Bound<'_>>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let next = |values: &Vec<Bound<'_>>| first + values.len();
        for (i, (key, value)) in self.tags.iter().enumerate() {
            if driver == Driver::TagWalk(i) {
                continue;
            }
            let (k, v) = (next(&values), next(&values) + 1);
            conditions.push(if driver.indexes(Driver::Tag(i)) {
                format!(
                    "id IN (SELECT connection_id FROM connection_tags WHERE key = ${k} AND value = ${v})"
                )
            } else if matches!(driver, Driver::Probe | Driver::IdWalk) {
                // The line looked for as a subquery, computed once per statement: written as
                // an expression, PostgreSQL folds it into each plan it makes for the values at
                // hand, and never keeps one plan (see `one_plan_fits`).
                format!("strpos(connections.tag_list, (SELECT chr(10) || connection_tag_line(${k}, ${v}) || chr(10))) > 0")
            } else {
                format!("instr(connections.tag_list, char(10) || ${k} || '=' || ${v} || char(10)) > 0")
            });
            values.push(Bound::Text(key));
            values.push(Bound::Text(value));
        }
        if let Some(owner) = &self.owner_id {
            let column = if driver.indexes(Driver::Owner) {
                "owner_id"
            } else {
                "+owner_id"
            };
            conditions.push(format!("{column} = ${}", next(&values)));
            values.push(Bound::Text(owner));
        }
        if let Some(external_id) = &self.external_id {
            conditions.push(format!("external_id = ${}", next(&values)));
            values.push(Bound::Text(external_id));
        }
        if self.waiting {
            conditions.push(if driver.indexes(Driver::Waiting) {
                "id IN (SELECT connection_id FROM renewal_requests WHERE state = 'open')".to_owned()
            } else {
                // Each row looked up in the index of open requests as it comes, never read off it.
                "EXISTS (SELECT 1 FROM renewal_requests AS r WHERE r.connection_id = connections.id AND r.state = 'open')".to_owned()
            });
        }
        if let Some(status) = self.status {
            let hinted = !matches!(driver, Driver::Planned | Driver::Probe);
            let range = if matches!(driver, Driver::ById | Driver::IdWalk) {
                status_on_column(status)
            } else {
                status_range(status, driver.indexes(Driver::Status), hinted)
            };
            if range.contains("{now}") {
                conditions.push(format!(
                    "({})",
                    range.replace("{now}", &format!("${}", next(&values)))
                ));
                values.push(Bound::Int(now));
            } else {
                conditions.push(format!("({range})"));
            }
        }
        (conditions.join(" AND "), values)
    }

    /// `WHERE …` for [`Self::driven`] from `$first`, or nothing.
    pub(super) fn where_driven(
        &self,
        now: i64,
        first: usize,
        driver: Driver,
    ) -> (String, Vec<Bound<'_>>) {
        let (conditions, values) = self.driven(now, first, driver);
        if conditions.is_empty() {
            (String::new(), values)
        } else {
            (format!("WHERE {conditions}"), values)
        }
    }
}

type RowsQuery<'q, O> = sqlx::query::QueryAs<'q, Any, O, AnyArguments<'q>>;

/// Binds `values` in order.
pub(super) fn bind<'q, O>(mut query: RowsQuery<'q, O>, values: &[Bound<'q>]) -> RowsQuery<'q, O> {
    for value in values {
        query = match value {
            Bound::Text(text) => query.bind(*text),
            Bound::Int(int) => query.bind(*int),
        };
    }
    query
}

/// The most index entries a count of one condition's connections reads (see [`driver`]).
const COUNT_CAP: i64 = 20_000;

/// How SQLite is to find a page of the connections `filter` keeps that ends `rows` into an
/// order passing `passed` rows: walking it (as `walk` writes the conditions) where the filter
/// keeps many, else reading the condition that keeps the fewest off its index. PostgreSQL plans
/// with its own statistics and gets every condition, its tags as row-by-row tests where the
/// order is to be walked ([`Driver::Probe`]).
pub(super) async fn plan(
    pool: &Pool,
    filter: &FleetFilter,
    share: Share,
    (rows, passed, walk): (i64, i64, Driver),
) -> sqlx::Result<Driver> {
    if !is_sqlite(pool) {
        Ok(if share.walks(rows, passed) && !filter.tags.is_empty() {
            Driver::Probe
        } else {
            Driver::Planned
        })
    } else if share.walks(rows, passed) {
        Ok(walk)
    } else {
        fewest(pool, filter, share).await
    }
}

/// The condition of `filter` SQLite should answer with an index for a page of the few
/// connections the filter keeps: the one that keeps the fewest on its own — its status's
/// (`share` counts them), or a tag's or the owner's, counted off their indexes, each count
/// stopping at the fewest so far. With one condition or none, or an external id (unique),
/// SQLite's own choice is right.
async fn fewest(pool: &Pool, filter: &FleetFilter, share: Share) -> sqlx::Result<Driver> {
    let candidates = filter.tags.len()
        + usize::from(filter.owner_id.is_some())
        + usize::from(filter.status.is_some())
        + usize::from(filter.waiting);
    if filter.external_id.is_some() || candidates < 2 {
        return Ok(Driver::Any);
    }
    let mut fewest: Option<(Driver, i64)> = share.of_status.map(|n| (Driver::Status, n));
    if filter.waiting {
        let n = super::open_renewal_count(pool).await?;
        if fewest.is_none_or(|(_, least)| n < least) {
            fewest = Some((Driver::Waiting, n));
        }
    }
    for (i, tag) in filter.tags.iter().enumerate() {
        let n = tag_count(pool, tag, fewest.map_or(COUNT_CAP, |(_, n)| n)).await?;
        if fewest.is_none_or(|(_, least)| n < least) {
            fewest = Some((Driver::Tag(i), n));
        }
    }
    if let Some(owner) = &filter.owner_id {
        let n = owner_count(pool, owner, fewest.map_or(COUNT_CAP, |(_, n)| n)).await?;
        if fewest.is_none_or(|(_, least)| n < least) {
            fewest = Some((Driver::Owner, n));
        }
    }
    Ok(fewest.map_or(Driver::Any, |(driver, _)| driver))
}

/// How many connections have `tag`, counted off its index up to `cap`.
pub(super) async fn tag_count(
    pool: &Pool,
    (key, value): &(String, String),
    cap: i64,
) -> sqlx::Result<i64> {
    let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM connection_tags WHERE key = $1 AND value = $2 LIMIT $3) AS capped";
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(key)
        .bind(value)
        .bind(cap)
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// How many connections `owner` owns, counted off its index up to `cap`.
async fn owner_count(pool: &Pool, owner: &str, cap: i64) -> sqlx::Result<i64> {
    let sql =
        "SELECT COUNT(*) FROM (SELECT 1 FROM connections WHERE owner_id = $1 LIMIT $2) AS capped";
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(owner)
        .bind(cap)
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// How many connections each condition of a filter keeps on its own: each of its tags, in
/// order, and its owner (as the dashboard's counts of those one-condition filters say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    pub tags: Vec<i64>,
    pub owner: Option<i64>,
}

/// How SQLite is to find `limit` connections of the management list, in the order of ids:
/// with a tag in the filter, walking its rarest tag's index in that order — about
/// `limit × its count / kept` entries read, none sorted — unless the status or the owner keeps
/// fewer on its own than that walk reads; without one, as [`plan`] says.
async fn id_plan(
    pool: &Pool,
    (filter, share, parts): (&FleetFilter, Share, &Parts),
    limit: i64,
) -> sqlx::Result<Driver> {
    let rarest = parts
        .tags
        .iter()
        .copied()
        .enumerate()
        .min_by_key(|(_, n)| *n);
    let Some((tag, n)) = rarest.filter(|_| is_sqlite(pool) && filter.external_id.is_none()) else {
        return plan(pool, filter, share, (limit, share.fleet, Driver::Walk)).await;
    };
    let reads = if share.kept > limit {
        n.saturating_mul(limit) / share.kept
    } else {
        n
    };
    let others = [
        share.of_status.map(|n| (Driver::Status, n)),
        parts.owner.map(|n| (Driver::Owner, n)),
    ];
    Ok(others
        .into_iter()
        .flatten()
        .fold((Driver::TagWalk(tag), reads), |least, other| {
            if other.1 < least.1 { other } else { least }
        })
        .0)
}

/// Every connection `filter` keeps, by name.
pub async fn connections_matching(
    pool: &Pool,
    filter: &FleetFilter,
    now: i64,
) -> sqlx::Result<Vec<ConnectionRow>> {
    let (filter, values) = filter.where_driven(now, 1, Driver::own_choice(pool));
    let sql = format!(
        "SELECT {} FROM connections {filter} ORDER BY name, id",
        select_columns()
    );
    bind(sqlx::query_as(&sql), &values).fetch_all(pool).await
}

/// What the management API lists of a connection: no secrets, its tags joined into one column.
#[derive(Debug, Clone, Default, FromRow)]
pub struct FleetRow {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub company_uuid: Option<String>,
    pub required_scopes: String,
    pub granted_scopes: String,
    pub failing: i64,
    pub degraded: i64,
    pub refresh_token_expires_at: Option<i64>,
    pub updated_at: i64,
    #[sqlx(flatten)]
    pub belonging: Belonging,
    /// Its tags, `key=value` one per line (see [`split_tags`]).
    pub tags: String,
    /// Whether its customer is asked for a renewal on its own (see `ConnectionRow`).
    pub renewal_automatic: Option<i64>,
}

const FLEET_COLUMNS: &str = "id, name, client_id, company_uuid, required_scopes, granted_scopes, failing, degraded, refresh_token_expires_at, updated_at, external_id, contact_name, contact_email, owner_id, renewal_automatic";

impl FleetRow {
    pub fn status(&self, now: i64) -> Status {
        Status::of(
            self.failing != 0,
            self.degraded != 0,
            self.refresh_token_expires_at,
            now,
        )
    }
}

impl From<&ConnectionRow> for FleetRow {
    fn from(row: &ConnectionRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            client_id: row.client_id.clone(),
            company_uuid: row.company_uuid.clone(),
            required_scopes: row.required_scopes.clone(),
            granted_scopes: row.granted_scopes.clone(),
            failing: row.failing,
            degraded: row.degraded,
            refresh_token_expires_at: row.refresh_token_expires_at,
            updated_at: row.updated_at,
            belonging: row.belonging.clone(),
            tags: String::new(),
            renewal_automatic: row.renewal_automatic,
        }
    }
}

/// A connection's tags as one column, `key=value` one per line by key: the list the database
/// keeps on the row itself (see the `tag_list` migration), read with it where a query of the
/// tags would bring one row per tag. PostgreSQL's list writes a long tag as its key and a
/// digest of its value (see the `bounded_tag_list` migration): a row with one is listed from
/// its tags themselves.
pub(super) fn tags_column(postgres: bool) -> &'static str {
    if postgres {
        "CASE WHEN strpos(connections.tag_list, chr(1)) > 0 \
         THEN connection_tags_written(connections.id) ELSE connections.tag_list END AS tags"
    } else {
        "connections.tag_list AS tags"
    }
}

/// Tags as [`tags_column`] lists them, by key.
pub fn split_tags(listed: &str) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = listed
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    tags.sort();
    tags
}

/// What the caller knows of how many connections a filter keeps: what decides how the
/// management list finds a page of them.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// Nothing: the store's planner chooses (PostgreSQL's, from its statistics).
    Nothing,
    /// The filter's counts, `Share` of the whole and `Parts` for each condition: what SQLite,
    /// which keeps no statistics, chooses from (see [`id_plan`]).
    Counts(Share, &'a Parts),
    /// Each of the filter's tags is frequent (see `frequent_from`): PostgreSQL walks the ids
    /// off the index that carries what the filter tests (see [`Driver::IdWalk`]).
    FrequentTags,
}

/// Up to `limit` connections `filter` keeps, by id, those after id `after` when given: a walk
/// of the ids that a change between two pages never makes skip or repeat a row. With the
/// filter's counts, SQLite walks the ids through the index of the filter's rarest tag, or of
/// the primary key without a tag, each row tested; where the filter keeps few, it reads them
/// off an index instead (see [`id_plan`]). PostgreSQL's planner chooses, but for tags it was
/// told are frequent.
pub async fn fleet_page(
    pool: &Pool,
    filter: &FleetFilter,
    known: Known<'_>,
    after: Option<&str>,
    limit: i64,
    now: i64,
) -> sqlx::Result<Vec<FleetRow>> {
    let sqlite = is_sqlite(pool);
    let driver = match known {
        Known::Counts(share, parts) if sqlite => {
            id_plan(pool, (filter, share, parts), limit).await?
        }
        _ if sqlite => Driver::Any,
        Known::FrequentTags if !filter.tags.is_empty() => Driver::IdWalk,
        _ => Driver::ById,
    };
    let (conditions, mut values) = filter.driven(now, 1, driver);
    let mut conditions: Vec<String> = Some(conditions)
        .filter(|c| !c.is_empty())
        .into_iter()
        .collect();
    let (from, id) = match driver {
        Driver::TagWalk(i) => {
            let (key, value) = &filter.tags[i];
            conditions.push(format!(
                "walked.key = ${} AND walked.value = ${}",
                values.len() + 1,
                values.len() + 2
            ));
            values.push(Bound::Text(key));
            values.push(Bound::Text(value));
            (
                "connection_tags AS walked CROSS JOIN connections ON connections.id = walked.connection_id",
                "walked.connection_id",
            )
        }
        _ => ("connections", "id"),
    };
    if let Some(after) = after {
        conditions.push(format!("{id} > ${}", values.len() + 1));
        values.push(Bound::Text(after));
    }
    let sql_filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let tags = tags_column(!sqlite);
    let sql = if matches!(driver, Driver::ById | Driver::IdWalk) && !filter.is_empty() {
        // PostgreSQL finds the page's ids testing each connection off an index that carries
        // what a filter tests (status, owner, tags), then reads only the page's rows: for a
        // frequent tag and a status, 1 160 lookups to keep 100 cost 3 ms instead of 6, and
        // walking 4 600 entries of that index 1.2 ms.
        format!(
            "SELECT {FLEET_COLUMNS}, {tags} FROM connections WHERE id IN \
             (SELECT id FROM connections {sql_filter} ORDER BY id LIMIT {limit}) ORDER BY id"
        )
    } else {
        format!(
            "SELECT {FLEET_COLUMNS}, {tags} FROM {from} {sql_filter} ORDER BY {id} LIMIT {limit}"
        )
    };
    // On PostgreSQL, a filter's page is planned for the values at hand each time: a cached
    // statement's generic plan, which cannot know how many rows a status or a tag keeps, read
    // a status's 9 000 rows off the order index and sorted them where walking a tag's index in
    // the order of ids reads a thousand (95 ms against 6). Without a filter, or with frequent
    // tags alone, one plan serves every value and is kept with the statement: the limit is
    // written into it (see `page_sql` in the dashboard's room).
    bind(
        sqlx::query_as(&sql)
            .persistent(sqlite || filter.is_empty() || filter.one_plan_fits(driver)),
        &values,
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    /// Each status's range of the order index keeps exactly the rows `Status::of` gives that
    /// status, at every boundary of the bands, on both stores (each writes the ranges its own
    /// way).
    #[tokio::test]
    async fn a_status_filter_keeps_exactly_the_rows_of_that_status() {
        store::on_both_stores("cc_fleet", statuses_kept).await;
    }

    async fn statuses_kept(pool: &Pool) {
        let now = 1_000_000_000;
        let day = 86_400;
        let mut rows = vec![
            (true, false, Some(now + 100 * day)),
            (false, false, None),
            (true, true, Some(now + 100 * day)),
            (false, true, Some(now + 3 * day)),
            (false, true, None),
        ];
        for edge in [0, 8 * day, 31 * day] {
            for delta in [-1, 0, 1] {
                rows.push((false, false, Some(now + edge + delta)));
            }
        }
        rows.push((false, false, Some(now - 30 * day)));
        rows.push((false, false, Some(now + 400 * day)));
        for (i, (failing, degraded, expires)) in rows.iter().enumerate() {
            let id = format!("c{i}");
            super::super::test_connection(pool, (&id, &id), *failing, *expires, None).await;
            if *degraded {
                super::super::test_failed_probe(pool, &id).await;
            }
        }
        for status in Status::ALL {
            let expected = rows
                .iter()
                .filter(|(failing, degraded, expires)| {
                    Status::of(*failing, *degraded, *expires, now) == status
                })
                .count() as i64;
            let filter = FleetFilter {
                status: Some(status),
                ..FleetFilter::default()
            };
            let counted = store::overview(pool, now, &filter).await.unwrap().counts;
            for (s, n) in counted {
                let want = if s == status { expected } else { 0 };
                assert_eq!(n, want, "{status:?} filter, {s:?} count");
            }
            let listed = connections_matching(pool, &filter, now).await.unwrap();
            assert_eq!(listed.len() as i64, expected, "{status:?}");
            let paged = fleet_page(pool, &filter, Known::Nothing, None, 100, now)
                .await
                .unwrap();
            assert_eq!(
                paged.len() as i64,
                expected,
                "{status:?}, the management list"
            );
        }
    }
}
