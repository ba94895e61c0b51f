//! The Validate path on the server: parse the form once, ask Concur, and store the outcome in
//! one transaction (rotated refresh token included). A refusal never overwrites what is stored.

use std::time::Instant;

use concur::{
    Authorization, AuthorizationUrl, Checked, ClientId, ClientSecret, CompanyUuid, Credentials,
    Diagnosis, Field, InputError, RefreshToken, RequestToken, ScopeProfile,
};

use zeroize::Zeroizing;

use super::CredentialsForm;
use super::refresh::{self, Held, Need};
use crate::error::AppError;
use crate::model::{
    ConnectionDetail, ConnectionSummary, Dashboard, DiagnosisView, ScopeLine, Status,
    ValidationEntry, WeekBar,
};
use crate::ssr::state::{AppState, internal};
use crate::ssr::store::{self, ConnectionRow, PAGE_SIZE, ValidationRow};

const MAX_NAME_CHARS: usize = 100;
const HISTORY_ROWS: i64 = 20;
/// The history's `source` for checks an admin asked for.
const VALIDATE: &str = "validate";
pub(super) use crate::ssr::store::{
    ACCESS_TOKEN as ACCESS, CLIENT_SECRET as SECRET, REFRESH_TOKEN as REFRESH,
};

/// The form field a problem belongs next to.
pub fn field_key(field: Field) -> &'static str {
    match field {
        Field::ClientId => "client_id",
        Field::ClientSecret => "client_secret",
        Field::RefreshToken => "refresh_token",
        Field::AuthorizationUrl => "authorization_url",
        Field::CompanyUuid => "company_uuid",
        Field::RequestToken => "request_token",
        Field::Scopes => "scope_profile",
    }
}

fn invalid(error: InputError) -> AppError {
    AppError::invalid(field_key(error.field), error.message)
}

pub fn diagnosis_view(d: &Diagnosis) -> DiagnosisView {
    DiagnosisView {
        code: d.code().to_owned(),
        message: d.message(),
        next_step: d.next_step(),
        field: d.field().map(|f| field_key(f).to_owned()),
        transient: d.is_transient(),
        concur_code: d.reply.code,
        correlation_id: d.reply.correlation_id.clone(),
    }
}

struct Parsed {
    name: String,
    base: AuthorizationUrl,
    credentials: Credentials,
    authorization: Authorization,
    profile: ScopeProfile,
}

fn parse_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::invalid(
            "name",
            "Name is required, e.g. “Expense bot – ACME”.",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::invalid(
            "name",
            "Name must be at most 100 characters.",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            "Name must be one line without control characters.",
        ));
    }
    Ok(name.to_owned())
}

/// Parses the form; for a replacement, a blank Client Secret keeps the stored one and the name
/// and scope profile stay as they are.
fn parse_form(
    state: &AppState,
    form: &CredentialsForm,
    existing: Option<(&ConnectionRow, Zeroizing<String>)>,
) -> Result<Parsed, AppError> {
    let name = match &existing {
        Some((row, _)) => row.name.clone(),
        None => parse_name(&form.name)?,
    };
    let client_id = ClientId::parse(&form.client_id).map_err(invalid)?;
    let client_secret = match &existing {
        Some((_, stored)) if form.client_secret.trim().is_empty() => ClientSecret::parse(stored),
        _ => ClientSecret::parse(&form.client_secret),
    }
    .map_err(invalid)?;
    let authorization = if form.mode == "request-token" {
        Authorization::RequestToken {
            company: CompanyUuid::parse(&form.company_uuid).map_err(invalid)?,
            token: RequestToken::parse(&form.request_token).map_err(invalid)?,
        }
    } else {
        Authorization::RefreshToken(RefreshToken::parse(&form.refresh_token).map_err(invalid)?)
    };
    let base = AuthorizationUrl::parse(&form.authorization_url).map_err(invalid)?;
    state.concur.policy().check(&base).map_err(invalid)?;
    let profile = match &existing {
        Some((row, _)) => stored_profile(row)?,
        None => ScopeProfile::parse(&form.scope_profile, &form.custom_scopes).map_err(invalid)?,
    };
    Ok(Parsed {
        name,
        base,
        credentials: Credentials {
            client_id,
            client_secret,
        },
        authorization,
        profile,
    })
}

