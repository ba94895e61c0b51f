import { expect, request, test, type Browser, type Page } from "@playwright/test";
import { SHOTS, type Seed, fillRefreshForm, mailTo, requestToken, revoke, seed, signIn } from "./helpers";

// Hand-off links: an admin makes one, the customer's Concur admin (a separate browser with no
// session) connects through it. Runs after console.spec.ts, whose first journey made the admin.

/// Makes a link; `carried` fills who the connection will belong to (external id, one tag).
async function newLink(page: Page, name: string, carried?: { externalId: string; tag: string }): Promise<string> {
  await page.goto("/handoffs");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Scope profile").selectOption("expense-approvals");
  if (carried) {
    await page.getByText("Who the connection will belong to (optional)").click();
    await page.getByLabel("External ID").fill(carried.externalId);
    await page.getByLabel("Tags").fill(carried.tag);
  }
  await page.getByRole("button", { name: "Create hand-off link" }).click();
  const shown = page.getByLabel("New hand-off link");
  await expect(shown).toBeVisible();
  return shown.inputValue();
}

/** The customer's own browser: no cookie, no console session. */
async function customer(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  return context.newPage();
}

async function fillCustomerForm(page: Page, s: Seed, token: string) {
  await page.getByLabel("Client ID").fill(s.client_id);
  await page.getByLabel("Client Secret").fill(s.client_secret);
  await page.getByLabel("Company UUID").fill(s.company_uuid);
  await page.getByLabel("Company Request Token").fill(token);
  await page.getByLabel("Authorization URL").fill(s.authorization_url);
}

