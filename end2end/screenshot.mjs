// `make screenshots`: signs in to `make demo` in Debian's Chromium and saves its dashboard for
// the README. BASE_URL is the demo console, OUT the PNG to write.
import { chromium } from "@playwright/test";

const base = process.env.BASE_URL;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(`${base}/login`);
await page.getByLabel("User name").fill("demo");
await page.getByLabel("Password").fill("concur-demo-password");
await page.getByRole("button", { name: "Sign in" }).click();
await page.waitForURL(`${base}/`);
await page.getByRole("button", { name: "Sign in" }).waitFor({ state: "detached" });
await page.waitForLoadState("networkidle");
await page.mouse.move(0, 0);
// Whatever fades the page in (a view transition, a CSS animation) has finished.
await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished)));
await page.screenshot({ path: process.env.OUT });
await browser.close();
console.log(`saved ${process.env.OUT}`);
