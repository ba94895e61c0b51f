//! The Validate path: parse the form once, ask Concur, and store the outcome in one
//! transaction (rotated refresh token included). A refusal never overwrites what is stored.
//! Replacing credentials, "Validate now", renaming and deleting are here too.

use std::time::Instant;

use zeroize::Zeroizing;

use concur::{
    Authorization, AuthorizationUrl, Checked, ClientId, ClientSecret, CompanyUuid, Credentials,
    Diagnosis, Field, InputError, RefreshToken, RequestToken, ScopeProfile,
};
use console_model::{CredentialsForm, DiagnosisView};

use super::fleet::{self, Belonging};
use super::probes::{self, When};
use super::refresh::{self, Held, Need};
use super::stored::{
    HANDOFF_SOURCE, SECRET, ThroughLink, Write, apply, client_secret, record, save, stored,
    stored_profile,
};
use crate::Error;
use crate::state::{AppState, internal};
use crate::store::{self, ConnectionRow};

const MAX_NAME_CHARS: usize = 100;
/// The history's `source` for checks an admin asked for.
const VALIDATE: &str = "validate";

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

fn invalid(error: InputError) -> Error {
    Error::invalid(field_key(error.field), error.message)
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

pub fn parse_name(raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::invalid(
            "name",
            "Name is required, e.g. “Expense bot – ACME”.",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            "Name must be at most 100 characters.",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
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
) -> Result<Parsed, Error> {
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

fn refused(d: Diagnosis) -> Error {
    tracing::info!(code = d.code(), concur_code = ?d.reply.code, correlation_id = ?d.reply.correlation_id, "Concur refused credentials");
    Error::Concur(Box::new(diagnosis_view(&d)))
}

/// Asks Concur about parsed credentials; a refusal becomes the error shown next to the field.
async fn ask_concur(state: &AppState, p: &Parsed) -> Result<Checked, Error> {
    let result = state
        .concur
        .validate(&p.base, &p.credentials, &p.authorization, &p.profile)
        .await;
    refresh::count_refresh(state, VALIDATE, &result);
    result.map_err(refused)
}

/// Checks a form as the New connection form does (fields, URL, allowed hosts, scope profile)
/// without asking Concur.
pub fn check_form(state: &AppState, form: &CredentialsForm) -> Result<(), Error> {
    parse_form(state, form, None)?;
    fleet::parse_form(form)
}

/// Validates and, when Concur grants a token, stores a new connection (failing if scopes are
/// missing). A refusal at the token endpoint stores nothing.
pub async fn create(state: &AppState, form: CredentialsForm) -> Result<String, Error> {
    create_through(state, form, None).await
}

/// [`create`], for credentials a customer entered through a hand-off link (which is spent in
/// the same transaction). Missing scopes are a refusal there: the customer adds them and
/// connects again, and nothing is stored meanwhile.
pub async fn create_through(
    state: &AppState,
    form: CredentialsForm,
    link: Option<ThroughLink<'_>>,
) -> Result<String, Error> {
    let p = parse_form(state, &form, None)?;
    let belonging = Belonging::of_form(state, &form).await?;
    let stored_belonging = belonging.stored();
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
        belonging: stored_belonging,
        renewal_automatic: None,
        degraded: 0,
    };
    apply(state, &mut row, &checked, now);
    let source = link.map_or(VALIDATE, |_| HANDOFF_SOURCE);
    save(
        state,
        &row,
        Write::New {
            tags: &belonging.tags,
        },
        &record(&id, now, started, checked.diagnosis().as_ref(), source),
        link,
    )
    .await?;
    tracing::info!(connection = %id, failing = row.failing, "connection stored");
    probes::run_quietly(state, &id, When::Now).await;
    Ok(id)
}

/// New credentials for a stored connection; on refusal nothing changes.
pub async fn replace(state: &AppState, id: &str, form: CredentialsForm) -> Result<(), Error> {
    replace_through(state, id, form, None).await
}

/// [`replace`] through a renewal link (spent in the same transaction); the form's Client ID,
/// company and data centre are the stored ones, so only the token and perhaps the secret change.
pub async fn replace_through(
    state: &AppState,
    id: &str,
    form: CredentialsForm,
    link: Option<ThroughLink<'_>>,
) -> Result<(), Error> {
    let held = Held::take(state, id).await?;
    let result = replace_held(state, id, form, link).await;
    held.release(state).await;
    if result.is_ok() {
        probes::run_quietly(state, id, When::Now).await;
    }
    result
}

/// The stored Client ID, data centre and company of a connection, for a renewal form.
pub async fn renewal_form(state: &AppState, id: &str) -> Result<CredentialsForm, Error> {
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
) -> Result<(), Error> {
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
    save(state, &row, Write::Update, &check, link).await
}

/// Re-checks stored credentials ("Validate now") through the one refresh path, then what the
/// integration can do.
pub async fn recheck(state: &AppState, id: &str) -> Result<(), Error> {
    refresh::refresh(state, id, Need::Always, VALIDATE).await?;
    probes::run_quietly(state, id, When::Now).await;
    Ok(())
}

pub async fn rename(state: &AppState, id: &str, name: &str) -> Result<(), Error> {
    let name = parse_name(name)?;
    let renamed = store::rename_connection(&state.pool, id, &name, state.now())
        .await
        .map_err(internal)?;
    state.overview.changed();
    if renamed {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

pub async fn delete(state: &AppState, id: &str, confirm: &str) -> Result<(), Error> {
    if confirm != "yes" {
        return Err(Error::invalid(
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
    state
        .fleet_keys
        .forget(|(_, connection), _| connection == id);
    state.overview.changed();
    let deleted = deleted.map_err(internal)?;
    if deleted {
        tracing::info!(connection = %id, "connection deleted");
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}
