//! Connections: the credentials form, Validate, the dashboard and the connection page. The
//! pages use [`calls`], the server functions; nothing here uses a page.

pub mod belonging;
mod calls;
mod dashboard;
mod detail;
mod form;

pub use dashboard::DashboardPage;
pub use detail::ConnectionPage;
pub use form::{NewConnectionPage, ReplacePage};
