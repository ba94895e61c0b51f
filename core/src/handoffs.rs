//! Hand-off links on the server: made by an admin (page, terminal or API), opened and
//! completed by the customer's Concur admin without signing in. The link's token is derived from
//! the console key and the link's random id ([`crate::crypto::Cipher::link_token`]); the
//! database keeps only its hash. Completing stores the connection through the one path that
//! Validate uses, with the link spent in the same transaction.

use concur::ScopeProfile;

use std::collections::HashMap;

use crate::Error;
use crate::connections::fleet::{self, Belonging};
use crate::connections::metadata::Tags;
use crate::connections::stored::ThroughLink;
use crate::connections::validate::{create_through, renewal_form, replace_through};
use crate::state::{AppState, internal};
use crate::store::{self, HandoffRow};
use console_model::{BelongingForm, CredentialsForm};
use console_model::{DAY, HandoffView, LinkState};

/// The purpose hand-off tokens are derived for.
const PURPOSE: &str = "handoff";
pub const DEFAULT_VALID_DAYS: i64 = 7;
pub const MAX_VALID_DAYS: i64 = 30;
/// Refused Connect attempts before the link locks.
pub const LOCK_AFTER: i64 = 10;
const MAX_NAME_CHARS: usize = 100;
const MAX_NOTE_CHARS: usize = 500;
/// A token is 43 base64url characters; anything much longer is not one.
const MAX_TOKEN_CHARS: usize = 64;

/// What an admin asks for.
#[derive(Debug, Clone, Default)]
pub struct NewHandoff {
    pub name: String,
    pub profile: String,
    pub custom_scopes: String,
    pub valid_days: Option<i64>,
    pub note: String,
    /// A renewal link for this connection.
    pub connection_id: Option<String>,
    /// The hand-off key asking, when one is: only it may read the link back.
    pub by_key: Option<String>,
    /// Who the connection the link makes will belong to (a renewal link keeps its
    /// connection's).
    pub belonging: BelongingForm,
}

/// Where a link stands at `now`.
pub fn state_of(row: &HandoffRow, now: i64) -> LinkState {
    if row.completed_at.is_some() {
        LinkState::Completed
    } else if row.revoked_at.is_some() || (row.kind == "renewal" && row.connection_id.is_none()) {
        LinkState::Revoked
    } else if row.locked_at.is_some() {
        LinkState::Locked
    } else if now >= row.expires_at {
        LinkState::Expired
    } else if row.opened_at.is_some() {
        LinkState::Opened
    } else {
        LinkState::Waiting
    }
}

/// The link of a row: its token derived again, by the key that made it (a link made before a
/// key rotation keeps its token).
pub fn url(state: &AppState, row: &HandoffRow) -> Option<String> {
    crate::auth::stored_link_token(state, PURPOSE, &row.id, &row.token_hash)
        .map(|token| url_of(state, &token))
}

fn url_of(state: &AppState, token: &str) -> String {
    format!("{}/connect/{token}", state.public_url)
}

/// Who the connection a link makes will belong to, as it was given; `names` are the accounts'
/// user names by id.
fn belonging(row: &HandoffRow, names: &HashMap<String, String>) -> Belonging {
    Belonging::of_stored(
        row.belonging.clone(),
        Tags::parse(&row.tags).unwrap_or_default(),
        names,
    )
}

/// Who the connection of link `link_id` belongs to: the connection's own once there is one
/// (completed, or renewed), else what the link carries (none for an unknown link).
pub async fn carried_by(state: &AppState, link_id: &str) -> Result<Belonging, Error> {
    let Some(row) = store::handoff(&state.pool, link_id)
        .await
        .map_err(internal)?
    else {
        return Ok(Belonging::default());
    };
    if let Some(connection) = &row.connection_id
        && let Some(stored) = store::connection(&state.pool, connection)
            .await
            .map_err(internal)?
    {
        return fleet::shown_one(state, &stored).await;
    }
    let names = fleet::account_names(state).await?;
    Ok(belonging(&row, &names))
}

pub fn view(
    state: &AppState,
    row: HandoffRow,
    now: i64,
    names: &HashMap<String, String>,
) -> HandoffView {
    let link_state = state_of(&row, now);
    HandoffView {
        belonging: belonging(&row, names).view(),
        url: link_state.usable().then(|| url(state, &row)).flatten(),
        state: link_state,
        renewal: row.kind == "renewal",
        profile: ScopeProfile::parse(&row.scope_profile, &row.required_scopes)
            .map_or_else(|_| row.scope_profile.clone(), |p| p.label().to_owned()),
        id: row.id,
        name: row.name,
        note: row.note,
        connection_id: row.connection_id,
        created_by: row.created_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

fn one_line(field: &str, raw: &str, max: usize, what: &str) -> Result<String, Error> {
    let value = raw.trim();
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{what} must be one line of at most {max} characters."),
        ));
    }
    Ok(value.to_owned())
}

