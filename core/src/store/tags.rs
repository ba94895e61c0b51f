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

/// Gives connection `id` exactly the tags `pairs`, writing only the tags that change: each tag
/// written or removed rewrites the connection's row (its tag list, kept by a trigger), and on
/// PostgreSQL adds an entry to each of that row's indexes. Removing every tag and writing them
/// all again made a change of one tag of five ten such rewrites.
pub async fn replace_tags(
    tx: &mut Transaction,
    id: &str,
    pairs: &[(&str, &str)],
) -> sqlx::Result<()> {
    let stored = tags_of(&mut **tx, id).await?;
    let kept = |key: &str, value: &str| pairs.iter().any(|(k, v)| *k == key && *v == value);
    for (key, value) in &stored {
        if !kept(key, value) {
            sqlx::query("DELETE FROM connection_tags WHERE connection_id = $1 AND key = $2")
                .bind(id)
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
    }
    for (key, value) in pairs {
        if !stored.iter().any(|(k, v)| k == key && v == value) {
            sqlx::query(
                "INSERT INTO connection_tags (connection_id, key, value) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(*key)
            .bind(*value)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    /// Replacing a connection's tags leaves the ones that stay as they are (on PostgreSQL their
    /// rows keep the transaction that wrote them), and the connection ends with exactly the new
    /// tags, in its own list too, on both stores.
    #[tokio::test]
    async fn replacing_tags_writes_only_those_that_change() {
        store::on_both_stores("cc_tags", replaced).await;
    }

    async fn replaced(pool: &Pool) {
        store::test_connection(pool, ("c1", "c1"), false, None, None).await;
        let replace = async |pairs: &[(&str, &str)]| {
            let mut tx = store::begin(pool).await.expect("a transaction");
            replace_tags(&mut tx, "c1", pairs).await.expect("tags");
            tx.commit().await.expect("commit");
        };
        replace(&[("env", "prod"), ("region", "emea"), ("tier", "gold")]).await;
        let written_by = async |key: &str| -> Option<String> {
            if store::is_sqlite(pool) {
                return None;
            }
            sqlx::query_scalar(
                "SELECT xmin::text FROM connection_tags WHERE connection_id = 'c1' AND key = $1",
            )
            .bind(key)
            .fetch_one(pool)
            .await
            .ok()
        };
        let env_before = written_by("env").await;
        replace(&[("env", "prod"), ("region", "us"), ("plan", "travel")]).await;
        assert_eq!(written_by("env").await, env_before, "env did not change");
        let tags = tags_of(pool, "c1").await.expect("tags");
        let expected = [("env", "prod"), ("plan", "travel"), ("region", "us")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(tags, expected);
        let (list,): (String,) = sqlx::query_as("SELECT tag_list FROM connections WHERE id = 'c1'")
            .fetch_one(pool)
            .await
            .expect("the list");
        assert_eq!(list, "\nenv=prod\nplan=travel\nregion=us\n");
        replace(&[]).await;
        assert!(tags_of(pool, "c1").await.expect("tags").is_empty());
    }
}
