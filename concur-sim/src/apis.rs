//! The read APIs a company's access token opens, each answering in its own API's shapes: Identity
//! v4 (SCIM), Expense v3 (`Items`/`NextPage`, errors as `{"Message"}`) and Expense Reports v4
//! (report lists, errors as `errorId`/`errorMessage`/`httpStatus`/`path`/`timestamp`). What
//! each checks, in order: the bearer token (401), the scope (403), the company's switches.

use axum::Json;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::routes::{CORRELATION, DataCenter, bearer, lock};
use crate::state::CompanySwitches;

/// The caller behind a bearer token: its company, scopes and the company's switches.
struct Caller {
    company: String,
    scopes: Vec<String>,
    switches: CompanySwitches,
}

impl Caller {
    fn has(&self, wanted: impl Fn(&str) -> bool) -> bool {
        self.scopes.iter().any(|s| wanted(s))
    }
}

/// Why an API call is refused, before it is put in that API's error shape.
struct Refusal {
    status: StatusCode,
    message: String,
}

fn refusal(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

const BAD_TOKEN: &str = "The bearer token is missing, invalid or expired.";

fn caller(dc: &DataCenter, headers: &HeaderMap) -> Result<Caller, Refusal> {
    let state = lock(dc);
    let Some((_, record)) = bearer(&state, headers) else {
        return Err(refusal(StatusCode::UNAUTHORIZED, BAD_TOKEN));
    };
    let Some(company) = record.company else {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "An app-only token reads no company's data.",
        ));
    };
    let switches = state.switches(&company).unwrap_or_default();
    Ok(Caller {
        company,
        scopes: record.scopes,
        switches,
    })
}

fn correlation(dc: &DataCenter) -> String {
    lock(dc).next_correlation_id()
}

/// A SCIM error, as the Identity v4 API answers: `schemas`, `status` (a string) and `detail`.
fn scim_error(dc: &DataCenter, refused: Refusal) -> Response {
    let id = correlation(dc);
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": refused.status.as_u16().to_string(),
        "detail": refused.message,
        "concur-correlationid": id,
    });
    (refused.status, [(CORRELATION, id)], Json(body)).into_response()
}

/// An Expense v3 error: `{"Message": …}`.
fn v3_error(dc: &DataCenter, refused: Refusal) -> Response {
    let id = correlation(dc);
    let body = json!({ "Message": refused.message });
    (refused.status, [(CORRELATION, id)], Json(body)).into_response()
}

/// An Expense Reports v4 error, the `ErrorMessage` schema of its reference.
fn v4_error(dc: &DataCenter, uri: &Uri, refused: Refusal) -> Response {
    let id = correlation(dc);
    let now = lock(dc).now();
    let timestamp = time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let status = refused.status;
    let body = json!({
        "errorId": id,
        "errorMessage": refused.message,
        "httpStatus": format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")).trim_end().to_owned(),
        "path": uri.path(),
        "timestamp": timestamp,
    });
    (status, [(CORRELATION, id)], Json(body)).into_response()
}

/// The first three users have names; the rest are numbered.
const NAMED_USERS: [&str; 3] = ["ada", "grace", "edsger"];

fn user_name(index: usize) -> String {
    NAMED_USERS
        .get(index)
        .map_or_else(|| format!("user{index}"), |name| (*name).to_owned())
}

fn company_prefix(company: &str) -> String {
    let prefix: String = company
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    format!("{prefix:0<8}")
}

/// A stable id per company and user, so a listed user can be read again by id.
fn user_id(company: &str, index: usize) -> String {
    format!("{}-0000-4000-8000-{index:012}", company_prefix(company))
}

fn user_index(caller: &Caller, id: &str) -> Option<usize> {
    (0..caller.switches.users).find(|&i| user_id(&caller.company, i).eq_ignore_ascii_case(id))
}

fn user_resource(company: &str, index: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": user_id(company, index),
        "userName": format!("{}@{company}.example", user_name(index)),
        "active": true,
    })
}

