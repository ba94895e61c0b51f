//! Connection tags (`connection_tags`: one row per connection and key), and the fleet's reads
//! that narrow connections by tags and owner. Filtering is SQL, never rows loaded to filter.

use sqlx::{Any, Executor};

use super::connections::{ConnectionRow, select_columns};
use super::pool::{Pool, Transaction};

/// A connection's tags, by key.
pub async fn tags_of<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: &str,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT key, value FROM connection_tags WHERE connection_id = $1 ORDER BY key")
        .bind(id)
        .fetch_all(executor)
        .await
}

/// Every tag of every connection: (connection id, key, value).
pub async fn all_tags(pool: &Pool) -> sqlx::Result<Vec<(String, String, String)>> {
    sqlx::query_as(
        "SELECT connection_id, key, value FROM connection_tags ORDER BY connection_id, key",
    )
    .fetch_all(pool)
    .await
}

/// Gives connection `id` exactly the tags `pairs`.
pub async fn replace_tags(
    tx: &mut Transaction,
    id: &str,
    pairs: &[(&str, &str)],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM connection_tags WHERE connection_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for (key, value) in pairs {
        sqlx::query("INSERT INTO connection_tags (connection_id, key, value) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(*key)
            .bind(*value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The connections that have every tag of `pairs` and, when given, the owner `owner_id`, by
/// name.
pub async fn connections_matching(
    pool: &Pool,
    pairs: &[(String, String)],
    owner_id: Option<&str>,
) -> sqlx::Result<Vec<ConnectionRow>> {
    let mut conditions = Vec::new();
    let mut n = 0;
    for _ in pairs {
        conditions.push(format!(
            "id IN (SELECT connection_id FROM connection_tags WHERE key = ${} AND value = ${})",
            n + 1,
            n + 2
        ));
        n += 2;
    }
    if owner_id.is_some() {
        conditions.push(format!("owner_id = ${}", n + 1));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {} FROM connections {filter} ORDER BY name, id",
        select_columns()
    );
    let mut query = sqlx::query_as(&sql);
    for (key, value) in pairs {
        query = query.bind(key).bind(value);
    }
    if let Some(owner) = owner_id {
        query = query.bind(owner);
    }
    query.fetch_all(pool).await
}
