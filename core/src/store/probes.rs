//! What each read-only API probe of a connection last found: one row per probe, replaced as a
//! whole by each run.

use sqlx::{Any, Executor, FromRow};

use super::pool::Pool;

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
pub async fn probe_results(pool: &Pool, connection_id: &str) -> sqlx::Result<Vec<ProbeRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM probe_results WHERE connection_id = $1 ORDER BY position"
    ))
    .bind(connection_id)
    .fetch_all(pool)
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

/// Replaces a connection's findings (`before`) with `rows`: one write over the rows of the same
/// names (rows that did not change leave the connection's row alone), and, in the same
/// transaction, the removal of the others when there are any.
pub async fn replace_probe_results(
    pool: &Pool,
    connection_id: &str,
    rows: &[ProbeRow],
    before: &[ProbeRow],
) -> sqlx::Result<()> {
    let gone: Vec<&str> = before
        .iter()
        .map(|b| b.name.as_str())
        .filter(|name| !rows.iter().any(|r| r.name == *name))
        .collect();
    if gone.is_empty() {
        return write_probe_results(pool, rows).await;
    }
    let mut tx = super::pool::begin(pool).await?;
    write_probe_results(&mut *tx, rows).await?;
    for name in gone {
        sqlx::query("DELETE FROM probe_results WHERE connection_id = $1 AND name = $2")
            .bind(connection_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Writes `rows` over the findings of the same connection and names, in one statement.
async fn write_probe_results<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    rows: &[ProbeRow],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..rows.len())
        .map(|r| {
            let at = r * 11;
            let marks: Vec<String> = (at + 1..=at + 11).map(|i| format!("${i}")).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO probe_results ({COLUMNS}) VALUES {} \
         ON CONFLICT (connection_id, name) DO UPDATE SET position = excluded.position, \
         label = excluded.label, ok = excluded.ok, transient = excluded.transient, \
         status = excluded.status, detail = excluded.detail, fix = excluded.fix, \
         correlation_id = excluded.correlation_id, checked_at = excluded.checked_at",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query
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
            .bind(row.checked_at);
    }
    query.execute(executor).await.map(|_| ())
}

/// Records a failed probe of the connection `id`, as the store's own tests want it (the
/// connection turns degraded).
#[cfg(test)]
pub(crate) async fn test_failed_probe(pool: &Pool, id: &str) {
    let row = ProbeRow {
        connection_id: id.to_owned(),
        name: "expense_reports_v3".to_owned(),
        ok: Some(0),
        status: Some(403),
        ..ProbeRow::default()
    };
    replace_probe_results(pool, id, &[row], &[])
        .await
        .expect("insert");
}