fn identity_reader(dc: &DataCenter, headers: &HeaderMap) -> Result<Caller, Refusal> {
    let caller = caller(dc, headers)?;
    if caller.has(|s| s.starts_with("identity.user.")) {
        Ok(caller)
    } else {
        Err(refusal(
            StatusCode::FORBIDDEN,
            "The token does not grant identity.user scopes for a company.",
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsersPage {
    count: Option<usize>,
    start_index: Option<usize>,
}

pub(crate) async fn users(
    Extract(dc): Extract<DataCenter>,
    headers: HeaderMap,
    Query(page): Query<UsersPage>,
) -> Response {
    let caller = match identity_reader(&dc, &headers) {
        Ok(caller) => caller,
        Err(refused) => return scim_error(&dc, refused),
    };
    let total = caller.switches.users;
    let start = page.start_index.unwrap_or(1).max(1);
    let count = page.count.unwrap_or(100).min(100);
    let resources: Vec<Value> = (start - 1..total)
        .take(count)
        .map(|i| user_resource(&caller.company, i))
        .collect();
    Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
    .into_response()
}

pub(crate) async fn user(
    Extract(dc): Extract<DataCenter>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match identity_reader(&dc, &headers) {
        Ok(caller) => caller,
        Err(refused) => return scim_error(&dc, refused),
    };
    match user_index(&caller, &id) {
        Some(i) => Json(user_resource(&caller.company, i)).into_response(),
        None => scim_error(&dc, refusal(StatusCode::NOT_FOUND, "No user has this id.")),
    }
}

const EXPENSE_OFF: &str = "Concur Expense is not enabled for this company.";

/// An Expense caller: the token's company has Expense and the token grants `scope`.
fn expense_reader(
    dc: &DataCenter,
    headers: &HeaderMap,
    scope: &str,
    granted_by: impl Fn(&str) -> bool,
) -> Result<Caller, Refusal> {
    let caller = caller(dc, headers)?;
    if !caller.has(granted_by) {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            format!("The access token does not grant the {scope} scope."),
        ));
    }
    if !caller.switches.expense_enabled {
        return Err(refusal(StatusCode::FORBIDDEN, EXPENSE_OFF));
    }
    Ok(caller)
}

/// Each user owns one report; the first user's is not submitted, the others wait for the first
/// user's approval.
fn report_id(company: &str, index: usize) -> String {
    format!(
        "{}{index:012X}",
        company_prefix(company).to_ascii_uppercase()
    )
}

fn submitted(index: usize) -> bool {
    index > 0
}

fn v3_report(company: &str, index: usize) -> Value {
    let (code, name) = if submitted(index) {
        ("A_PEND", "Submitted & Pending Approval")
    } else {
        ("A_NOTF", "Not Submitted")
    };
    json!({
        "ID": report_id(company, index),
        "Name": format!("Trip {}", index + 1),
        "OwnerLoginID": format!("{}@{company}.example", user_name(index)),
        "OwnerName": user_name(index),
        "ApprovalStatusCode": code,
        "ApprovalStatusName": name,
        "CurrencyCode": "USD",
        "Total": 120.0,
    })
}

#[derive(Deserialize)]
pub(crate) struct V3Page {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `Items` for one page of `total` records, and the `NextPage` URI when more remain.
fn v3_list(uri: &Uri, total: usize, page: &V3Page, item: impl Fn(usize) -> Value) -> Value {
    let limit = page.limit.unwrap_or(25).clamp(1, 100);
    let offset = page.offset.unwrap_or(0);
    let items: Vec<Value> = (offset..total).take(limit).map(item).collect();
    let next = (offset + limit < total)
        .then(|| format!("{}?limit={limit}&offset={}", uri.path(), offset + limit));
    json!({ "Items": items, "NextPage": next })
}

pub(crate) async fn v3_reports(
    Extract(dc): Extract<DataCenter>,
    headers: HeaderMap,
    uri: Uri,
    Query(page): Query<V3Page>,
) -> Response {
    match expense_reader(&dc, &headers, "EXPRPT", |s| s == "EXPRPT") {
        Ok(caller) => Json(v3_list(&uri, caller.switches.users, &page, |i| {
            v3_report(&caller.company, i)
        }))
        .into_response(),
        Err(refused) => v3_error(&dc, refused),
    }
}

pub(crate) async fn v3_group_configurations(
    Extract(dc): Extract<DataCenter>,
    headers: HeaderMap,
    uri: Uri,
    Query(page): Query<V3Page>,
) -> Response {
    match expense_reader(&dc, &headers, "CONFIG", |s| s == "CONFIG") {
        Ok(caller) => Json(v3_list(&uri, 1, &page, |_| {
            json!({
                "ID": format!("{}-EGC", company_prefix(&caller.company)),
                "Name": "Default expense group",
                "PaymentTypes": [{"ID": "CASH", "Name": "Cash", "IsDefault": true}],
                "Policies": [{
                    "ID": "POLICY",
                    "Name": "Default Expense Policy",
                    "IsDefault": true,
                    "IsInheritable": true,
                    "ExpenseTypes": [{"Code": "MILEG", "Name": "Personal Car Mileage", "ExpenseCode": "PCARMILE"}],
                }],
            })
        }))
        .into_response(),
        Err(refused) => v3_error(&dc, refused),
    }
}

fn reads_reports(scope: &str) -> bool {
    scope == "expense.report.read" || scope == "expense.report.readwrite"
}

/// A report as the v4 lists give it.
fn v4_report(company: &str, index: usize) -> Value {
    json!({
        "reportId": report_id(company, index),
        "name": format!("Trip {}", index + 1),
        "reportNumber": format!("{}", 1000 + index),
        "reportDate": "2026-11-30",
        "submitDate": submitted(index).then_some("2026-12-01T09:00:00Z"),
        "employee": {"employeeId": user_name(index), "employeeUuid": user_id(company, index)},
        "claimedAmount": {"value": 120.0, "currencyCode": "USD"},
        "hasExceptions": false,
        "reportType": "Regular",
    })
}

/// The v4 caller and the index of the user the path names.
fn v4_user(dc: &DataCenter, headers: &HeaderMap, user: &str) -> Result<(Caller, usize), Refusal> {
    let caller = expense_reader(dc, headers, "expense.report.read", reads_reports)?;
    let index = user_index(&caller, user)
        .ok_or_else(|| refusal(StatusCode::NOT_FOUND, format!("User {user} was not found.")))?;
    Ok((caller, index))
}

/// `GET /expensereports/v4/users/{user}/context/TRAVELER/reports`: the user's own reports.
pub(crate) async fn v4_reports(
    Extract(dc): Extract<DataCenter>,
    headers: HeaderMap,
    uri: Uri,
    Path((user, context)): Path<(String, String)>,
) -> Response {
    if !matches!(context.as_str(), "TRAVELER" | "PROXY") {
        let refused = refusal(
            StatusCode::BAD_REQUEST,
            format!("Context {context} is not supported here: use TRAVELER or PROXY."),
        );
        return v4_error(&dc, &uri, refused);
    }
    match v4_user(&dc, &headers, &user) {
        Ok((caller, index)) => Json(vec![v4_report(&caller.company, index)]).into_response(),
        Err(refused) => v4_error(&dc, &uri, refused),
    }
}

/// `GET /expensereports/v4/users/{user}/context/MANAGER/reportsToApprove`: the reports waiting
/// for this user, who must be an approver.
pub(crate) async fn v4_reports_to_approve(
    Extract(dc): Extract<DataCenter>,
    headers: HeaderMap,
    uri: Uri,
    Path((user, context)): Path<(String, String)>,
) -> Response {
    if context != "MANAGER" {
        let refused = refusal(
            StatusCode::BAD_REQUEST,
            format!("Context {context} is not supported here: use MANAGER."),
        );
        return v4_error(&dc, &uri, refused);
    }
    let (caller, index) = match v4_user(&dc, &headers, &user) {
        Ok(found) => found,
        Err(refused) => return v4_error(&dc, &uri, refused),
    };
    if index != 0 || !caller.switches.manager_role {
        let refused = refusal(
            StatusCode::FORBIDDEN,
            format!("User {user} is not an expense approver."),
        );
        return v4_error(&dc, &uri, refused);
    }
    let waiting: Vec<Value> = (0..caller.switches.users)
        .filter(|&i| submitted(i))
        .map(|i| v4_report(&caller.company, i))
        .collect();
    Json(waiting).into_response()
}
