//! The customer's page (`/connect/<token>`): written for a company's Concur admin who has never
//! seen the console. No navigation, no sign-in, nothing about other connections; plain HTML
//! forms that work without JavaScript. Rendered on the server into whole documents, which the
//! `server` crate answers with (and the statuses and headers the page needs).

use leptos::prelude::*;
use leptos::tachys::view::RenderHtml;

use console_core::store::HandoffRow;
use console_model::Error;
use console_model::{DiagnosisView, KNOWN_DATA_CENTERS, LinkState, ProbeLine, format_time};

/// Who asked, as the page names them.
pub struct Asker<'a> {
    /// `CONCUR_ORG_NAME`, if set.
    pub organisation: Option<&'a str>,
}

impl Asker<'_> {
    fn name(&self) -> String {
        self.organisation.map_or_else(
            || "The team that sent you this link".to_owned(),
            str::to_owned,
        )
    }

    /// What the customer connects their Concur to: the organisation, or, unnamed, the
    /// integration of whoever sent the link (never the link's name, which is the customer's).
    fn integration(&self) -> String {
        self.organisation
            .map_or_else(|| "their integration".to_owned(), str::to_owned)
    }

    fn whom(&self) -> String {
        self.organisation
            .map_or_else(|| "whoever sent you this link".to_owned(), str::to_owned)
    }
}

/// A renewal link's connection, as its page shows it.
pub struct Renewing {
    /// The Client ID, masked.
    pub client: String,
    /// The company UUID, masked.
    pub company: String,
    /// What the customer must fix, when the connection needs more than a renewal.
    pub needs: Option<Needs>,
}

/// What the customer must fix, in their words, and the steps before the Company Request Token.
pub struct Needs {
    pub what: String,
    pub before_token: Vec<String>,
    /// The app's secret changed: the page asks for the current one.
    pub secret: bool,
}

/// A whole document around `body`, with the console's stylesheet and no script.
fn document(title: &str, body: impl IntoView + 'static) -> String {
    let title = title.to_owned();
    let html = view! {
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="referrer" content="no-referrer"/>
                <title>{format!("{title} · SAP Concur connection")}</title>
                <link rel="stylesheet" href="/pkg/concur-console.css"/>
            </head>
            <body class="customer">
                <main>
                    <h1>{title}</h1>
                    {body}
                </main>
            </body>
        </html>
    }
    .to_html();
    format!("<!DOCTYPE html>{html}")
}

/// What the customer sees for a field: the diagnosis or rule, in words meant for them.
#[derive(Debug, Clone, Default)]
pub struct Problem {
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    /// The customer's words for what the connection path refused.
    pub fn of(error: &Error) -> Self {
        match error {
            Error::Invalid { field, message } => Self {
                field: Some(field.clone()),
                message: message.clone(),
            },
            Error::Concur(d) => Self::of_concur(d),
            Error::LinkUsed => Self {
                field: None,
                message: "This link has just been used to connect; nothing more is needed.".into(),
            },
            other => Self {
                field: None,
                message: other.to_string(),
            },
        }
    }

    fn of_concur(d: &DiagnosisView) -> Self {
        let (field, message) = match d.code.as_str() {
            "request_token_rejected" => (
                "request_token",
                "Concur did not accept this Company Request Token: it was used already or is older than 24 hours. Generate a new one under Authentication Admin → Company Request Token, then press Connect again.".to_owned(),
            ),
            "request_token_for_another_app" => (
                "request_token",
                "This Company Request Token was made for another app. Generate a new one under Authentication Admin → Company Request Token with this Client ID as the App ID.".to_owned(),
            ),
            "bad_client_id" | "bad_client_secret" | "bad_client_credentials" => (
                "client_secret",
                "Concur does not accept this Client ID and Client Secret together. Copy both again from Authentication Admin → OAuth 2.0 Application Management (the secret is shown only when the app is created; make a new one there if you no longer have it).".to_owned(),
            ),
            "missing_scopes" | "scope_not_granted" => (
                "scopes",
                format!(
                    "{} Add the missing scopes to the app under OAuth 2.0 Application Management, generate a new Company Request Token, then press Connect again.",
                    d.message
                ),
            ),
            _ if d.transient => (
                "",
                "Concur could not be reached just now, and nothing was stored. Press Connect again in a minute.".to_owned(),
            ),
            _ => ("", format!("{} {}", d.message, d.next_step)),
        };
        Self {
            field: (!field.is_empty())
                .then(|| field.to_owned())
                .or_else(|| d.field.clone()),
            message,
        }
    }
}

