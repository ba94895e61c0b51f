//! Where alerts go, as the environment says: the thresholds, the channels, and the routes that
//! send the alerts of the connections a selector matches to channels of their own. Plain data
//! the state carries.

use crate::connections::metadata::{Selector, Tags, is_email};

/// Where alerts go. Built from the environment; the Settings page fills what it leaves out.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
    /// Days before expiry that warn, most distant first (`CONCUR_ALERT_DAYS`).
    pub thresholds: Vec<i64>,
    pub webhook: Option<Webhook>,
    pub email: Option<Email>,
    /// `CONCUR_ALERT_ROUTES`, in order.
    pub routes: Vec<Route>,
}

/// Where the alerts of the connections `selector` matches go instead of the default channels.
#[derive(Debug, Clone)]
pub struct Route {
    pub selector: Selector,
    pub target: Target,
}

/// A route's channel: a webhook, signed like the default one, or an address mailed through the
/// console's SMTP server.
#[derive(Debug, Clone)]
pub enum Target {
    Webhook(Webhook),
    Email(String),
}

impl Target {
    /// The channel's name in the outbox and the delivery history: `email:ADDRESS`, or
    /// `webhook:HOST#DIGEST` (a webhook's URL may carry a token, so only its host and a digest
    /// of the whole URL are written down).
    pub fn channel(&self) -> String {
        match self {
            Self::Email(address) => format!("email:{address}"),
            Self::Webhook(webhook) => format!(
                "webhook:{}#{}",
                super::outbound::shown_host(&webhook.url).unwrap_or_default(),
                &crate::auth::token_hash(&webhook.url)[..8]
            ),
        }
    }
}

#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Email {
    /// `smtp://user:pass@host:587?tls=required`, `smtps://…`; holds a password.
    pub smtp_url: String,
    pub from: String,
    pub to: Vec<String>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl AlertConfig {
    /// The default channels deliveries go to.
    pub fn channels(&self) -> Vec<String> {
        let mut channels = Vec::new();
        if self.webhook.is_some() {
            channels.push("webhook".to_owned());
        }
        if self.email.is_some() {
            channels.push("email".to_owned());
        }
        channels
    }

    /// The channels an alert about a connection with `tags` goes to: those of every route
    /// whose selector matches, or the default channels when none does; and `owner`'s address
    /// (its owner's, who asked for them) when the console can send e-mail.
    pub fn channels_for(&self, tags: &Tags, owner: Option<&str>) -> Vec<String> {
        let routed = with_routes(
            Vec::new(),
            self.routes.iter().filter(|r| r.selector.matches(tags)),
        );
        let mut channels = if routed.is_empty() {
            self.channels()
        } else {
            routed
        };
        if let Some(address) = owner.filter(|_| self.email.is_some()) {
            let channel = Target::Email(address.to_owned()).channel();
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        channels
    }

    /// Every channel: the default ones and every route's (the Settings page's "Send test").
    pub fn every_channel(&self) -> Vec<String> {
        with_routes(self.channels(), self.routes.iter())
    }

    /// The route whose channel is `channel`, if one still is.
    pub fn route(&self, channel: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.target.channel() == channel)
    }
}

/// `channels` and the channels of `routes`, each once.
fn with_routes<'r>(
    mut channels: Vec<String>,
    routes: impl Iterator<Item = &'r Route>,
) -> Vec<String> {
    for channel in routes.map(|route| route.target.channel()) {
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    channels
}

/// Reads `CONCUR_ALERT_ROUTES`: `SELECTOR => CHANNEL` separated by `;`, a channel being
/// `webhook:URL` (signed with `secret`, `CONCUR_ALERT_WEBHOOK_SECRET`) or `email:ADDRESS`.
pub fn parse_routes(raw: &str, secret: Option<&str>) -> Result<Vec<Route>, String> {
    raw.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            parse_route(part, secret).map_err(|why| format!("CONCUR_ALERT_ROUTES: {part:?}: {why}"))
        })
        .collect()
}

