//! The server functions' error: the core's [`Error`] carried to the browser, mapped once.
//!
//! Without JavaScript, Leptos carries a server function's error back in the redirect URL, so no
//! variant of [`Error`] ever holds user input or a secret.

use std::fmt;

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

pub use console_model::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppError(pub Error);

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self(Error::invalid(field, message))
    }
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl std::ops::Deref for AppError {
    type Target = Error;

    fn deref(&self) -> &Error {
        &self.0
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(_: ServerFnErrorErr) -> Self {
        Self(Error::BadRequest)
    }
}