pub(super) fn stored_profile(row: &ConnectionRow) -> Result<ScopeProfile, AppError> {
    ScopeProfile::parse(&row.scope_profile, &row.required_scopes).map_err(internal)
}

/// Writes what Concur granted into the row: the refresh token to keep (rotated or not), the
/// access token, the data centre, expiries, scopes, the next keep-alive, and whether the
/// connection can serve the integration.
pub(super) fn apply(state: &AppState, row: &mut ConnectionRow, checked: &Checked, now: i64) {
    let grant = &checked.grant;
    if let Some(token) = &grant.refresh_token {
        row.refresh_token_sealed = state.cipher.seal(&row.id, REFRESH, token.expose());
        row.refresh_token_mask = token.mask();
    }
    row.access_token_sealed = Some(
        state
            .cipher
            .seal(&row.id, ACCESS, grant.access_token.expose()),
    );
    row.next_refresh_at = Some(super::refresh::next_keepalive(state, now));
    row.transient_failures = 0;
    row.geolocation = Some(grant.geolocation.to_string());
    if let Some(company) = &grant.company_uuid {
        row.company_uuid = Some(company.to_string());
    }
    row.granted_scopes = grant.scopes.join(" ");
    row.refresh_token_expires_at = grant.refresh_expires_at;
    row.access_token_expires_at = grant.access_expires_at;
    row.last_checked_at = Some(now);
    row.updated_at = now;
    match checked.diagnosis() {
        None => {
            row.failing = 0;
            row.last_problem = None;
            row.next_step = None;
            row.last_ok_at = Some(now);
        }
        Some(d) => mark_failing(row, &d),
    }
}

/// A problem that needs a human: the stored token stays, the reason and next step are kept.
pub(super) fn mark_failing(row: &mut ConnectionRow, d: &Diagnosis) {
    row.failing = 1;
    row.last_problem = Some(d.message());
    row.next_step = Some(d.next_step());
}

/// A check's history row; `source` says who asked (`validate`, `keep-alive`, `token-api`).
pub(super) fn record(
    id: &str,
    now: i64,
    started: Instant,
    problem: Option<&Diagnosis>,
    source: &str,
) -> ValidationRow {
    ValidationRow {
        // Time-ordered, so the history keeps its order even within one second.
        id: uuid::Uuid::now_v7().to_string(),
        connection_id: id.to_owned(),
        at: now,
        ok: i64::from(problem.is_none()),
        diagnosis: problem.map(|d| d.code().to_owned()),
        message: problem.map_or_else(
            || "Concur accepted the credentials.".to_owned(),
            Diagnosis::message,
        ),
        concur_code: problem.and_then(|d| d.reply.code),
        correlation_id: problem.and_then(|d| d.reply.correlation_id.clone()),
        duration_ms: started.elapsed().as_millis() as i64,
        source: source.to_owned(),
        status_change: None,
    }
}

/// The hand-off link a customer entered credentials through (its id): the link is spent in
/// the transaction that stores them, so one link stores one connection.
#[derive(Debug, Clone, Copy)]
pub struct ThroughLink<'a>(pub &'a str);

/// The history's `source` for credentials a customer entered through a hand-off link.
pub const HANDOFF_SOURCE: &str = "hand-off link";

