//! The management API, for a vendor's own systems (its CRM, its tenant provisioning), opened by
//! management keys (`ccm_`): list and find connections, read one, change who it belongs to with
//! a JSON merge patch (RFC 7396), and make a renewal link for it. A read-only management key
//! reads only. Every change is audited under the key's label.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use console_core::Error;
use console_core::audit::{self, Actor, Event};
use console_core::connections::fleet::{self, Belonging, Change, Query};
use console_core::connections::metadata::Selector;
use console_core::connections::probes;
use console_core::handoffs::{self, NewHandoff};
use console_core::keys::{Call, Caller};
use console_core::state::AppState;
use console_core::store::{self, FleetRow};
use console_model::ProbeLine;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{ErrorAnswer, ErrorCode, allowed, failed, no_store, refuse, status_schema};

/// What the management API answers for an unknown connection.
const NOT_FOUND: &str = "No connection has that id.";

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, patch))
        .routes(routes!(renewal_link))
        .routes(routes!(renewal_request))
}

pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    Router::from(routes()).with_state(state)
}

/// The management API's part of the OpenAPI document.
pub(crate) fn described() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The connections a page holds when the caller names no limit.
const DEFAULT_LIMIT: i64 = 100;

/// The customer's Concur admin, the person hand-off and renewal mails go to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Contact {
    pub name: Option<String>,
    #[schema(format = Email)]
    pub email: String,
}

/// What one read-only API probe last found (or why it was not made).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProbeView {
    /// `identity_users`, `expense_reports_v3`, `expense_reports_v4`, `expense_approvals_v4`,
    /// `expense_config_v3`, or a write-only scope.
    probe: String,
    /// True when the call answered, false when it failed, null when it was not made.
    ok: Option<bool>,
    /// Concur's HTTP status for a failure.
    status: Option<u16>,
    /// The fact proven, Concur's words for a failure, or why the call was not made.
    detail: String,
    /// What fixes a failure.
    fix: Option<String>,
    #[schema(format = DateTime)]
    checked_at: Option<String>,
}

impl From<&ProbeLine> for ProbeView {
    fn from(line: &ProbeLine) -> Self {
        Self {
            probe: line.name.clone(),
            ok: line.ok,
            status: line.status,
            detail: line.detail.clone(),
            fix: line.fix.clone(),
            checked_at: console_core::rfc3339(line.checked_at),
        }
    }
}

/// A connection as the management API and `connections list --json` show it: no secret, its
/// status at the time of the call, who it belongs to, what its integration can do.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Connection)]
pub(crate) struct ConnectionView {
    id: String,
    name: String,
    /// Your own id for the customer (its tenant id).
    external_id: Option<String>,
    tags: BTreeMap<String, String>,
    #[schema(schema_with = status_schema)]
    status: &'static str,
    #[schema(format = DateTime)]
    refresh_token_expires_at: Option<String>,
    /// Whole days until the refresh token expires.
    days_left: Option<i64>,
    /// The user name of the console account responsible for it.
    owner: Option<String>,
    contact: Option<Contact>,
    /// Scopes the profile needs that Concur did not grant.
    missing_scopes: Vec<String>,
    client_id: String,
    company_uuid: Option<String>,
    #[schema(format = DateTime)]
    updated_at: Option<String>,
    /// Whether the console asks the customer for a renewal on its own: `always`, `never`, or
    /// null when it follows the console's setting.
    #[schema(pattern = "^(always|never)$")]
    renewal_requests: Option<&'static str>,
    /// What the integration can do, from the last read-only API probes (empty before the
    /// first run).
    probes: Vec<ProbeView>,
}

impl ConnectionView {
    pub(crate) fn of(row: &FleetRow, who: &Belonging, probes: &[ProbeLine], now: i64) -> Self {
        let granted: Vec<&str> = row.granted_scopes.split_whitespace().collect();
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            external_id: who.external_id.clone(),
            tags: who
                .tags
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            status: row.status(now).key(),
            refresh_token_expires_at: row.refresh_token_expires_at.and_then(console_core::rfc3339),
            days_left: row
                .refresh_token_expires_at
                .map(|at| console_model::days_left(at, now)),
            owner: who.owner.as_ref().map(|o| o.username.clone()),
            contact: who.contact.as_ref().map(|c| Contact {
                name: c.name.clone(),
                email: c.email.clone(),
            }),
            missing_scopes: row
                .required_scopes
                .split_whitespace()
                .filter(|s| !granted.contains(s))
                .map(str::to_owned)
                .collect(),
            client_id: row.client_id.clone(),
            company_uuid: row.company_uuid.clone(),
            updated_at: console_core::rfc3339(row.updated_at),
            renewal_requests: row
                .renewal_automatic
                .map(|set| console_core::renewals::asking_word(Some(set != 0))),
            probes: probes.iter().map(ProbeView::from).collect(),
        }
    }
}

