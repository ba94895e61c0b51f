//! The OpenAPI 3 description of the integrations' API, served at `/api/openapi.json`.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// A token route: the connection named by its path parameter `(name, description)`; the same
/// answers whichever way it is named.
fn token_route(
    operation: &str,
    summary: &str,
    description: &str,
    (name, named): (&str, &str),
    limited: &Value,
    unavailable: &Value,
) -> Value {
    json!({
        "get": {
            "operationId": operation,
            "summary": summary,
            "description": description,
            "security": [{ "apiKey": [] }, { "fleetKey": [] }],
            "parameters": [{
                "name": name, "in": "path", "required": true,
                "description": named,
                "schema": { "type": "string" }
            }],
            "responses": {
                "200": {
                    "description": "A usable access token.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AccessToken" } } }
                },
                "401": error_response("No API key, or an unknown or revoked one."),
                "404": error_response(&format!("This key opens no connection with that {}.", name.replace('_', " "))),
                "409": error_response("The connection needs a human; the message names the problem and the next step."),
                "403": error_response("A hand-off key: it opens no connection's token."),
                "429": limited,
                "503": unavailable
            }
        }
    })
}

pub fn document() -> Value {
    let retry_after = json!({
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": { "type": "integer", "minimum": 1 }
        }
    });
    let mut unavailable = error_response(
        "Concur cannot be reached and no cached access token is still valid, the database is unavailable, or no answer came within 4 seconds (`error`: concur_unavailable, database_unavailable, timeout).",
    );
    unavailable["headers"] = retry_after.clone();
    let mut limited = error_response("Over this API key's request limit.");
    limited["headers"] = retry_after;
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Concur Console API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Integrations get SAP Concur access tokens from Concur Console, which is the only holder of each company's refresh token. Each API key opens one connection; hand-off keys make links through which a customer's Concur admin connects."
        },
        "paths": {
            "/api/v1/connections/{id}/token": token_route(
                "getAccessToken",
                "An access token for one connection",
                "Returns the cached access token while more than five minutes remain; otherwise Concur Console refreshes once for all concurrent callers.",
                ("id", "The connection's id, as its page and `concur-console connections list` show it."),
                &limited,
                &unavailable,
            ),
            "/api/v1/connections/by-external-id/{external_id}/token": token_route(
                "getAccessTokenByExternalId",
                "An access token for the connection with your own id for the customer",
                "The same answers as by id, for the connection whose external id (your tenant id for the customer) this is.",
                ("external_id", "Your own id for the customer, as set with `connections add --external-id`, `connections set` or the connection's page."),
                &limited,
                &unavailable,
            ),
            "/api/v1/handoffs": {
                "post": {
                    "operationId": "createHandoffLink",
                    "summary": "A hand-off link for a customer's Concur admin",
                    "description": "The customer opens the URL, follows the Concur steps for the profile and presses Connect; the console stores the connection. With `connection_id`, a renewal link that asks only for a new Company Request Token.",
                    "security": [{ "handoffKey": [] }],
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NewHandoff" } } }
                    },
                    "responses": {
                        "201": {
                            "description": "The link, to send to the customer (it works once).",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreatedHandoff" } } }
                        },
                        "400": error_response("The body is not the JSON described."),
                        "401": error_response("No API key, or an unknown or revoked one."),
                        "403": error_response("A connection's API key: it cannot manage hand-off links."),
                        "404": error_response("No connection has that `connection_id`."),
                        "422": error_response("A value breaks a rule; the message says which.")
                    }
                }
            },
            "/api/v1/handoffs/{id}": {
                "get": {
                    "operationId": "getHandoffLink",
                    "summary": "Where a hand-off link this key made stands",
                    "security": [{ "handoffKey": [] }],
                    "parameters": [{
                        "name": "id", "in": "path", "required": true,
                        "description": "The link's id, as creating it answered.",
                        "schema": { "type": "string" }
                    }],
                    "responses": {
                        "200": {
                            "description": "The link's state; `connection_id` once completed.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Handoff" } } }
                        },
                        "401": error_response("No API key, or an unknown or revoked one."),
                        "403": error_response("A connection's API key: it cannot read hand-off links."),
                        "404": error_response("No hand-off link that this key made has that id.")
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "description": "An API key made on the connection's page or with `concur-console api-key create`." },
                "fleetKey": { "type": "http", "scheme": "bearer", "description": "A fleet key (`ccf_…`) made with `concur-console api-key create --fleet [--selector env=prod]`: it opens the token of every connection whose tags match its selector at the time of the call." },
                "handoffKey": { "type": "http", "scheme": "bearer", "description": "A hand-off key (`cch_…`) made with `concur-console api-key create --handoffs`: it creates hand-off links and reads back the ones it made, nothing else." }
            },
            "schemas": {
                "AccessToken": {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_at", "geolocation"],
                    "properties": {
                        "access_token": { "type": "string", "description": "Send it to Concur as `Authorization: Bearer …`." },
                        "token_type": { "type": "string", "enum": ["Bearer"] },
                        "expires_at": { "type": "string", "format": "date-time", "description": "When the access token expires (UTC)." },
                        "geolocation": { "type": "string", "format": "uri", "description": "The base URL of the company's data centre: call Concur's APIs there." }
                    }
                },
                "NewHandoff": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "maxLength": 100, "description": "What the link is for (not needed for a renewal link)." },
                        "profile": { "type": "string", "description": "`expense-approvals`, `mileage-to-expense`, or a custom scope list separated by spaces." },
                        "valid_days": { "type": "integer", "minimum": 1, "maximum": 30, "default": 7 },
                        "note": { "type": "string", "maxLength": 500, "description": "Shown to the customer." },
                        "connection_id": { "type": "string", "description": "Make a renewal link for this connection." }
                    }
                },
                "CreatedHandoff": {
                    "type": "object",
                    "required": ["id", "url", "expires_at"],
                    "properties": {
                        "id": { "type": "string" },
                        "url": { "type": "string", "format": "uri" },
                        "expires_at": { "type": "string", "format": "date-time" }
                    }
                },
                "Handoff": {
                    "type": "object",
                    "required": ["id", "name", "profile", "renewal", "state", "created_at", "expires_at"],
                    "properties": {
                        "id": { "type": "string" },
                        "name": { "type": "string" },
                        "profile": { "type": "string" },
                        "renewal": { "type": "boolean" },
                        "state": { "type": "string", "enum": ["waiting", "opened", "completed", "expired", "revoked", "locked"] },
                        "connection_id": { "type": "string", "nullable": true },
                        "created_at": { "type": "string", "format": "date-time" },
                        "expires_at": { "type": "string", "format": "date-time" },
                        "url": { "type": "string", "format": "uri", "nullable": true, "description": "While the link can still be used." }
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": { "type": "string", "enum": ["unauthorized", "forbidden", "not_found", "needs_human", "rate_limited", "concur_unavailable", "invalid", "bad_request", "unavailable", "internal"] },
                        "message": { "type": "string" }
                    }
                }
            }
        }
    })
}
