//! Who a connection belongs to, on the server: what a new connection is made with besides its
//! credentials (checked before Concur is asked), changes to it later (one transaction, told
//! old → new for the audit log), and the fleet as lists show it, narrowed by tags and owner.
//! Uses the parsed types of [`super::metadata`] and the store.

use std::collections::HashMap;

use console_model::{BelongingForm, BelongingView, CredentialsForm, Status};

use super::metadata::{Contact, ExternalId, Selector, Tags};
use crate::Error;
use crate::state::{AppState, internal};
use crate::store::{self, Belonging as Stored, ConnectionRow, FleetRow};

/// A console account responsible for connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub username: String,
}

/// Who a connection belongs to: what a new one is made with, what lists and the audit log
/// show, and what a change leads to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Belonging {
    pub external_id: Option<String>,
    pub tags: Tags,
    pub contact: Option<Contact>,
    pub owner: Option<Owner>,
}

/// The fields of who a connection belongs to in a connection's form.
fn given_of(form: &CredentialsForm) -> BelongingForm {
    BelongingForm {
        external_id: form.external_id.clone(),
        tags: form.tags.clone(),
        contact_name: form.contact_name.clone(),
        contact_email: form.contact_email.clone(),
        owner: form.owner.clone(),
    }
}

/// The form's fields of who a connection belongs to, parsed without the store: the New
/// connection form's own checks, before anything is asked of anyone.
pub fn parse_form(form: &CredentialsForm) -> Result<(), Error> {
    parse_external_id(&form.external_id)?;
    Tags::parse(&form.tags)?;
    Contact::parse(&form.contact_name, &form.contact_email)?;
    Ok(())
}

fn parse_external_id(raw: &str) -> Result<Option<ExternalId>, Error> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        ExternalId::parse(raw).map(Some)
    }
}

impl Belonging {
    /// What a new connection gets from its form: every field parsed, the external id not taken
    /// by another connection, the owner an active account.
    pub async fn of_form(state: &AppState, form: &CredentialsForm) -> Result<Self, Error> {
        Self::of(state, &given_of(form)).await
    }

    /// Who a connection will belong to, from what was given: every field parsed, the external
    /// id not taken by another connection, the owner an active account.
    pub async fn of(state: &AppState, given: &BelongingForm) -> Result<Self, Error> {
        let external_id = parse_external_id(&given.external_id)?;
        if let Some(external_id) = &external_id {
            free(state, external_id, None).await?;
        }
        Ok(Self {
            external_id: external_id.map(|e| e.as_str().to_owned()),
            tags: Tags::parse(&given.tags)?,
            contact: Contact::parse(&given.contact_name, &given.contact_email)?,
            owner: owner(state, &given.owner).await?,
        })
    }

    /// The fields as given again (tags one per line, the owner by name): what a hand-off link
    /// carries onto the connection it makes.
    pub fn given(&self) -> BelongingForm {
        BelongingForm {
            external_id: self.external_id.clone().unwrap_or_default(),
            tags: self
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            contact_name: self
                .contact
                .as_ref()
                .and_then(|c| c.name.clone())
                .unwrap_or_default(),
            contact_email: self
                .contact
                .as_ref()
                .map(|c| c.email.clone())
                .unwrap_or_default(),
            owner: self
                .owner
                .as_ref()
                .map(|o| o.username.clone())
                .unwrap_or_default(),
        }
    }

    /// As pages and the API show it.
    pub fn view(self) -> BelongingView {
        BelongingView {
            external_id: self.external_id,
            tags: self
                .tags
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            contact_name: self.contact.as_ref().and_then(|c| c.name.clone()),
            contact_email: self.contact.map(|c| c.email),
            owner: self.owner.map(|o| o.username),
        }
    }

    /// The columns this sets on a connection's row.
    pub fn stored(&self) -> Stored {
        Stored {
            external_id: self.external_id.clone(),
            contact_name: self.contact.as_ref().and_then(|c| c.name.clone()),
            contact_email: self.contact.as_ref().map(|c| c.email.clone()),
            owner_id: self.owner.as_ref().map(|o| o.id.clone()),
        }
    }
}

