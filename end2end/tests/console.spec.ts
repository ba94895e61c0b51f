import { expect, request, test } from "@playwright/test";
import { PASSWORD, SETUP, SHOTS, USER, fillRefreshForm, seed, signIn } from "./helpers";

// Journeys an admin takes, in order: the first test uses the one-time setup link.
test.describe.serial("Concur Console", () => {
  test("first-run setup creates the admin and shows the empty dashboard", async ({ page }) => {
    await page.goto(SETUP);
    await expect(page.getByRole("heading", { name: "Create the first admin" })).toBeVisible();
    await page.getByLabel("User name").fill(USER);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Repeat the password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create admin" }).click();
    await expect(page.getByRole("heading", { name: "No connections yet" })).toBeVisible();
  });

  test("a refused sign-in says why, each time, without reloading the page", async ({ page }) => {
    await page.goto("/login");
    await page.waitForLoadState("networkidle");
    await page.evaluate(() => ((window as any).__sameDocument = true));
    await page.getByLabel("User name").fill("nobody");
    await page.getByLabel("Password").fill("wrong once");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toContainText("Wrong user name or password");
    // Posted again from the page that shows the first refusal: the second one is shown.
    await page.getByLabel("User name").fill("n".repeat(65));
    await page.getByLabel("Password").fill("wrong twice");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.locator('[data-field="username"]')).toContainText("at most 64 characters");
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  });

  test("a valid connection is stored and the dashboard shows its expiry", async ({ page }) => {
    const s = await seed();
    await signIn(page);
    await fillRefreshForm(page, "Expense bot – ACME", s);
    await page.evaluate(() => ((window as any).__sameDocument = true));
    // Concur answers slowly this once: the form's island shows the check under way.
    const sim = await request.newContext();
    const slow = { fault: { kind: "slow", millis: 1500 } };
    expect((await sim.post(`${s.authorization_url}/_sim/faults`, { data: slow })).ok()).toBeTruthy();
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.getByText("Checking with Concur…")).toBeVisible();
    await expect(page.getByRole("heading", { name: /Expense bot – ACME/ })).toBeVisible();
    await expect(page.locator('[data-field="refresh-expiry"]')).toContainText("days left");
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    await expect(page.getByText("✔").first()).toBeVisible();

    await page.getByRole("link", { name: "Connections" }).click();
    const row = page.getByRole("row", { name: /Expense bot – ACME/ });
    await expect(row).toContainText("Healthy");
    await expect(row).toContainText(/1[78]\d days left/);
    await page.screenshot({ path: `${SHOTS}/dashboard.png`, fullPage: true });
  });

  test("who a connection belongs to is edited on its page; a bad address is refused next to its field", async ({ page, browser }) => {
    await signIn(page);
    await page.getByRole("link", { name: "Expense bot – ACME" }).first().click();
    await page.getByLabel("External ID").fill("tenant-e2e");
    await page.getByLabel("Tags").fill("env=prod\nregion=emea");
    await page.getByLabel("Contact name").fill("Ana Ruiz");
    await page.getByLabel("Contact e-mail").fill("ana@acme.example");
    await page.getByLabel("Owner").fill(USER);
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.locator('[data-field="shown-external-id"]')).toHaveText("tenant-e2e");
    await expect(page.locator('[data-field="shown-tags"]')).toContainText("env=prod");
    await expect(page.locator('[data-field="shown-tags"]')).toContainText("region=emea");
    await expect(page.locator('[data-field="shown-contact"]')).toHaveText("Ana Ruiz <ana@acme.example>");
    await expect(page.locator('[data-field="shown-owner"]')).toHaveText(USER);

    // The page's forms are not islands: a refusal comes back in the page's address, as it does
    // without JavaScript.
    const url = page.url();
    const context = await browser.newContext({ javaScriptEnabled: false });
    const plain = await context.newPage();
    await signIn(plain);
    await plain.goto(url);
    await plain.getByLabel("Contact e-mail").fill("ana@acme");
    await plain.getByRole("button", { name: "Save" }).click();
    await expect(plain.locator('[data-field="contact_email"]')).toContainText("e-mail address");
    await expect(plain.locator('[data-field="shown-contact"]')).toHaveText("Ana Ruiz <ana@acme.example>");
    await context.close();
  });

  test("a dead refresh token gets a plain-words diagnosis next to its field", async ({ page }) => {
    const s = await seed();
    await signIn(page);
    await fillRefreshForm(page, "Dead token", s, "0c4a6e2b-dead-4bee-8f00-000000000108");
    await page.getByRole("button", { name: "Validate" }).click();
    const error = page.locator('[data-field="refresh_token"]');
    await expect(error).toContainText("The Refresh Token has expired, was revoked, or was mistyped.");
    await expect(error).toContainText("Company Request Token");
    await expect(error).toContainText("Concur code 108");
    await page.screenshot({ path: `${SHOTS}/failed-validation.png`, fullPage: true });
    await page.goto("/");
    await expect(page.getByRole("row", { name: /Dead token/ })).toHaveCount(0);
  });

  test("a Company Request Token is exchanged for a stored refresh token", async ({ page }) => {
    const s = await seed();
    await signIn(page);
    await page.goto("/connections/new");
    await page.getByRole("link", { name: "Use a Company Request Token" }).click();
    await page.waitForLoadState("networkidle");
    await page.getByLabel("Name", { exact: true }).fill("Approvals – request token");
    await page.getByLabel("Client ID").fill(s.client_id);
    await page.getByLabel("Client Secret").fill(s.client_secret);
    await page.getByLabel("Company UUID").fill(s.company_uuid);
    await page.getByLabel("Company Request Token").fill(s.request_token);
    await page.getByLabel("Authorization URL").fill(s.authorization_url);
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.getByRole("heading", { name: /Approvals – request token/ })).toBeVisible();
    await expect(page.getByText(s.company_uuid)).toBeVisible();
    const can = page.locator("section.capabilities");
    await expect(can.getByRole("heading", { name: "What the integration can do" })).toBeVisible();
    await expect(can.locator('[data-probe="identity_users"]')).toContainText("3 users");
    await expect(can.locator('[data-probe="expense_approvals_v4"]')).toContainText("2 reports waiting for approval");
    await expect(can.locator('[data-probe="expense.report.workflowstatus.write"]')).toContainText("write-only");
    await page.getByRole("button", { name: "Validate now" }).click();
    await expect(page.locator("table.history tbody tr")).toHaveCount(2);
  });

  test("an API key made on the connection page gets an access token, until revoked", async ({ page }) => {
    const s = await seed();
    await signIn(page);
    await fillRefreshForm(page, "Token API", s);
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.getByRole("heading", { name: /Token API/ })).toBeVisible();
    await page.waitForLoadState("networkidle");
    const id = page.url().split("/").pop();
    await page.getByLabel("Label").fill("Expense bot production");
    await page.getByRole("button", { name: "Create API key" }).click();
    const shown = page.getByLabel("New API key");
    await expect(shown).toBeVisible();
    const key = await shown.inputValue();
    expect(key).toMatch(/^cck_/);
    const row = page.getByRole("row", { name: /Expense bot production/ });
    await expect(row).toContainText(key.slice(0, 12));
    await expect(row).not.toContainText(key);

    const api = await request.newContext();
    const url = `${page.url().split("/connections/")[0]}/api/v1/connections/${id}/token`;
    const granted = await api.get(url, { headers: { Authorization: `Bearer ${key}` } });
    expect(granted.status()).toBe(200);
    const body = await granted.json();
    expect(body.token_type).toBe("Bearer");
    expect(body.access_token.length).toBeGreaterThan(20);
    expect(body.geolocation).toBe(s.authorization_url);

    await row.getByRole("button", { name: "Revoke" }).click();
    await expect(row).toContainText("Revoked");
    const refused = await api.get(url, { headers: { Authorization: `Bearer ${key}` } });
    expect(refused.status()).toBe(401);
    expect((await refused.json()).error).toBe("unauthorized");
  });

  test("pages hydrate under a nonce-based Content-Security-Policy without violations", async ({ page }) => {
    const violations: string[] = [];
    page.on("console", (message) => {
      const text = message.text();
      if (text.includes("Content Security Policy") || ["error", "warning"].includes(message.type())) {
        violations.push(text);
      }
    });
    const response = await page.goto("/login");
    const headers = response!.headers();
    expect(headers["content-security-policy"]).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]+' 'wasm-unsafe-eval'/);
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["cache-control"]).toBe("no-store");
    await signIn(page);
    await page.evaluate(() => ((window as any).__sameDocument = true));
    await page.getByRole("link", { name: "Account" }).click();
    await expect(page.getByRole("heading", { name: "Your sessions" })).toBeVisible();
    await expect(page.getByText("This session")).toBeVisible();
    await page.getByRole("link", { name: "New connection" }).click();
    await page.getByRole("link", { name: "Use a Company Request Token" }).click();
    await expect(page.getByLabel("Company Request Token")).toBeVisible();
    await page.waitForLoadState("networkidle");
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    expect(violations).toEqual([]);
  });

  test("the expiry timeline, the audit log and the alert settings work in the browser", async ({ page }) => {
    await signIn(page);
    const bars = page.locator('figure.timeline a[href^="/?week="]');
    await expect(bars).toHaveCount(26);
    await bars.first().click();
    await expect(page).toHaveURL(/week=0/);
    await expect(page.getByText("Showing the refresh tokens that expire between")).toBeVisible();
    await page.getByRole("link", { name: "Show all connections" }).click();
    await expect(page.locator("table.connections tbody tr").first()).toBeVisible();

    await page.getByRole("link", { name: "Audit", exact: true }).click();
    await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
    await expect(page.locator("table.audit")).toContainText("sign in");

    await page.evaluate(() => ((window as any).__sameDocument = true));
    await page.getByRole("link", { name: "Settings", exact: true }).click();
    await expect(page.getByRole("heading", { name: "Alert settings" })).toBeVisible();
    await page.getByLabel("Webhook URL").fill("https://hooks.example.com/concur");
    await page.getByLabel("Signing secret").fill("a webhook secret for e2e");
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByText("Saved.")).toBeVisible();
    await expect(page.getByText("A secret is stored; leave blank to keep it.")).toBeVisible();
    await page.getByRole("button", { name: "Send test" }).click();
    // The page's webhook, and the e-mail channel scripts/e2e.sh sets in the environment.
    await expect(page.getByText(/Test alert queued on 2 channel/)).toBeVisible();
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    expect(await page.content()).not.toContain("a webhook secret for e2e");
  });

  test("no secret appears in any page's HTML", async ({ page }) => {
    const s = await seed();
    await signIn(page);
    await fillRefreshForm(page, "Secret check", s);
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.getByRole("heading", { name: /Secret check/ })).toBeVisible();
    const id = page.url().split("/").pop();
    for (const path of ["/", `/connections/${id}`, `/connections/${id}/replace`, "/connections/new"]) {
      const response = await page.request.get(path);
      const html = await response.text();
      expect(response.status()).toBe(200);
      expect(html).not.toContain(s.client_secret);
      expect(html).not.toContain(s.refresh_token);
    }
    await expect(page.getByText(`••••${s.refresh_token.slice(-4)}`)).toBeVisible();
  });

  test("without JavaScript the forms post and come back with their answers", async ({ browser }) => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const s = await seed();
    await signIn(page);
    await page.goto("/connections/new");
    await page.getByLabel("Name", { exact: true }).fill("No-JS connection");
    await page.getByLabel("Client ID").fill("not-a-uuid");
    await page.getByLabel("Client Secret").fill(s.client_secret);
    await page.getByLabel("Refresh Token").fill(s.refresh_token);
    await page.getByLabel("Authorization URL").fill(s.authorization_url);
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.locator('[data-field="client_id"]')).toContainText("Client ID must be a UUID");

    await page.getByLabel("Name", { exact: true }).fill("No-JS connection");
    await page.getByLabel("Client ID").fill(s.client_id);
    await page.getByLabel("Client Secret").fill(s.client_secret);
    await page.getByLabel("Refresh Token").fill(s.refresh_token);
    await page.getByLabel("Authorization URL").fill(s.authorization_url);
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.getByRole("heading", { name: /No-JS connection/ })).toBeVisible();
    await expect(page.locator('[data-field="refresh-expiry"]')).toContainText("days left");
    await context.close();
  });
});