/// The values typed before a refusal, shown again (never the secrets).
#[derive(Debug, Clone, Default)]
pub struct Typed {
    pub client_id: String,
    pub company_uuid: String,
    pub authorization_url: String,
}

fn field_error(problem: &Option<Problem>, field: &'static str) -> Option<impl IntoView + use<>> {
    problem
        .as_ref()
        .filter(|p| p.field.as_deref() == Some(field))
        .map(|p| view! { <p class="field-error" role="alert">{p.message.clone()}</p> })
}

/// The page of a usable link: who asks, the Concur steps for its profile, the fields, Connect.
pub fn form_page(
    asker: &Asker<'_>,
    link: &HandoffRow,
    renewing: Option<Renewing>,
    problem: Option<Problem>,
    typed: Typed,
) -> String {
    let scopes: Vec<String> = link
        .required_scopes
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let renewal = renewing.is_some();
    let needs = renewing.as_ref().and_then(|r| r.needs.as_ref());
    let secret_needed = needs.is_some_and(|n| n.secret);
    let fixes = needs.map(|n| {
        n.before_token
            .iter()
            .map(|step| view! { <li>{step.clone()}</li> })
            .collect_view()
    });
    let general = problem
        .as_ref()
        .filter(|p| p.field.as_deref().is_none_or(|f| f == "scopes"))
        .map(|p| view! { <div class="diagnosis" role="alert"><p class="what">{p.message.clone()}</p></div> });
    let intro = if let Some(needs) = needs {
        format!(
            "{} asks you to renew the SAP Concur connection “{}”. {} The steps below fix it.",
            asker.name(),
            link.name,
            needs.what
        )
    } else if renewal {
        format!(
            "{} asks you to renew the SAP Concur connection “{}”. It needs one new Company Request Token; everything else stays as it is.",
            asker.name(),
            link.name
        )
    } else {
        format!(
            "{} asks you to connect your company's SAP Concur to {}; they call this connection “{}”. Follow the steps below in Concur, then paste the values here. They go straight to Concur to be checked, and are kept encrypted.",
            asker.name(),
            asker.integration(),
            link.name
        )
    };
    let steps = (!renewal).then(|| {
        let scope_items = scopes
            .iter()
            .map(|s| view! { <li><code>{s.clone()}</code></li> })
            .collect_view();
        view! {
            <li>
                "In Concur, open " <strong>"Authentication Admin → OAuth 2.0 Application Management"</strong>
                " and choose " <strong>"Create New App"</strong> ". App Type: " <strong>"Client"</strong>
                ". Allowed grants: " <code>"refresh_token"</code> " and " <code>"password"</code>
                {format!(". Scopes: exactly these {}:", scopes.len())}
                <ul class="scopes">{scope_items}</ul>
                "Save, and note the " <strong>"Client ID"</strong> " and " <strong>"Client Secret"</strong>
                " (the secret is shown only once)."
            </li>
        }
    });
    let known = renewing.as_ref().map(|r| view! {
        <p>"App (Client ID): " <code>{r.client.clone()}</code> " · Company UUID: " <code>{r.company.clone()}</code></p>
    });
    let body = view! {
        <p class="lead">{intro}</p>
        {(!link.note.is_empty()).then(|| view! { <p class="note">{format!("Note: {}", link.note)}</p> })}
        {known}
        <ol class="steps">
            {steps}
            {fixes}
            <li>
                "Open " <strong>"Authentication Admin → Company Request Token"</strong>
                ", paste the Client ID as the App ID and submit. Note the "
                <strong>"Company UUID"</strong> " and the " <strong>"Company Request Token"</strong>
                " (it is valid for 24 hours and works once)."
            </li>
            <li>"Paste the values below and press " <strong>"Connect"</strong> "."</li>
        </ol>
        {general}
        <form method="post" class="card form" autocomplete="off">
            {(!renewal).then(|| view! {
                <label for="client_id">"Client ID"</label>
                <input id="client_id" name="client_id" value=typed.client_id.clone() required/>
                {field_error(&problem, "client_id")}
            })}
            <label for="client_secret">"Client Secret"</label>
            <input id="client_secret" name="client_secret" type="password" required=!renewal || secret_needed/>
            {(renewal && !secret_needed).then(|| view! { <p class="hint">"Leave blank to keep the one the console holds."</p> })}
            {secret_needed.then(|| view! { <p class="hint">"The app's current Client Secret: the one the console holds no longer works."</p> })}
            {field_error(&problem, "client_secret")}
            {(!renewal).then(|| view! {
                <label for="company_uuid">"Company UUID"</label>
                <input id="company_uuid" name="company_uuid" value=typed.company_uuid.clone() required/>
                {field_error(&problem, "company_uuid")}
            })}
            <label for="request_token">"Company Request Token"</label>
            <input id="request_token" name="request_token" type="password" required/>
            {field_error(&problem, "request_token")}
            {(!renewal).then(|| view! {
                <label for="authorization_url">"Authorization URL"</label>
                <input id="authorization_url" name="authorization_url" list="data-centres"
                    placeholder="https://us2.api.concursolutions.com" value=typed.authorization_url.clone() required/>
                <datalist id="data-centres">
                    {KNOWN_DATA_CENTERS.iter().map(|(label, url)| view! { <option value=*url label=*label/> }).collect_view()}
                </datalist>
                <p class="hint">"Your company's Concur data centre, e.g. https://us2.api.concursolutions.com (US) or https://eu2.api.concursolutions.com (EU)."</p>
                {field_error(&problem, "authorization_url")}
            })}
            {problem.is_some().then(|| view! {
                <p class="hint">"For your safety the secret fields are empty again: paste them once more."</p>
            })}
            <button type="submit" class="primary">"Connect"</button>
        </form>
    };
    document(
        if renewal {
            "Renew your SAP Concur connection"
        } else {
            "Connect SAP Concur"
        },
        body,
    )
}

