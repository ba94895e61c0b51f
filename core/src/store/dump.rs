//! Every table that holds what a console must not lose, read and written as plain rows (column
//! → JSON value) so one file moves between SQLite and PostgreSQL. What can be rebuilt or must
//! not move stays out: sessions, setup tokens, refresh leases, sign-ins under way, the search
//! index and each connection's tag list (their triggers refill them, see [`DERIVED`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::{Column, Row as _};

use super::connections::{ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN};
use super::pool::Pool;
use crate::crypto::is_sealed;

/// Columns the database fills itself from other tables, which an export leaves out: each
/// connection's list of its tags, rewritten by a trigger whenever `connection_tags` changes, and
/// whether it is degraded, whenever `probe_results` does.
pub const DERIVED: &[(&str, &str)] = &[("connections", "tag_list"), ("connections", "degraded")];

/// The tables an export carries, parents before children, with their columns (the first two
/// order the rows: a unique key, or a connection and a place within it): the schema this
/// console knows (a test holds it equal to what the migrations make, on both stores). An import
/// takes no other table or column, so no name in a file ever reaches SQL.
pub const TABLES: &[(&str, &[&str])] = &[
    (
        "admins",
        &[
            "id",
            "username",
            "password_hash",
            "created_at",
            "role",
            "deactivated_at",
            "sso_subject",
            "email",
            "alerts_by_email",
        ],
    ),
    ("settings", &["name", "value"]),
    ("connections", super::connections::COLUMNS),
    ("connection_tags", &["connection_id", "key", "value"]),
    (
        "fleet_keys",
        &[
            "id",
            "name",
            "prefix",
            "key_hash",
            "selector",
            "created_at",
            "last_used_at",
            "revoked_at",
            "access",
        ],
    ),
    (
        "validations",
        &[
            "id",
            "connection_id",
            "at",
            "ok",
            "diagnosis",
            "message",
            "concur_code",
            "correlation_id",
            "duration_ms",
            "source",
            "status_change",
        ],
    ),
    (
        "api_keys",
        &[
            "id",
            "connection_id",
            "name",
            "prefix",
            "key_hash",
            "created_at",
            "last_used_at",
            "revoked_at",
        ],
    ),
    (
        "handoff_keys",
        &[
            "id",
            "name",
            "prefix",
            "key_hash",
            "created_at",
            "last_used_at",
            "revoked_at",
        ],
    ),
    (
        "handoffs",
        &[
            "id",
            "token_hash",
            "kind",
            "name",
            "note",
            "scope_profile",
            "required_scopes",
            "connection_id",
            "created_by",
            "created_at",
            "expires_at",
            "opened_at",
            "completed_at",
            "revoked_at",
            "locked_at",
            "refusals",
            "expiry_told",
            "created_by_key",
            "external_id",
            "tags",
            "contact_name",
            "contact_email",
            "owner_id",
        ],
    ),
    (
        "invitations",
        &[
            "id",
            "token_hash",
            "role",
            "created_by",
            "created_at",
            "expires_at",
            "used_at",
            "used_by",
            "revoked_at",
        ],
    ),
    (
        "renewal_requests",
        &[
            "id",
            "connection_id",
            "reason",
            "scopes",
            "link_id",
            "contact_email",
            "state",
            "reminders",
            "next_reminder_at",
            "escalated_at",
            "asked_at",
            "ended_at",
            "ended_by",
        ],
    ),
    (
        "probe_results",
        &[
            "connection_id",
            "position",
            "name",
            "label",
            "ok",
            "transient",
            "status",
            "detail",
            "fix",
            "correlation_id",
            "checked_at",
        ],
    ),
    ("alert_marks", &["connection_id", "mark", "created_at"]),
    (
        "alert_outbox",
        &[
            "id",
            "event_id",
            "connection_id",
            "event",
            "channel",
            "payload",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
            "sent_at",
        ],
    ),
    (
        "audit_events",
        &[
            "id",
            "at",
            "actor",
            "address",
            "kind",
            "connection_id",
            "outcome",
            "detail",
            "actor_role",
            "actor_method",
        ],
    ),
];

/// Settings that belong to one database and its key, not to the data.
const LOCAL_SETTINGS: &[&str] = &["key_check"];

