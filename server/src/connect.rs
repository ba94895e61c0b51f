//! `/connect/<token>`: the customer's page of a hand-off link, as plain axum routes (no session,
//! no console frame, no script). Every answer is `no-store`, sends no referrer and carries the
//! console's CSP; requests are limited per address; the token never reaches a log line, a
//! metric, an audit detail or the page.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::customer::{self, Asker, Problem, Typed};
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use console_core::Error;
use console_core::alerts::HandoffEvent;
use console_core::audit::{Actor, Event, record};
use console_core::handoffs::{self as handoffs, CustomerForm, Turn, Visit};
use console_core::renewals::Reason;
use console_core::state::AppState;
use console_core::store::HandoffRow;
use console_model::LinkState;

use crate::api::KeyLimiter;

/// Requests per address and minute to `/connect/`, unless `CONCUR_CONNECT_RATE_LIMIT` says
/// otherwise: plenty for a person, little for a script guessing tokens.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;
/// Seconds a customer is asked to wait when another attempt with the link held it too long.
const BUSY_RETRY_AFTER: u64 = 10;
/// The policy of pages that run no script and post only to themselves.
const CSP: &str = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

#[derive(Clone)]
struct Connect {
    state: AppState,
    limiter: Arc<KeyLimiter>,
}

pub fn router<S: Clone + Send + Sync + 'static>(
    state: AppState,
    limiter: Arc<KeyLimiter>,
) -> Router<S> {
    Router::new()
        .route("/connect/{token}", get(page).post(submit))
        .with_state(Connect { state, limiter })
}

fn answer(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

fn asker(state: &AppState) -> Asker<'_> {
    Asker {
        organisation: state.org_name.as_deref(),
    }
}

