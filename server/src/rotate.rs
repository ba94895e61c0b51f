//! `rotate-key`: every stored secret re-sealed under the current key, online and resumably,
//! then every waiting link given a token of that key.

use std::io::Write;

use console_core::state::AppState;
use console_core::store::dump;

use crate::backup::refused;
use crate::manage::Failed;

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// Secrets re-sealed per round.
    #[arg(long, default_value_t = 200)]
    pub batch: i64,
    /// A pause between rounds, to go easy on a busy database.
    #[arg(long, default_value_t = 0)]
    pub pause_ms: u64,
}

/// Re-seals every stored secret under the current key (`CONCUR_CONSOLE_KEY`), opening the old
/// ones with `CONCUR_CONSOLE_OLD_KEYS`. Online: each value is replaced only if unchanged, so a
/// refresh meanwhile is never undone. Resumable: what is left is read again from the database.
pub async fn rotate_key(
    state: &AppState,
    args: &RotateArgs,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let current = state.cipher.current_prefix();
    let total = dump::count_stale(&state.pool, &current)
        .await
        .map_err(refused)?;
    writeln!(
        out,
        "{total} secrets to re-seal under key {}.",
        state.cipher.key_id()
    )
    .map_err(refused)?;
    let mut done = 0;
    loop {
        let stale = dump::stale_values(&state.pool, &current, args.batch.max(1))
            .await
            .map_err(refused)?;
        if stale.is_empty() {
            break;
        }
        for value in &stale {
            let (row, field) = value.context();
            let plaintext = state
                .cipher
                .open(&row, &field, &value.sealed)
                .map_err(|e| {
                    refused(format!(
                        "{} {} ({}): {e}",
                        value.column.table, value.key, value.column.column
                    ))
                })?;
            let resealed = state.cipher.seal(&row, &field, &plaintext);
            if dump::replace_sealed(&state.pool, value, &resealed)
                .await
                .map_err(refused)?
            {
                done += 1;
            }
        }
        writeln!(out, "re-sealed {done} of {total}").map_err(refused)?;
        if args.pause_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(args.pause_ms)).await;
        }
    }
    let links = console_core::handoffs::rederive_tokens(state)
        .await
        .map_err(refused)?
        + console_core::people::rederive_tokens(state)
            .await
            .map_err(refused)?;
    let detail = format!(
        "{done} secrets re-sealed under key {}; {links} waiting links given new tokens",
        state.cipher.key_id()
    );
    crate::manage::terminal(state, "key_rotated", None, &detail).await;
    writeln!(
        out,
        "Done: {detail} (send their new links from the Hand-off links and People pages: the old ones open nothing). Nothing is sealed with an older key any more; CONCUR_CONSOLE_OLD_KEYS can be dropped."
    )
    .map_err(refused)
}
