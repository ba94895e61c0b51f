import { expect, request, type Page } from "@playwright/test";

// What every journey shares: the simulator, the admin the first journey creates, and signing in.
export const SIM = process.env.SIM_URL!;
export const SETUP = process.env.SETUP_URL!;
export const USER = "admin";
export const PASSWORD = "e2e password that is long";
export const SHOTS = "screenshots";

export type Seed = {
  authorization_url: string;
  client_id: string;
  client_secret: string;
  company_uuid: string;
  refresh_token: string;
  request_token: string;
};

/** A fresh app and company on the simulator, with a refresh token and a request token. */
export async function seed(): Promise<Seed> {
  const api = await request.newContext();
  const response = await api.post(`${SIM}/_sim/seed`, { data: { data_center: "us2" } });
  expect(response.ok()).toBeTruthy();
  return response.json();
}

/** A new Company Request Token for a seeded company and app, as Concur's admin page mints one. */
export async function requestToken(s: Seed): Promise<string> {
  const api = await request.newContext();
  const response = await api.post(`${s.authorization_url}/_sim/request-tokens`, {
    data: { company_uuid: s.company_uuid, client_id: s.client_id },
  });
  expect(response.ok()).toBeTruthy();
  return (await response.json()).request_token;
}

export async function signIn(page: Page) {
  await page.goto("/login");
  await page.getByLabel("User name").fill(USER);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Connections", exact: true })).toBeVisible();
}

/** The new-connection form, filled with a seeded app's refresh-token credentials. */
export async function fillRefreshForm(page: Page, name: string, s: Seed, refreshToken = s.refresh_token) {
  await page.goto("/connections/new");
  await page.waitForLoadState("networkidle");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Client ID").fill(s.client_id);
  await page.getByLabel("Client Secret").fill(s.client_secret);
  await page.getByLabel("Refresh Token").fill(refreshToken);
  await page.getByLabel("Authorization URL").fill(s.authorization_url);
  await page.getByLabel("Scope profile").selectOption("expense-approvals");
}
