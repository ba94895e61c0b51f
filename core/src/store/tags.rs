//! Connection tags (`connection_tags`: one row per connection and key).

use sqlx::{Any, Executor};

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