/// Makes a link; `actor` is who asked, as the list and the audit log show it.
pub async fn create(
    state: &AppState,
    request: &NewHandoff,
    actor: &str,
) -> Result<(HandoffView, String), Error> {
    let days = request.valid_days.unwrap_or(DEFAULT_VALID_DAYS);
    if !(1..=MAX_VALID_DAYS).contains(&days) {
        return Err(Error::invalid(
            "valid_days",
            "A link is valid for 1 to 30 days.",
        ));
    }
    let note = one_line("note", &request.note, MAX_NOTE_CHARS, "The note")?;
    let carried = match &request.connection_id {
        Some(_) if !request.belonging.is_empty() => {
            return Err(Error::invalid(
                "external_id",
                "A renewal link keeps who its connection belongs to; change that on the connection.",
            ));
        }
        Some(_) => Belonging::default(),
        None => Belonging::of(state, &request.belonging).await?,
    };
    let (kind, name, profile) = match &request.connection_id {
        Some(connection_id) => {
            let row = store::connection(&state.pool, connection_id)
                .await
                .map_err(internal)?
                .ok_or(Error::NotFound)?;
            let profile =
                ScopeProfile::parse(&row.scope_profile, &row.required_scopes).map_err(internal)?;
            ("renewal", row.name, profile)
        }
        None => {
            let name = one_line("name", &request.name, MAX_NAME_CHARS, "The name")?;
            if name.is_empty() {
                return Err(Error::invalid(
                    "name",
                    "Give the link a name, e.g. the customer's company.",
                ));
            }
            let profile = ScopeProfile::parse(&request.profile, &request.custom_scopes)
                .map_err(|e| Error::invalid("profile", e.message))?;
            ("new", name, profile)
        }
    };
    let now = state.now();
    let (row, link) = link_row(
        state,
        Made {
            kind,
            name,
            note,
            profile: &profile,
            connection_id: request.connection_id.clone(),
            actor,
            by_key: request.by_key.clone(),
            carried: &carried,
        },
        days,
        now,
    );
    let id = row.id.clone();
    store::insert_handoff(&state.pool, &row)
        .await
        .map_err(internal)?;
    state.overview.changed();
    tracing::info!(handoff = %id, kind, "hand-off link created");
    let names = fleet::account_names(state).await?;
    Ok((view(state, row, now, &names), link))
}

/// What a new link is made of.
struct Made<'a> {
    kind: &'a str,
    name: String,
    note: String,
    profile: &'a ScopeProfile,
    connection_id: Option<String>,
    actor: &'a str,
    by_key: Option<String>,
    carried: &'a Belonging,
}

/// A new link's row, valid `days` from `now`, and its URL (the token is derived, never kept).
fn link_row(state: &AppState, made: Made<'_>, days: i64, now: i64) -> (HandoffRow, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let token = state.cipher.link_token(PURPOSE, &id);
    let row = HandoffRow {
        id,
        kind: made.kind.to_owned(),
        name: made.name,
        note: made.note,
        scope_profile: made.profile.key().to_owned(),
        required_scopes: made.profile.required().join(" "),
        connection_id: made.connection_id,
        created_by: made.actor.to_owned(),
        created_at: now,
        expires_at: now + days * DAY,
        opened_at: None,
        completed_at: None,
        revoked_at: None,
        locked_at: None,
        refusals: 0,
        token_hash: crate::auth::token_hash(&token),
        created_by_key: made.by_key,
        tags: made.carried.given().tags,
        belonging: made.carried.stored(),
    };
    (row, url_of(state, &token))
}

/// A renewal link for `connection`, made by `actor` and valid for the default days from `now`,
/// and its URL; the caller stores it (a renewal request does, in the transaction that asks
/// the customer).
pub fn renewal_link(
    state: &AppState,
    connection: &store::ConnectionRow,
    actor: &str,
    now: i64,
) -> Result<(HandoffRow, String), Error> {
    let profile = ScopeProfile::parse(&connection.scope_profile, &connection.required_scopes)
        .map_err(internal)?;
    Ok(link_row(
        state,
        Made {
            kind: "renewal",
            name: connection.name.clone(),
            note: String::new(),
            profile: &profile,
            connection_id: Some(connection.id.clone()),
            actor,
            by_key: None,
            carried: &Belonging::default(),
        },
        DEFAULT_VALID_DAYS,
        now,
    ))
}

