import { expect, test } from "@playwright/test";

// The console under test runs from a folder of its own without LEPTOS_SITE_ROOT: every script,
// style and wasm byte the journeys load comes from the binary. Here, how it hands them out.
test("the site the binary carries is served compressed, with its type and a validator", async ({ request }) => {
  const wasm = await request.get("/pkg/concur-console.wasm", { headers: { "accept-encoding": "br" } });
  expect(wasm.status()).toBe(200);
  expect(wasm.headers()["content-type"]).toBe("application/wasm");
  expect(wasm.headers()["content-encoding"]).toBe("br");
  expect(wasm.headers()["vary"]).toBe("accept-encoding");
  const body = await wasm.body();
  expect([...body.subarray(0, 4)]).toEqual([0x00, 0x61, 0x73, 0x6d]); // "\0asm", once decoded

  const css = await request.get("/pkg/concur-console.css", { headers: { "accept-encoding": "gzip" } });
  expect(css.headers()["content-encoding"]).toBe("gzip");
  expect(css.headers()["content-type"]).toBe("text/css; charset=utf-8");
  const etag = css.headers()["etag"];
  expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
  const again = await request.get("/pkg/concur-console.css", {
    headers: { "accept-encoding": "gzip", "if-none-match": etag },
  });
  expect(again.status()).toBe(304);

  const plain = await request.get("/robots.txt", { headers: { "accept-encoding": "identity" } });
  expect(plain.status()).toBe(200);
  expect(plain.headers()["content-encoding"]).toBeUndefined();
  expect(await plain.text()).toContain("User-agent");

  const missing = await request.get("/pkg/no-such-file.js");
  expect(missing.status()).toBe(404);
});
