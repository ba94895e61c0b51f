//! Where alerts go, as the environment says: the thresholds and the channels. Plain data the
//! state carries; it uses nothing of the console.

/// Where alerts go. Built from the environment; the Settings page fills what it leaves out.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
    /// Days before expiry that warn, most distant first (`CONCUR_ALERT_DAYS`).
    pub thresholds: Vec<i64>,
    pub webhook: Option<Webhook>,
    pub email: Option<Email>,
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
    /// The channels deliveries go to.
    pub fn channels(&self) -> Vec<&'static str> {
        let mut channels = Vec::new();
        if self.webhook.is_some() {
            channels.push("webhook");
        }
        if self.email.is_some() {
            channels.push("email");
        }
        channels
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
