//! The fleet's reads: connections narrowed by tags, owner, status and external id, as the
//! terminal lists them (by name) and as the management API pages through them (by id, a page
//! after a cursor). Filtering is SQL, never rows loaded to filter.

use std::collections::HashMap;

use console_model::Status;
use sqlx::Any;
use sqlx::any::AnyArguments;

use super::connections::{ConnectionRow, select_columns};
use super::pool::Pool;

/// What narrows the fleet; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FleetFilter {
    /// Tags a connection must all have.
    pub tags: Vec<(String, String)>,
    pub owner_id: Option<String>,
    pub status: Option<Status>,
    pub external_id: Option<String>,
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
fn status_range(status: Status) -> String {
    let band = |from: &str, to: &str| {
        format!("failing = 0 AND {EXPIRY_KEY} > {from} AND {EXPIRY_KEY} < {to}")
    };
    match status {
        Status::Failing => "failing <> 0".into(),
        Status::Unknown => format!("failing = 0 AND {EXPIRY_KEY} = 9223372036854775807"),
        Status::Expired => format!("failing = 0 AND {EXPIRY_KEY} <= {{now}}"),
        Status::Critical => band("{now}", "{now} + 8 * 86400"),
        Status::Expiring => format!(
            "failing = 0 AND {EXPIRY_KEY} >= {{now}} + 8 * 86400 AND {EXPIRY_KEY} < {{now}} + 31 * 86400"
        ),
        Status::Healthy => format!(
            "failing = 0 AND {EXPIRY_KEY} >= {{now}} + 31 * 86400 AND {EXPIRY_KEY} < 9223372036854775807"
        ),
    }
}