pub async fn get(state: &AppState, id: &str) -> Result<HandoffView, Error> {
    let row = store::handoff(&state.pool, id)
        .await
        .map_err(internal)?
        .ok_or(Error::NotFound)?;
    let names = fleet::account_names(state).await?;
    Ok(view(state, row, state.now(), &names))
}

/// A link as the hand-off key `key_id` may read it: only one it made (any other is not found).
pub async fn get_for_key(state: &AppState, id: &str, key_id: &str) -> Result<HandoffView, Error> {
    let row = store::handoff(&state.pool, id)
        .await
        .map_err(internal)?
        .filter(|row| row.created_by_key.as_deref() == Some(key_id))
        .ok_or(Error::NotFound)?;
    let names = fleet::account_names(state).await?;
    Ok(view(state, row, state.now(), &names))
}

pub async fn list(state: &AppState, page: i64) -> Result<(Vec<HandoffView>, bool), Error> {
    const PER_PAGE: i64 = 50;
    let now = state.now();
    let offset = page.clamp(0, 10_000) * PER_PAGE;
    let mut rows = store::handoffs(&state.pool, offset, PER_PAGE + 1)
        .await
        .map_err(internal)?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    let names = fleet::account_names(state).await?;
    Ok((
        rows.into_iter()
            .map(|r| view(state, r, now, &names))
            .collect(),
        more,
    ))
}

pub async fn revoke(state: &AppState, id: &str) -> Result<HandoffView, Error> {
    if !store::revoke_handoff(&state.pool, id, state.now())
        .await
        .map_err(internal)?
    {
        return Err(Error::invalid(
            "id",
            "No open hand-off link has that id (it may be completed or revoked already).",
        ));
    }
    state.overview.changed();
    get(state, id).await
}

/// What the customer's page finds behind a token.
pub enum Visit {
    Usable(HandoffRow),
    Closed(HandoffRow, LinkState),
    Unknown,
}

/// Looks a token up; a usable link's first visit is marked (and returned as `true`).
pub async fn visit(state: &AppState, token: &str) -> Result<(Visit, bool), Error> {
    if token.len() > MAX_TOKEN_CHARS
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Ok((Visit::Unknown, false));
    }
    let hash = crate::auth::token_hash(token);
    let Some(row) = store::handoff_by_token(&state.pool, &hash)
        .await
        .map_err(internal)?
    else {
        return Ok((Visit::Unknown, false));
    };
    let now = state.now();
    match state_of(&row, now) {
        link @ (LinkState::Waiting | LinkState::Opened) => {
            let first = link == LinkState::Waiting
                && store::mark_handoff_opened(&state.pool, &row.id, now)
                    .await
                    .map_err(internal)?;
            Ok((Visit::Usable(row), first))
        }
        closed => Ok((Visit::Closed(row, closed), false)),
    }
}

/// What the customer typed on the page. It holds secrets: it has no `Debug`, and they are
/// wiped from memory when it goes.
#[derive(Clone, Default, serde::Deserialize)]
pub struct CustomerForm {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub company_uuid: String,
    #[serde(default)]
    pub request_token: String,
    #[serde(default)]
    pub authorization_url: String,
}

impl Drop for CustomerForm {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.client_secret.zeroize();
        self.request_token.zeroize();
    }
}

/// Connects through a usable link: the same parsing, Concur exchange and store path as the
/// console's form, the link spent in the storing transaction; returns the connection made or
/// renewed. [`Error::LinkUsed`] means a racing submission spent it first (a refusal by
/// Concur is counted towards the lock by the caller, [`count_refusal`]).
pub async fn connect(
    state: &AppState,
    link: &HandoffRow,
    form: &CustomerForm,
) -> Result<String, Error> {
    let through = Some(ThroughLink(&link.id));
    match (link.kind.as_str(), &link.connection_id) {
        ("renewal", Some(connection_id)) => {
            let mut credentials = renewal_form(state, connection_id).await?;
            credentials.client_secret = form.client_secret.clone();
            credentials.request_token = form.request_token.clone();
            replace_through(state, connection_id, credentials, through)
                .await
                .map(|()| connection_id.clone())
        }
        _ => {
            let mut credentials = CredentialsForm::default();
            credentials.mode = "request-token".into();
            credentials.name = link.name.clone();
            credentials.client_id = form.client_id.clone();
            credentials.client_secret = form.client_secret.clone();
            credentials.authorization_url = form.authorization_url.clone();
            credentials.company_uuid = form.company_uuid.clone();
            credentials.request_token = form.request_token.clone();
            credentials.scope_profile = link.scope_profile.clone();
            credentials.custom_scopes = link.required_scopes.clone();
            let carried = carried(state, link).await?;
            credentials.external_id = carried.external_id;
            credentials.tags = carried.tags;
            credentials.contact_name = carried.contact_name;
            credentials.contact_email = carried.contact_email;
            credentials.owner = carried.owner;
            create_through(state, credentials, through).await
        }
    }
}

