//! `concur-console validate`: one set of credentials checked without the web UI.
//! Secrets come from the environment only, never from argv (argv is visible to every user).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use concur::Clock as _;
use concur::{
    Authorization, AuthorizationUrl, Checked, ClientConfig, ClientId, ClientSecret, CompanyUuid,
    ConcurClient, Credentials, Diagnosis, Finding, HostPolicy, InputError, ProbeReport,
    RefreshToken, RequestToken, ScopeProfile, SystemClock,
};
use console_core::connections::probes;

use crate::management::ProbeView;
use serde_json::json;

/// The process exit codes scripts rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Valid = 0,
    Refused = 1,
    Usage = 2,
    Transient = 3,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The data centre base URL, e.g. https://us2.api.concursolutions.com (the token URL works too).
    #[arg(long)]
    pub authorization_url: String,
    /// The app's Client ID (a UUID).
    #[arg(long)]
    pub client_id: String,
    /// The scopes the integration needs.
    #[arg(long, value_parser = ["expense-approvals", "mileage-to-expense"], conflicts_with = "required_scopes")]
    pub scope_profile: Option<String>,
    /// A custom list of required scopes, space-separated.
    #[arg(long)]
    pub required_scopes: Option<String>,
    /// Print one JSON object instead of sentences.
    #[arg(long)]
    pub json: bool,
    /// Write a new refresh token to this file (mode 0600) instead of printing it to stderr.
    #[arg(long, value_name = "FILE")]
    pub write_refresh_token: Option<PathBuf>,
}

/// The secrets, read from `CONCUR_CLIENT_SECRET`, `CONCUR_REFRESH_TOKEN`,
/// `CONCUR_COMPANY_UUID` and `CONCUR_REQUEST_TOKEN`.
#[derive(Default)]
pub struct Secrets {
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub company_uuid: Option<String>,
    pub request_token: Option<String>,
}

impl Secrets {
    pub fn from_env() -> Self {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        Self {
            client_secret: var("CONCUR_CLIENT_SECRET"),
            refresh_token: var("CONCUR_REFRESH_TOKEN"),
            company_uuid: var("CONCUR_COMPANY_UUID"),
            request_token: var("CONCUR_REQUEST_TOKEN"),
        }
    }
}

struct Parsed {
    base: AuthorizationUrl,
    credentials: Credentials,
    authorization: Authorization,
    profile: ScopeProfile,
}

fn parse(args: &ValidateArgs, secrets: &Secrets, policy: &HostPolicy) -> Result<Parsed, String> {
    let field = |e: InputError| e.message;
    let base = AuthorizationUrl::parse(&args.authorization_url).map_err(field)?;
    policy.check(&base).map_err(field)?;
    let client_secret = secrets
        .client_secret
        .as_deref()
        .ok_or("Set CONCUR_CLIENT_SECRET in the environment (secrets are never taken from the command line).")?;
    let credentials = Credentials {
        client_id: ClientId::parse(&args.client_id).map_err(field)?,
        client_secret: ClientSecret::parse(client_secret).map_err(field)?,
    };
    let authorization = match (&secrets.refresh_token, &secrets.company_uuid, &secrets.request_token) {
        (Some(token), None, None) => Authorization::RefreshToken(RefreshToken::parse(token).map_err(field)?),
        (None, Some(company), Some(token)) => Authorization::RequestToken {
            company: CompanyUuid::parse(company).map_err(field)?,
            token: RequestToken::parse(token).map_err(field)?,
        },
        _ => return Err("Set either CONCUR_REFRESH_TOKEN, or CONCUR_COMPANY_UUID and CONCUR_REQUEST_TOKEN (not both).".into()),
    };
    let profile = match (&args.scope_profile, &args.required_scopes) {
        (_, Some(list)) => ScopeProfile::custom(list).map_err(field)?,
        (Some(key), None) => ScopeProfile::parse(key, "").map_err(field)?,
        (None, None) => ScopeProfile::Custom(Vec::new()),
    };
    Ok(Parsed {
        base,
        credentials,
        authorization,
        profile,
    })
}

/// An optional Unix time as an RFC 3339 JSON string, or `null`.
pub fn rfc3339(t: Option<i64>) -> serde_json::Value {
    t.and_then(console_core::rfc3339)
        .map_or(serde_json::Value::Null, serde_json::Value::String)
}

fn report(
    checked: Option<&Checked>,
    diagnosis: Option<&Diagnosis>,
    probes: &[ProbeReport],
    checked_at: i64,
) -> serde_json::Value {
    let grant = checked.map(|c| &c.grant);
    let degraded = diagnosis.is_none()
        && probes
            .iter()
            .any(|p| matches!(&p.finding, Finding::Fails(f) if !f.transient));
    let message = match diagnosis {
        Some(d) => d.message(),
        None if degraded => {
            "The credentials work, but some of the integration's calls fail (below).".to_owned()
        }
        None => "The credentials work.".to_owned(),
    };
    json!({
        "degraded": degraded,
        "probes": probes
            .iter()
            .map(|p| ProbeView::from(&probes::report_line(p, checked_at)))
            .collect::<Vec<_>>(),
        "ok": diagnosis.is_none(),
        "diagnosis": diagnosis.map(Diagnosis::code),
        "message": message,
        "next_step": diagnosis.map(Diagnosis::next_step),
        "transient": diagnosis.is_some_and(Diagnosis::is_transient),
        "geolocation": grant.map(|g| g.geolocation.to_string()),
        "company_uuid": grant.and_then(|g| g.company_uuid.as_ref()).map(ToString::to_string),
        "refresh_token_expires_at": rfc3339(grant.and_then(|g| g.refresh_expires_at)),
        "access_token_expires_at": rfc3339(grant.and_then(|g| g.access_expires_at)),
        "scopes_granted": grant.map(|g| g.scopes.clone()).unwrap_or_default(),
        "scopes_missing": checked.map(|c| c.scopes.missing.clone()).unwrap_or_default(),
        "concur_code": diagnosis.and_then(|d| d.reply.code),
        "correlation_id": diagnosis.and_then(|d| d.reply.correlation_id.clone())
            .or_else(|| grant.and_then(|g| g.correlation_id.clone())),
    })
}

