//! Hand-off links from a terminal (`concur-console handoff …`) and from the JSON API
//! (`POST /api/v1/handoffs`, `GET /api/v1/handoffs/{id}`), which takes hand-off keys only.

use std::io::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use console_core::Error;
use console_core::connections::metadata::Tags;
use console_core::handoffs::{self as handoffs, NewHandoff};
use console_core::keys::{Call, KeyKind};
use console_core::state::AppState;
use console_model::BelongingForm;
use console_model::HandoffView;
use serde_json::json;

use crate::api::{allowed, refuse};
use crate::manage::{Failed, terminal};
use crate::validate::rfc3339;

#[derive(Debug, clap::Subcommand)]
pub enum HandoffCommand {
    /// Make a link for a customer's Concur admin; prints only its URL.
    Create {
        /// What the link is for, e.g. the customer's company (a renewal link takes the
        /// connection's name).
        #[arg(long, required_unless_present = "connection")]
        name: Option<String>,
        /// expense-approvals, mileage-to-expense, or a custom scope list (space-separated).
        #[arg(long, required_unless_present = "connection")]
        profile: Option<String>,
        /// How long the link works: 7d by default, at most 30d.
        #[arg(long, default_value = "7d")]
        valid_for: String,
        /// A note the customer's page shows.
        #[arg(long, default_value = "")]
        note: String,
        /// Make a renewal link for this connection instead.
        #[arg(long)]
        connection: Option<String>,
        /// Who the connection the link makes will belong to.
        #[command(flatten)]
        belonging: Box<crate::manage::BelongingArgs>,
    },
    /// Every link, newest first, with its state.
    List,
    /// Revoke a link at once.
    Revoke { id: String },
}

/// A profile as the terminal and the API name it: a known key, or a custom scope list.
fn profile(raw: &str) -> (String, String) {
    match raw.trim() {
        known @ ("expense-approvals" | "mileage-to-expense") => (known.to_owned(), String::new()),
        custom => ("custom".to_owned(), custom.to_owned()),
    }
}

/// `7d` (days only: a link lives whole days).
fn valid_days(raw: &str) -> Result<i64, Failed> {
    raw.trim()
        .strip_suffix('d')
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            Failed(
                crate::validate::Exit::Usage,
                format!("--valid-for {raw:?} is not a number of days like 7d (at most 30d)"),
            )
        })
}