/// Refuses an external id another connection than `except` already has.
async fn free(state: &AppState, id: &ExternalId, except: Option<&str>) -> Result<(), Error> {
    match store::connection_by_external_id(&state.pool, id.as_str())
        .await
        .map_err(internal)?
    {
        Some(holder) if Some(holder.as_str()) != except => Err(Error::invalid(
            "external_id",
            format!(
                "External id {} is already used by another connection; each customer has one.",
                id.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// The account named `username` (blank: none), which must exist and be active.
async fn owner(state: &AppState, username: &str) -> Result<Option<Owner>, Error> {
    let username = username.trim();
    if username.is_empty() {
        return Ok(None);
    }
    let account = store::admins(&state.pool)
        .await
        .map_err(internal)?
        .into_iter()
        .find(|a| a.username == username);
    match account {
        Some(a) if a.deactivated_at.is_none() => Ok(Some(Owner {
            id: a.id,
            username: a.username,
        })),
        Some(_) => Err(Error::invalid(
            "owner",
            format!("{username} is deactivated; choose an active account as the owner."),
        )),
        None => Err(Error::invalid(
            "owner",
            format!("There is no account {username} in this console."),
        )),
    }
}

/// A change to who a connection belongs to; a field left `None` stays as it is, and a blank
/// external id, contact or owner clears it.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub external_id: Option<String>,
    /// Tags to put, one `key=value` per line.
    pub tags: Option<String>,
    /// Keys of tags to take away.
    pub untag: Vec<String>,
    /// Take every tag away first (then put `tags`).
    pub untag_all: bool,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub owner: Option<String>,
}

/// Applies `change` to connection `id` in one transaction. Returns what changed, `field: old →
/// new`, for the audit log; empty when nothing did. A bad value changes nothing.
pub async fn change(state: &AppState, id: &str, change: &Change) -> Result<Vec<String>, Error> {
    let row = store::connection(&state.pool, id)
        .await
        .map_err(internal)?
        .ok_or(Error::NotFound)?;
    let before = shown_one(state, &row).await?;
    let external_id = match &change.external_id {
        Some(raw) => {
            let parsed = parse_external_id(raw)?;
            if let Some(external_id) = &parsed {
                free(state, external_id, Some(id)).await?;
            }
            parsed.map(|e| e.as_str().to_owned())
        }
        None => row.belonging.external_id.clone(),
    };
    let kept = if change.untag_all {
        Tags::default()
    } else {
        before.tags.clone()
    };
    let tags = kept.changed(
        &Tags::parse(change.tags.as_deref().unwrap_or_default())?,
        &change.untag,
    )?;
    let contact = if change.contact_name.is_some() || change.contact_email.is_some() {
        let old = before.contact.as_ref();
        Contact::parse(
            change
                .contact_name
                .as_deref()
                .or_else(|| old.and_then(|c| c.name.as_deref()))
                .unwrap_or_default(),
            change
                .contact_email
                .as_deref()
                .or_else(|| old.map(|c| c.email.as_str()))
                .unwrap_or_default(),
        )?
    } else {
        before.contact.clone()
    };
    let owner = match &change.owner {
        Some(username) => owner(state, username).await?,
        None => before.owner.clone(),
    };
    let after = Belonging {
        external_id,
        tags,
        contact,
        owner,
    };
    let said = differences(&before, &after);
    if said.is_empty() {
        return Ok(said);
    }
    let pairs: Vec<(&str, &str)> = after.tags.iter().collect();
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    store::set_belonging(&mut tx, id, &after.stored(), state.now())
        .await
        .map_err(internal)?;
    store::replace_tags(&mut tx, id, &pairs)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    // A fleet key's reading of this connection's tags is stale now.
    state
        .fleet_keys
        .forget(|(_, connection), _| connection == id);
    state.overview.changed();
    Ok(said)
}

/// Sets every field of who connection `id` belongs to at once, as its page's form gives them
/// (tags one `key=value` per line, the whole set): what changed, old → new.
pub async fn replace(
    state: &AppState,
    id: &str,
    external_id: &str,
    tags: &str,
    contact_name: &str,
    contact_email: &str,
    owner: &str,
) -> Result<Vec<String>, Error> {
    let whole = Change {
        external_id: Some(external_id.to_owned()),
        tags: Some(tags.to_owned()),
        untag: Vec::new(),
        untag_all: true,
        contact_name: Some(contact_name.to_owned()),
        contact_email: Some(contact_email.to_owned()),
        owner: Some(owner.to_owned()),
    };
    change(state, id, &whole).await
}

impl Belonging {
    /// Who the stored columns say, with `tags`; `names` are the accounts' user names by id (an
    /// owner whose account is gone is left out).
    pub(crate) fn of_stored(stored: Stored, tags: Tags, names: &HashMap<String, String>) -> Self {
        Self {
            external_id: stored.external_id,
            tags,
            contact: stored.contact_email.map(|email| Contact {
                name: stored.contact_name,
                email,
            }),
            owner: stored.owner_id.and_then(|id| {
                names.get(&id).map(|username| Owner {
                    username: username.clone(),
                    id,
                })
            }),
        }
    }
}

/// Every account's user name, by id.
pub(crate) async fn account_names(state: &AppState) -> Result<HashMap<String, String>, Error> {
    Ok(store::account_names(&state.pool)
        .await
        .map_err(internal)?
        .into_iter()
        .collect())
}

/// Who the stored connection `row` belongs to.
pub async fn shown_one(state: &AppState, row: &ConnectionRow) -> Result<Belonging, Error> {
    let tags = store::tags_of(&state.pool, &row.id)
        .await
        .map_err(internal)?;
    Ok(Belonging::of_stored(
        row.belonging.clone(),
        Tags::stored(tags),
        &account_names(state).await?,
    ))
}

/// `field: old → new` for each field that differs.
fn differences(before: &Belonging, after: &Belonging) -> Vec<String> {
    let words = |s: &Belonging| {
        [
            ("external_id", s.external_id.clone().unwrap_or_default()),
            ("tags", s.tags.words()),
            (
                "contact",
                s.contact.as_ref().map(Contact::words).unwrap_or_default(),
            ),
            (
                "owner",
                s.owner
                    .as_ref()
                    .map(|o| o.username.clone())
                    .unwrap_or_default(),
            ),
        ]
    };
    let none = |w: &str| {
        if w.is_empty() {
            "(none)".to_owned()
        } else {
            w.to_owned()
        }
    };
    words(before)
        .into_iter()
        .zip(words(after))
        .filter(|((_, old), (_, new))| old != new)
        .map(|((field, old), (_, new))| format!("{field}: {} → {}", none(&old), none(&new)))
        .collect()
}

/// What a list of the fleet asks for, as given: every field optional, all must hold.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub selector: Selector,
    /// An account's name.
    pub owner: Option<String>,
    /// A status's key: `failing`, `expired`, `critical`, `expiring`, `unknown`, `healthy`.
    pub status: Option<String>,
    pub external_id: Option<String>,
    /// `waiting`: only connections whose customer was asked for a renewal and has not answered.
    pub renewal: Option<String>,
}

/// The store's filter for `query`: the owner found by name, the status and external id parsed.
pub(crate) async fn filter(state: &AppState, query: &Query) -> Result<store::FleetFilter, Error> {
    let owner_id = match query.owner.as_deref().map(str::trim) {
        Some(username) if !username.is_empty() => Some(
            store::account_id(&state.pool, username)
                .await
                .map_err(internal)?
                .ok_or_else(|| {
                    Error::invalid(
                        "owner",
                        format!(
                            "There is no account {} in this console.",
                            super::metadata::printable(username)
                        ),
                    )
                })?,
        ),
        _ => None,
    };
    let status = match query.status.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => Some(
            Status::ALL
                .into_iter()
                .find(|s| s.key() == key)
                .ok_or_else(|| {
                    Error::invalid(
                        "status",
                        "The status is one of failing, expired, critical, expiring, unknown, healthy.",
                    )
                })?,
        ),
        _ => None,
    };
    let external_id = match query.external_id.as_deref() {
        Some(raw) if !raw.trim().is_empty() => Some(ExternalId::parse(raw)?.as_str().to_owned()),
        _ => None,
    };
    let waiting = match query.renewal.as_deref().map(str::trim) {
        Some("waiting") => true,
        Some("") | None => false,
        Some(_) => {
            return Err(Error::invalid(
                "renewal",
                "The renewal filter is `waiting`: connections whose customer was asked and has not answered.",
            ));
        }
    };
    Ok(store::FleetFilter {
        tags: query.selector.pairs().to_vec(),
        owner_id,
        status,
        external_id,
        waiting,
    })
}

/// The connections `query` keeps, by name, with who each belongs to.
pub async fn list(
    state: &AppState,
    query: &Query,
) -> Result<Vec<(ConnectionRow, Belonging)>, Error> {
    let filter = filter(state, query).await?;
    let rows = store::connections_matching(&state.pool, &filter, state.now())
        .await
        .map_err(internal)?;
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (id, key, value) in store::all_tags(&state.pool).await.map_err(internal)? {
        tags.entry(id).or_default().push((key, value));
    }
    with_belonging(state, rows, tags).await
}

async fn with_belonging(
    state: &AppState,
    rows: Vec<ConnectionRow>,
    mut tags: HashMap<String, Vec<(String, String)>>,
) -> Result<Vec<(ConnectionRow, Belonging)>, Error> {
    let names = account_names(state).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let own = Tags::stored(tags.remove(&row.id).unwrap_or_default());
            let shown = Belonging::of_stored(row.belonging.clone(), own, &names);
            (row, shown)
        })
        .collect())
}