/// A page of the connections list.
#[derive(Debug, Serialize, ToSchema)]
struct ConnectionPage {
    connections: Vec<ConnectionView>,
    /// Pass it back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A link made for a customer: send them the URL.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedLink {
    pub id: String,
    pub url: String,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// What asking the customer did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RequestSent {
    /// A new request went out to the contact.
    Sent,
    /// A request was open: its mail went out again.
    Resent,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RenewalRequested {
    pub request: RequestSent,
}

pub(crate) fn answer<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut response = (status, Json(body)).into_response();
    no_store(response.headers_mut());
    response
}

fn bad_request(message: &str) -> Response {
    refuse(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
}

/// What the connections list is asked for.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// `key:value`; repeat it for several, all of which must match.
    #[param(style = Form, explode, required = false)]
    tag: Vec<String>,
    #[param(schema_with = status_schema)]
    status: Option<String>,
    /// Only the connections of this account (its user name).
    owner: Option<String>,
    /// The connection with your own id for the customer.
    external_id: Option<String>,
    /// `waiting`: only connections whose customer was asked for a renewal and has not
    /// answered yet.
    #[param(pattern = "^waiting$")]
    renewal: Option<String>,
    /// How many connections a page holds (100 unless said).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

impl ListParams {
    /// `?tag=env:prod&tag=region:emea&status=S&owner=U&external_id=X&renewal=waiting&limit=100&cursor=C`, or why
    /// the request is malformed (a repeated parameter is more than a typed query extractor reads).
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut asked = Self::default();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let value = value.into_owned();
            match name.as_ref() {
                "tag" => asked.tag.push(value),
                "status" => asked.status = Some(value),
                "owner" => asked.owner = Some(value),
                "external_id" => asked.external_id = Some(value),
                "renewal" => asked.renewal = Some(value),
                "cursor" => asked.cursor = Some(value),
                "limit" => {
                    asked.limit = Some(value.parse().map_err(|_| {
                        "limit is a number of connections, such as 100.".to_owned()
                    })?);
                }
                other => {
                    return Err(format!(
                        "Unknown parameter {other:?}: this list takes tag, status, owner, external_id, renewal, limit and cursor."
                    ));
                }
            }
        }
        Ok(asked)
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/connections",
    operation_id = "listConnections",
    tag = "connections",
    summary = "The connections, filtered, a page at a time",
    description = "In the order of their ids; pass `next_cursor` back as `cursor` for the next page (null on the last). A connection changed between two pages is neither skipped nor repeated.",
    params(ListParams),
    security(("manageKey" = [])),
    responses(
        (status = 200, description = "A page of connections.", body = ConnectionPage),
        (status = 400, description = "An unknown parameter, or a limit that is not a number.", body = ErrorAnswer),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "Not a management key.", body = ErrorAnswer),
        (status = 422, description = "A filter value breaks a rule; the message names it.", body = ErrorAnswer),
    )
)]
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(refusal) = allowed(&state, &headers, Call::ReadConnections).await {
        return refusal;
    }
    let asked = match ListParams::parse(raw.as_deref()) {
        Ok(asked) => asked,
        Err(message) => return bad_request(&message),
    };
    let query = Query {
        selector: match Selector::of_pairs(asked.tag.iter().map(String::as_str)) {
            Ok(selector) => selector,
            Err(e) => return failed(&e, NOT_FOUND),
        },
        status: asked.status,
        owner: asked.owner,
        external_id: asked.external_id,
        renewal: asked.renewal,
    };
    let now = state.now();
    let limit = asked.limit.unwrap_or(DEFAULT_LIMIT);
    let page = match fleet::page(&state, &query, asked.cursor.as_deref(), limit).await {
        Ok(page) => page,
        Err(e) => return failed(&e, NOT_FOUND),
    };
    let (rows, next_cursor) = page;
    let ids: Vec<&str> = rows.iter().map(|(row, _)| row.id.as_str()).collect();
    let mut probes = match probes::lines_of(&state, &ids).await {
        Ok(probes) => probes,
        Err(e) => return failed(&e, NOT_FOUND),
    };
    answer(
        StatusCode::OK,
        &ConnectionPage {
            connections: rows
                .iter()
                .map(|(row, who)| {
                    let lines = probes.remove(&row.id).unwrap_or_default();
                    ConnectionView::of(row, who, &lines, now)
                })
                .collect(),
            next_cursor,
        },
    )
}

