//! What every terminal command shares: a failure with the exit code it means, and the audit
//! row that records what the command did.

use console_core::Error;
use console_core::state::AppState;

use crate::validate::Exit;

/// Records what a terminal command did in the audit log.
pub async fn terminal(state: &AppState, kind: &str, connection_id: Option<&str>, detail: &str) {
    console_core::audit::record(
        state,
        console_core::audit::Event {
            actor: console_core::audit::Actor::Named("terminal"),
            address: None,
            kind,
            connection_id,
            outcome: "ok",
            detail,
        },
    )
    .await;
}

/// A failure of a terminal command: the message, and the exit code it means.
pub struct Failed(pub Exit, pub String);

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { field, message } => Failed(Exit::Usage, format!("{field}: {message}")),
            Error::Concur(d) => {
                let code = if d.transient {
                    Exit::Transient
                } else {
                    Exit::Refused
                };
                Failed(code, format!("{} Next step: {}", d.message, d.next_step))
            }
            Error::NotFound => Failed(Exit::Usage, e.to_string()),
            other => Failed(Exit::Refused, other.to_string()),
        }
    }
}
