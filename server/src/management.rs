//! The management API, for a vendor's own systems (its CRM, its tenant provisioning), opened by
//! management keys (`ccm_`): list and find connections, read one, change who it belongs to with
//! a JSON merge patch (RFC 7396), and make a renewal link for it. A read-only management key
//! reads only. Every change is audited under the key's label.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use console_core::Error;
use console_core::audit::{self, Actor, Event};
use console_core::connections::fleet::{self, Belonging, Change, Query};
use console_core::connections::metadata::Selector;
use console_core::handoffs::{self, NewHandoff};
use console_core::keys::{Call, Caller};
use console_core::state::AppState;
use console_core::store::{self, FleetRow};
use serde_json::{Value, json};

use crate::api::{allowed, no_store, refuse};
use crate::validate::rfc3339;

pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    Router::new()
        .route("/api/v1/connections", get(list))
        .route("/api/v1/connections/{id}", get(read).patch(patch))
        .route("/api/v1/connections/{id}/renewal-links", post(renewal_link))
        .with_state(state)
}

/// The connections a page holds when the caller names no limit.
const DEFAULT_LIMIT: i64 = 100;

/// A connection as the management API and `connections list --json` show it: no secret, its
/// status at `now`, who it belongs to.
pub(crate) fn connection_json(row: &FleetRow, who: &Belonging, now: i64) -> Value {
    let granted: Vec<&str> = row.granted_scopes.split_whitespace().collect();
    let missing: Vec<&str> = row
        .required_scopes
        .split_whitespace()
        .filter(|s| !granted.contains(s))
        .collect();
    json!({
        "id": row.id,
        "name": row.name,
        "external_id": who.external_id,
        "tags": who.tags.json(),
        "status": row.status(now).key(),
        "refresh_token_expires_at": rfc3339(row.refresh_token_expires_at),
        "days_left": row.refresh_token_expires_at.map(|at| console_model::days_left(at, now)),
        "owner": who.owner.as_ref().map(|o| o.username.clone()),
        "contact": who.contact.as_ref().map(|c| json!({"name": c.name, "email": c.email})),
        "missing_scopes": missing,
        "client_id": row.client_id,
        "company_uuid": row.company_uuid,
        "updated_at": rfc3339(Some(row.updated_at)),
    })
}

/// The answer for a failure of the core: its words, with the status they call for.
fn failed(e: &Error) -> Response {
    match e {
        Error::Invalid { field, message } => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("{field}: {message}"),
        ),
        Error::NotFound => refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "No connection has that id.",
        ),
        Error::DatabaseUnavailable => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The console cannot reach its database right now; retry shortly.",
        ),
        other => {
            tracing::error!(error = %other, "management API failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on the server. It has been logged; try again.",
            )
        }
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    no_store(response.headers_mut());
    response
}

fn bad_request(message: &str) -> Response {
    refuse(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// `?tag=env:prod&tag=region:emea&status=S&owner=U&external_id=X&limit=100&cursor=C`: the
/// query with its tags as given, the cursor and the limit; or why the request is malformed.
fn list_query(raw: Option<&str>) -> Result<(Query, Vec<String>, Option<String>, i64), String> {
    let mut query = Query::default();
    let (mut tags, mut cursor, mut limit) = (Vec::new(), None, DEFAULT_LIMIT);
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "tag" => tags.push(value.into_owned()),
            "status" => query.status = Some(value.into_owned()),
            "owner" => query.owner = Some(value.into_owned()),
            "external_id" => query.external_id = Some(value.into_owned()),
            "cursor" => cursor = Some(value.into_owned()),
            "limit" => {
                limit = value
                    .parse()
                    .map_err(|_| "limit is a number of connections, such as 100.".to_owned())?;
            }
            other => {
                return Err(format!(
                    "Unknown parameter {other:?}: this list takes tag, status, owner, external_id, limit and cursor."
                ));
            }
        }
    }
    Ok((query, tags, cursor, limit))
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(refusal) = allowed(&state, &headers, Call::ReadConnections).await {
        return refusal;
    }
    let (mut query, tags, cursor, limit) = match list_query(raw.as_deref()) {
        Ok(asked) => asked,
        Err(message) => return bad_request(&message),
    };
    query.selector = match Selector::of_pairs(tags.iter().map(String::as_str)) {
        Ok(selector) => selector,
        Err(e) => return failed(&e),
    };
    let now = state.now();
    match fleet::page(&state, &query, cursor.as_deref(), limit).await {
        Ok((rows, next)) => answer(
            StatusCode::OK,
            json!({
                "connections": rows.iter().map(|(row, who)| connection_json(row, who, now)).collect::<Vec<_>>(),
                "next_cursor": next,
            }),
        ),
        Err(e) => failed(&e),
    }
}

