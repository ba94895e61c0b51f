//! Connections and their history: the stored row (secrets sealed), its writes, the checks
//! recorded against it, and what the keep-alive schedule reads.

use sqlx::{Any, Executor, FromRow};

use super::api_keys;
use super::pool::{Pool, Transaction, begin};
use console_model::Status;

/// The fields a connection's sealed values are sealed for (with its id).
pub const CLIENT_SECRET: &str = "client_secret";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const ACCESS_TOKEN: &str = "access_token";

/// Every column of `connections`, in the order a read selects them and an export carries them
/// (`dump::TABLES` names this list): a new column is added here once.
pub const COLUMNS: &[&str] = &[
    "id",
    "name",
    "client_id",
    "authorization_url",
    "geolocation",
    "company_uuid",
    "scope_profile",
    "required_scopes",
    "granted_scopes",
    "failing",
    "last_problem",
    "refresh_token_expires_at",
    "access_token_expires_at",
    "last_checked_at",
    "last_ok_at",
    "client_secret_sealed",
    "refresh_token_sealed",
    "client_secret_mask",
    "refresh_token_mask",
    "created_at",
    "updated_at",
    "access_token_sealed",
    "next_refresh_at",
    "transient_failures",
    "next_step",
    "external_id",
    "contact_name",
    "contact_email",
    "owner_id",
    "renewal_automatic",
];

/// The columns a connection gets when it is made and then only through their own writes
/// (renaming, who it belongs to), so a refresh never undoes such a change.
const OWN_WRITES: [&str; 7] = [
    "id",
    "name",
    "created_at",
    "external_id",
    "contact_name",
    "contact_email",
    "owner_id",
];

/// `id, name, …`: what a read of whole rows selects, the columns the database derives itself
/// (`degraded`) last.
pub(super) fn select_columns() -> String {
    format!("{}, degraded", COLUMNS.join(", "))
}

/// The columns every write sets, in the order [`bind_mutable`] binds them.
fn mutable_columns() -> Vec<&'static str> {
    COLUMNS
        .iter()
        .copied()
        .filter(|c| !OWN_WRITES.contains(c) && !SET_ALONE.contains(c))
        .collect()
}

/// The columns only their own write sets, never a connection's making (they start NULL).
const SET_ALONE: [&str; 1] = ["renewal_automatic"];

/// A stored connection; the secrets are sealed (see `crypto`).
#[derive(Debug, Clone, Default, FromRow)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub authorization_url: String,
    pub geolocation: Option<String>,
    pub company_uuid: Option<String>,
    pub scope_profile: String,
    pub required_scopes: String,
    pub granted_scopes: String,
    pub failing: i64,
    pub last_problem: Option<String>,
    pub refresh_token_expires_at: Option<i64>,
    pub access_token_expires_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub last_ok_at: Option<i64>,
    pub client_secret_sealed: String,
    pub refresh_token_sealed: String,
    pub client_secret_mask: String,
    pub refresh_token_mask: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub access_token_sealed: Option<String>,
    pub next_refresh_at: Option<i64>,
    pub transient_failures: i64,
    pub next_step: Option<String>,
    /// Who it belongs to.
    #[sqlx(flatten)]
    pub belonging: Belonging,
    /// Whether the console asks its customer for a renewal on its own: 1 always, 0 never,
    /// NULL as the console-wide setting says.
    pub renewal_automatic: Option<i64>,
    /// A read-only API probe fails (kept by the database from `probe_results`; never written
    /// with the row).
    pub degraded: i64,
}

impl ConnectionRow {
    pub fn status(&self, now: i64) -> Status {
        Status::of(
            self.failing != 0,
            self.degraded != 0,
            self.refresh_token_expires_at,
            now,
        )
    }
}

