import { expect, test, type Browser, type Page } from "@playwright/test";
import { SHOTS } from "./helpers";

// Single sign-on through a real OpenID provider (oidc-provider, started by scripts/e2e.sh):
// people sign in on its own login page, and each gets the role its groups give.
async function signInThroughProvider(browser: Browser, user: string): Promise<{ page: Page; ms: number }> {
  const page = await (await browser.newContext()).newPage();
  await page.goto("/login");
  const started = Date.now();
  await page.getByRole("link", { name: "Sign in with single sign-on" }).click();
  // The provider's own pages: sign in (any password), then allow the console.
  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill("anything at all");
  await page.locator('button[type="submit"]').click();
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((url) => url.pathname === "/" || url.pathname === "/login");
  return { page, ms: Date.now() - started };
}

test.describe("Single sign-on", () => {
  test("an admin-group person signs in as an admin", async ({ browser }) => {
    const { page, ms } = await signInThroughProvider(browser, "alice");
    await expect(page.getByRole("heading", { name: "Connections", exact: true })).toBeVisible();
    console.log(`single sign-on round trip through the local provider: ${ms} ms`);
    await expect(page.getByRole("link", { name: "Account (admin)" })).toBeVisible();
    await page.getByRole("link", { name: "People" }).click();
    await expect(page.locator("tr.person", { hasText: "alice" })).toContainText("single sign-on");
    await page.getByRole("link", { name: "Account (admin)" }).click();
    await expect(page.getByRole("cell", { name: "single sign-on" })).toBeVisible();
    await expect(page.getByRole("heading", { name: "Change password" })).toHaveCount(0);
    await page.screenshot({ path: `${SHOTS}/sso-account.png`, fullPage: true });
  });

  test("an editor-group person may add connections but not open Settings", async ({ browser }) => {
    const { page } = await signInThroughProvider(browser, "eddie");
    await expect(page.getByRole("link", { name: "Account (editor)" })).toBeVisible();
    await expect(page.getByRole("link", { name: "New connection" })).toBeVisible();
    await expect(page.getByRole("link", { name: "Settings" })).toHaveCount(0);
    await page.goto("/settings");
    await expect(page.getByRole("alert")).toContainText("needs the admin role");
  });

  test("a viewer-group person reads and is offered nothing to change", async ({ browser }) => {
    const { page } = await signInThroughProvider(browser, "vera");
    await expect(page.getByRole("link", { name: "Account (viewer)" })).toBeVisible();
    await expect(page.getByRole("link", { name: "New connection" })).toHaveCount(0);
    await page.goto("/connections/new");
    await expect(page.getByRole("alert")).toContainText("needs the editor role");
    await page.goto("/handoffs");
    await expect(page.getByRole("button", { name: "Create hand-off link" })).toHaveCount(0);
  });

  test("a person in no listed group is told which groups open the console", async ({ browser }) => {
    const { page } = await signInThroughProvider(browser, "nora");
    await expect(page).toHaveURL(/\/login\?sso=nogroup$/);
    const said = page.getByRole("alert");
    await expect(said).toContainText("none of the groups");
    await expect(said).toContainText("console-admins (admin); console-editors (editor); helpdesk (viewer)");
    await page.screenshot({ path: `${SHOTS}/sso-refused.png`, fullPage: true });
    await page.goto("/");
    await expect(page).toHaveURL(/\/login$/);
  });
});
