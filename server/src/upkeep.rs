//! The upkeep job of `serve`: writes the counted refusals of throttled sign-ins to the audit
//! log (one row per address and minute), applies the audit log's retention, and tells the
//! admins of hand-off links that expired unused.

use std::time::Duration;

use console_core::state::AppState;

/// How often refusals are written and old rows deleted.
const TICK: Duration = Duration::from_secs(15);

/// One round; also what the tests call instead of waiting for the job.
pub async fn run_once(state: &AppState) {
    console_core::audit::record_throttled(state).await;
    match console_core::audit::prune(state, state.audit_retention).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "audit rows past their retention deleted"),
        Err(e) => tracing::warn!(error = %e, "could not apply the audit retention"),
    }
    if let Err(e) = expired_handoffs(state).await {
        tracing::warn!(error = %e, "could not look for expired hand-off links");
    }
}

/// Each hand-off link that expired unused: one audit entry and one alert, once (the claim is a
/// conditional write, so two replicas never both tell).
async fn expired_handoffs(state: &AppState) -> Result<(), console_core::Error> {
    let expired = console_core::store::claim_expired_handoffs(&state.pool, state.now())
        .await
        .map_err(console_core::state::internal)?;
    for link in expired {
        let detail = format!("{} ({})", link.name, link.id);
        console_core::audit::record(
            state,
            console_core::audit::Event {
                actor: console_core::audit::Actor::Named("upkeep"),
                address: None,
                kind: "handoff_expired",
                connection_id: link.connection_id.as_deref(),
                outcome: "expired",
                detail: &detail,
            },
        )
        .await;
        console_core::alerts::handoff_event(
            state,
            console_core::alerts::HandoffEvent::Expired,
            &link.id,
            &link.name,
        )
        .await?;
    }
    Ok(())
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