pub async fn command(
    state: &AppState,
    command: &HandoffCommand,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let io = |e: std::io::Error| Failed(crate::validate::Exit::Refused, e.to_string());
    match command {
        HandoffCommand::Create {
            name,
            profile: raw_profile,
            valid_for,
            note,
            connection,
            belonging,
        } => {
            let (profile, custom_scopes) = profile(raw_profile.as_deref().unwrap_or_default());
            let request = NewHandoff {
                name: name.clone().unwrap_or_default(),
                profile,
                custom_scopes,
                valid_days: Some(valid_days(valid_for)?),
                note: note.clone(),
                connection_id: connection.clone(),
                by_key: None,
                belonging: belonging.given(),
            };
            let (link, url) = handoffs::create(state, &request, "terminal").await?;
            terminal(
                state,
                "handoff_created",
                link.connection_id.as_deref(),
                &format!("{} ({})", link.name, link.id),
            )
            .await;
            writeln!(out, "{url}").map_err(io)
        }
        HandoffCommand::List => {
            for link in handoffs::list(state, 0).await?.0 {
                writeln!(
                    out,
                    "{}  {:<9}  {}  {}  until {}",
                    link.id,
                    link.state.key(),
                    link.name,
                    link.profile,
                    console_model::format_time(link.expires_at)
                )
                .map_err(io)?;
            }
            Ok(())
        }
        HandoffCommand::Revoke { id } => {
            let link = handoffs::revoke(state, id).await?;
            terminal(
                state,
                "handoff_revoked",
                link.connection_id.as_deref(),
                &format!("{} ({})", link.name, link.id),
            )
            .await;
            writeln!(out, "Revoked {id}.").map_err(io)
        }
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    Router::new()
        .route("/api/v1/handoffs", post(create))
        .route("/api/v1/handoffs/{id}", get(read))
        .with_state(state)
}

fn body(link: &HandoffView) -> serde_json::Value {
    let b = &link.belonging;
    json!({
        "external_id": b.external_id,
        "tags": Tags::stored(b.tags.clone()).json(),
        "contact": b.contact_email.as_ref().map(|email| json!({"name": b.contact_name, "email": email})),
        "owner": b.owner,
        "id": link.id,
        "name": link.name,
        "profile": link.profile,
        "renewal": link.renewal,
        "state": link.state.key(),
        "connection_id": link.connection_id,
        "created_at": rfc3339(Some(link.created_at)),
        "expires_at": rfc3339(Some(link.expires_at)),
        "url": link.url,
    })
}

fn refused(e: &Error) -> Response {
    match e {
        Error::Invalid { message, .. } => {
            refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
        Error::NotFound => refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "No hand-off link or connection has that id.",
        ),
        other => {
            tracing::error!(error = %other, "hand-off API failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on the server. It has been logged; try again.",
            )
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    profile: String,
    valid_days: Option<i64>,
    #[serde(default)]
    note: String,
    connection_id: Option<String>,
    external_id: Option<String>,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, String>,
    contact: Option<ContactBody>,
    owner: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    name: Option<String>,
    email: String,
}

impl CreateBody {
    /// Who the connection will belong to, tags written one `key=value` per line.
    fn belonging(&self) -> Result<BelongingForm, String> {
        let lines = self
            .tags
            .iter()
            .map(|(key, value)| crate::management::tag_line(key, value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BelongingForm {
            external_id: self.external_id.clone().unwrap_or_default(),
            tags: lines.join("\n"),
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
            owner: self.owner.clone().unwrap_or_default(),
        })
    }
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<Json<CreateBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let key = match allowed(&state, &headers, Call::CreateHandoff).await {
        Ok(key) => key,
        Err(refusal) => return refusal,
    };
    let Ok(Json(request)) = request else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Send JSON: {\"name\", \"profile\", \"valid_days\", \"note\"} (or \"connection_id\" for a renewal link).",
        );
    };
    let belonging = match request.belonging() {
        Ok(belonging) => belonging,
        Err(message) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid", &message),
    };
    let (profile, custom_scopes) = profile(&request.profile);
    let new = NewHandoff {
        belonging,
        name: request.name,
        profile,
        custom_scopes,
        valid_days: request.valid_days,
        note: request.note,
        connection_id: request.connection_id,
        by_key: Some(key.id.clone()),
    };
    let actor = key.actor();
    match handoffs::create(&state, &new, &actor).await {
        Ok((link, url)) => {
            let detail = format!("{} ({})", link.name, link.id);
            console_core::audit::record(
                &state,
                console_core::audit::Event {
                    actor: console_core::audit::Actor::Named(&actor),
                    address: None,
                    kind: "handoff_created",
                    connection_id: link.connection_id.as_deref(),
                    outcome: "ok",
                    detail: &detail,
                },
            )
            .await;
            let mut response = (
                StatusCode::CREATED,
                Json(json!({
                    "id": link.id,
                    "url": url,
                    "expires_at": rfc3339(Some(link.expires_at)),
                })),
            )
                .into_response();
            crate::api::no_store(response.headers_mut());
            response
        }
        Err(e) => refused(&e),
    }
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let key = match allowed(&state, &headers, Call::ReadHandoff).await {
        Ok(key) => key,
        Err(refusal) => return refusal,
    };
    let link = if key.kind == KeyKind::Handoff {
        handoffs::get_for_key(&state, &id, &key.id).await
    } else {
        handoffs::get(&state, &id).await
    };
    match link {
        Ok(link) => {
            let mut response = Json(body(&link)).into_response();
            crate::api::no_store(response.headers_mut());
            response
        }
        Err(e) => refused(&e),
    }
}
