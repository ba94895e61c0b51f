//! What the integration can do: after a check that got a fresh access token, the read-only API
//! probes its scopes imply run with that token at the connection's geolocation, and their
//! findings replace the connection's last ones. A transient failure (Concur failing, rate
//! limited, no answer) never replaces a definite finding: the line keeps what was known.

use std::collections::HashMap;

use concur::{AccessToken, AuthorizationUrl, Finding, ProbeReport};
use console_model::ProbeLine;

use super::refresh::cached_access_token;
use super::stored::stored;
use crate::Error;
use crate::state::{AppState, internal};
use crate::store::{self, ConnectionRow, ProbeRow};

/// Keep-alive probes a connection at most this often.
pub const PROBE_EVERY: i64 = 3600;

/// When to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Now (Validate, Connect, Validate now).
    Now,
    /// Unless the last run is younger than [`PROBE_EVERY`] (keep-alive).
    Hourly,
}

/// Probes a working connection with the access token stored for it, and stores the findings.
/// A connection that is failing, or holds no unexpired access token, is left alone; so is every
/// connection when the operator turned the probes off (`CONCUR_PROBES=off`).
pub async fn run(state: &AppState, id: &str, when: When) -> Result<(), Error> {
    let row = stored(state, id).await?;
    run_for(state, &row, when).await
}

/// [`run`] for a connection as just stored (keep-alive holds it after its refresh).
pub async fn run_for(state: &AppState, row: &ConnectionRow, when: When) -> Result<(), Error> {
    let id = row.id.as_str();
    let now = state.now();
    if !state.probes || row.failing != 0 {
        return Ok(());
    }
    let before = store::probe_results(&state.pool, id)
        .await
        .map_err(internal)?;
    let last = before.iter().map(|b| b.checked_at).max();
    if when == When::Hourly && last.is_some_and(|at| at > now - PROBE_EVERY) {
        return Ok(());
    }
    let Some((token, _)) = cached_access_token(state, row, now, 0)? else {
        return Ok(());
    };
    let geolocation = row.geolocation.as_deref().unwrap_or(&row.authorization_url);
    let geolocation = AuthorizationUrl::parse(geolocation).map_err(internal)?;
    let words = |list: &str| {
        list.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let reports = state
        .concur
        .probe(
            &geolocation,
            &AccessToken::from_stored(String::clone(&token)),
            &words(&row.required_scopes),
            &words(&row.granted_scopes),
        )
        .await;
    for report in &reports {
        state
            .metrics
            .probe_results
            .add(&[&report.name, result_label(report)]);
    }
    let rows = findings(id, &reports, &before, state.now());
    store::replace_probe_results(&state.pool, id, &rows, &before)
        .await
        .map_err(internal)?;
    tracing::info!(connection = %id, failed = rows.iter().filter(|r| r.ok == Some(0)).count(), "probes ran");
    state.overview.changed();
    let lost: Vec<ProbeLine> = lost(&before, &rows).cloned().map(line).collect();
    let back: Vec<ProbeLine> = restored(&before, &rows).cloned().map(line).collect();
    if !lost.is_empty() {
        // As stored now: degraded.
        let row = stored(state, id).await?;
        crate::alerts::capability_lost(state, &row, &lost).await?;
    } else if !back.is_empty() {
        let row = stored(state, id).await?;
        crate::alerts::capability_restored(state, &row, &back).await?;
    }
    Ok(())
}

/// Whether a finding is a failure waiting will not cure: what makes a connection degraded.
fn failed(row: &ProbeRow) -> bool {
    row.ok == Some(0) && row.transient == 0
}

/// The findings that failed and now answer, when this run ends an episode: something failed
/// before, and nothing does now.
fn restored<'a>(before: &'a [ProbeRow], now: &'a [ProbeRow]) -> impl Iterator<Item = &'a ProbeRow> {
    let ended = before.iter().any(failed) && !now.iter().any(failed);
    now.iter().filter(move |row| {
        ended && row.ok == Some(1) && before.iter().any(|b| b.name == row.name && failed(b))
    })
}

/// The findings that answered before and now fail, when this run begins an episode: none failed
/// so before (later runs of the episode find it begun).
fn lost<'a>(before: &'a [ProbeRow], now: &'a [ProbeRow]) -> impl Iterator<Item = &'a ProbeRow> {
    let begun = before.iter().any(failed);
    now.iter().filter(move |row| {
        !begun && failed(row) && before.iter().any(|b| b.name == row.name && b.ok == Some(1))
    })
}

/// [`run`], whose failure is logged and never fails the check that asked for it.
pub async fn run_quietly(state: &AppState, id: &str, when: When) {
    if let Err(e) = run(state, id, when).await {
        tracing::warn!(connection = %id, error = %e, "the probes could not be run or stored");
    }
}

/// [`run_for`], whose failure is logged.
pub async fn run_for_quietly(state: &AppState, row: &ConnectionRow, when: When) {
    if let Err(e) = run_for(state, row, when).await {
        tracing::warn!(connection = %row.id, error = %e, "the probes could not be run or stored");
    }
}

fn result_label(report: &ProbeReport) -> &'static str {
    match &report.finding {
        Finding::Works { .. } => "ok",
        Finding::Fails(f) if f.transient => "transient",
        Finding::Fails(_) => "failed",
        Finding::NotProbed { .. } => "not_probed",
    }
}