/// The connection `id` as the API shows it.
async fn shown(state: &AppState, id: &str) -> Result<ConnectionView, Error> {
    let row = store::connection(&state.pool, id)
        .await
        .map_err(console_core::state::internal)?
        .ok_or(Error::NotFound)?;
    let who = fleet::shown_one(state, &row).await?;
    let lines = probes::lines(state, id).await?;
    Ok(ConnectionView::of(
        &FleetRow::from(&row),
        &who,
        &lines,
        state.now(),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/connections/{id}",
    operation_id = "getConnection",
    tag = "connections",
    summary = "One connection: its status and who it belongs to (never a secret)",
    params(("id" = String, Path, description = "The connection's id.")),
    security(("manageKey" = [])),
    responses(
        (status = 200, description = "The connection.", body = ConnectionView),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "Not a management key.", body = ErrorAnswer),
        (status = 404, description = "No connection has that id.", body = ErrorAnswer),
    )
)]
async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = allowed(&state, &headers, Call::ReadConnections).await {
        return refusal;
    }
    match shown(&state, &id).await {
        Ok(body) => answer(StatusCode::OK, &body),
        Err(e) => failed(&e, NOT_FOUND),
    }
}

/// A tag of a JSON body as the core reads tags, `key=value` on one line; a line break in it
/// (or an `=` in its key) would read as another tag, so it is refused here.
pub(crate) fn tag_line(key: &str, value: &str) -> Result<String, String> {
    if key.contains(['\n', '\r', '=']) || value.contains(['\n', '\r']) {
        return Err(format!(
            "tags.{key}: a tag's key and value are one line each, and the key has no ="
        ));
    }
    Ok(format!("{key}={value}"))
}

/// A field of a merge patch: left out (kept), `null` (cleared) or a new value.
#[derive(Debug, Default)]
enum Patched<T> {
    #[default]
    Kept,
    Cleared,
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patched<T> {
    fn deserialize<D: Deserializer<'de>>(value: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(value)?.map_or(Patched::Cleared, Patched::Set))
    }
}

impl Patched<String> {
    /// The change as the core takes it: a blank value clears.
    fn change(self) -> Option<String> {
        match self {
            Patched::Kept => None,
            Patched::Cleared => Some(String::new()),
            Patched::Set(value) => Some(value),
        }
    }
}

/// What a merge patch of a connection may carry: each field left out stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConnectionPatch {
    /// The connection's new name (it always has one: not null).
    #[serde(default)]
    #[schema(value_type = String, max_length = 100)]
    name: Patched<String>,
    /// Your own id for the customer; null clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    external_id: Patched<String>,
    /// The tags to set, the others kept; a tag set to null goes, and null takes every tag away.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    tags: Patched<BTreeMap<String, Option<String>>>,
    /// The customer's Concur admin; null clears it.
    #[serde(default)]
    #[schema(value_type = Option<ContactPatch>)]
    contact: Patched<ContactPatch>,
    /// The user name of the console account responsible for it; null clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    owner: Patched<String>,
    /// `always` or `never` to ask its customer for a renewal on its own whatever the console's
    /// setting; null (or `default`) to follow it again.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(always|never|default)$")]
    renewal_requests: Patched<String>,
}

/// The parts of a contact to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ContactPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    name: Patched<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Email)]
    email: Patched<String>,
}

impl ConnectionPatch {
    /// The patch a JSON body holds, or why it is none: not an object, or a field of the wrong
    /// kind or unknown (naming it).
    fn of(body: serde_json::Value) -> Result<Self, String> {
        if !body.is_object() {
            return Err(
                "Send a JSON object of the fields to change: name, external_id, tags, contact, owner, renewal_requests."
                    .to_owned(),
            );
        }
        serde_path_to_error::deserialize(body).map_err(|e| match e.path().to_string().as_str() {
            "." => e.inner().to_string(),
            field => format!("{field}: {}", e.inner()),
        })
    }