/// The client's address, as sign-in counts it.
fn address(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> String {
    console_core::auth::client_address_text(Some(peer.ip()), headers, &state.trusted_proxies)
}

/// The answer when this address asked too often, if it did.
fn throttled(connect: &Connect, address: &str) -> Option<Response> {
    let key = console_core::auth::address_key(address);
    connect.limiter.take(&key).err().map(|wait| {
        let mut response = answer(
            StatusCode::TOO_MANY_REQUESTS,
            customer::slow_down_page(wait),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        response
    })
}

async fn audit(
    state: &AppState,
    address: &str,
    kind: &str,
    link: &HandoffRow,
    outcome: &str,
    detail: &str,
) {
    let detail = format!("{} ({}){detail}", link.name, link.id);
    record(
        state,
        Event {
            actor: Actor::Named("customer"),
            address: Some(address),
            kind,
            connection_id: link.connection_id.as_deref(),
            outcome,
            detail: &detail,
        },
    )
    .await;
}

fn closed(state: &AppState, link: Option<(&HandoffRow, LinkState)>) -> Response {
    match link {
        Some((row, link_state)) => answer(
            StatusCode::GONE,
            customer::closed_page(&asker(state), Some((link_state, row.expires_at))),
        ),
        None => answer(
            StatusCode::NOT_FOUND,
            customer::closed_page(&asker(state), None),
        ),
    }
}

/// A renewal link's connection as its page shows it: masked, and what the customer must fix.
async fn renewing(state: &AppState, link: &HandoffRow) -> Option<customer::Renewing> {
    let id = link
        .connection_id
        .as_deref()
        .filter(|_| link.kind == "renewal")?;
    let row = console_core::store::connection(&state.pool, id)
        .await
        .ok()??;
    let needs = console_core::renewals::of_connection(state, &row, state.now())
        .await
        .ok()
        .flatten()
        .filter(|reason| *reason != Reason::Token && *reason != Reason::Expiring)
        .map(|reason| {
            let mut before_token = reason.steps();
            before_token.pop();
            customer::Needs {
                what: reason.what_happened(),
                before_token,
                secret: reason == Reason::Secret,
            }
        });
    Some(customer::Renewing {
        client: concur::mask(&row.client_id),
        company: concur::mask(row.company_uuid.as_deref().unwrap_or_default()),
        needs,
    })
}

async fn page(
    State(connect): State<Connect>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = &connect.state;
    let address = address(state, peer, &headers);
    if let Some(refused) = throttled(&connect, &address) {
        return refused;
    }
    match handoffs::visit(state, &token).await {
        Ok((Visit::Usable(link), first)) => {
            if first {
                audit(state, &address, "handoff_opened", &link, "ok", "").await;
            }
            let renewing = renewing(state, &link).await;
            answer(
                StatusCode::OK,
                customer::form_page(&asker(state), &link, renewing, None, Typed::default()),
            )
        }
        Ok((Visit::Closed(link, link_state), _)) => closed(state, Some((&link, link_state))),
        Ok((Visit::Unknown, _)) => closed(state, None),
        Err(_) => unavailable(),
    }
}

fn unavailable() -> Response {
    let mut response = answer(
        StatusCode::SERVICE_UNAVAILABLE,
        customer::unavailable_page(),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

async fn submit(
    State(connect): State<Connect>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CustomerForm>,
) -> Response {
    let state = &connect.state;
    let address = address(state, peer, &headers);
    if let Some(refused) = throttled(&connect, &address) {
        return refused;
    }
    let link = match usable(state, &token).await {
        Ok(link) => link,
        Err(answer) => return answer,
    };
    let turn = match Turn::take(state, &link.id).await {
        Ok(Some(turn)) => turn,
        Ok(None) => return busy(),
        Err(_) => return unavailable(),
    };
    let response = attempt(state, &address, &token, &form).await;
    turn.end(state).await;
    response
}

/// The usable link behind `token`, or the page that says why there is none.
async fn usable(state: &AppState, token: &str) -> Result<HandoffRow, Response> {
    match handoffs::visit(state, token).await {
        Ok((Visit::Usable(link), _)) => Ok(link),
        Ok((Visit::Closed(link, link_state), _)) => Err(closed(state, Some((&link, link_state)))),
        Ok((Visit::Unknown, _)) => Err(closed(state, None)),
        Err(_) => Err(unavailable()),
    }
}

/// Another attempt with this link took all the time a Connect waits for its turn.
fn busy() -> Response {
    let mut response = answer(
        StatusCode::TOO_MANY_REQUESTS,
        customer::slow_down_page(BUSY_RETRY_AFTER),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_AFTER));
    response
}

/// One Connect, in the link's turn: the link read again (the attempt before may have locked or
/// spent it), then Concur asked and the answer counted before the next attempt may start.
async fn attempt(state: &AppState, address: &str, token: &str, form: &CustomerForm) -> Response {
    let link = match usable(state, token).await {
        Ok(link) => link,
        Err(answer) => return answer,
    };
    match handoffs::connect(state, &link, form).await {
        Ok(connection_id) => completed(state, address, &link, &connection_id).await,
        Err(Error::LinkUsed) => closed(state, Some((&link, LinkState::Completed))),
        Err(error) => refused(state, address, &link, form, &error).await,
    }
}

async fn completed(
    state: &AppState,
    address: &str,
    link: &HandoffRow,
    connection_id: &str,
) -> Response {
    let mut link = link.clone();
    link.connection_id = Some(connection_id.to_owned());
    audit(state, address, "handoff_completed", &link, "ok", "").await;
    if let Err(e) = console_core::alerts::handoff_event(
        state,
        HandoffEvent::Completed { connection_id },
        &link.id,
        &link.name,
    )
    .await
    {
        tracing::warn!(error = %e, handoff = %link.id, "could not queue the hand-off alert");
    }
    let row = console_core::store::connection(&state.pool, connection_id)
        .await
        .ok()
        .flatten();
    let granted: Vec<&str> = row
        .as_ref()
        .map(|r| r.granted_scopes.split_whitespace().collect())
        .unwrap_or_default();
    let scopes: Vec<(String, bool)> = link
        .required_scopes
        .split_whitespace()
        .map(|s| (s.to_owned(), granted.contains(&s)))
        .collect();
    let company = row.as_ref().and_then(|r| r.company_uuid.clone());
    let probes = console_core::connections::probes::lines(state, connection_id)
        .await
        .unwrap_or_default();
    answer(
        StatusCode::OK,
        customer::done_page(&asker(state), &scopes, company.as_deref(), &probes),
    )
}

async fn refused(
    state: &AppState,
    address: &str,
    link: &HandoffRow,
    form: &CustomerForm,
    error: &Error,
) -> Response {
    let problem = Problem::of(error);
    let (status, kind) = match error {
        Error::Concur(d) => (StatusCode::UNPROCESSABLE_ENTITY, d.code.clone()),
        Error::Invalid { field, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("invalid {field}"))
        }
        Error::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal".to_owned()),
        other => (
            StatusCode::from_u16(other.status()).unwrap_or(StatusCode::BAD_REQUEST),
            "refused".to_owned(),
        ),
    };
    audit(
        state,
        address,
        "handoff_refused",
        link,
        "refused",
        &format!(" — {kind}"),
    )
    .await;
    let counts = matches!(error, Error::Concur(d) if !d.transient);
    if counts {
        match handoffs::count_refusal(state, link).await {
            Ok(true) => {
                audit(state, address, "handoff_locked", link, "locked", "").await;
                if let Err(e) = console_core::alerts::handoff_event(
                    state,
                    HandoffEvent::Locked,
                    &link.id,
                    &link.name,
                )
                .await
                {
                    tracing::warn!(error = %e, handoff = %link.id, "could not queue the hand-off alert");
                }
                return closed(state, Some((link, LinkState::Locked)));
            }
            Ok(false) => {}
            Err(_) => return unavailable(),
        }
    }
    let typed = Typed {
        client_id: form.client_id.trim().chars().take(200).collect(),
        company_uuid: form.company_uuid.trim().chars().take(200).collect(),
        authorization_url: form.authorization_url.trim().chars().take(300).collect(),
    };
    let renewing = renewing(state, link).await;
    answer(
        status,
        customer::form_page(&asker(state), link, renewing, Some(problem), typed),
    )
}
