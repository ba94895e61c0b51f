import { expect, request, type Page } from "@playwright/test";

// What every journey shares: the simulator, the admin the first journey creates, and signing in.
export const SIM = process.env.SIM_URL!;
export const SETUP = process.env.SETUP_URL!;
export const USER = "admin";
export const PASSWORD = "e2e password that is long";
export const SHOTS = "screenshots";
/** Where the SMTP server scripts/e2e.sh starts keeps each mail (a maildir). */
export const MAIL_DIR = process.env.MAIL_DIR!;

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

/** Concur revokes the seeded company's refresh token for the app (as an admin's revocation). */
export async function revoke(s: Seed) {
  const api = await request.newContext();
  const revoked = await api.post(`${s.authorization_url}/_sim/revoke`, {
    data: { company_uuid: s.company_uuid, client_id: s.client_id },
  });
  expect(revoked.ok()).toBeTruthy();
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

/** The text of the first mail to `address` (quoted-printable undone), waiting for it. */
export async function mailTo(address: string, timeoutMs = 45_000): Promise<string> {
  const { readdir, readFile } = await import("node:fs/promises");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const names = await readdir(`${MAIL_DIR}/new`).catch(() => [] as string[]);
    for (const name of names) {
      const raw = (await readFile(`${MAIL_DIR}/new/${name}`, "utf8")).replace(/\r\n/g, "\n");
      if (raw.split("\n").includes(`To: ${address}`)) {
        return raw.replace(/=\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      }
    }
    await new Promise((done) => setTimeout(done, 500));
  }
  throw new Error(`no mail to ${address} within ${timeoutMs} ms`);
}