/// Who the connection a link makes will belong to, as the link was given it, less what no
/// longer holds: an external id another connection took meanwhile, an owner whose account is
/// gone or deactivated. The customer's Connect never fails for the vendor's bookkeeping; what
/// is left out is logged.
async fn carried(state: &AppState, link: &HandoffRow) -> Result<BelongingForm, Error> {
    let names = fleet::account_names(state).await?;
    let mut given = belonging(link, &names).given();
    if let Some(external_id) = &link.belonging.external_id
        && store::connection_by_external_id(&state.pool, external_id)
            .await
            .map_err(internal)?
            .is_some()
    {
        tracing::warn!(handoff = %link.id, "the link's external id is taken by now; the connection is made without it");
        given.external_id.clear();
    }
    if !given.owner.is_empty()
        && Belonging::of(
            state,
            &BelongingForm {
                owner: given.owner.clone(),
                ..BelongingForm::default()
            },
        )
        .await
        .is_err()
    {
        tracing::warn!(handoff = %link.id, "the link's owner is no longer an active account; the connection is made without one");
        given.owner.clear();
    }
    Ok(given)
}

/// How long one Connect may hold its link's turn before another may take it over (its process
/// died mid-attempt): longer than a whole exchange with Concur.
const TURN_SECONDS: i64 = 120;
/// How long a Connect waits for the one before it on the same link.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a waiting Connect looks whether the turn is free.
const TURN_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// One Connect's turn on a link: while it is held, no other Connect of that link (in this
/// process or another replica) asks Concur, so refusals are counted before the next attempt
/// and Concur sees at most [`LOCK_AFTER`] refused exchanges per link. A lease in the store,
/// given back by [`Turn::end`] (or lapsing after [`TURN_SECONDS`]).
pub struct Turn {
    lease: String,
    holder: String,
}

impl Turn {
    /// Waits for the link's turn; `None` when the attempts before it took longer than
    /// [`TURN_WAIT`].
    pub async fn take(state: &AppState, link_id: &str) -> Result<Option<Self>, Error> {
        let turn = Self {
            lease: format!("handoff:{link_id}"),
            holder: format!("{}/{}", state.holder, uuid::Uuid::new_v4()),
        };
        let waited = std::time::Instant::now();
        loop {
            let now = state.now();
            if store::try_lease(
                &state.pool,
                &turn.lease,
                &turn.holder,
                now,
                now + TURN_SECONDS,
            )
            .await
            .map_err(internal)?
            {
                return Ok(Some(turn));
            }
            if waited.elapsed() >= TURN_WAIT {
                return Ok(None);
            }
            tokio::time::sleep(TURN_POLL).await;
        }
    }

    pub async fn end(self, state: &AppState) {
        if let Err(e) = store::release_lease(&state.pool, &self.lease, &self.holder).await {
            tracing::warn!(error = %e, "could not give a hand-off link's turn back; it lapses by itself");
        }
    }
}

/// Counts a refusal by Concur; true when it locked the link.
pub async fn count_refusal(state: &AppState, link: &HandoffRow) -> Result<bool, Error> {
    let (_, locked) = store::refuse_handoff(&state.pool, &link.id, LOCK_AFTER, state.now())
        .await
        .map_err(internal)?;
    if locked {
        state.overview.changed();
    }
    Ok(locked)
}

/// Gives every link a customer could still open a token of the current key (see
/// [`crate::auth::rederive_link_tokens`]); how many changed.
pub async fn rederive_tokens(state: &AppState) -> Result<u64, Error> {
    crate::auth::rederive_link_tokens(state, store::LinkTable::Handoffs, PURPOSE).await
}