pub(super) async fn save(
    state: &AppState,
    row: &ConnectionRow,
    is_new: bool,
    check: &ValidationRow,
    link: Option<ThroughLink<'_>>,
) -> Result<(), AppError> {
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    store::upsert_connection(&mut *tx, row, is_new)
        .await
        .map_err(internal)?;
    store::insert_validation(&mut *tx, check)
        .await
        .map_err(internal)?;
    if let Some(link) = link
        && !store::spend_handoff(&mut *tx, link.0, &row.id, state.now())
            .await
            .map_err(internal)?
    {
        return Err(AppError::LinkUsed);
    }
    tx.commit().await.map_err(internal)?;
    state.tokens.forget(|id, _| *id == row.id);
    state.overview.changed();
    Ok(())
}

fn refused(d: Diagnosis) -> AppError {
    tracing::info!(code = d.code(), concur_code = ?d.reply.code, correlation_id = ?d.reply.correlation_id, "Concur refused credentials");
    AppError::Concur(Box::new(diagnosis_view(&d)))
}

/// Asks Concur about parsed credentials; a refusal becomes the error shown next to the field.
async fn ask_concur(state: &AppState, p: &Parsed) -> Result<Checked, AppError> {
    let result = state
        .concur
        .validate(&p.base, &p.credentials, &p.authorization, &p.profile)
        .await;
    refresh::count_refresh(state, VALIDATE, &result);
    result.map_err(refused)
}

/// Checks a form as the New connection form does (fields, URL, allowed hosts, scope profile)
/// without asking Concur.
pub fn check_form(state: &AppState, form: &CredentialsForm) -> Result<(), AppError> {
    parse_form(state, form, None).map(|_| ())
}

/// Validates and, when Concur grants a token, stores a new connection (failing if scopes are
/// missing). A refusal at the token endpoint stores nothing.
pub async fn create(state: &AppState, form: CredentialsForm) -> Result<String, AppError> {
    create_through(state, form, None).await
}

/// [`create`], for credentials a customer entered through a hand-off link (which is spent in
/// the same transaction). Missing scopes are a refusal there: the customer adds them and
/// connects again, and nothing is stored meanwhile.
pub async fn create_through(
    state: &AppState,
    form: CredentialsForm,
    link: Option<ThroughLink<'_>>,
) -> Result<String, AppError> {
    let p = parse_form(state, &form, None)?;
    let started = Instant::now();
    let checked = ask_concur(state, &p).await?;
    if link.is_some()
        && let Some(d) = checked.diagnosis()
    {
        return Err(refused(d));
    }
    let now = state.now();
    let id = uuid::Uuid::new_v4().to_string();
    let mut row = ConnectionRow {
        id: id.clone(),
        name: p.name,
        client_id: p.credentials.client_id.to_string(),
        authorization_url: p.base.to_string(),
        geolocation: None,
        company_uuid: None,
        scope_profile: p.profile.key().to_owned(),
        required_scopes: p.profile.required().join(" "),
        granted_scopes: String::new(),
        failing: 0,
        last_problem: None,
        refresh_token_expires_at: None,
        access_token_expires_at: None,
        last_checked_at: None,
        last_ok_at: None,
        client_secret_sealed: state
            .cipher
            .seal(&id, SECRET, p.credentials.client_secret.expose()),
        refresh_token_sealed: String::new(),
        client_secret_mask: p.credentials.client_secret.mask(),
        refresh_token_mask: String::new(),
        created_at: now,
        updated_at: now,
        access_token_sealed: None,
        next_refresh_at: None,
        transient_failures: 0,
        next_step: None,
    };
    apply(state, &mut row, &checked, now);
    let source = link.map_or(VALIDATE, |_| HANDOFF_SOURCE);
    save(
        state,
        &row,
        true,
        &record(&id, now, started, checked.diagnosis().as_ref(), source),
        link,
    )
    .await?;
    tracing::info!(connection = %id, failing = row.failing, "connection stored");
    Ok(id)
}

pub(super) async fn stored(state: &AppState, id: &str) -> Result<ConnectionRow, AppError> {
    store::connection(&state.pool, id)
        .await
        .map_err(internal)?
        .ok_or(AppError::NotFound)
}

