import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import { PASSWORD, SHOTS, fillRefreshForm, seed, signIn } from "./helpers";

// Team access: the admin invites a colleague as an editor; the colleague joins through the
// link, may validate a connection, and is kept out of the admins' pages.
test("an invited editor joins, validates a connection, and cannot open Settings", async ({ browser }) => {
  const admin = await browser.newPage();
  await signIn(admin);
  await admin.getByRole("link", { name: "People" }).click();
  await expect(admin.getByRole("heading", { name: "People", exact: true })).toBeVisible();
  await admin.getByLabel("Role").last().selectOption("editor");
  await admin.getByRole("button", { name: "Create invitation link" }).click();
  const link = await admin.getByLabel("New invitation link").inputValue();
  expect(link).toMatch(/\/invite\?token=[A-Za-z0-9_-]{43}$/);
  await admin.waitForLoadState("networkidle");
  await admin.screenshot({ path: `${SHOTS}/people.png`, fullPage: true });

  const context = await browser.newContext();
  const editor = await context.newPage();
  await editor.goto(link);
  await expect(editor.getByText("You are invited as editor")).toBeVisible();
  await editor.getByLabel("User name").fill("erin");
  await editor.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await editor.getByLabel("Repeat the password").fill(PASSWORD);
  await editor.getByRole("button", { name: "Create account" }).click();
  await expect(editor.getByRole("heading", { name: "Connections", exact: true })).toBeVisible();
  await expect(editor.getByRole("link", { name: "Account (editor)" })).toBeVisible();
  await expect(editor.getByRole("link", { name: "Settings" })).toHaveCount(0);

  await editor.goto("/settings");
  await expect(editor.getByRole("heading", { name: "Not allowed" })).toBeVisible();
  await expect(editor.getByRole("alert")).toContainText("needs the admin role");

  const s = await seed();
  await fillRefreshForm(editor, "Validated by an editor", s);
  await editor.getByRole("button", { name: "Validate" }).click();
  await expect(editor.getByRole("heading", { name: /Validated by an editor/ })).toBeVisible();
  await expect(editor.getByRole("button", { name: "Validate now" })).toBeVisible();
  await expect(editor.getByRole("button", { name: "Delete connection" })).toHaveCount(0);

  // The link was spent: opened again, it says so.
  const stranger = await (await browser.newContext()).newPage();
  await stranger.goto(link);
  await expect(stranger.getByRole("alert")).toContainText("does not work any more");

  await admin.reload();
  await expect(admin.locator("tr.person", { hasText: "erin" })).toContainText("editor");
  await expect(admin.locator("tr.invitation", { hasText: "erin" })).toContainText("accepted by erin");
});

// The pages with tables of actions (and the dashboard) pass axe-core's WCAG A/AA checks: every
// column has a header, visually hidden where its cells are buttons.
test("the admins' pages pass axe-core's accessibility checks", async ({ page }) => {
  await signIn(page);
  for (const path of ["/", "/handoffs", "/people", "/account", "/settings", "/keys"]) {
    await page.goto(path);
    await page.waitForLoadState("networkidle");
    const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
    const found = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    expect(found, path).toEqual([]);
  }
});

