//! The `settings` table: named values the console keeps for itself (the key check, saved alert
//! channels, the setup link's hash).

use super::pool::Pool;

pub async fn setting(pool: &Pool, name: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

pub async fn put_setting(pool: &Pool, name: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
        .bind(name)
        .bind(value)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Sets a setting, or removes it when `value` is None.
pub async fn set_setting(pool: &Pool, name: &str, value: Option<&str>) -> sqlx::Result<()> {
    match value {
        Some(value) => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(pool)
        .await
        .map(|_| ()),
        None => sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(name)
            .execute(pool)
            .await
            .map(|_| ()),
    }
}