/// What the customer can do about a call of the integration Concur refused, in their words
/// (they are the company's Concur admin).
fn customer_fix(line: &ProbeLine, asker: &Asker<'_>) -> String {
    match (line.status, line.name.as_str()) {
        (Some(403), "identity_users") => "Let the app read your company's users: in Concur, Authentication Admin → OAuth 2.0 Application Management → the app, grant its identity.user scopes.".to_owned(),
        (Some(403), "expense_approvals_v4") => "The app's user is not an expense approver: give it the approver role in Concur Expense if the integration is to see the reports waiting for approval.".to_owned(),
        (Some(403), _) => "Enable Concur Expense for your company and give the app's user the Expense role (Web Services Admin, to read every user's reports). Nothing needs to be entered here again.".to_owned(),
        _ => format!("Nothing to do on your side now: {} sees this too and will follow up.", asker.whom()),
    }
}

/// The page after Connect succeeded.
pub fn done_page(
    asker: &Asker<'_>,
    scopes: &[(String, bool)],
    company: Option<&str>,
    probes: &[ProbeLine],
) -> String {
    let calls = probes
        .iter()
        .filter(|line| line.ok.is_some())
        .map(|line| {
            let works = line.ok == Some(true);
            let said = if works {
                line.detail.clone()
            } else {
                let status = line
                    .status
                    .map(|s| format!("HTTP {s}: "))
                    .unwrap_or_default();
                format!("Concur refused it ({status}{})", line.detail)
            };
            view! {
                <li class=if works { "granted" } else { "missing" }>
                    {format!("{} {}: {said}", if works { "✔" } else { "✘" }, line.label)}
                    {(!works).then(|| view! { <p class="fix">{customer_fix(line, asker)}</p> })}
                </li>
            }
        })
        .collect_view();
    let tried = probes.iter().any(|line| line.ok.is_some());
    let lines = scopes
        .iter()
        .map(|(scope, granted)| {
            let mark = if *granted { "✔" } else { "✘" };
            view! { <li class=if *granted { "granted" } else { "missing" }>{format!("{mark} {scope}")}</li> }
        })
        .collect_view();
    let body = view! {
        <div class="card" role="status">
            <p class="lead">"Concur accepted the values: the connection is made."</p>
            {company.map(|c| view! { <p>"Company UUID: " <code>{c.to_owned()}</code></p> })}
            <p>"Scopes granted:"</p>
            <ul class="scopes">{lines}</ul>
            {tried.then(|| view! {
                <p>{format!("What {} can read with it (read-only calls, just made):", asker.integration())}</p>
                <ul class="probes">{calls}</ul>
            })}
            <p>{format!("Nothing more is needed from you: {} keeps the connection alive and will ask again only if Concur ever stops accepting it.", asker.whom())}</p>
        </div>
    };
    document("Connected", body)
}