/// The most connections one page of the management API holds.
pub const MAX_PAGE: i64 = 500;

/// A page of the connections `query` keeps, in the order of their ids, after `cursor` (the
/// `next` of the page before), with who each belongs to; and the cursor of the next page when
/// there is one.
pub async fn page(
    state: &AppState,
    query: &Query,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<(FleetRow, Belonging)>, Option<String>), Error> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("The limit is a number of connections from 1 to {MAX_PAGE}."),
        ));
    }
    if cursor.is_some_and(|c| c.is_empty() || c.len() > 100 || c.chars().any(char::is_control)) {
        return Err(Error::invalid(
            "cursor",
            "This cursor is not one a page of this list gave; start again without it.",
        ));
    }
    let filter = filter(state, query).await?;
    let now = state.now();
    // SQLite keeps no statistics: how it finds the page is chosen from the filter's counts
    // (read at most once a second). PostgreSQL's planner chooses from its own, but it cannot
    // tell that walking the ids beats looking up each tagged connection where every tag is
    // frequent: that is read off the tags' own counts (at most once a second too).
    let sqlite = store::is_sqlite(&state.pool);
    let parts = if sqlite || !filter.tags.is_empty() {
        state
            .overview
            .parts(&state.pool, now, &filter)
            .await
            .map_err(internal)?
    } else {
        store::Parts::default()
    };
    let known = if sqlite {
        let (_, share) = state
            .overview
            .share(&state.pool, now, &filter)
            .await
            .map_err(internal)?;
        store::Known::Counts(share, &parts)
    } else if !filter.tags.is_empty() && frequent(state, now, &parts).await? {
        store::Known::FrequentTags
    } else {
        store::Known::Nothing
    };
    let mut rows = store::fleet_page(&state.pool, &filter, known, cursor, limit + 1, now)
        .await
        .map_err(internal)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| row.id.clone())
    } else {
        None
    };
    let names = account_names(state).await?;
    let shown = rows
        .into_iter()
        .map(|mut row| {
            let own = Tags::stored(store::split_tags(&std::mem::take(&mut row.tags)));
            let who = Belonging::of_stored(std::mem::take(&mut row.belonging), own, &names);
            (row, who)
        })
        .collect();
    Ok((shown, next))
}

/// Whether each tag counted in `parts` is frequent in the whole fleet (see
/// [`store::frequent_from`]).
async fn frequent(state: &AppState, now: i64, parts: &store::Parts) -> Result<bool, Error> {
    let fleet = state
        .overview
        .get(&state.pool, now, &store::FleetFilter::default())
        .await
        .map_err(internal)?
        .total();
    let frequent = store::frequent_from(fleet);
    Ok(parts.tags.iter().all(|kept| *kept >= frequent))
}
