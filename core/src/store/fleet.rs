//! The fleet's reads: connections narrowed by tags, owner, status and external id, as the
//! terminal lists them (by name) and as the management API pages through them (by id, a page
//! after a cursor). Filtering is SQL, never rows loaded to filter.

use std::collections::HashMap;

use console_model::Status;
use sqlx::Any;
use sqlx::any::AnyArguments;

use super::connections::{ConnectionRow, select_columns};
use super::dashboard::STATUS_SQL;
use super::pool::Pool;

/// What narrows the fleet; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct FleetFilter {
    /// Tags a connection must all have.
    pub tags: Vec<(String, String)>,
    pub owner_id: Option<String>,
    pub status: Option<Status>,
    pub external_id: Option<String>,
}

/// A value a filter binds.
enum Bound<'a> {
    Text(&'a str),
    Int(i64),
}

impl FleetFilter {
    /// `WHERE …` (or nothing) with placeholders from `$1`, and the values to bind in order;
    /// `now` is the time statuses are taken at.
    fn sql(&self, now: i64) -> (String, Vec<Bound<'_>>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        for (key, value) in &self.tags {
            let n = values.len() + 1;
            conditions.push(format!(
                "id IN (SELECT connection_id FROM connection_tags WHERE key = ${n} AND value = ${})",
                n + 1
            ));
            values.push(Bound::Text(key));
            values.push(Bound::Text(value));
        }
        if let Some(owner) = &self.owner_id {
            conditions.push(format!("owner_id = ${}", values.len() + 1));
            values.push(Bound::Text(owner));
        }
        if let Some(external_id) = &self.external_id {
            conditions.push(format!("external_id = ${}", values.len() + 1));
            values.push(Bound::Text(external_id));
        }
        if let Some(status) = self.status {
            let n = values.len() + 1;
            conditions.push(format!(
                "({}) = ${}",
                STATUS_SQL.replace("$1", &format!("${n}")),
                n + 1
            ));
            values.push(Bound::Int(now));
            values.push(Bound::Text(status.key()));
        }
        if conditions.is_empty() {
            (String::new(), values)
        } else {
            (format!("WHERE {}", conditions.join(" AND ")), values)
        }
    }
}

type RowsQuery<'q> = sqlx::query::QueryAs<'q, Any, ConnectionRow, AnyArguments<'q>>;

fn bind<'q>(mut query: RowsQuery<'q>, values: &[Bound<'q>]) -> RowsQuery<'q> {
    for value in values {
        query = match value {
            Bound::Text(text) => query.bind(*text),
            Bound::Int(int) => query.bind(*int),
        };
    }
    query
}

/// Every connection `filter` keeps, by name.
pub async fn connections_matching(
    pool: &Pool,
    filter: &FleetFilter,
    now: i64,
) -> sqlx::Result<Vec<ConnectionRow>> {
    let (filter, values) = filter.sql(now);
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
    let (mut sql_filter, mut values) = filter.sql(now);
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