impl FleetFilter {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.owner_id.is_none()
            && self.status.is_none()
            && self.external_id.is_none()
    }

    /// The conditions (joined by AND; empty when none) with placeholders from `$first`, and
    /// the values to bind in order; `now` is the time statuses are taken at.
    pub(super) fn sql(&self, now: i64, first: usize) -> (String, Vec<Bound<'_>>) {
        self.conditions(now, first, "id")
    }

    /// [`Self::sql`] for a walk of the dashboard's order on SQLite: the tag tests are written
    /// so that no index answers them (`+id`), or SQLite would read every connection with the
    /// tag off its index and sort them all, where walking the order finds a page of a
    /// frequent tag at once.
    pub(super) fn walked(&self, now: i64, first: usize) -> (String, Vec<Bound<'_>>) {
        self.conditions(now, first, "+id")
    }

    fn conditions(&self, now: i64, first: usize, id: &str) -> (String, Vec<Bound<'_>>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let next = |values: &Vec<Bound<'_>>| first + values.len();
        for (key, value) in &self.tags {
            let n = next(&values);
            conditions.push(format!(
                "{id} IN (SELECT connection_id FROM connection_tags WHERE key = ${n} AND value = ${})",
                n + 1
            ));
            values.push(Bound::Text(key));
            values.push(Bound::Text(value));
        }
        if let Some(owner) = &self.owner_id {
            conditions.push(format!("owner_id = ${}", next(&values)));
            values.push(Bound::Text(owner));
        }
        if let Some(external_id) = &self.external_id {
            conditions.push(format!("external_id = ${}", next(&values)));
            values.push(Bound::Text(external_id));
        }
        if let Some(status) = self.status {
            let range = status_range(status);
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

    /// `WHERE …` for [`Self::sql`] from `$first`, or nothing.
    pub(super) fn where_clause(&self, now: i64, first: usize) -> (String, Vec<Bound<'_>>) {
        let (conditions, values) = self.sql(now, first);
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

/// Whether every tag of `filter` is on more than `many` connections (none: false), read off
/// the tags' index without reading more than that many of each.
pub(super) async fn frequent_tags(
    pool: &Pool,
    filter: &FleetFilter,
    many: i64,
) -> sqlx::Result<bool> {
    if filter.tags.is_empty() {
        return Ok(false);
    }
    for (key, value) in &filter.tags {
        let (found,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT 1 FROM connection_tags WHERE key = $1 AND value = $2 LIMIT $3) AS capped",
        )
        .bind(key)
        .bind(value)
        .bind(many + 1)
        .fetch_one(pool)
        .await?;
        if found <= many {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Every connection `filter` keeps, by name.
pub async fn connections_matching(
    pool: &Pool,
    filter: &FleetFilter,
    now: i64,
) -> sqlx::Result<Vec<ConnectionRow>> {
    let (filter, values) = filter.where_clause(now, 1);
    let sql = format!(
        "SELECT {} FROM connections {filter} ORDER BY name, id",
        select_columns()
    );
    bind(sqlx::query_as(&sql), &values).fetch_all(pool).await
}

/// Up to `limit` connections `filter` keeps, by id, those after id `after` when given: a walk
/// of the primary key that a change between two pages never makes skip or repeat a row.
pub async fn fleet_page(
    pool: &Pool,
    filter: &FleetFilter,
    after: Option<&str>,
    limit: i64,
    now: i64,
) -> sqlx::Result<Vec<ConnectionRow>> {
    let (mut sql_filter, mut values) = filter.where_clause(now, 1);
    if let Some(after) = after {
        let joined = if sql_filter.is_empty() {
            "WHERE"
        } else {
            " AND"
        };
        sql_filter.push_str(&format!("{joined} id > ${}", values.len() + 1));
        values.push(Bound::Text(after));
    }
    let sql = format!(
        "SELECT {} FROM connections {sql_filter} ORDER BY id LIMIT ${}",
        select_columns(),
        values.len() + 1
    );
    bind(sqlx::query_as(&sql), &values)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The tags of the connections `ids`, by connection id.
pub async fn tags_of_many(
    pool: &Pool,
    ids: &[&str],
) -> sqlx::Result<HashMap<String, Vec<(String, String)>>> {
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    if ids.is_empty() {
        return Ok(tags);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT connection_id, key, value FROM connection_tags WHERE connection_id IN ({}) ORDER BY connection_id, key",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String, String)>(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    for (id, key, value) in query.fetch_all(pool).await? {
        tags.entry(id).or_default().push((key, value));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    /// Each status's range of the order index keeps exactly the rows `Status::of` gives that
    /// status, at every boundary of the bands.
    #[tokio::test]
    async fn a_status_filter_keeps_exactly_the_rows_of_that_status() {
        let dir = std::env::temp_dir().join(format!("cc-fleet-{}", uuid::Uuid::new_v4()));
        let pool = store::connect(&format!("sqlite://{}/console.db", dir.display()))
            .await
            .expect("store");
        let now = 1_000_000_000;
        let day = 86_400;
        let mut rows = vec![(true, Some(now + 100 * day)), (false, None)];
        for edge in [0, 8 * day, 31 * day] {
            for delta in [-1, 0, 1] {
                rows.push((false, Some(now + edge + delta)));
            }
        }
        rows.push((false, Some(now - 30 * day)));
        rows.push((false, Some(now + 400 * day)));
        for (i, (failing, expires)) in rows.iter().enumerate() {
            sqlx::query(
                "INSERT INTO connections (id, name, client_id, authorization_url, scope_profile, required_scopes, granted_scopes, failing, refresh_token_expires_at, client_secret_sealed, refresh_token_sealed, client_secret_mask, refresh_token_mask, created_at, updated_at, transient_failures) \
                 VALUES ($1, $1, $1, 'https://us.api.concursolutions.com', 'p', '', '', $2, $3, '', '', '', '', 0, 0, 0)",
            )
            .bind(format!("c{i}"))
            .bind(i64::from(*failing))
            .bind(*expires)
            .execute(&pool)
            .await
            .expect("insert");
        }
        for status in Status::ALL {
            let expected = rows
                .iter()
                .filter(|(failing, expires)| Status::of(*failing, *expires, now) == status)
                .count() as i64;
            let filter = FleetFilter {
                status: Some(status),
                ..FleetFilter::default()
            };
            let counted = store::status_counts(&pool, now, &filter).await.unwrap();
            for (s, n) in counted {
                let want = if s == status { expected } else { 0 };
                assert_eq!(n, want, "{status:?} filter, {s:?} count");
            }
            let listed = connections_matching(&pool, &filter, now).await.unwrap();
            assert_eq!(listed.len() as i64, expected, "{status:?}");
        }
        pool.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