fn print_sentences(out: &mut dyn Write, r: &serde_json::Value) -> std::io::Result<()> {
    let ok = r["ok"].as_bool().unwrap_or(false);
    writeln!(
        out,
        "{} {}",
        if ok { "✔" } else { "✘" },
        r["message"].as_str().unwrap_or("")
    )?;
    if let Some(step) = r["next_step"].as_str() {
        writeln!(out, "  Next step: {step}")?;
    }
    let lines = [
        ("Data centre", "geolocation"),
        ("Company UUID", "company_uuid"),
        ("Refresh token expires", "refresh_token_expires_at"),
        ("Access token expires", "access_token_expires_at"),
        ("Concur code", "concur_code"),
        ("Correlation id", "correlation_id"),
    ];
    for (label, key) in lines {
        match &r[key] {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => writeln!(out, "  {label}: {s}")?,
            other => writeln!(out, "  {label}: {other}")?,
        }
    }
    if ok && r["refresh_token_expires_at"].is_null() && !r["geolocation"].is_null() {
        writeln!(out, "  Refresh token expires: unknown (Concur did not say)")?;
    }
    if let Some(missing) = r["scopes_missing"].as_array().filter(|m| !m.is_empty()) {
        let names: Vec<&str> = missing.iter().filter_map(|s| s.as_str()).collect();
        writeln!(out, "  Missing scopes: {}", names.join(" "))?;
    }
    let probes = r["probes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !probes.is_empty() {
        writeln!(out, "What the integration can do:")?;
    }
    for probe in probes {
        let mark = match probe["ok"].as_bool() {
            Some(true) => "✔",
            Some(false) => "✘",
            None => "–",
        };
        let name = probe["probe"].as_str().unwrap_or("");
        let detail = probe["detail"].as_str().unwrap_or("");
        match probe["status"].as_u64() {
            Some(status) => writeln!(out, "  {mark} {name}: HTTP {status}: {detail}")?,
            None => writeln!(out, "  {mark} {name}: {detail}")?,
        }
        if let Some(fix) = probe["fix"].as_str() {
            writeln!(out, "      Fix: {fix}")?;
        }
    }
    Ok(())
}

/// Keeps a refresh token Concur just issued: without this it would be lost.
fn keep_new_token(
    token: &RefreshToken,
    file: Option<&Path>,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    if let Some(path) = file {
        crate::files::write_private(path, token.expose())?;
        writeln!(
            err,
            "Concur issued a new refresh token; it was written to {}. Store it: the old one may no longer work.",
            path.display()
        )
    } else {
        writeln!(
            err,
            "WARNING: Concur issued a new refresh token. Store it now, it is shown only once and the old one may no longer work:\n{}",
            token.expose()
        )
    }
}

/// Runs the command and returns its exit code; output goes to `out`, warnings to `err`.
pub async fn run(
    args: &ValidateArgs,
    secrets: &Secrets,
    policy: HostPolicy,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Exit> {
    let parsed = match parse(args, secrets, &policy) {
        Ok(parsed) => parsed,
        Err(message) => {
            writeln!(err, "error: {message}")?;
            return Ok(Exit::Usage);
        }
    };
    let client = ConcurClient::new(policy, &ClientConfig::default(), Arc::new(SystemClock))
        .map_err(std::io::Error::other)?;
    let result = client
        .validate(
            &parsed.base,
            &parsed.credentials,
            &parsed.authorization,
            &parsed.profile,
        )
        .await;
    let (checked, diagnosis) = match &result {
        Ok(checked) => (Some(checked), checked.diagnosis()),
        Err(d) => (None, Some(d.clone())),
    };
    let new_token = checked
        .map(|c| &c.grant)
        .filter(|g| g.rotated)
        .and_then(|g| g.refresh_token.as_ref());
    if let Some(token) = new_token {
        keep_new_token(token, args.write_refresh_token.as_deref(), err)?;
    }
    let probes = match checked {
        Some(c) => {
            client
                .probe(
                    &c.grant.geolocation,
                    &c.grant.access_token,
                    &parsed.profile.required(),
                    &c.grant.scopes,
                )
                .await
        }
        None => Vec::new(),
    };
    let r = report(checked, diagnosis.as_ref(), &probes, SystemClock.now());
    if args.json {
        writeln!(out, "{r}")?;
    } else {
        print_sentences(out, &r)?;
    }
    let failed = probes.iter().filter_map(|p| match &p.finding {
        Finding::Fails(f) => Some(f.transient),
        _ => None,
    });
    let (lost, waiting) = failed.fold((false, false), |(lost, waiting), transient| {
        (lost || !transient, waiting || transient)
    });
    Ok(match diagnosis {
        Some(d) if d.is_transient() => Exit::Transient,
        Some(_) => Exit::Refused,
        None if lost => Exit::Refused,
        None if waiting => Exit::Transient,
        None => Exit::Valid,
    })
}
