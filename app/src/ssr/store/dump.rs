//! Every table that holds what a console must not lose, read and written as plain rows (column
//! → JSON value) so one file moves between SQLite and PostgreSQL. What can be rebuilt or must
//! not move stays out: sessions, setup tokens, refresh leases, sign-ins under way, the search
//! index (its triggers refill it).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::{Column, Row as _};

use super::{ACCESS_TOKEN, CLIENT_SECRET, Pool, REFRESH_TOKEN};
use crate::ssr::crypto::is_sealed;

/// The tables, parents before children.
pub const TABLES: &[&str] = &[
    "admins",
    "settings",
    "connections",
    "validations",
    "api_keys",
    "handoff_keys",
    "handoffs",
    "invitations",
    "alert_marks",
    "alert_outbox",
    "audit_events",
];

/// Settings that belong to one database and its key, not to the data.
const LOCAL_SETTINGS: &[&str] = &["key_check"];

pub type Row = Map<String, Value>;
pub type Tables = BTreeMap<String, Vec<Row>>;

/// A read-only transaction that sees one moment: `serve` may go on writing meanwhile.
async fn snapshot(pool: &Pool) -> sqlx::Result<super::Transaction> {
    pool.begin_with(if super::is_sqlite(pool) {
        "BEGIN"
    } else {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    })
    .await
}

fn value_of(row: &sqlx::any::AnyRow, index: usize) -> Value {
    if let Ok(number) = row.try_get::<Option<i64>, _>(index) {
        return number.map_or(Value::Null, Value::from);
    }
    row.try_get::<Option<String>, _>(index)
        .ok()
        .flatten()
        .map_or(Value::Null, Value::from)
}

/// Every row of [`TABLES`], read in one snapshot.
pub async fn read_all(pool: &Pool) -> sqlx::Result<Tables> {
    let mut tx = snapshot(pool).await?;
    let mut tables = Tables::new();
    for table in TABLES {
        let rows = sqlx::query(&format!("SELECT * FROM {table} ORDER BY 1"))
            .fetch_all(&mut *tx)
            .await?;
        let rows = rows
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .map(|c| (c.name().to_owned(), value_of(row, c.ordinal())))
                    .collect::<Row>()
            })
            .filter(|row| {
                *table != "settings"
                    || !row
                        .get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| LOCAL_SETTINGS.contains(&n))
            })
            .collect();
        tables.insert((*table).to_owned(), rows);
    }
    tx.commit().await?;
    Ok(tables)
}

/// Whether the database holds none of the data an export carries (a new console's own key
/// check does not count).
pub async fn is_empty(pool: &Pool) -> sqlx::Result<bool> {
    for table in [
        "admins",
        "connections",
        "api_keys",
        "handoffs",
        "audit_events",
    ] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await?;
        if count > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Rows written and rows skipped (already present) of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub table: String,
    pub written: u64,
    pub skipped: u64,
}

/// Writes every row in one transaction, parents first: all or nothing. A row whose key (or a
/// unique value) is already present is skipped and counted, never overwritten.
pub async fn write_all(pool: &Pool, tables: &Tables) -> sqlx::Result<Vec<Written>> {
    let mut tx = super::begin(pool).await?;
    let mut report = Vec::new();
    for table in TABLES {
        let mut written = Written {
            table: (*table).to_owned(),
            written: 0,
            skipped: 0,
        };
        for row in tables.get(*table).into_iter().flatten() {
            // A NULL is left to the column (no column of these tables defaults to anything
            // else), so no value needs a type the JSON does not carry.
            let present: Vec<(&String, &Value)> =
                row.iter().filter(|(_, v)| !v.is_null()).collect();
            let columns: Vec<&str> = present.iter().map(|(c, _)| c.as_str()).collect();
            let places: Vec<String> = (1..=present.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
                columns.join(", "),
                places.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (_, value) in &present {
                query = match value {
                    Value::Number(n) => query.bind(n.as_i64()),
                    Value::String(s) => query.bind(s.as_str()),
                    other => query.bind(other.to_string()),
                };
            }
            if query.execute(&mut *tx).await?.rows_affected() == 1 {
                written.written += 1;
            } else {
                written.skipped += 1;
            }
        }
        report.push(written);
    }
    tx.commit().await?;
    Ok(report)
}

/// A column that holds sealed values, and what each is sealed for.
#[derive(Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    /// The column that names the row.
    key_column: &'static str,
    pub column: &'static str,
    /// The field a connection's value is sealed for with its id; none for settings, which are
    /// sealed as ("settings", their name).
    field: Option<&'static str>,
}

impl SealedColumn {
    /// The (row, field) a value of this column in row `key` is sealed for, as
    /// [`crate::ssr::crypto::Cipher::open`] takes them.
    pub fn context(&self, key: &str) -> (String, String) {
        match self.field {
            Some(field) => (key.to_owned(), field.to_owned()),
            None => ("settings".to_owned(), key.to_owned()),
        }
    }
}

