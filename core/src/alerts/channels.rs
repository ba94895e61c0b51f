//! The alert channels set on the Settings page (a webhook with its signing secret, an SMTP
//! server and addresses, routes): sealed in the settings table, merged with what the
//! environment sets ([`super::config`]), checked before they are saved; and the delivery
//! history.

use crate::Error;
use crate::state::{AppState, internal};
use crate::store;
use console_model::{AlertSettingsView, DeliveryView, RouteView};

pub use super::config::{AlertConfig, Email, Webhook, parse_thresholds};
use super::config::{Route, Target, parse_route, route_selector, route_target};

const WEBHOOK_URL: &str = "alert_webhook_url";
const WEBHOOK_SECRET: &str = "alert_webhook_secret";
const SMTP_URL: &str = "alert_smtp_url";
const EMAIL_FROM: &str = "alert_email_from";
const EMAIL_TO: &str = "alert_email_to";
/// The page's routes, one `SELECTOR => CHANNEL` per line, sealed (a webhook's URL may carry a
/// token).
const ROUTES: &str = "alert_routes";
/// Routes the page keeps at most.
const MAX_ROUTES: usize = 50;
const MIN_SECRET_CHARS: usize = 16;
const MAX_FIELD: usize = 2048;

async fn setting(state: &AppState, name: &str) -> Result<Option<String>, Error> {
    store::setting(&state.pool, name).await.map_err(internal)
}

async fn sealed_setting(state: &AppState, name: &str) -> Result<Option<String>, Error> {
    match setting(state, name).await? {
        Some(sealed) => Ok(Some(
            state
                .cipher
                .open("settings", name, &sealed)
                .map_err(internal)?
                .to_string(),
        )),
        None => Ok(None),
    }
}

/// The channels in use: each one from the environment when set there (the environment wins),
/// else from the Settings page.
pub async fn effective(state: &AppState) -> Result<AlertConfig, Error> {
    let mut config = state.alerts.clone();
    if config.webhook.is_none()
        && let (Some(url), Some(secret)) = (
            webhook_url(state).await?,
            sealed_setting(state, WEBHOOK_SECRET).await?,
        )
    {
        config.webhook = Some(Webhook { url, secret });
    }
    if config.email.is_none()
        && let (Some(smtp_url), Some(from), Some(to)) = (
            sealed_setting(state, SMTP_URL).await?,
            setting(state, EMAIL_FROM).await?,
            setting(state, EMAIL_TO).await?,
        )
    {
        config.email = Some(Email {
            smtp_url,
            from,
            to: to.split(',').map(|a| a.trim().to_owned()).collect(),
        });
    }
    let secret = config.webhook.as_ref().map(|w| w.secret.clone());
    for line in page_routes(state).await? {
        match parse_route(&line, secret.as_deref()) {
            Ok(route) => config.routes.push(route),
            Err(why) => tracing::warn!(%why, "an alert route of the Settings page is skipped"),
        }
    }
    Ok(config)
}

/// The routes set on the page, as written.
async fn page_routes(state: &AppState) -> Result<Vec<String>, Error> {
    Ok(sealed_setting(state, ROUTES)
        .await?
        .map(|stored| stored.lines().map(str::to_owned).collect())
        .unwrap_or_default())
}

async fn store_routes(state: &AppState, lines: &[String]) -> Result<(), Error> {
    let sealed =
        (!lines.is_empty()).then(|| state.cipher.seal("settings", ROUTES, &lines.join("\n")));
    store::set_setting(&state.pool, ROUTES, sealed.as_deref())
        .await
        .map_err(internal)
}

/// How a route is named on the page and in the audit log: `SELECTOR => CHANNEL`, the channel as
/// the delivery history names it.
fn route_words(route: &Route) -> String {
    format!("{} => {}", route.selector, route.target.channel())
}

/// Adds a route from the page: alerts of the connections `selector` matches go to `channel`
/// (`email:ADDRESS` or `webhook:URL`, signed with the webhook's secret). Returns its words.
pub async fn add_route(state: &AppState, selector: &str, channel: &str) -> Result<String, Error> {
    let selector = route_selector(&one_line("route_selector", selector)?)
        .map_err(|why| Error::invalid("route_selector", sentence(&why)))?;
    let channel = one_line("route_channel", channel)?;
    let config = effective(state).await?;
    let target = route_target(&channel, config.webhook.as_ref().map(|w| w.secret.as_str()))
        .map_err(|why| Error::invalid("route_channel", sentence(&why)))?;
    if let Target::Webhook(webhook) = &target {
        check_webhook_url(state, &webhook.url)
            .map_err(|why| Error::invalid("route_channel", why))?;
    }
    let route = Route { selector, target };
    let words = route_words(&route);
    let mut lines = page_routes(state).await?;
    if config.routes.iter().any(|r| route_words(r) == words) {
        return Err(Error::invalid(
            "route_channel",
            "This route is set already.",
        ));
    }
    if lines.len() >= MAX_ROUTES {
        return Err(Error::invalid(
            "route_channel",
            "The page keeps at most 50 routes; remove one first.",
        ));
    }
    lines.push(format!("{} => {}", route.selector, channel.trim()));
    store_routes(state, &lines).await?;
    Ok(words)
}