/// The page of a link that can no longer be used (answered with 410), or of none (404).
pub fn closed_page(asker: &Asker<'_>, state: Option<(LinkState, i64)>) -> String {
    let whom = asker.whom();
    let (title, text) = match state {
        Some((LinkState::Completed, _)) => (
            "This link has been used",
            "The connection was made with this link; nothing more is needed. A link works only once.".to_owned(),
        ),
        Some((LinkState::Expired, expires_at)) => (
            "This link has expired",
            format!("It worked until {}. Ask {whom} for a new link.", format_time(expires_at)),
        ),
        Some((LinkState::Locked, _)) => (
            "This link is locked",
            format!("Concur refused too many attempts through it, so it was locked. Ask {whom} for a new link."),
        ),
        Some(_) => (
            "This link was withdrawn",
            format!("It can no longer be used. Ask {whom} for a new link if you still need one."),
        ),
        None => (
            "No such link",
            format!("Check that the whole link was copied, or ask {whom} for a new one."),
        ),
    };
    document(title, view! { <p class="lead">{text}</p> })
}

/// The page while the console cannot read its database.
pub fn unavailable_page() -> String {
    document(
        "Please try again in a moment",
        view! { <p class="lead">"This page cannot be shown right now. Nothing was lost; try again in a minute."</p> },
    )
}

