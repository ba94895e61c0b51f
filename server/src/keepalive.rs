//! The keep-alive job: every stored connection is refreshed on a schedule, so Concur's sliding
//! six-month expiry never runs out for a healthy one. `serve` runs it in the background;
//! `refresh-all` runs one sweep and exits (for cron or a Kubernetes CronJob).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use concur::Diagnosis;
use console_core::Error;
use console_core::connections::probes::{self, When};
use console_core::connections::refresh::{self, Need, Outcome};
use console_core::state::{AppState, internal};
use console_core::store::{self, ConnectionRow};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::watch;

use crate::validate::{Exit, rfc3339};

/// Refreshes running at once against one data centre in a sweep. Each data centre has its
/// own: one that hangs until the timeout holds up only its own connections.
const PER_DATA_CENTRE: usize = 16;
/// The longest pause between two looks at the schedule.
const LONGEST_TICK: i64 = 60;

/// One connection's state after a sweep.
#[derive(Debug, Clone)]
pub struct SweepLine {
    pub id: String,
    pub name: String,
    pub ok: bool,
    /// Waiting may fix it (Concur unreachable, rate limited): no human needed yet.
    pub transient: bool,
    pub diagnosis: Option<String>,
    pub refresh_token_expires_at: Option<i64>,
    /// Concur was asked in this sweep.
    pub refreshed: bool,
}

impl SweepLine {
    fn new(row: &ConnectionRow, refreshed: bool, problem: Option<&Diagnosis>) -> Self {
        let (ok, transient, diagnosis) = match problem {
            Some(d) => (false, d.is_transient(), Some(d.message())),
            None if row.failing != 0 => (false, false, row.last_problem.clone()),
            None if row.transient_failures > 0 => (
                false,
                true,
                Some("Concur could not be reached at the last try; the keep-alive job retries with back-off.".to_owned()),
            ),
            None => (true, false, None),
        };
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            ok,
            transient,
            diagnosis,
            refresh_token_expires_at: row.refresh_token_expires_at,
            refreshed,
        }
    }
}

/// Refreshes every connection that is due, a few at a time per data centre (all data centres
/// at once), until done or told to stop (a refresh under way is always finished and
/// persisted). Returns what each refresh found.
pub async fn sweep_due(
    state: &AppState,
    stop: Option<&watch::Receiver<bool>>,
) -> Result<Vec<SweepLine>, Error> {
    let due = store::due_connections(&state.pool, state.now())
        .await
        .map_err(internal)?;
    let mut by_centre: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, centre) in due {
        by_centre.entry(centre).or_default().push(id);
    }
    let lanes = by_centre.into_values().map(|ids| {
        futures_util::stream::iter(ids)
            .take_while(|_| std::future::ready(stop.is_none_or(|s| !*s.borrow())))
            .map(|id| async move {
                match refresh::refresh(state, &id, Need::Due, "keep-alive").await {
                    Ok(Outcome::Refreshed { row, problem }) => {
                        if problem.is_none() {
                            probes::run_for_quietly(state, &row, When::Hourly).await;
                        }
                        Ok(Some(SweepLine::new(&row, true, problem.as_ref())))
                    }
                    Ok(Outcome::Fresh(_)) | Err(Error::NotFound) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(PER_DATA_CENTRE)
            .boxed()
    });
    let results: Vec<Result<Option<SweepLine>, Error>> =
        futures_util::stream::select_all(lanes).collect().await;
    let mut lines = Vec::new();
    for result in results {
        if let Some(line) = result? {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// One sweep, then a line for every connection (by name), refreshed now or not.
pub async fn refresh_all(state: &AppState) -> Result<Vec<SweepLine>, Error> {
    let mut refreshed: HashMap<String, SweepLine> = sweep_due(state, None)
        .await?
        .into_iter()
        .map(|line| (line.id.clone(), line))
        .collect();
    let rows = store::all_connections(&state.pool)
        .await
        .map_err(internal)?;
    Ok(rows
        .iter()
        .map(|row| {
            refreshed
                .remove(&row.id)
                .unwrap_or_else(|| SweepLine::new(row, false, None))
        })
        .collect())
}

/// The exit code of a sweep: those of `validate`.
pub fn exit_code(lines: &[SweepLine]) -> Exit {
    if lines.iter().any(|l| !l.ok && !l.transient) {
        Exit::Refused
    } else if lines.iter().any(|l| l.transient) {
        Exit::Transient
    } else {
        Exit::Valid
    }
}

/// Prints one line per connection: sentences, or JSON lines with `--json`.
pub fn print(lines: &[SweepLine], as_json: bool, out: &mut impl Write) -> std::io::Result<()> {
    for line in lines {
        if as_json {
            let value = json!({
                "id": line.id,
                "name": line.name,
                "ok": line.ok,
                "diagnosis": line.diagnosis,
                "refresh_token_expires_at": rfc3339(line.refresh_token_expires_at),
            });
            writeln!(out, "{value}")?;
        } else {
            let mark = match (line.ok, line.transient) {
                (true, _) => "ok     ",
                (false, true) => "waiting",
                (false, false) => "FAILING",
            };
            let expiry = line
                .refresh_token_expires_at
                .map_or_else(|| "unknown".to_owned(), console_model::format_time);
            write!(
                out,
                "{mark}  {}  {}  refresh token expires {expiry}",
                line.id, line.name
            )?;
            match &line.diagnosis {
                Some(d) => writeln!(out, "  — {d}")?,
                None => writeln!(out)?,
            }
        }
    }
    Ok(())
}

/// The background job of `serve`: looks at the schedule at least once a minute, refreshes what
/// is due and sweeps expired sessions, until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let tick = Duration::from_secs(state.keepalive_every.clamp(1, LONGEST_TICK).unsigned_abs());
    tracing::info!(
        every_seconds = state.keepalive_every,
        "keep-alive job started"
    );
    loop {
        match sweep_due(&state, Some(&stop)).await {
            Ok(lines) if !lines.is_empty() => {
                let failed = lines.iter().filter(|l| !l.ok).count();
                tracing::info!(refreshed = lines.len(), failed, "keep-alive sweep");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "keep-alive sweep stopped early"),
        }
        if let Err(e) =
            store::delete_expired_sessions(&state.pool, state.now(), state.session_idle).await
        {
            tracing::warn!(error = %e, "could not sweep expired sessions");
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!("keep-alive job stopped");
}