/// Every column that holds sealed values.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "connections",
        key_column: "id",
        column: "client_secret_sealed",
        field: Some(CLIENT_SECRET),
    },
    SealedColumn {
        table: "connections",
        key_column: "id",
        column: "refresh_token_sealed",
        field: Some(REFRESH_TOKEN),
    },
    SealedColumn {
        table: "connections",
        key_column: "id",
        column: "access_token_sealed",
        field: Some(ACCESS_TOKEN),
    },
    SealedColumn {
        table: "settings",
        key_column: "name",
        column: "value",
        field: None,
    },
];

/// The sealed values of a row: (the row and field it was sealed for, the sealed text).
pub fn sealed_values(table: &str, row: &Row) -> Vec<(String, String, String)> {
    let text = |column: &str| row.get(column).and_then(Value::as_str);
    SEALED_COLUMNS
        .iter()
        .filter(|c| c.table == table)
        .filter_map(|c| {
            let (key, sealed) = (text(c.key_column)?, text(c.column)?);
            let (context, field) = c.context(key);
            is_sealed(sealed).then(|| (context, field, sealed.to_owned()))
        })
        .collect()
}

/// How many stored secrets each key sealed: the key id, or none for values from before keys
/// had ids.
pub async fn sealed_by_key(pool: &Pool) -> sqlx::Result<Vec<(Option<String>, i64)>> {
    let mut counts: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for SealedColumn { table, column, .. } in SEALED_COLUMNS {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT k, COUNT(*) FROM (SELECT CASE WHEN {column} LIKE 'v2:%' \
             THEN substr({column}, 4, 16) ELSE '' END AS k FROM {table} \
             WHERE {column} LIKE 'v1:%' OR {column} LIKE 'v2:%') AS sealed GROUP BY k"
        ))
        .fetch_all(pool)
        .await?;
        for (id, count) in rows {
            *counts
                .entry(Some(id).filter(|id| !id.is_empty()))
                .or_default() += count;
        }
    }
    Ok(counts.into_iter().collect())
}

/// A stored secret that is not sealed with the current key.
#[derive(Debug, Clone)]
pub struct StaleValue {
    pub column: &'static SealedColumn,
    /// The row's key (a connection's id, a setting's name).
    pub key: String,
    pub sealed: String,
}

impl StaleValue {
    /// The (row, field) the value is sealed for.
    pub fn context(&self) -> (String, String) {
        self.column.context(&self.key)
    }
}

fn stale_condition(column: &str) -> String {
    format!("({column} LIKE 'v1:%' OR {column} LIKE 'v2:%') AND {column} NOT LIKE $1")
}

/// How many stored secrets are not sealed with the key whose values begin with `current`.
pub async fn count_stale(pool: &Pool, current: &str) -> sqlx::Result<i64> {
    let mut total = 0;
    for SealedColumn { table, column, .. } in SEALED_COLUMNS {
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {table} WHERE {}",
            stale_condition(column)
        ))
        .bind(format!("{current}%"))
        .fetch_one(pool)
        .await?;
        total += count;
    }
    Ok(total)
}

/// Up to `limit` stored secrets not sealed with the key whose values begin with `current`.
pub async fn stale_values(pool: &Pool, current: &str, limit: i64) -> sqlx::Result<Vec<StaleValue>> {
    let mut found = Vec::new();
    for sealed_column in SEALED_COLUMNS {
        let SealedColumn {
            table,
            key_column,
            column,
            ..
        } = sealed_column;
        let left = limit - found.len() as i64;
        if left <= 0 {
            break;
        }
        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT {key_column}, {column} FROM {table} WHERE {} ORDER BY {key_column} LIMIT $2",
            stale_condition(column)
        ))
        .bind(format!("{current}%"))
        .bind(left)
        .fetch_all(pool)
        .await?;
        found.extend(rows.into_iter().map(|(key, sealed)| StaleValue {
            column: sealed_column,
            key,
            sealed,
        }));
    }
    Ok(found)
}

/// Puts `resealed` in place of a stale value, unless the value changed meanwhile (a refresh
/// sealed a new one with the current key): then false, and nothing is lost.
pub async fn replace_sealed(pool: &Pool, value: &StaleValue, resealed: &str) -> sqlx::Result<bool> {
    let SealedColumn {
        table,
        key_column,
        column,
        ..
    } = value.column;
    let done = sqlx::query(&format!(
        "UPDATE {table} SET {column} = $1 WHERE {key_column} = $2 AND {column} = $3"
    ))
    .bind(resealed)
    .bind(&value.key)
    .bind(&value.sealed)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