pub async fn connection(pool: &Pool, id: &str) -> sqlx::Result<Option<ConnectionRow>> {
    sqlx::query_as(&format!(
        "SELECT {} FROM connections WHERE id = $1",
        select_columns()
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds [`mutable_columns`] in order.
fn bind_mutable<'q>(query: AnyQuery<'q>, row: &'q ConnectionRow) -> AnyQuery<'q> {
    query
        .bind(&row.client_id)
        .bind(&row.authorization_url)
        .bind(&row.geolocation)
        .bind(&row.company_uuid)
        .bind(&row.scope_profile)
        .bind(&row.required_scopes)
        .bind(&row.granted_scopes)
        .bind(row.failing)
        .bind(&row.last_problem)
        .bind(row.refresh_token_expires_at)
        .bind(row.access_token_expires_at)
        .bind(row.last_checked_at)
        .bind(row.last_ok_at)
        .bind(&row.client_secret_sealed)
        .bind(&row.refresh_token_sealed)
        .bind(&row.client_secret_mask)
        .bind(&row.refresh_token_mask)
        .bind(row.updated_at)
        .bind(&row.access_token_sealed)
        .bind(row.next_refresh_at)
        .bind(row.transient_failures)
        .bind(&row.next_step)
}

/// A new connection as the store's own tests want it: `failing` or not, its refresh token
/// expiring at `expires`, owned by the account `owner`; written as every connection is.
#[cfg(test)]
pub(crate) async fn test_connection(
    pool: &Pool,
    (id, name): (&str, &str),
    failing: bool,
    expires: Option<i64>,
    owner: Option<&str>,
) {
    let row = ConnectionRow {
        id: id.to_owned(),
        name: name.to_owned(),
        client_id: id.to_owned(),
        authorization_url: "https://us.api.concursolutions.com".to_owned(),
        scope_profile: "p".to_owned(),
        failing: i64::from(failing),
        refresh_token_expires_at: expires,
        belonging: Belonging {
            owner_id: owner.map(str::to_owned),
            ..Belonging::default()
        },
        ..ConnectionRow::default()
    };
    upsert_connection(pool, &row, true).await.expect("insert");
}

/// Writes a connection: every column when new, otherwise all but the name and creation time
/// (renaming is its own write, so a refresh never undoes a rename).
pub async fn upsert_connection<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    row: &ConnectionRow,
    is_new: bool,
) -> sqlx::Result<()> {
    let mutable = mutable_columns();
    if is_new {
        let placeholders: Vec<String> = (1 + OWN_WRITES.len()..=OWN_WRITES.len() + mutable.len())
            .map(|i| format!("${i}"))
            .collect();
        let sql = format!(
            "INSERT INTO connections ({}, {}) VALUES ($1, $2, $3, $4, $5, $6, $7, {})",
            OWN_WRITES.join(", "),
            mutable.join(", "),
            placeholders.join(", ")
        );
        let query = sqlx::query(&sql)
            .bind(&row.id)
            .bind(&row.name)
            .bind(row.created_at)
            .bind(&row.belonging.external_id)
            .bind(&row.belonging.contact_name)
            .bind(&row.belonging.contact_email)
            .bind(&row.belonging.owner_id);
        bind_mutable(query, row).execute(executor).await?;
    } else {
        let sets: Vec<String> = mutable
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 2))
            .collect();
        let sql = format!("UPDATE connections SET {} WHERE id = $1", sets.join(", "));
        bind_mutable(sqlx::query(&sql).bind(&row.id), row)
            .execute(executor)
            .await?;
    }
    Ok(())
}

pub async fn rename_connection(pool: &Pool, id: &str, name: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE connections SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Who a connection belongs to, as its row keeps it (tags aside).
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct Belonging {
    pub external_id: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub owner_id: Option<String>,
}

pub async fn set_belonging(
    tx: &mut Transaction,
    id: &str,
    b: &Belonging,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE connections SET external_id = $2, contact_name = $3, contact_email = $4, owner_id = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(&b.external_id)
    .bind(&b.contact_name)
    .bind(&b.contact_email)
    .bind(&b.owner_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The id of the connection with this external id.
pub async fn connection_by_external_id(
    pool: &Pool,
    external_id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM connections WHERE external_id = $1")
        .bind(external_id)
        .fetch_optional(pool)
        .await
}

pub async fn delete_connection(pool: &Pool, id: &str) -> sqlx::Result<bool> {
    let mut tx = begin(pool).await?;
    for table in [
        "validations",
        "api_keys",
        "refresh_leases",
        "connection_tags",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE connection_id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query("DELETE FROM connections WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 1 {
        api_keys::count_revocation(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// One check's record in a connection's history.
#[derive(Debug, Clone, FromRow)]
pub struct ValidationRow {
    pub id: String,
    pub connection_id: String,
    pub at: i64,
    pub ok: i64,
    pub diagnosis: Option<String>,
    pub message: String,
    pub concur_code: Option<i64>,
    pub correlation_id: Option<String>,
    pub duration_ms: i64,
    /// Who asked: `validate`, `keep-alive` or `token-api`.
    pub source: String,
    /// Set when this check moved the connection into or out of `failing`.
    pub status_change: Option<String>,
}

pub async fn insert_validation<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    v: &ValidationRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO validations (id, connection_id, at, ok, diagnosis, message, concur_code, correlation_id, duration_ms, source, status_change) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&v.id)
    .bind(&v.connection_id)
    .bind(v.at)
    .bind(v.ok)
    .bind(&v.diagnosis)
    .bind(&v.message)
    .bind(v.concur_code)
    .bind(&v.correlation_id)
    .bind(v.duration_ms)
    .bind(&v.source)
    .bind(&v.status_change)
    .execute(executor)
    .await
    .map(|_| ())
}

pub async fn history(
    pool: &Pool,
    connection_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<ValidationRow>> {
    sqlx::query_as(
        "SELECT id, connection_id, at, ok, diagnosis, message, concur_code, correlation_id, duration_ms, source, status_change FROM validations WHERE connection_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(connection_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The connections the keep-alive schedule says are due (read off the next-refresh index), each
/// with the data centre its token calls go to.
pub async fn due_connections(pool: &Pool, now: i64) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT id, COALESCE(geolocation, authorization_url) FROM connections WHERE next_refresh_at IS NULL OR next_refresh_at <= $1 ORDER BY next_refresh_at, id",
    )
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Every connection, whole, by name (for the command line).
pub async fn all_connections(pool: &Pool) -> sqlx::Result<Vec<ConnectionRow>> {
    sqlx::query_as(&format!(
        "SELECT {} FROM connections ORDER BY name, id",
        select_columns()
    ))
    .fetch_all(pool)
    .await
}

/// The refresh-token expiry of every connection that has one: (id, name, expiry).
pub async fn expiries(pool: &Pool) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT id, name, refresh_token_expires_at FROM connections WHERE refresh_token_expires_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await
}