/// The rows to store: each report's finding, except that a transient failure keeps the
/// definite finding stored before it.
fn findings(id: &str, reports: &[ProbeReport], before: &[ProbeRow], now: i64) -> Vec<ProbeRow> {
    reports
        .iter()
        .enumerate()
        .map(|(position, report)| {
            let kept = before
                .iter()
                .find(|b| b.name == report.name && b.transient == 0);
            match (&report.finding, kept) {
                (Finding::Fails(f), Some(kept)) if f.transient => ProbeRow {
                    position: position as i64,
                    ..kept.clone()
                },
                _ => row(id, position, report, now),
            }
        })
        .collect()
}

fn row(id: &str, position: usize, report: &ProbeReport, now: i64) -> ProbeRow {
    let mut row = ProbeRow {
        connection_id: id.to_owned(),
        name: report.name.clone(),
        position: position as i64,
        label: report.label.clone(),
        ok: report.ok().map(i64::from),
        checked_at: now,
        ..ProbeRow::default()
    };
    match &report.finding {
        Finding::Works { fact } => row.detail = fact.clone(),
        Finding::NotProbed { why } => row.detail = why.clone(),
        Finding::Fails(f) => {
            row.transient = i64::from(f.transient);
            row.status = f.status.map(i64::from);
            row.detail = f.message.clone();
            row.fix = Some(f.fix.clone());
            row.correlation_id = f.correlation_id.clone();
        }
    }
    row
}

/// A connection's findings as the pages, the CLI and the API show them.
pub async fn lines(state: &AppState, id: &str) -> Result<Vec<ProbeLine>, Error> {
    let rows = store::probe_results(&state.pool, id)
        .await
        .map_err(internal)?;
    Ok(rows.into_iter().map(line).collect())
}

/// The findings of the connections `ids` (a page's worth), by connection.
pub async fn lines_of(
    state: &AppState,
    ids: &[&str],
) -> Result<HashMap<String, Vec<ProbeLine>>, Error> {
    let rows = store::probe_results_of(&state.pool, ids)
        .await
        .map_err(internal)?;
    let mut by_connection: HashMap<String, Vec<ProbeLine>> = HashMap::new();
    for row in rows {
        by_connection
            .entry(row.connection_id.clone())
            .or_default()
            .push(line(row));
    }
    Ok(by_connection)
}

fn line(row: ProbeRow) -> ProbeLine {
    ProbeLine {
        name: row.name,
        label: row.label,
        ok: row.ok.map(|ok| ok != 0),
        transient: row.transient != 0,
        status: row.status.and_then(|s| u16::try_from(s).ok()),
        detail: row.detail,
        fix: row.fix,
        correlation_id: row.correlation_id,
        checked_at: row.checked_at,
    }
}

