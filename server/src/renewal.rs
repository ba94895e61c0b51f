//! Renewal requests from a terminal (`concur-console renewal request|cancel|automatic ID`): the
//! same as the connection page's "Ask the customer now", "Stop asking" and "Ask this customer
//! on its own".

use std::io::Write;

use console_core::renewals::{self, Asked};
use console_core::state::AppState;

use crate::manage::Failed;

#[derive(Debug, clap::Subcommand)]
pub enum RenewalCommand {
    /// Ask the connection's contact by e-mail for a renewal now, or send the open request's
    /// mail again.
    Request {
        /// The connection's id.
        id: String,
    },
    /// Stop asking: the open request ends and no more reminders go out.
    Cancel {
        /// The connection's id.
        id: String,
    },
    /// Whether the console asks this connection's customer on its own.
    Automatic {
        /// The connection's id.
        id: String,
        /// `always`, `never`, or `default` (as CONCUR_RENEWAL_REQUESTS says).
        asks: String,
    },
}

pub async fn command(
    state: &AppState,
    command: &RenewalCommand,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let io = |e: std::io::Error| Failed(crate::validate::Exit::Refused, e.to_string());
    match command {
        RenewalCommand::Request { id } => {
            let said = match renewals::request(state, id, "terminal").await? {
                Asked::Sent => "asked the customer; the mail is on its way",
                Asked::Resent => "sent the open request again",
            };
            writeln!(out, "{said}").map_err(io)
        }
        RenewalCommand::Cancel { id } => {
            renewals::cancel(state, id, "terminal").await?;
            writeln!(out, "stopped asking the customer").map_err(io)
        }
        RenewalCommand::Automatic { id, asks } => {
            let automatic = renewals::asking_of(asks)?;
            let said = match automatic {
                Some(true) => "the console asks this customer on its own",
                Some(false) => "the console does not ask this customer on its own",
                None => "asking this customer follows the console's setting",
            };
            renewals::set_automatic(state, id, automatic, "terminal").await?;
            writeln!(out, "{said}").map_err(io)
        }
    }
}