pub type Row = Map<String, Value>;
pub type Tables = BTreeMap<String, Vec<Row>>;

/// A read-only transaction that sees one moment: `serve` may go on writing meanwhile.
async fn snapshot(pool: &Pool) -> sqlx::Result<super::pool::Transaction> {
    pool.begin_with(if super::pool::is_sqlite(pool) {
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
    for (table, columns) in TABLES {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {table} ORDER BY 1, 2",
            columns.join(", ")
        ))
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

/// Why the rows of a file do not fit this console's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unfit {
    #[error("the file holds a table this console does not know: {0:?}")]
    UnknownTable(String),
    #[error("the file holds a column this console does not know: {table}.{column:?}")]
    UnknownColumn { table: String, column: String },
    #[error("{table}.{column} of row {row}: {value} is not a whole number that fits in 64 bits")]
    Number {
        table: String,
        column: String,
        row: usize,
        value: String,
    },
    #[error("{table}.{column} of row {row}: {kind} where text or a whole number belongs")]
    Kind {
        table: String,
        column: String,
        row: usize,
        kind: &'static str,
    },
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Integer(i64),
    Text(String),
}

/// A row that fits the schema: its non-NULL values, each column named by the schema's own text.
type FittedRow = Vec<(&'static str, Cell)>;

/// Rows that fit the schema, table by table, parents first: what [`write_all`] takes. Only
/// [`fit`] makes one.
#[derive(Debug)]
pub struct Fitted(Vec<(&'static str, Vec<FittedRow>)>);

/// Checks every table, column and value of `tables` against [`TABLES`]: a known table, known
/// columns, text or whole numbers that fit in 64 bits (a NULL is left out, to the column).
pub fn fit(tables: &Tables) -> Result<Fitted, Unfit> {
    if let Some(unknown) = tables
        .keys()
        .find(|name| !TABLES.iter().any(|(known, _)| known == name))
    {
        return Err(Unfit::UnknownTable(unknown.clone()));
    }
    let mut fitted = Vec::new();
    for (table, columns) in TABLES {
        let mut rows = Vec::new();
        for (index, row) in tables.get(*table).into_iter().flatten().enumerate() {
            let mut cells = Vec::new();
            for (column, value) in row {
                let Some(column) = columns.iter().copied().find(|c| c == column) else {
                    return Err(Unfit::UnknownColumn {
                        table: (*table).to_owned(),
                        column: column.clone(),
                    });
                };
                let kind = |kind| Unfit::Kind {
                    table: (*table).to_owned(),
                    column: column.to_owned(),
                    row: index + 1,
                    kind,
                };
                let cell = match value {
                    Value::Null => continue,
                    Value::String(text) => Cell::Text(text.clone()),
                    Value::Number(number) => {
                        Cell::Integer(number.as_i64().ok_or_else(|| Unfit::Number {
                            table: (*table).to_owned(),
                            column: column.to_owned(),
                            row: index + 1,
                            value: number.to_string(),
                        })?)
                    }
                    Value::Bool(_) => return Err(kind("true or false")),
                    Value::Array(_) => return Err(kind("a list")),
                    Value::Object(_) => return Err(kind("an object")),
                };
                cells.push((column, cell));
            }
            rows.push(cells);
        }
        fitted.push((*table, rows));
    }
    Ok(Fitted(fitted))
}

/// Writes every row in one transaction, parents first: all or nothing. A row whose key (or a
/// unique value) is already present is skipped and counted, never overwritten.
pub async fn write_all(pool: &Pool, tables: &Fitted) -> sqlx::Result<Vec<Written>> {
    let mut tx = super::pool::begin(pool).await?;
    let mut report = Vec::new();
    for (table, rows) in &tables.0 {
        let mut written = Written {
            table: (*table).to_owned(),
            written: 0,
            skipped: 0,
        };
        for cells in rows {
            let columns: Vec<&str> = cells.iter().map(|(column, _)| *column).collect();
            let places: Vec<String> = (1..=cells.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
                columns.join(", "),
                places.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (_, cell) in cells {
                query = match cell {
                    Cell::Integer(n) => query.bind(*n),
                    Cell::Text(text) => query.bind(text.as_str()),
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
    /// [`crate::crypto::Cipher::open`] takes them.
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
