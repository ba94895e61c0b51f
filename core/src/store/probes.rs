//! What each read-only API probe of a connection last found: one row per probe, replaced as a
//! whole by each run.

use sqlx::{Any, Executor, FromRow};

use super::pool::{Pool, Transaction};

#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct ProbeRow {
    pub connection_id: String,
    /// The probe's key, or a write-only scope.
    pub name: String,
    /// Its place on the page.
    pub position: i64,
    pub label: String,
    /// 1 answered, 0 failed, NULL not made.
    pub ok: Option<i64>,
    pub transient: i64,
    pub status: Option<i64>,
    pub detail: String,
    pub fix: Option<String>,
    pub correlation_id: Option<String>,
    pub checked_at: i64,
}

const COLUMNS: &str = "connection_id, name, position, label, ok, transient, status, detail, fix, \
     correlation_id, checked_at";

/// A connection's findings, in page order.
pub async fn probe_results<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    connection_id: &str,
) -> sqlx::Result<Vec<ProbeRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM probe_results WHERE connection_id = $1 ORDER BY position"
    ))
    .bind(connection_id)
    .fetch_all(executor)
    .await
}

/// The findings of the connections `ids` (a page's worth), by connection and page order.
pub async fn probe_results_of(pool: &Pool, ids: &[&str]) -> sqlx::Result<Vec<ProbeRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM probe_results WHERE connection_id IN ({}) \
         ORDER BY connection_id, position",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(pool).await
}

/// When the probes of a connection last ran, if ever.
pub async fn last_probed_at(pool: &Pool, connection_id: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MAX(checked_at) FROM probe_results WHERE connection_id = $1")
        .bind(connection_id)
        .fetch_one(pool)
        .await
}

/// Replaces a connection's findings with `rows`.
pub async fn replace_probe_results(
    tx: &mut Transaction,
    connection_id: &str,
    rows: &[ProbeRow],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM probe_results WHERE connection_id = $1")
        .bind(connection_id)
        .execute(&mut **tx)
        .await?;
    for row in rows {
        sqlx::query(&format!(
            "INSERT INTO probe_results ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&row.connection_id)
        .bind(&row.name)
        .bind(row.position)
        .bind(&row.label)
        .bind(row.ok)
        .bind(row.transient)
        .bind(row.status)
        .bind(&row.detail)
        .bind(&row.fix)
        .bind(&row.correlation_id)
        .bind(row.checked_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Records a failed probe of the connection `id`, as the store's own tests want it (the
/// connection turns degraded).
#[cfg(test)]
pub(crate) async fn test_failed_probe(pool: &Pool, id: &str) {
    let mut tx = super::pool::begin(pool).await.expect("begin");
    let row = ProbeRow {
        connection_id: id.to_owned(),
        name: "expense_reports_v3".to_owned(),
        ok: Some(0),
        status: Some(403),
        ..ProbeRow::default()
    };
    replace_probe_results(&mut tx, id, &[row])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
}