/// The connection `id` as the API shows it.
async fn shown(state: &AppState, id: &str) -> Result<Value, Error> {
    let row = store::connection(&state.pool, id)
        .await
        .map_err(console_core::state::internal)?
        .ok_or(Error::NotFound)?;
    let who = fleet::shown_one(state, &row).await?;
    Ok(connection_json(&FleetRow::from(&row), &who, state.now()))
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = allowed(&state, &headers, Call::ReadConnections).await {
        return refusal;
    }
    match shown(&state, &id).await {
        Ok(body) => answer(StatusCode::OK, body),
        Err(e) => failed(&e),
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

/// A merge patch's change: the new name, if any, and the change to who it belongs to.
fn merge_patch(patch: &Value) -> Result<(Option<String>, Change), String> {
    let Some(fields) = patch.as_object() else {
        return Err(
            "Send a JSON object of the fields to change: name, external_id, tags, contact, owner."
                .into(),
        );
    };
    let text = |field: &str, value: &Value| -> Result<String, String> {
        match value {
            Value::Null => Ok(String::new()),
            Value::String(text) => Ok(text.clone()),
            _ => Err(format!("{field} is a string, or null to clear it.")),
        }
    };
    let mut name = None;
    let mut change = Change::default();
    for (field, value) in fields {
        match field.as_str() {
            "name" => match value {
                Value::String(text) => name = Some(text.clone()),
                _ => return Err("name is a string: a connection always has one.".into()),
            },
            "external_id" => change.external_id = Some(text(field, value)?),
            "owner" => change.owner = Some(text(field, value)?),
            "contact" => match value {
                Value::Null => {
                    change.contact_name = Some(String::new());
                    change.contact_email = Some(String::new());
                }
                Value::Object(contact) => {
                    for (part, value) in contact {
                        match part.as_str() {
                            "name" => change.contact_name = Some(text("contact.name", value)?),
                            "email" => change.contact_email = Some(text("contact.email", value)?),
                            other => {
                                return Err(format!(
                                    "contact has a name and an email, not {other:?}."
                                ));
                            }
                        }
                    }
                }
                _ => {
                    return Err(
                        "contact is an object {\"name\", \"email\"}, or null to clear it.".into(),
                    );
                }
            },
            "tags" => match value {
                Value::Null => change.untag_all = true,
                Value::Object(tags) => {
                    let mut put = Vec::new();
                    for (key, value) in tags {
                        match value {
                            Value::Null => change.untag.push(key.clone()),
                            Value::String(v) => put.push(tag_line(key, v)?),
                            _ => {
                                return Err(format!(
                                    "tags.{key} is a string, or null to remove the tag."
                                ));
                            }
                        }
                    }
                    change.tags = Some(put.join("\n"));
                }
                _ => {
                    return Err(
                        "tags is an object of key: value strings, or null to remove them all."
                            .into(),
                    );
                }
            },
            other => {
                return Err(format!(
                    "{other:?} cannot be changed here; a patch may carry name, external_id, tags, contact and owner."
                ));
            }
        }
    }
    Ok((name, change))
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
            "unsupported_media_type",
            "Send a JSON merge patch with Content-Type: application/merge-patch+json.",
        );
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("The body is not JSON.");
    };
    let (name, change) = match merge_patch(&patch) {
        Ok(asked) => asked,
        Err(message) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid", &message),
    };
    if let Some(name) = &name
        && let Err(e) = console_core::connections::validate::parse_name(name)
    {
        return failed(&e);
    }
    let said = match fleet::change(&state, &id, &change).await {
        Ok(said) => said,
        Err(e) => return failed(&e),
    };
    if !said.is_empty() {
        record(&state, &key, "connection_updated", &id, &said.join("; ")).await;
    }
    if let Some(name) = name {
        let before = store::connection(&state.pool, &id)
            .await
            .ok()
            .flatten()
            .map(|row| row.name);
        if before.as_deref() != Some(name.trim()) {
            if let Err(e) = console_core::connections::rename(&state, &id, &name).await {
                return failed(&e);
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
        Ok(body) => answer(StatusCode::OK, body),
        Err(e) => failed(&e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewalBody {
    valid_days: Option<i64>,
    #[serde(default)]
    note: String,
}

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
                json!({
                    "id": link.id,
                    "url": url,
                    "expires_at": rfc3339(Some(link.expires_at)),
                }),
            )
        }
        Err(e) => failed(&e),
    }
}
