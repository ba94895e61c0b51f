//! Hand-off links from a terminal (`concur-console handoff …`) and from the JSON API
//! (`POST /api/v1/handoffs`, `GET /api/v1/handoffs/{id}`), which takes hand-off keys only.

use std::io::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Json, Router};
use console_core::handoffs::{self as handoffs, NewHandoff};
use console_core::keys::{Call, KeyKind};
use console_core::state::AppState;
use console_model::{BelongingForm, HandoffView, LinkState};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{ErrorAnswer, ErrorCode, allowed, failed, refuse};
use crate::manage::{Failed, terminal};
use crate::management::{Contact, CreatedLink, answer};

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

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(read))
}

pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    Router::from(routes()).with_state(state)
}

/// The hand-off API's part of the OpenAPI document.
pub(crate) fn described() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn state_schema() -> utoipa::openapi::Object {
    crate::api::enum_schema(&LinkState::ALL.map(LinkState::key), None)
}

/// A hand-off link as the API shows it.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Handoff)]
struct LinkAnswer {
    id: String,
    name: String,
    /// The scope profile.
    profile: String,
    /// A renewal link for `connection_id` rather than one for a new connection.
    renewal: bool,
    #[schema(schema_with = state_schema)]
    state: &'static str,
    /// The connection it made once completed, or the one it renews.
    connection_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: Option<String>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// While the link can still be used.
    url: Option<String>,
    /// Your own id for the customer, carried onto the connection it makes.
    external_id: Option<String>,
    tags: std::collections::BTreeMap<String, String>,
    contact: Option<Contact>,
    /// The user name of the console account that will own the connection.
    owner: Option<String>,
}

impl From<&HandoffView> for LinkAnswer {
    fn from(link: &HandoffView) -> Self {
        let b = &link.belonging;
        Self {
            id: link.id.clone(),
            name: link.name.clone(),
            profile: link.profile.clone(),
            renewal: link.renewal,
            state: link.state.key(),
            connection_id: link.connection_id.clone(),
            created_at: console_core::rfc3339(link.created_at),
            expires_at: console_core::rfc3339(link.expires_at),
            url: link.url.clone(),
            external_id: b.external_id.clone(),
            tags: b.tags.iter().cloned().collect(),
            contact: b.contact_email.as_ref().map(|email| Contact {
                name: b.contact_name.clone(),
                email: email.clone(),
            }),
            owner: b.owner.clone(),
        }
    }
}

/// What a hand-off link is made with.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[schema(as = NewHandoff)]
struct CreateBody {
    /// What the link is for, e.g. the customer's company (not needed for a renewal link).
    #[serde(default)]
    #[schema(max_length = 100)]
    name: String,
    /// `expense-approvals`, `mileage-to-expense`, or a custom scope list separated by spaces.
    #[serde(default)]
    profile: String,
    /// How long the link works, 1 to 30 days (7 unless said).
    #[schema(minimum = 1, maximum = 30)]
    valid_days: Option<i64>,
    /// Shown to the customer.
    #[serde(default)]
    #[schema(max_length = 500)]
    note: String,
    /// Make a renewal link for this connection.
    connection_id: Option<String>,
    /// Your own id for the customer, carried onto the connection.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    external_id: Option<String>,
    /// Tags for the connection, such as `{"env": "prod"}`.
    #[serde(default)]
    tags: std::collections::BTreeMap<String, String>,
    contact: Option<Contact>,
    /// The user name of the console account that will own the connection.
    owner: Option<String>,
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

#[utoipa::path(
    post,
    path = "/api/v1/handoffs",
    operation_id = "createHandoffLink",
    tag = "handoffs",
    summary = "A hand-off link for a customer's Concur admin",
    description = "The customer opens the URL, follows the Concur steps for the profile and presses Connect; the console stores the connection. With `connection_id`, a renewal link that asks only for a new Company Request Token.",
    request_body = CreateBody,
    security(("handoffKey" = []), ("manageKey" = [])),
    responses(
        (status = 201, description = "The link, to send to the customer (it works once).", body = CreatedLink),
        (status = 400, description = "The body is not the JSON described.", body = ErrorAnswer),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "A key of a kind that may not create hand-off links: a connection's, a fleet or a read-only management key.", body = ErrorAnswer),
        (status = 404, description = "No connection has that `connection_id`.", body = ErrorAnswer),
        (status = 422, description = "A value breaks a rule; the message says which.", body = ErrorAnswer),
    )
)]
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
            ErrorCode::BadRequest,
            "Send JSON: {\"name\", \"profile\", \"valid_days\", \"note\"} (or \"connection_id\" for a renewal link).",
        );
    };
    let belonging = match request.belonging() {
        Ok(belonging) => belonging,
        Err(message) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                &message,
            );
        }
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
            answer(
                StatusCode::CREATED,
                &CreatedLink {
                    id: link.id,
                    url,
                    expires_at: console_core::rfc3339(link.expires_at),
                },
            )
        }
        Err(e) => failed(&e, "No hand-off link or connection has that id."),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/handoffs/{id}",
    operation_id = "getHandoffLink",
    tag = "handoffs",
    summary = "Where a hand-off link stands (a hand-off key reads the links it made)",
    params(("id" = String, Path, description = "The link's id, as creating it answered.")),
    security(("handoffKey" = []), ("manageKey" = [])),
    responses(
        (status = 200, description = "The link's state; `connection_id` once completed.", body = LinkAnswer),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "A connection's or a fleet key: it cannot read hand-off links.", body = ErrorAnswer),
        (status = 404, description = "No hand-off link that this key made has that id.", body = ErrorAnswer),
    )
)]
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
        Ok(link) => answer(StatusCode::OK, &LinkAnswer::from(&link)),
        Err(e) => failed(&e, "No hand-off link or connection has that id."),
    }
}
