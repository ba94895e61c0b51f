import { expect, test } from "@playwright/test";
import { SHOTS, fillRefreshForm, seed, signIn } from "./helpers";

// The dashboard follows the fleet. Runs after console.spec.ts, whose journeys made the admin and
// "Expense bot – ACME" (external id tenant-e2e, tags env=prod and region=emea, owned by admin).
test("tags filter the dashboard from a row's chip, the owner filter keeps mine, and the address keeps the filter", async ({ page }) => {
  await signIn(page);
  const s = await seed();
  // Who it belongs to is given on the New connection form itself.
  await fillRefreshForm(page, "Globex fleet", s);
  await page.getByText("Who it belongs to (optional)").click();
  await page.getByLabel("Tags").fill("env=dev");
  await page.getByLabel("Contact e-mail").fill("it@globex.example");
  await page.getByRole("button", { name: "Validate" }).click();
  await expect(page.getByRole("heading", { name: /Globex fleet/ })).toBeVisible();
  await expect(page.locator('[data-field="shown-tags"]')).toHaveText("env=dev");
  await expect(page.locator('[data-field="shown-contact"]')).toHaveText("it@globex.example");

  await page.goto("/");
  const acme = page.getByRole("row", { name: /Expense bot – ACME/ }).first();
  const globex = page.getByRole("row", { name: /Globex fleet/ });
  await expect(globex.getByRole("link", { name: "env=dev" })).toBeVisible();
  await acme.getByRole("link", { name: "env=prod" }).click();
  await expect(page).toHaveURL(/\?tag=env%3Aprod$/);
  await expect(page.getByRole("row", { name: /Expense bot – ACME/ }).first()).toBeVisible();
  await expect(page.getByRole("row", { name: /Globex fleet/ })).toHaveCount(0);
  await expect(page.getByRole("status").filter({ hasText: "Filtered by" })).toContainText("tag env=prod");
  await page.screenshot({ path: `${SHOTS}/dashboard-filtered.png`, fullPage: true });

  // The filter survives a reload, and a search within it.
  await page.reload();
  await expect(page.getByRole("row", { name: /Globex fleet/ })).toHaveCount(0);
  await page.getByLabel("Search").fill("tenant-e2e");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/tag=env%3Aprod/);
  await expect(page.getByRole("row", { name: /Expense bot – ACME/ }).first()).toBeVisible();

  // Clearing the filters keeps the search.
  await page.getByRole("link", { name: "Clear filters" }).click();
  await expect(page).toHaveURL(/\?q=tenant-e2e$/);
  await page.goto("/");
  await expect(page.getByRole("row", { name: /Globex fleet/ })).toBeVisible();

  // Mine: the signed-in account owns ACME, nobody owns Globex.
  await page.getByLabel("Owner").fill("me");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/owner=me/);
  await expect(page.getByRole("row", { name: /Expense bot – ACME/ }).first()).toBeVisible();
  await expect(page.getByRole("row", { name: /Globex fleet/ })).toHaveCount(0);

  // The contact is searched too.
  await page.goto("/?q=it%40globex");
  await expect(page.getByRole("row", { name: /Globex fleet/ })).toBeVisible();
  await expect(page.getByRole("row", { name: /Expense bot – ACME/ })).toHaveCount(0);
});

// Fleet keys are made on the API keys page: a bad selector is named next to its field, the key is
// shown once, it opens the token of a connection its selector matches, and a revocation closes it.
test("an admin makes a fleet key on the API keys page, uses it, and revokes it", async ({ page, request }) => {
  await signIn(page);
  await page.getByRole("link", { name: "API keys" }).click();
  await expect(page.getByRole("heading", { name: "API keys" })).toBeVisible();
  await page.getByLabel("Kind").selectOption("fleet");
  await page.getByLabel("Selector (fleet keys)").fill("Env");
  await page.getByLabel("Label").fill("e2e workers");
  await page.getByRole("button", { name: "Create API key" }).click();
  await expect(page.locator('.field-error[data-field="selector"]')).toContainText("is not one");
  await expect(page.getByLabel("New API key")).toHaveCount(0);

  await page.getByLabel("Selector (fleet keys)").fill("env=prod");
  await page.getByRole("button", { name: "Create API key" }).click();
  const shown = page.getByLabel("New API key");
  await expect(shown).toHaveValue(/^ccf_/);
  const key = await shown.inputValue();
  const row = page.getByRole("row", { name: /e2e workers/ });
  await expect(row).toContainText("fleet, selector env=prod");
  await page.screenshot({ path: `${SHOTS}/api-keys.png`, fullPage: true });

  const token = () =>
    request.get("/api/v1/connections/by-external-id/tenant-e2e/token", {
      headers: { Authorization: `Bearer ${key}` },
    });
  expect((await token()).status()).toBe(200);
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByRole("row", { name: /e2e workers/ })).toContainText("Revoked");
  expect((await token()).status()).toBe(401);
});

// Alerts go to whoever owns the connection: routes are added (a bad channel named next to its
// field) and removed on Settings, and a person asks for their connections' alerts on Account.
test("alert routes are added and removed on Settings, and an owner asks for alert e-mails on Account", async ({ page }) => {
  await signIn(page);
  await page.getByRole("link", { name: "Settings" }).click();
  await expect(page.getByText("No routes")).toBeVisible();
  await page.getByLabel("Selector", { exact: true }).fill("region=emea");
  await page.getByLabel("Channel", { exact: true }).fill("email:not-an-address");
  await page.getByRole("button", { name: "Add route" }).click();
  await expect(page.locator('.field-error[data-field="route_channel"]')).toContainText("not one");
  await page.getByLabel("Selector", { exact: true }).fill("region=emea");
  await page.getByLabel("Channel", { exact: true }).fill("email:emea-csm@vendor.example");
  await page.getByRole("button", { name: "Add route" }).click();
  const route = page.getByRole("row", { name: /region=emea/ });
  await expect(route).toContainText("email:emea-csm@vendor.example");
  await page.screenshot({ path: `${SHOTS}/settings-routes.png`, fullPage: true });
  await route.getByRole("button", { name: "Remove" }).click();
  await expect(page.getByText("No routes")).toBeVisible();
  await expect(page.getByRole("row", { name: /region=emea/ })).toHaveCount(0);

  await page.goto("/account");
  await page.getByLabel("E-mail address").fill("admin@vendor.example");
  await page.getByLabel("E-mail me the alerts of the connections I own").check();
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  await page.reload();
  await expect(page.getByLabel("E-mail address")).toHaveValue("admin@vendor.example");
  await expect(page.getByLabel("E-mail me the alerts of the connections I own")).toBeChecked();
});
