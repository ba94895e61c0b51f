//! What went wrong, in the words the user sees: the core's error, carried to the browser by the
//! UI's server functions and to API clients as a status code.
//!
//! Without JavaScript, Leptos carries a server function's error back in the redirect URL, so no
//! variant ever holds user input or a secret.

use serde::{Deserialize, Serialize};

use crate::{DiagnosisView, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Error {
    #[error("Please sign in.")]
    Unauthorized,
    /// A form value broke a rule; `field` is the form field's key.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// Concur said no, or could not be asked.
    #[error("{}", .0.message)]
    Concur(Box<DiagnosisView>),
    /// Signed in, but the account's role is below the one this needs.
    #[error("This needs the {0} role; ask an admin of this console if you should have it.")]
    Forbidden(Role),
    #[error("That connection does not exist (it may have been deleted).")]
    NotFound,
    #[error("Wrong user name or password.")]
    BadLogin,
    #[error("Password sign-in is turned off here; use single sign-on.")]
    PasswordSignInOff,
    #[error(
        "Password sign-in is turned off here (CONCUR_LOCAL_LOGIN=off), so no password account is made: people join by signing in through single sign-on, where the identity provider's groups give their role."
    )]
    PasswordAccountsOff,
    #[error("Too many wrong passwords; wait {0} seconds and try again.")]
    TooManyAttempts(u64),
    #[error("The server is busy checking other sign-ins; try again in a moment.")]
    Busy,
    #[error(
        "This setup link is invalid or has expired; restart the server for a new one, or use `concur-console create-admin`."
    )]
    SetupClosed,
    #[error("This link has already been used; ask whoever sent it for a new one.")]
    LinkUsed,
    #[error(
        "This invitation does not work any more (used, revoked or past its 72 hours); ask an admin of the console for a new one."
    )]
    InvitationClosed,
    #[error("Something went wrong on the server. It has been logged; try again.")]
    Internal,
    /// The database failed a moment ago and has not been seen back since.
    #[error("The console cannot use its database right now; try again in a few seconds.")]
    DatabaseUnavailable,
    /// A request the server could not read (a malformed form or body). The reader's own words
    /// would echo the sender's text, so the message is fixed.
    #[error("The request could not be read; reload the page and try again.")]
    BadRequest,
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The HTTP status a fetch-style call answers with: 4xx for what the caller can fix, 429
    /// and 503 when waiting helps, 500 only for bugs.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized | Self::BadLogin => 401,
            Self::SetupClosed
            | Self::Forbidden(_)
            | Self::PasswordSignInOff
            | Self::PasswordAccountsOff => 403,
            Self::NotFound => 404,
            Self::LinkUsed | Self::InvitationClosed => 410,
            Self::Invalid { .. } => 422,
            Self::Concur(d) if d.transient => 503,
            Self::Concur(_) => 422,
            Self::TooManyAttempts(_) | Self::Busy => 429,
            Self::DatabaseUnavailable => 503,
            Self::BadRequest => 400,
            Self::Internal => 500,
        }
    }

    /// Seconds to wait before trying again, when waiting is the answer.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts(seconds) => Some(*seconds),
            Self::Busy => Some(1),
            Self::DatabaseUnavailable => Some(5),
            Self::Concur(d) if d.transient => Some(60),
            _ => None,
        }
    }

    /// The form field this error belongs next to, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::Concur(d) => d.field.as_deref(),
            _ => None,
        }
    }
}