    /// What the patch asks for, as the core takes it.
    fn change(self) -> Result<PatchAsks, String> {
        let renewal = match self.renewal_requests {
            Patched::Kept => None,
            Patched::Cleared => Some(None),
            Patched::Set(asks) => Some(
                console_core::renewals::asking_of(&asks)
                    .map_err(|e| format!("renewal_requests: {e}"))?,
            ),
        };
        let name = match self.name {
            Patched::Kept => None,
            Patched::Cleared => {
                return Err(
                    "name: a connection always has one; leave it out to keep it.".to_owned(),
                );
            }
            Patched::Set(name) => Some(name),
        };
        let mut change = Change {
            external_id: self.external_id.change(),
            owner: self.owner.change(),
            ..Change::default()
        };
        match self.contact {
            Patched::Kept => {}
            Patched::Cleared => {
                change.contact_name = Some(String::new());
                change.contact_email = Some(String::new());
            }
            Patched::Set(contact) => {
                change.contact_name = contact.name.change();
                change.contact_email = contact.email.change();
            }
        }
        match self.tags {
            Patched::Kept => {}
            Patched::Cleared => change.untag_all = true,
            Patched::Set(tags) => {
                let mut put = Vec::new();
                for (key, value) in tags {
                    match value {
                        None => change.untag.push(key),
                        Some(value) => put.push(tag_line(&key, &value)?),
                    }
                }
                change.tags = Some(put.join("\n"));
            }
        }
        Ok(PatchAsks {
            name,
            change,
            renewal,
        })
    }
}

/// What a merge patch of a connection asks for.
struct PatchAsks {
    /// The new name, if any.
    name: Option<String>,
    /// The change to who the connection belongs to.
    change: Change,
    /// Whether its customer is asked on its own (`Some(None)`: as the console's setting says).
    renewal: Option<Option<bool>>,
}

async fn record(state: &AppState, key: &Caller, kind: &str, id: &str, detail: &str) {
    audit::record(
        state,
        Event {
            actor: Actor::Named(&key.actor()),
            address: None,
            kind,
            connection_id: Some(id),
            outcome: "ok",
            detail,
        },
    )
    .await;
}

#[utoipa::path(
    patch,
    path = "/api/v1/connections/{id}",
    operation_id = "updateConnection",
    tag = "connections",
    summary = "Change a connection's name or who it belongs to",
    description = "A JSON merge patch (RFC 7396): what it names changes, the rest stays. `{\"tags\": {\"env\": \"dev\"}}` changes one tag, `{\"tags\": {\"region\": null}}` removes one, `{\"contact\": null}` clears the contact. A bad value changes nothing. Audited under the key's label.",
    params(("id" = String, Path, description = "The connection's id.")),
    request_body(content = ConnectionPatch, content_type = "application/merge-patch+json"),
    security(("manageKey" = [])),
    responses(
        (status = 200, description = "The connection after the change.", body = ConnectionView),
        (status = 400, description = "The body is not JSON.", body = ErrorAnswer),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "Not a management key, or a read-only one.", body = ErrorAnswer),
        (status = 404, description = "No connection has that id.", body = ErrorAnswer),
        (status = 415, description = "Not sent as application/merge-patch+json.", body = ErrorAnswer),
        (status = 422, description = "A value breaks a rule, or a field cannot be changed; the message names it.", body = ErrorAnswer),
    )
)]
async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let key = match allowed(&state, &headers, Call::ChangeConnections).await {
        Ok(key) => key,
        Err(refusal) => return refusal,
    };
    let merge = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/merge-patch+json")
            })
        });
    if !merge {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "Send a JSON merge patch with Content-Type: application/merge-patch+json.",
        );
    }
    let Ok(body) = serde_json::from_slice(&body) else {
        return bad_request("The body is not JSON.");
    };
    let PatchAsks {
        name,
        change,
        renewal,
    } = match ConnectionPatch::of(body).and_then(ConnectionPatch::change) {
        Ok(asked) => asked,
        Err(message) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                &message,
            );
        }
    };
    if let Some(name) = &name
        && let Err(e) = console_core::connections::validate::parse_name(name)
    {
        return failed(&e, NOT_FOUND);
    }
    let said = match fleet::change(&state, &id, &change).await {
        Ok(said) => said,
        Err(e) => return failed(&e, NOT_FOUND),
    };
    if !said.is_empty() {
        record(&state, &key, "connection_updated", &id, &said.join("; ")).await;
    }
    if let Some(automatic) = renewal
        && let Err(e) =
            console_core::renewals::set_automatic(&state, &id, automatic, &key.actor()).await
    {
        return failed(&e, NOT_FOUND);
    }
    if let Some(name) = name {
        let before = store::connection(&state.pool, &id)
            .await
            .ok()
            .flatten()
            .map(|row| row.name);
        if before.as_deref() != Some(name.trim()) {
            if let Err(e) = console_core::connections::rename(&state, &id, &name).await {
                return failed(&e, NOT_FOUND);
            }
            record(
                &state,
                &key,
                "connection_renamed",
                &id,
                &format!("renamed to “{}”", name.trim()),
            )
            .await;
        }
    }
    match shown(&state, &id).await {
        Ok(body) => answer(StatusCode::OK, &body),
        Err(e) => failed(&e, NOT_FOUND),
    }
}