/// Removes the page's route named `words` (as [`settings_view`] lists it); false when none is.
pub async fn remove_route(state: &AppState, words: &str) -> Result<bool, Error> {
    let mut lines = page_routes(state).await?;
    let before = lines.len();
    // A route's words do not hang on the secret it is signed with.
    lines
        .retain(|line| parse_route(line, Some("")).is_ok_and(|route| route_words(&route) != words));
    if lines.len() == before {
        return Ok(false);
    }
    store_routes(state, &lines).await?;
    Ok(true)
}

/// A reason written for `CONCUR_ALERT_ROUTES`' message (`…: the channel is …`) as a sentence of
/// its own; one that already is (a selector's) stays as it is.
fn sentence(why: &str) -> String {
    let mut chars = why.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let stop = if why.ends_with('.') { "" } else { "." };
    format!("{}{}{stop}", first.to_uppercase(), chars.as_str())
}

/// What the Settings page shows: never a secret, only whether one is set.
pub async fn settings_view(state: &AppState) -> Result<AlertSettingsView, Error> {
    let config = effective(state).await?;
    Ok(AlertSettingsView {
        thresholds: state.alerts.thresholds.clone(),
        webhook_from_env: state.alerts.webhook.is_some(),
        webhook_host: config
            .webhook
            .as_ref()
            .and_then(|w| super::outbound::shown_host(&w.url)),
        webhook_secret_set: config.webhook.is_some(),
        email_from_env: state.alerts.email.is_some(),
        smtp_host: config.email.as_ref().and_then(|e| {
            url::Url::parse(&e.smtp_url).ok().and_then(|u| {
                u.host_str()
                    .map(|h| format!("{}://{h}:{}", u.scheme(), u.port().unwrap_or(25)))
            })
        }),
        email_from: config.email.as_ref().map(|e| e.from.clone()),
        email_to: config.email.as_ref().map(|e| e.to.join(", ")),
        routes: config
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| RouteView {
                selector: route.selector.to_string(),
                channel: route.target.channel(),
                from_env: i < state.alerts.routes.len(),
            })
            .collect(),
        deliveries: deliveries(state, None, 50).await?,
    })
}

fn one_line(field: &str, raw: &str) -> Result<String, Error> {
    let value = raw.trim();
    if value.len() > MAX_FIELD || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "Use one line of at most 2048 characters.",
        ));
    }
    Ok(value.to_owned())
}

fn email_address(field: &str, raw: &str) -> Result<String, Error> {
    let address = one_line(field, raw)?;
    let valid = address.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !address.contains(' ')
    });
    if valid {
        Ok(address)
    } else {
        Err(Error::invalid(
            field,
            "Give an e-mail address such as ops@example.com.",
        ))
    }
}

/// The Settings page's alert channels. A blank URL or secret keeps the stored one (neither is
/// ever shown back); `webhook_remove` removes the webhook; empty e-mail fields remove e-mail.
/// A channel set in the environment cannot be changed here.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ChannelForm {
    pub webhook_url: String,
    pub webhook_secret: String,
    pub webhook_remove: bool,
    pub smtp_url: String,
    pub email_from: String,
    pub email_to: String,
}

pub async fn save_settings(state: &AppState, form: &ChannelForm) -> Result<(), Error> {
    save_webhook(state, form).await?;
    let smtp = one_line("smtp_url", &form.smtp_url)?;
    let from = form.email_from.trim();
    let wants_email = !smtp.is_empty() || !from.is_empty() || !form.email_to.trim().is_empty();
    if wants_email {
        if state.alerts.email.is_some() {
            return Err(Error::invalid(
                "smtp_url",
                "E-mail is set in the environment (CONCUR_SMTP_URL); change it there.",
            ));
        }
        let stored = setting(state, SMTP_URL).await?.is_some();
        if smtp.is_empty() && !stored {
            return Err(Error::invalid(
                "smtp_url",
                "Give the SMTP server, e.g. smtp://user:password@mail.example.com:587?tls=required.",
            ));
        }
        if !smtp.is_empty() {
            super::outbound::check_smtp_url(&smtp)
                .map_err(|message| Error::invalid("smtp_url", message))?;
        }
        let from = email_address("email_from", from)?;
        let to = form
            .email_to
            .split(',')
            .map(|a| email_address("email_to", a))
            .collect::<Result<Vec<_>, _>>()?;
        if !smtp.is_empty() {
            let sealed = state.cipher.seal("settings", SMTP_URL, &smtp);
            store::set_setting(&state.pool, SMTP_URL, Some(&sealed))
                .await
                .map_err(internal)?;
        }
        store::set_setting(&state.pool, EMAIL_FROM, Some(&from))
            .await
            .map_err(internal)?;
        store::set_setting(&state.pool, EMAIL_TO, Some(&to.join(", ")))
            .await
            .map_err(internal)?;
    } else if state.alerts.email.is_none() {
        for name in [SMTP_URL, EMAIL_FROM, EMAIL_TO] {
            store::set_setting(&state.pool, name, None)
                .await
                .map_err(internal)?;
        }
    }
    Ok(())
}