/// One route written `SELECTOR => CHANNEL`.
pub fn parse_route(part: &str, secret: Option<&str>) -> Result<Route, String> {
    let (selector, channel) = part.split_once("=>").ok_or(
        "write each route as SELECTOR => CHANNEL, such as env=prod => email:ops@vendor.example",
    )?;
    Ok(Route {
        selector: route_selector(selector)?,
        target: route_target(channel, secret)?,
    })
}

/// A route's selector: at least one pair (the default channels take the rest).
pub fn route_selector(raw: &str) -> Result<Selector, String> {
    let selector = Selector::parse(raw.trim()).map_err(|e| e.to_string())?;
    if selector.pairs().is_empty() {
        return Err(
            "a route needs a selector such as env=prod (the default channels take the rest)"
                .to_owned(),
        );
    }
    Ok(selector)
}

/// A route's channel, `webhook:URL` (signed with `secret`) or `email:ADDRESS`.
pub fn route_target(raw: &str, secret: Option<&str>) -> Result<Target, String> {
    match raw.trim().split_once(':') {
        Some(("email", address)) if is_email(address.trim()) => {
            Ok(Target::Email(address.trim().to_owned()))
        }
        Some(("email", _)) => Err("the e-mail address is not one".to_owned()),
        Some(("webhook", url)) => {
            let url = url.trim();
            let parsed = url::Url::parse(url).map_err(|_| "the webhook is not a URL")?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err("a webhook is an http(s) URL".to_owned());
            }
            let secret = secret.ok_or(
                "a webhook route is signed with the webhook's signing secret (CONCUR_ALERT_WEBHOOK_SECRET or the Settings page); set it",
            )?;
            Ok(Target::Webhook(Webhook {
                url: url.to_owned(),
                secret: secret.to_owned(),
            }))
        }
        _ => Err("the channel is webhook:URL or email:ADDRESS".to_owned()),
    }
}

/// Reads `30,14,7,3,1`: whole days, each at least 1, most distant first.
pub fn parse_thresholds(raw: &str) -> Result<Vec<i64>, String> {
    let mut days = raw
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<i64>()
                .ok()
                .filter(|n| (1..=365).contains(n))
                .ok_or_else(|| {
                    format!("CONCUR_ALERT_DAYS: {d:?} is not a number of days from 1 to 365")
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_goes_to_each_matching_route_once_else_to_the_defaults() {
        let routes = parse_routes(
            "env=prod => email:prod@vendor.example; env=prod,region=emea => email:prod@vendor.example; region=emea => email:emea@vendor.example",
            None,
        )
        .expect("routes");
        let config = AlertConfig {
            webhook: Some(Webhook {
                url: "https://hooks.example/all".into(),
                secret: "s".into(),
            }),
            routes,
            ..AlertConfig::default()
        };
        let tags = |pairs: &[(&str, &str)]| {
            Tags::stored(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
        };
        assert_eq!(
            config.channels_for(&tags(&[("env", "prod"), ("region", "emea")]), None),
            ["email:prod@vendor.example", "email:emea@vendor.example"]
        );
        assert_eq!(
            config.channels_for(&tags(&[("env", "prod")]), None),
            ["email:prod@vendor.example"]
        );
        assert_eq!(
            config.channels_for(&tags(&[("env", "dev")]), None),
            ["webhook"]
        );
        // An owner's address is added only where the console can send e-mail, and once.
        assert_eq!(
            config.channels_for(&tags(&[("env", "dev")]), Some("jo@vendor.example")),
            ["webhook"]
        );
        let mailing = AlertConfig {
            email: Some(Email {
                smtp_url: "smtp://mail.vendor.example".into(),
                from: "console@vendor.example".into(),
                to: vec!["ops@vendor.example".into()],
            }),
            ..config.clone()
        };
        assert_eq!(
            mailing.channels_for(&tags(&[("env", "dev")]), Some("jo@vendor.example")),
            ["webhook", "email", "email:jo@vendor.example"]
        );
        assert_eq!(
            mailing.channels_for(&tags(&[("env", "prod")]), Some("prod@vendor.example")),
            ["email:prod@vendor.example"]
        );
        assert_eq!(
            config.every_channel(),
            [
                "webhook",
                "email:prod@vendor.example",
                "email:emea@vendor.example"
            ]
        );
    }
}