/// What a renewal link is made with; both optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRenewalLink)]
struct RenewalBody {
    /// How long the link works, 1 to 30 days (7 unless said).
    #[schema(minimum = 1, maximum = 30)]
    valid_days: Option<i64>,
    /// Shown to the customer.
    #[serde(default)]
    #[schema(max_length = 500)]
    note: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/connections/{id}/renewal-links",
    operation_id = "createRenewalLink",
    tag = "connections",
    summary = "A renewal link for the connection's customer",
    description = "The customer's Concur admin opens it and gives a new Company Request Token; the connection keeps its id, name and who it belongs to.",
    params(("id" = String, Path, description = "The connection's id.")),
    request_body(content = Option<RenewalBody>, content_type = "application/json"),
    security(("manageKey" = [])),
    responses(
        (status = 201, description = "The link, to send to the customer.", body = CreatedLink),
        (status = 400, description = "The body is not the JSON described.", body = ErrorAnswer),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "Not a management key, or a read-only one.", body = ErrorAnswer),
        (status = 404, description = "No connection has that id.", body = ErrorAnswer),
        (status = 422, description = "A value breaks a rule; the message says which.", body = ErrorAnswer),
    )
)]
async fn renewal_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RenewalBody>, JsonRejection>,
) -> Response {
    let key = match allowed(&state, &headers, Call::ChangeConnections).await {
        Ok(key) => key,
        Err(refusal) => return refusal,
    };
    let asked = match body {
        Ok(Json(asked)) => asked,
        Err(JsonRejection::MissingJsonContentType(_)) => RenewalBody::default(),
        Err(_) => return bad_request("Send JSON: {\"valid_days\", \"note\"}, both optional."),
    };
    let request = NewHandoff {
        valid_days: asked.valid_days,
        note: asked.note,
        connection_id: Some(id),
        by_key: Some(key.id.clone()),
        ..NewHandoff::default()
    };
    match handoffs::create(&state, &request, &key.actor()).await {
        Ok((link, url)) => {
            let detail = format!("{} ({})", link.name, link.id);
            let connection = link.connection_id.clone().unwrap_or_default();
            record(&state, &key, "handoff_created", &connection, &detail).await;
            answer(
                StatusCode::CREATED,
                &CreatedLink {
                    id: link.id,
                    url,
                    expires_at: console_core::rfc3339(link.expires_at),
                },
            )
        }
        Err(e) => failed(&e, NOT_FOUND),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/connections/{id}/renewal-requests",
    operation_id = "requestRenewal",
    tag = "connections",
    summary = "Ask the connection's customer for a renewal by e-mail",
    description = "Mails the connection's contact a renewal link with the steps that fix what the connection needs, and reminds them on the console's schedule; when a request is open, sends its mail again. Needs a contact address and e-mail set up on the console.",
    params(("id" = String, Path, description = "The connection's id.")),
    security(("manageKey" = [])),
    responses(
        (status = 201, description = "The mail is on its way.", body = RenewalRequested),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "Not a management key, or a read-only one.", body = ErrorAnswer),
        (status = 404, description = "No connection has that id.", body = ErrorAnswer),
        (status = 422, description = "The connection has no contact, or the console no e-mail.", body = ErrorAnswer),
    )
)]
async fn renewal_request(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let key = match allowed(&state, &headers, Call::ChangeConnections).await {
        Ok(key) => key,
        Err(refusal) => return refusal,
    };
    match console_core::renewals::request(&state, &id, &key.actor()).await {
        Ok(asked) => answer(
            StatusCode::CREATED,
            &RenewalRequested {
                request: match asked {
                    console_core::renewals::Asked::Sent => RequestSent::Sent,
                    console_core::renewals::Asked::Resent => RequestSent::Resent,
                },
            },
        ),
        Err(e) => failed(&e, NOT_FOUND),
    }
}
