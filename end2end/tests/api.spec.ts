import SwaggerParser from "@apidevtools/swagger-parser";
import { expect, test } from "@playwright/test";

// The document the served console describes its API with, checked by an OpenAPI validator
// (the OpenAPI 3.1 schema, every $ref resolved) rather than by our own reading of it.
test("the API's OpenAPI document is valid OpenAPI 3.1 and describes the token, management and hand-off routes", async ({ request }) => {
  const response = await request.get("/api/openapi.json");
  expect(response.status()).toBe(200);
  const doc = await response.json();
  expect(doc.openapi).toBe("3.1.0");

  const api = await SwaggerParser.validate(structuredClone(doc));
  expect(Object.keys(api.paths ?? {}).sort()).toEqual([
    "/api/v1/connections",
    "/api/v1/connections/by-external-id/{external_id}/token",
    "/api/v1/connections/{id}",
    "/api/v1/connections/{id}/renewal-links",
    "/api/v1/connections/{id}/renewal-requests",
    "/api/v1/connections/{id}/token",
    "/api/v1/handoffs",
    "/api/v1/handoffs/{id}",
  ]);
  expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["apiKey", "fleetKey", "handoffKey", "manageKey"]);

  // The validator is not lenient: a reference to a schema that is not there is refused.
  const broken = structuredClone(doc);
  delete broken.components.schemas.Contact;
  await expect(SwaggerParser.validate(broken)).rejects.toThrow(/Contact/);
});