/// The client secret of a stored connection, decrypted.
pub(super) fn client_secret(
    state: &AppState,
    row: &ConnectionRow,
) -> Result<Zeroizing<String>, AppError> {
    state
        .cipher
        .open(&row.id, SECRET, &row.client_secret_sealed)
        .map_err(internal)
}

/// New credentials for a stored connection; on refusal nothing changes.
pub async fn replace(state: &AppState, id: &str, form: CredentialsForm) -> Result<(), AppError> {
    replace_through(state, id, form, None).await
}

/// [`replace`] through a renewal link (spent in the same transaction); the form's Client ID,
/// company and data centre are the stored ones, so only the token and perhaps the secret change.
pub async fn replace_through(
    state: &AppState,
    id: &str,
    form: CredentialsForm,
    link: Option<ThroughLink<'_>>,
) -> Result<(), AppError> {
    let held = Held::take(state, id).await?;
    let result = replace_held(state, id, form, link).await;
    held.release(state).await;
    result
}

/// The stored Client ID, data centre and company of a connection, for a renewal form.
pub async fn renewal_form(state: &AppState, id: &str) -> Result<CredentialsForm, AppError> {
    let row = stored(state, id).await?;
    let mut form = CredentialsForm::default();
    form.mode = "request-token".into();
    form.client_id = row.client_id;
    form.authorization_url = row.authorization_url;
    form.company_uuid = row.company_uuid.unwrap_or_default();
    Ok(form)
}

async fn replace_held(
    state: &AppState,
    id: &str,
    form: CredentialsForm,
    link: Option<ThroughLink<'_>>,
) -> Result<(), AppError> {
    let mut row = stored(state, id).await?;
    let secret = client_secret(state, &row)?;
    let p = parse_form(state, &form, Some((&row, secret)))?;
    let started = Instant::now();
    let checked = ask_concur(state, &p).await?;
    if link.is_some()
        && let Some(d) = checked.diagnosis()
    {
        return Err(refused(d));
    }
    let now = state.now();
    row.client_id = p.credentials.client_id.to_string();
    row.authorization_url = p.base.to_string();
    row.client_secret_sealed = state
        .cipher
        .seal(id, SECRET, p.credentials.client_secret.expose());
    row.client_secret_mask = p.credentials.client_secret.mask();
    let was_failing = row.failing != 0;
    apply(state, &mut row, &checked, now);
    let source = link.map_or(VALIDATE, |_| HANDOFF_SOURCE);
    let mut check = record(id, now, started, checked.diagnosis().as_ref(), source);
    refresh::note_status_change(&mut check, was_failing, &row);
    save(state, &row, false, &check, link).await
}

/// Re-checks stored credentials ("Validate now") through the one refresh path.
pub async fn recheck(state: &AppState, id: &str) -> Result<(), AppError> {
    refresh::refresh(state, id, Need::Always, VALIDATE)
        .await
        .map(|_| ())
}