/// The webhook part of [`save_settings`]: the URL is sealed like the secret, since it grants
/// posting rights to whoever holds it.
async fn save_webhook(state: &AppState, form: &ChannelForm) -> Result<(), Error> {
    let url = one_line("webhook_url", &form.webhook_url)?;
    let secret = one_line("webhook_secret", &form.webhook_secret)?;
    if !form.webhook_remove && url.is_empty() && secret.is_empty() {
        return Ok(());
    }
    if state.alerts.webhook.is_some() {
        return Err(Error::invalid(
            "webhook_url",
            "The webhook is set in the environment (CONCUR_ALERT_WEBHOOK_URL); change it there.",
        ));
    }
    if form.webhook_remove {
        for name in [WEBHOOK_URL, WEBHOOK_SECRET] {
            store::set_setting(&state.pool, name, None)
                .await
                .map_err(internal)?;
        }
        return Ok(());
    }
    let url = if url.is_empty() {
        webhook_url(state).await?.ok_or_else(|| {
            Error::invalid(
                "webhook_url",
                "Give the webhook URL, such as https://hooks.example.com/…",
            )
        })?
    } else {
        url
    };
    check_webhook_url(state, &url).map_err(|why| Error::invalid("webhook_url", why))?;
    let stored = setting(state, WEBHOOK_SECRET).await?.is_some();
    if secret.is_empty() && !stored {
        return Err(Error::invalid(
            "webhook_secret",
            "Give a shared secret (at least 16 characters) the receiver verifies signatures with.",
        ));
    }
    if !secret.is_empty() && secret.chars().count() < MIN_SECRET_CHARS {
        return Err(Error::invalid(
            "webhook_secret",
            "The secret must be at least 16 characters.",
        ));
    }
    let sealed = state.cipher.seal("settings", WEBHOOK_URL, &url);
    store::set_setting(&state.pool, WEBHOOK_URL, Some(&sealed))
        .await
        .map_err(internal)?;
    if !secret.is_empty() {
        let sealed = state.cipher.seal("settings", WEBHOOK_SECRET, &secret);
        store::set_setting(&state.pool, WEBHOOK_SECRET, Some(&sealed))
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// Why the console will not post alerts to `url`, if it will not.
fn check_webhook_url(state: &AppState, url: &str) -> Result<(), &'static str> {
    let parsed =
        url::Url::parse(url).map_err(|_| "Give a full URL such as https://hooks.example.com/…")?;
    if parsed
        .host_str()
        .is_some_and(super::outbound::forbidden_host)
    {
        return Err("The webhook must not name a link-local or cloud metadata address.");
    }
    if parsed.scheme() != "https" && !state.concur.policy().permits(&parsed) {
        return Err(
            "The webhook must be https (an operator can allow other origins with CONCUR_ALLOWED_HOSTS).",
        );
    }
    Ok(())
}

/// The webhook URL set on the Settings page. One stored in clear by an earlier version is
/// sealed in place the first time it is read.
async fn webhook_url(state: &AppState) -> Result<Option<String>, Error> {
    let Some(stored) = setting(state, WEBHOOK_URL).await? else {
        return Ok(None);
    };
    if let Ok(url) = state.cipher.open("settings", WEBHOOK_URL, &stored) {
        return Ok(Some(url.to_string()));
    }
    if url::Url::parse(&stored).is_err() {
        return Err(internal("the stored webhook URL neither opens nor parses"));
    }
    let sealed = state.cipher.seal("settings", WEBHOOK_URL, &stored);
    store::set_setting(&state.pool, WEBHOOK_URL, Some(&sealed))
        .await
        .map_err(internal)?;
    Ok(Some(stored))
}

/// The delivery history, newest first; one connection's when given.
pub async fn deliveries(
    state: &AppState,
    connection_id: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryView>, Error> {
    Ok(store::deliveries(&state.pool, connection_id, limit)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|d| DeliveryView {
            created_at: d.created_at,
            event: d.event,
            channel: d.channel,
            state: d.state,
            attempts: d.attempts,
            last_error: d.last_error,
            sent_at: d.sent_at,
        })
        .collect())
}
