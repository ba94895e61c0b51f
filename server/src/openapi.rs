//! The OpenAPI 3.1 description of the integrations' API, served at `/api/openapi.json`. It is
//! generated from the handlers' `#[utoipa::path]` attributes and the answers' types, through the
//! same route lists the router serves: a route cannot be served and left undescribed.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Concur Console API",
        description = "Integrations get SAP Concur access tokens from Concur Console, which is the only holder of each company's refresh token. A connection's key opens one connection, a fleet key the connections its tags select; hand-off keys make links through which a customer's Concur admin connects; management keys list, find and change connections."
    ),
    modifiers(&KeyKinds),
    tags(
        (name = "tokens", description = "Access tokens for integrations."),
        (name = "connections", description = "The management API: find, read and change connections."),
        (name = "handoffs", description = "Links through which a customer's Concur admin connects or renews.")
    )
)]
struct Described;

/// The four kinds of API key, each a bearer token.
struct KeyKinds;

impl Modify for KeyKinds {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                "apiKey",
                "An API key made on the connection's page or with `concur-console api-key create --connection ID`: it opens that connection's token.",
            ),
            (
                "fleetKey",
                "A fleet key (`ccf_…`) made on the API keys page or with `concur-console api-key create --fleet [--selector env=prod]`: it opens the token of every connection whose tags match its selector at the time of the call.",
            ),
            (
                "handoffKey",
                "A hand-off key (`cch_…`) made with `concur-console api-key create --handoffs`: it creates hand-off links and reads back the ones it made, nothing else.",
            ),
            (
                "manageKey",
                "A management key (`ccm_…`) made with `concur-console api-key create --manage [--read-only]`: it reads (and, unless read-only, changes) every connection and hand-off link; it opens no token.",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(description))
                        .build(),
                ),
            );
        }
    }
}

/// The whole document: every route of the token, management and hand-off APIs.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Described::openapi();
    doc.merge(crate::api::described());
    doc.merge(crate::management::described());
    doc.merge(crate::handoff::described());
    doc
}