pub async fn rename(state: &AppState, id: &str, name: &str) -> Result<(), AppError> {
    let name = parse_name(name)?;
    let renamed = store::rename_connection(&state.pool, id, &name, state.now())
        .await
        .map_err(internal)?;
    state.overview.changed();
    if renamed {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn delete(state: &AppState, id: &str, confirm: &str) -> Result<(), AppError> {
    if confirm != "yes" {
        return Err(AppError::invalid(
            "confirm",
            "Tick the box to confirm the deletion.",
        ));
    }
    let held = Held::take(state, id).await?;
    let deleted = store::delete_connection(&state.pool, id).await;
    held.release(state).await;
    state.locks.forget(id);
    state.tokens.forget(|cached, _| cached == id);
    state.keys.forget(|_, key| key.connection_id == id);
    state.overview.changed();
    let deleted = deleted.map_err(internal)?;
    if deleted {
        tracing::info!(connection = %id, "connection deleted");
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

fn summary(row: store::DashboardRow, now: i64) -> ConnectionSummary {
    ConnectionSummary {
        status: Status::of(row.failing != 0, row.refresh_token_expires_at, now),
        id: row.id,
        name: row.name,
        client_id: row.client_id,
        company_uuid: row.company_uuid,
        refresh_token_expires_at: row.refresh_token_expires_at,
        last_checked_at: row.last_checked_at,
    }
}

pub async fn dashboard(
    state: &AppState,
    search: &str,
    week: Option<i64>,
    page: i64,
) -> Result<Dashboard, AppError> {
    let now = state.now();
    let week = week.filter(|w| (0..store::TIMELINE_WEEKS).contains(w));
    let expiring = week.map(|w| (now + w * store::WEEK, now + (w + 1) * store::WEEK));
    let overview = state
        .overview
        .get(&state.pool, now)
        .await
        .map_err(internal)?;
    let timeline = (0..store::TIMELINE_WEEKS)
        .map(|w| WeekBar {
            week: w,
            count: overview
                .timeline
                .iter()
                .find(|(k, _)| *k == w)
                .map_or(0, |(_, n)| *n),
            band: Status::of(false, Some(now + w * store::WEEK + 1), now),
        })
        .collect();
    let search: String = search.trim().chars().take(100).collect();
    let counts = overview.counts.clone();
    let (rows, matching) = store::dashboard_page(&state.pool, &search, expiring, page)
        .await
        .map_err(internal)?;
    let total = counts.iter().map(|(_, n)| n).sum();
    let (matching, more_than) = match matching {
        store::Matching::All => (total, None),
        store::Matching::Exactly(n) => (n, None),
        store::Matching::MoreThan(n) => (n, Some(n)),
    };
    Ok(Dashboard {
        now,
        timeline,
        week,
        total,
        counts,
        rows: rows.into_iter().map(|r| summary(r, now)).collect(),
        page: page.clamp(0, store::MAX_PAGE),
        pages: (matching + PAGE_SIZE - 1) / PAGE_SIZE,
        more_than,
        handoffs_waiting: crate::handoffs::ssr::waiting(state).await?,
    })
}

pub async fn detail(state: &AppState, id: &str) -> Result<ConnectionDetail, AppError> {
    let now = state.now();
    let row = stored(state, id).await?;
    let history = store::history(&state.pool, id, HISTORY_ROWS)
        .await
        .map_err(internal)?;
    let granted: Vec<&str> = row.granted_scopes.split_whitespace().collect();
    let required: Vec<&str> = row.required_scopes.split_whitespace().collect();
    Ok(ConnectionDetail {
        now,
        summary: summary(store::DashboardRow::from(&row), now),
        authorization_url: row.authorization_url.clone(),
        geolocation: row.geolocation.clone(),
        scope_profile: stored_profile(&row)?.label().to_owned(),
        scopes: required
            .iter()
            .map(|s| ScopeLine {
                scope: s.to_string(),
                granted: granted.contains(s),
            })
            .collect(),
        extra_granted: granted.iter().filter(|g| !required.contains(g)).count(),
        access_token_expires_at: row.access_token_expires_at,
        last_ok_at: row.last_ok_at,
        last_problem: row.last_problem.clone(),
        client_secret_mask: row.client_secret_mask.clone(),
        refresh_token_mask: row.refresh_token_mask.clone(),
        history: history
            .into_iter()
            .map(|v| ValidationEntry {
                at: v.at,
                ok: v.ok != 0,
                message: v.message,
                concur_code: v.concur_code,
                correlation_id: v.correlation_id,
                duration_ms: v.duration_ms,
                source: v.source,
                status_change: v.status_change,
            })
            .collect(),
        next_refresh_at: row.next_refresh_at,
        deliveries: crate::alerts::ssr::deliveries(state, Some(id), HISTORY_ROWS).await?,
    })
}