test.describe.serial("Hand-off links", () => {
  test("the customer connects through a link and the admin sees it healthy and completed", async ({ page, browser }) => {
    await signIn(page);
    const externalId = `tenant-${Date.now()}`;
    const url = await newLink(page, "ACME hand-off", { externalId, tag: "env=handoff" });
    await expect(page.getByRole("row", { name: /ACME hand-off/ }).locator("[data-field=carried]")).toHaveText(`${externalId} · env=handoff`);
    expect(url).toMatch(/\/connect\/[A-Za-z0-9_-]{43}$/);

    const c = await customer(browser);
    const opened = await c.goto(url);
    expect(opened!.status()).toBe(200);
    expect(opened!.headers()["referrer-policy"]).toBe("no-referrer");
    await expect(c.getByRole("heading", { name: "Connect SAP Concur" })).toBeVisible();
    await expect(c.getByText("Create New App")).toBeVisible();
    await expect(c.locator("ul.scopes li")).toHaveCount(7);
    await expect(c.getByText("expense.report.workflowstatus.write")).toBeVisible();
    await expect(c.getByRole("link", { name: "Connections" })).toHaveCount(0);
    await c.screenshot({ path: `${SHOTS}/handoff-customer.png`, fullPage: true });

    const s = await seed();
    await fillCustomerForm(c, s, s.request_token);
    await c.getByRole("button", { name: "Connect" }).click();
    await expect(c.getByRole("heading", { name: "Connected" })).toBeVisible();
    await expect(c.getByText("✔ EXPRPT")).toBeVisible();
    await expect(c.getByText(s.company_uuid)).toBeVisible();
    await expect(c.locator("ul.probes")).toContainText("✔ Identity v4 users: 3 users");
    await c.screenshot({ path: `${SHOTS}/handoff-connected.png`, fullPage: true });

    await page.goto("/");
    const row = page.getByRole("row", { name: /ACME hand-off/ });
    await expect(row).toBeVisible();
    await expect(row.locator(".badge")).toHaveText("Healthy");
    await row.getByRole("link", { name: /ACME hand-off/ }).click();
    await expect(page.locator("[data-field=shown-external-id]")).toHaveText(externalId);
    await expect(page.locator("[data-field=shown-tags]")).toHaveText("env=handoff");
    await page.goto("/handoffs");
    await expect(page.getByRole("row", { name: /ACME hand-off/ }).locator(".badge")).toHaveText("completed");
    await page.screenshot({ path: `${SHOTS}/handoff-list.png`, fullPage: true });

    const again = await c.goto(url);
    expect(again!.status()).toBe(410);
    await expect(c.getByRole("heading", { name: "This link has been used" })).toBeVisible();
    await c.context().close();
  });

  test("a used request token is explained to the customer and the link works with a fresh one", async ({ page, browser }) => {
    await signIn(page);
    const url = await newLink(page, "Globex hand-off");
    const s = await seed();
    // The seed's request token is spent on a first connection made by the admin's form.
    const api = await request.newContext();
    const used = s.request_token;
    const exchange = await api.post(`${s.authorization_url}/oauth2/v0/token`, {
      form: {
        grant_type: "password",
        client_id: s.client_id,
        client_secret: s.client_secret,
        username: s.company_uuid,
        password: used,
        credtype: "authtoken",
      },
    });
    expect(exchange.ok()).toBeTruthy();

    const c = await customer(browser);
    await c.goto(url);
    await fillCustomerForm(c, s, used);
    await c.getByRole("button", { name: "Connect" }).click();
    await expect(c.getByRole("alert")).toContainText("Generate a new one under Authentication Admin → Company Request Token");
    await expect(c.getByLabel("Client ID")).toHaveValue(s.client_id);
    await expect(c.getByLabel("Client Secret")).toHaveValue("");

    await fillCustomerForm(c, s, await requestToken(s));
    await c.getByRole("button", { name: "Connect" }).click();
    await expect(c.getByRole("heading", { name: "Connected" })).toBeVisible();
    await c.context().close();
  });

  test("a renewal link replaces a failing connection's token and it turns healthy", async ({ page, browser }) => {
    const s = await seed();
    await signIn(page);
    await page.goto("/connections/new");
    await page.waitForLoadState("networkidle");
    await page.getByLabel("Name", { exact: true }).fill("Renewal journey");
    await page.getByLabel("Client ID").fill(s.client_id);
    await page.getByLabel("Client Secret").fill(s.client_secret);
    await page.getByLabel("Refresh Token").fill(s.refresh_token);
    await page.getByLabel("Authorization URL").fill(s.authorization_url);
    await page.getByLabel("Scope profile").selectOption("expense-approvals");
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.getByRole("heading", { name: /Renewal journey/ })).toBeVisible();
    const connection = page.url();

    await revoke(s);
    await page.waitForLoadState("networkidle");
    await page.getByRole("button", { name: "Validate now" }).click();
    await expect(page.getByText("This connection needs the customer.")).toBeVisible();
    await expect(page.getByText("SAP Concur no longer accepts the connection's token")).toBeVisible();
    await expect(page.locator(".renewal ol.steps li").first()).toContainText("Company Request Token");
    await expect(page.getByText("No contact to ask")).toBeVisible();
    await expect(page.getByRole("button", { name: "Ask the customer now" })).toHaveCount(0);
    await page.getByRole("button", { name: "Create renewal link" }).click();
    const shown = page.getByLabel("New hand-off link");
    await expect(shown).toBeVisible();
    const url = await shown.inputValue();

    const c = await customer(browser);
    await c.goto(url);
    await expect(c.getByRole("heading", { name: "Renew your SAP Concur connection" })).toBeVisible();
    await expect(c.getByLabel("Client ID")).toHaveCount(0);
    await c.getByLabel("Company Request Token").fill(await requestToken(s));
    await c.getByRole("button", { name: "Connect" }).click();
    await expect(c.getByRole("heading", { name: "Connected" })).toBeVisible();
    await c.context().close();

    await page.goto(connection);
    await expect(page.locator(".badge").first()).toHaveText("Healthy");
    await expect(page.getByText("This connection needs the customer.")).toHaveCount(0);
  });

  test("the console mails the contact of a connection that needs them, and the mailed link heals it", async ({ page, browser }) => {
    test.setTimeout(120_000);
    const s = await seed();
    await signIn(page);
    await fillRefreshForm(page, "Renewal by mail", s);
    await page.getByText("Who it belongs to (optional)").click();
    await page.getByLabel("Contact name").fill("Ada Admin");
    await page.getByLabel("Contact e-mail").fill("ada@initech.example");
    await page.getByRole("button", { name: "Validate" }).click();
    await expect(page.getByRole("heading", { name: /Renewal by mail/ })).toBeVisible();
    const connection = page.url();

    await revoke(s);
    await page.waitForLoadState("networkidle");
    await page.getByRole("button", { name: "Validate now" }).click();
    await expect(page.getByText("This connection needs the customer.")).toBeVisible();
    await expect(page.getByText("The console asks ada@initech.example by e-mail")).toBeVisible();

    // The alert job asks within its 15 seconds; the mail reaches the SMTP server.
    const mail = await mailTo("ada@initech.example");
    expect(mail).toContain("Hello Ada Admin,");
    expect(mail).toContain("What to do, in order:");
    const link = mail.match(/http:\/\/127\.0\.0\.1:\d+\/connect\/[A-Za-z0-9_-]+/)![0];
    await page.goto(connection);
    await expect(page.locator(".renewal ol.episode")).toContainText("Mail sent to ada@initech.example");
    await expect(page.getByRole("button", { name: "Send the request again" })).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/renewal-request.png`, fullPage: true });

    // The dashboard marks it, and lists only the customers waiting when asked to.
    await page.goto("/");
    await page.getByLabel("Waiting for the customer").check();
    await page.getByRole("button", { name: "Search" }).click();
    await expect(page).toHaveURL(/renewal=waiting/);
    const mark = page.locator("tr", { hasText: "Renewal by mail" }).locator(".renewal-mark");
    await expect(mark).toContainText("Renewal requested");
    await expect(mark).toContainText("link not opened");
    // Every row listed is a customer asked (retried until the filtered page has replaced the
    // whole one: counting the rows once could count them mid-patch).
    await expect(page.locator("table.connections tbody tr:not(:has(.renewal-mark.asked))")).toHaveCount(0);
    await expect(page.locator("table.connections tbody tr .renewal-mark.asked").first()).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/renewal-waiting.png`, fullPage: true });

    const c = await customer(browser);
    await c.goto(link);
    await expect(c.getByRole("heading", { name: "Renew your SAP Concur connection" })).toBeVisible();
    await c.getByLabel("Company Request Token").fill(await requestToken(s));
    await c.getByRole("button", { name: "Connect" }).click();
    await expect(c.getByRole("heading", { name: "Connected" })).toBeVisible();
    await c.context().close();

    // The next round sees it healed: the request is completed, nothing more is sent.
    await expect
      .poll(
        async () => {
          await page.goto(connection);
          return page.locator(".renewal").innerText();
        },
        { timeout: 45_000, intervals: [2_000] },
      )
      .toContain("Completed: the connection works again");
    await expect(page.locator(".badge").first()).toHaveText("Healthy");
    await expect(page.getByRole("button", { name: "Stop asking" })).toHaveCount(0);

    // An admin sets this customer never to be asked on its own.
    await page.getByLabel("Ask this customer on its own").selectOption("never");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForLoadState("networkidle");
    await page.goto(connection);
    await expect(page.getByLabel("Ask this customer on its own")).toHaveValue("never");
    await expect(page.getByText("Automatic requests are off")).toBeVisible();
  });
});