/// A report just made, as the line it is stored as.
pub fn report_line(report: &ProbeReport, now: i64) -> ProbeLine {
    line(row("", 0, report, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use concur::Failure;

    fn report(name: &str, finding: Finding) -> ProbeReport {
        ProbeReport {
            name: name.to_owned(),
            label: name.to_owned(),
            finding,
        }
    }

    fn failure(transient: bool) -> Finding {
        Finding::Fails(Failure {
            status: Some(if transient { 503 } else { 403 }),
            message: "refused".into(),
            fix: "fix it".into(),
            transient,
            correlation_id: None,
        })
    }

    #[test]
    fn an_episode_begins_once_even_when_more_is_lost_later() {
        let works = |name: &str| {
            report(
                name,
                Finding::Works {
                    fact: "fine".into(),
                },
            )
        };
        let first = findings("c", &[works("a"), works("b")], &[], 100);
        let one = findings("c", &[report("a", failure(false)), works("b")], &first, 200);
        assert_eq!(lost(&first, &one).count(), 1);
        let both = findings(
            "c",
            &[report("a", failure(false)), report("b", failure(false))],
            &one,
            300,
        );
        assert_eq!(lost(&one, &both).count(), 0, "still the same episode");
    }

    #[test]
    fn a_capability_is_lost_once_when_what_answered_fails() {
        let works = Finding::Works {
            fact: "3 users".into(),
        };
        let first = findings("c", &[report("identity_users", works.clone())], &[], 100);
        let failed = findings(
            "c",
            &[report("identity_users", failure(false))],
            &first,
            200,
        );
        assert_eq!(lost(&first, &failed).count(), 1);
        let again = findings(
            "c",
            &[report("identity_users", failure(false))],
            &failed,
            300,
        );
        assert_eq!(lost(&failed, &again).count(), 0, "the same episode");
        let flaky = findings("c", &[report("identity_users", failure(true))], &[], 400);
        assert_eq!(
            lost(&first, &flaky).count(),
            0,
            "waiting helps: nothing lost"
        );
        let back = findings("c", &[report("identity_users", works)], &again, 500);
        assert_eq!(lost(&again, &back).count(), 0);
        assert_eq!(restored(&again, &back).count(), 1, "the episode ends");
        assert_eq!(restored(&first, &first).count(), 0, "nothing was lost");
        assert_eq!(
            restored(&failed, &flaky).count(),
            0,
            "a transient failure ends nothing"
        );
    }

    #[test]
    fn an_episode_ends_only_when_every_lost_call_answers() {
        let works = |name: &str| {
            report(
                name,
                Finding::Works {
                    fact: "fine".into(),
                },
            )
        };
        let both = findings(
            "c",
            &[report("a", failure(false)), report("b", failure(false))],
            &[],
            100,
        );
        let one = findings("c", &[works("a"), report("b", failure(false))], &both, 200);
        assert_eq!(restored(&both, &one).count(), 0, "b still fails");
        let all = findings("c", &[works("a"), works("b")], &one, 300);
        assert_eq!(
            restored(&one, &all)
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn a_transient_failure_keeps_the_definite_finding_before_it() {
        let works = Finding::Works {
            fact: "3 users".into(),
        };
        let first = findings("c", &[report("identity_users", works)], &[], 100);
        assert_eq!(first[0].ok, Some(1));
        let flaky = findings("c", &[report("identity_users", failure(true))], &first, 200);
        assert_eq!(flaky, first, "Concur failing for a moment changes nothing");
        let lost = findings(
            "c",
            &[report("identity_users", failure(false))],
            &first,
            300,
        );
        assert_eq!(
            (lost[0].ok, lost[0].status, lost[0].checked_at),
            (Some(0), Some(403), 300)
        );
        let unknown = findings("c", &[report("identity_users", failure(true))], &[], 400);
        assert_eq!(
            (unknown[0].ok, unknown[0].transient),
            (Some(0), 1),
            "with nothing known before, the transient failure is shown"
        );
    }
}
