//! What every terminal command shares: a failure with the exit code it means, and the audit
//! row that records what the command did.

use app::error::AppError;
use app::ssr::state::AppState;

use crate::validate::Exit;

/// Records what a terminal command did in the audit log.
pub async fn terminal(state: &AppState, kind: &str, connection_id: Option<&str>, detail: &str) {
    app::audit::ssr::record(
        state,
        app::audit::ssr::Event {
            actor: app::audit::ssr::Actor::Named("terminal"),
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

impl From<AppError> for Failed {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid { field, message } => {
                Failed(Exit::Usage, format!("{field}: {message}"))
            }
            AppError::Concur(d) => {
                let code = if d.transient {
                    Exit::Transient
                } else {
                    Exit::Refused
                };
                Failed(code, format!("{} Next step: {}", d.message, d.next_step))
            }
            AppError::NotFound => Failed(Exit::Usage, e.to_string()),
            other => Failed(Exit::Refused, other.to_string()),
        }
    }
}
