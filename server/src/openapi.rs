//! The OpenAPI 3 description of the integrations' API, served at `/api/openapi.json`.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

pub fn document() -> Value {
    let retry_after = json!({
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": { "type": "integer", "minimum": 1 }
        }
    });
    let mut unavailable =
        error_response("Concur cannot be reached and no cached access token is still valid.");
    unavailable["headers"] = retry_after.clone();
    let mut limited = error_response("Over this API key's request limit.");
    limited["headers"] = retry_after;
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Concur Console token API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Integrations get SAP Concur access tokens from Concur Console, which is the only holder of each company's refresh token. Each API key opens one connection."
        },
        "paths": {
            "/api/v1/connections/{id}/token": {
                "get": {
                    "operationId": "getAccessToken",
                    "summary": "An access token for one connection",
                    "description": "Returns the cached access token while more than five minutes remain; otherwise Concur Console refreshes once for all concurrent callers.",
                    "security": [{ "apiKey": [] }],
                    "parameters": [{
                        "name": "id", "in": "path", "required": true,
                        "description": "The connection's id, as its page and `concur-console connections list` show it.",
                        "schema": { "type": "string" }
                    }],
                    "responses": {
                        "200": {
                            "description": "A usable access token.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AccessToken" } } }
                        },
                        "401": error_response("No API key, or an unknown or revoked one."),
                        "404": error_response("This API key opens no connection with that id."),
                        "409": error_response("The connection needs a human; the message names the problem and the next step."),
                        "429": limited,
                        "503": unavailable
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "description": "An API key made on the connection's page or with `concur-console api-key create`." }
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
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": { "type": "string", "enum": ["unauthorized", "not_found", "needs_human", "rate_limited", "concur_unavailable", "internal"] },
                        "message": { "type": "string" }
                    }
                }
            }
        }
    })
}
