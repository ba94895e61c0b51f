//! The upkeep job of `serve`: writes the counted refusals of throttled sign-ins to the audit
//! log (one row per address and minute) and applies the audit log's retention.

use std::time::Duration;

use app::ssr::state::AppState;

/// How often refusals are written and old rows deleted.
const TICK: Duration = Duration::from_secs(15);

/// One round; also what the tests call instead of waiting for the job.
pub async fn run_once(state: &AppState) {
    app::audit::ssr::record_throttled(state).await;
    match app::audit::ssr::prune(state, state.audit_retention).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "audit rows past their retention deleted"),
        Err(e) => tracing::warn!(error = %e, "could not apply the audit retention"),
    }
}

/// Runs [`run_once`] every few seconds until `stop`, and once more on the way out so no
/// counted refusal is lost.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        run_once(&state).await;
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            run_once(&state).await;
            break;
        }
    }
}
