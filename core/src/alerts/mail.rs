//! The mail a customer's Concur admin gets when their connection needs them: who asks, which
//! connection, what happened in their words, the steps that fix it in order, and the link —
//! nothing secret, and nothing that reads like a password reset (the console's address is
//! written out, no sign-in is asked for).

use serde_json::json;

use crate::renewals::Reason;
use crate::state::AppState;
use crate::store::ConnectionRow;
use console_model::format_time;

/// Which reminder a mail is.
#[derive(Debug, Clone, Copy)]
pub struct Reminder {
    pub number: i64,
    pub of: i64,
    pub first_asked_at: i64,
}

/// A renewal request to a connection's contact.
pub struct Renewal<'a> {
    pub state: &'a AppState,
    pub connection: &'a ConnectionRow,
    pub reason: &'a Reason,
    pub url: &'a str,
    pub link_expires_at: i64,
    pub reminder: Option<Reminder>,
}

impl Renewal<'_> {
    fn asker(&self) -> String {
        self.state
            .org_name
            .clone()
            .unwrap_or_else(|| "The vendor of your SAP Concur integration".to_owned())
    }

    pub fn subject(&self) -> String {
        let ask = format!(
            "{}: the SAP Concur connection “{}” needs your action",
            self.asker(),
            self.connection.name
        );
        match self.reminder {
            Some(_) => format!("Reminder — {ask}"),
            None => ask,
        }
    }

    /// The steps, in order: the reason's, then the link.
    fn steps(&self) -> Vec<String> {
        let mut steps = self.reason.steps();
        steps.push(match self.reason {
            Reason::Secret => "Open the link below, paste the new Client Secret and the Company Request Token, and press Connect.".to_owned(),
            _ => "Open the link below, paste the Company Request Token, and press Connect.".to_owned(),
        });
        steps
    }

    pub fn text(&self) -> String {
        let asker = self.asker();
        let client = concur::mask(&self.connection.client_id);
        let steps = self
            .steps()
            .iter()
            .enumerate()
            .map(|(i, step)| format!("{}. {step}", i + 1))
            .collect::<Vec<_>>()
            .join("\n");
        let origin = url::Url::parse(self.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| self.state.public_url.clone());
        let reminder = self.reminder.map_or_else(String::new, |r| {
            format!(
                "\nWe first asked on {}; this is reminder {} of {}.\n",
                format_time(r.first_asked_at),
                r.number,
                r.of
            )
        });
        let greeting = self
            .connection
            .belonging
            .contact_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .map_or_else(|| "Hello,".to_owned(), |n| format!("Hello {n},"));
        format!(
            "{greeting}\n\n\
             {asker} connects to your company's SAP Concur through the app with Client ID {client}, a connection they call “{name}”. It needs you now.\n\n\
             What happened: {what}\n\n\
             What to do, in order:\n{steps}\n\n\
             {url}\n\n\
             The page is valid until {until} and can be used once. It belongs to {asker}'s Concur Console at {origin}; it checks what you paste with SAP Concur straight away. It never asks for your SAP Concur password or any sign-in.\n\
             {reminder}\n\
             If you are not the right person for this, please forward this message to your company's SAP Concur administrator.\n",
            name = self.connection.name,
            what = self.reason.what_happened(),
            url = self.url,
            until = format_time(self.link_expires_at),
        )
    }

    /// The outbox's body: the e-mail channel sends `subject` and `text`.
    pub fn body(&self, event_id: &str) -> serde_json::Value {
        json!({
            "event_id": event_id,
            "event": "renewal_request",
            "connection": { "id": self.connection.id, "name": self.connection.name },
            "reason": self.reason.key(),
            "reminder": self.reminder.map(|r| r.number),
            "subject": self.subject(),
            "text": self.text(),
        })
    }
}
