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

/// The `{id}` of a connection's routes.
fn id_parameter() -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": "The connection's id.",
        "schema": { "type": "string" }
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
            "description": "Integrations get SAP Concur access tokens from Concur Console, which is the only holder of each company's refresh token. A connection's key opens one connection, a fleet key the connections its tags select; hand-off keys make links through which a customer's Concur admin connects; management keys list, find and change connections."
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
            "/api/v1/connections": {
                "get": {
                    "operationId": "listConnections",
                    "summary": "The connections, filtered, a page at a time",
                    "description": "In the order of their ids; pass `next_cursor` back as `cursor` for the next page (null on the last). A connection changed between two pages is neither skipped nor repeated.",
                    "security": [{ "manageKey": [] }],
                    "parameters": [
                        { "name": "tag", "in": "query", "description": "`key:value`; repeat it for several, all of which must match.", "schema": { "type": "array", "items": { "type": "string" } }, "style": "form", "explode": true },
                        { "name": "status", "in": "query", "schema": { "$ref": "#/components/schemas/Status" } },
                        { "name": "owner", "in": "query", "description": "The owning account's user name.", "schema": { "type": "string" } },
                        { "name": "external_id", "in": "query", "schema": { "type": "string" } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 100 } },
                        { "name": "cursor", "in": "query", "schema": { "type": "string" } }
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of connections.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ConnectionPage" } } }
                        },
                        "400": error_response("An unknown parameter, or a limit that is not a number."),
                        "401": error_response("No API key, or an unknown or revoked one."),
                        "403": error_response("Not a management key."),
                        "422": error_response("A filter value breaks a rule; the message names it.")
                    }
                }
            },
            "/api/v1/connections/{id}": {
                "get": {
                    "operationId": "getConnection",
                    "summary": "One connection: its status and who it belongs to (never a secret)",
                    "security": [{ "manageKey": [] }],
                    "parameters": [id_parameter()],
                    "responses": {
                        "200": {
                            "description": "The connection.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Connection" } } }
                        },
                        "401": error_response("No API key, or an unknown or revoked one."),
                        "403": error_response("Not a management key."),
                        "404": error_response("No connection has that id.")
                    }
                },
                "patch": {
                    "operationId": "updateConnection",
                    "summary": "Change a connection's name or who it belongs to",
                    "description": "A JSON merge patch (RFC 7396): what it names changes, the rest stays. `{\"tags\": {\"env\": \"dev\"}}` changes one tag, `{\"tags\": {\"region\": null}}` removes one, `{\"contact\": null}` clears the contact. A bad value changes nothing. Audited under the key's label.",
                    "security": [{ "manageKey": [] }],
                    "parameters": [id_parameter()],
                    "requestBody": {
                        "required": true,
                        "content": { "application/merge-patch+json": { "schema": { "$ref": "#/components/schemas/ConnectionPatch" } } }
                    },
                    "responses": {
                        "200": {
                            "description": "The connection after the change.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Connection" } } }
                        },
                        "400": error_response("The body is not JSON."),
                        "401": error_response("No API key, or an unknown or revoked one."),
                        "403": error_response("Not a management key, or a read-only one."),
                        "404": error_response("No connection has that id."),
                        "415": error_response("Not sent as application/merge-patch+json."),
                        "422": error_response("A value breaks a rule, or a field cannot be changed; the message names it.")
                    }
                }
            },
            "/api/v1/connections/{id}/renewal-links": {
                "post": {
                    "operationId": "createRenewalLink",
                    "summary": "A renewal link for the connection's customer",
                    "description": "The customer's Concur admin opens it and gives a new Company Request Token; the connection keeps its id, name and who it belongs to.",
                    "security": [{ "manageKey": [] }],
                    "parameters": [id_parameter()],
                    "requestBody": {
                        "required": false,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NewRenewalLink" } } }
                    },
                    "responses": {
                        "201": {
                            "description": "The link, to send to the customer.",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreatedHandoff" } } }
                        },
                        "401": error_response("No API key, or an unknown or revoked one."),
                        "403": error_response("Not a management key, or a read-only one."),
                        "404": error_response("No connection has that id."),
                        "422": error_response("A value breaks a rule; the message says which.")
                    }
                }
            },
            "/api/v1/handoffs": {
                "post": {
                    "operationId": "createHandoffLink",
                    "summary": "A hand-off link for a customer's Concur admin",
                    "description": "The customer opens the URL, follows the Concur steps for the profile and presses Connect; the console stores the connection. With `connection_id`, a renewal link that asks only for a new Company Request Token.",
                    "security": [{ "handoffKey": [] }, { "manageKey": [] }],
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
                        "403": error_response("A key of a kind that may not create hand-off links: a connection's, a fleet or a read-only management key."),
                        "404": error_response("No connection has that `connection_id`."),
                        "422": error_response("A value breaks a rule; the message says which.")
                    }
                }
            },
            "/api/v1/handoffs/{id}": {
                "get": {
                    "operationId": "getHandoffLink",
                    "summary": "Where a hand-off link stands (a hand-off key reads the links it made)",
                    "security": [{ "handoffKey": [] }, { "manageKey": [] }],
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
                        "403": error_response("A connection's or a fleet key: it cannot read hand-off links."),
                        "404": error_response("No hand-off link that this key made has that id.")
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "description": "An API key made on the connection's page or with `concur-console api-key create`." },
                "fleetKey": { "type": "http", "scheme": "bearer", "description": "A fleet key (`ccf_…`) made with `concur-console api-key create --fleet [--selector env=prod]`: it opens the token of every connection whose tags match its selector at the time of the call." },
                "handoffKey": { "type": "http", "scheme": "bearer", "description": "A hand-off key (`cch_…`) made with `concur-console api-key create --handoffs`: it creates hand-off links and reads back the ones it made, nothing else." },
                "manageKey": { "type": "http", "scheme": "bearer", "description": "A management key (`ccm_…`) made with `concur-console api-key create --manage [--read-only]`: it reads (and, unless read-only, changes) every connection and hand-off link; it opens no token." }
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
                "Status": {
                    "type": "string",
                    "enum": ["failing", "expired", "critical", "expiring", "unknown", "healthy"]
                },
                "Connection": {
                    "type": "object",
                    "required": ["id", "name", "tags", "status", "missing_scopes", "client_id", "updated_at"],
                    "properties": {
                        "id": { "type": "string" },
                        "name": { "type": "string" },
                        "external_id": { "type": "string", "nullable": true, "description": "Your own id for the customer." },
                        "tags": { "type": "object", "additionalProperties": { "type": "string" } },
                        "status": { "$ref": "#/components/schemas/Status" },
                        "refresh_token_expires_at": { "type": "string", "format": "date-time", "nullable": true },
                        "days_left": { "type": "integer", "nullable": true, "description": "Whole days until the refresh token expires." },
                        "owner": { "type": "string", "nullable": true, "description": "The user name of the console account responsible for it." },
                        "contact": { "$ref": "#/components/schemas/Contact" },
                        "missing_scopes": { "type": "array", "items": { "type": "string" }, "description": "Scopes the profile needs that Concur did not grant." },
                        "client_id": { "type": "string" },
                        "company_uuid": { "type": "string", "nullable": true },
                        "updated_at": { "type": "string", "format": "date-time" }
                    }
                },
                "Contact": {
                    "type": "object",
                    "nullable": true,
                    "description": "The customer's Concur admin.",
                    "properties": {
                        "name": { "type": "string", "nullable": true },
                        "email": { "type": "string", "format": "email" }
                    }
                },
                "ConnectionPage": {
                    "type": "object",
                    "required": ["connections", "next_cursor"],
                    "properties": {
                        "connections": { "type": "array", "items": { "$ref": "#/components/schemas/Connection" } },
                        "next_cursor": { "type": "string", "nullable": true }
                    }
                },
                "ConnectionPatch": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "name": { "type": "string", "maxLength": 100 },
                        "external_id": { "type": "string", "nullable": true, "pattern": "^[A-Za-z0-9._:-]{1,128}$" },
                        "tags": { "type": "object", "nullable": true, "additionalProperties": { "type": "string", "nullable": true } },
                        "contact": { "type": "object", "nullable": true, "properties": { "name": { "type": "string", "nullable": true }, "email": { "type": "string", "nullable": true } } },
                        "owner": { "type": "string", "nullable": true }
                    }
                },
                "NewRenewalLink": {
                    "type": "object",
                    "properties": {
                        "valid_days": { "type": "integer", "minimum": 1, "maximum": 30, "default": 7 },
                        "note": { "type": "string", "maxLength": 500 }
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": { "type": "string", "enum": ["unauthorized", "forbidden", "not_found", "needs_human", "rate_limited", "concur_unavailable", "database_unavailable", "timeout", "invalid", "bad_request", "unsupported_media_type", "internal"] },
                        "message": { "type": "string" }
                    }
                }
            }
        }
    })
}