/// The page when one address asks too often.
pub fn slow_down_page(seconds: u64) -> String {
    document(
        "Please wait a moment",
        view! { <p class="lead">{format!("Too many requests from your address; try again in {seconds} seconds.")}</p> },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(kind: &str) -> HandoffRow {
        HandoffRow {
            id: "h1".into(),
            kind: kind.into(),
            name: "ACME <Corp>".into(),
            note: "For the pilot".into(),
            scope_profile: "expense-approvals".into(),
            required_scopes: "openid EXPRPT expense.report.read".into(),
            connection_id: None,
            created_by: "admin".into(),
            created_at: 0,
            expires_at: 100,
            opened_at: None,
            completed_at: None,
            revoked_at: None,
            locked_at: None,
            refusals: 0,
            ..HandoffRow::default()
        }
    }

    #[test]
    fn the_page_lists_the_profiles_scopes_and_escapes_what_admins_typed() {
        let asker = Asker {
            organisation: Some("Expense Bot Inc."),
        };
        let html = form_page(&asker, &link("new"), None, None, Typed::default());
        assert!(html.starts_with("<!DOCTYPE html>"));
        for scope in ["openid", "EXPRPT", "expense.report.read"] {
            assert!(html.contains(&format!("<code>{scope}</code>")), "{scope}");
        }
        assert!(html.contains("exactly these 3"));
        assert!(html.contains("ACME &lt;Corp&gt;") && !html.contains("ACME <Corp>"));
        assert!(html.contains("Expense Bot Inc. asks you"));
        for label in [
            "Client ID",
            "Client Secret",
            "Company UUID",
            "Company Request Token",
            "Authorization URL",
        ] {
            assert!(html.contains(&format!(">{label}</label>")), "{label}");
        }
        assert!(!html.contains("<script"), "no script at all");
    }

    #[test]
    fn the_customer_connects_to_the_organisation_never_to_their_own_name() {
        let named = Asker {
            organisation: Some("Expense Bot Inc."),
        };
        let html = form_page(&named, &link("new"), None, None, Typed::default());
        assert!(
            html.contains(
                "SAP Concur to Expense Bot Inc.; they call this connection “ACME &lt;Corp&gt;”"
            ),
            "{html}"
        );
        let unnamed = Asker { organisation: None };
        let html = form_page(&unnamed, &link("new"), None, None, Typed::default());
        assert!(
            html.contains(
                "SAP Concur to their integration; they call this connection “ACME &lt;Corp&gt;”"
            ),
            "{html}"
        );
        assert!(!html.contains("SAP Concur to “"), "{html}");
    }

    #[test]
    fn a_used_request_token_is_explained_next_to_its_field() {
        let used = Error::Concur(Box::new(DiagnosisView {
            code: "request_token_rejected".into(),
            message: "m".into(),
            next_step: "n".into(),
            field: Some("request_token".into()),
            transient: false,
            concur_code: None,
            correlation_id: None,
        }));
        let problem = Problem::of(&used);
        assert_eq!(problem.field.as_deref(), Some("request_token"));
        assert!(
            problem
                .message
                .contains("Generate a new one under Authentication Admin → Company Request Token")
        );
        let html = form_page(
            &Asker { organisation: None },
            &link("new"),
            None,
            Some(problem),
            Typed::default(),
        );
        assert!(html.contains("The team that sent you this link asks you"));
        assert!(html.contains("field-error"));
    }

    #[test]
    fn a_renewal_page_says_what_to_fix_and_asks_for_a_changed_secret() {
        let renewing = |secret: bool| Renewing {
            client: "••••9c1e".into(),
            company: "••••0a2b".into(),
            needs: Some(Needs {
                what: "The Client Secret was changed in SAP Concur.".into(),
                before_token: vec!["Note the current Client Secret.".into()],
                secret,
            }),
        };
        let asker = Asker {
            organisation: Some("Expense Bot Inc."),
        };
        let html = form_page(
            &asker,
            &link("renewal"),
            Some(renewing(true)),
            None,
            Typed::default(),
        );
        assert!(
            html.contains("The Client Secret was changed in SAP Concur. The steps below fix it."),
            "{html}"
        );
        assert!(
            html.contains("<li>Note the current Client Secret.</li>"),
            "{html}"
        );
        assert!(
            html.contains("the one the console holds no longer works"),
            "{html}"
        );
        assert!(!html.contains("Leave blank to keep"), "{html}");
        let plain = form_page(
            &asker,
            &link("renewal"),
            Some(Renewing {
                needs: None,
                ..renewing(false)
            }),
            None,
            Typed::default(),
        );
        assert!(
            plain.contains("It needs one new Company Request Token"),
            "{plain}"
        );
        assert!(plain.contains("Leave blank to keep"), "{plain}");
    }

    fn probe(name: &str, ok: Option<bool>, status: Option<u16>, detail: &str) -> ProbeLine {
        ProbeLine {
            name: name.into(),
            label: name.into(),
            ok,
            transient: false,
            status,
            detail: detail.into(),
            fix: Some("ask your Concur admin".into()),
            correlation_id: None,
            checked_at: 0,
        }
    }

    #[test]
    fn the_done_page_shows_what_the_integration_can_read_in_the_customers_words() {
        let asker = Asker {
            organisation: Some("Expense Bot Inc."),
        };
        let probes = [
            probe("identity_users", Some(true), None, "3 users"),
            probe(
                "expense_reports_v3",
                Some(false),
                Some(403),
                "Concur Expense is not enabled for this company.",
            ),
            probe(
                "expense.report.workflowstatus.write",
                None,
                None,
                "not probed: write-only",
            ),
        ];
        let html = done_page(&asker, &[], None, &probes);
        assert!(
            html.contains("What Expense Bot Inc. can read with it"),
            "{html}"
        );
        assert!(html.contains("✔ identity_users: 3 users"), "{html}");
        assert!(
            html.contains("✘ expense_reports_v3: Concur refused it (HTTP 403: Concur Expense is not enabled for this company.)"),
            "{html}"
        );
        assert!(
            html.contains("Enable Concur Expense for your company"),
            "{html}"
        );
        assert!(
            !html.contains("ask your Concur admin"),
            "the customer is the admin: {html}"
        );
        assert!(!html.contains("write-only"), "{html}");
        let none = done_page(&asker, &[], None, &[]);
        assert!(!none.contains("can read with it"), "{none}");
    }
}
