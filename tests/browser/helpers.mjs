// What the browser tests share: Debian's Chromium driven by playwright-core, the running `make dev` stack
// (infra/browser-tests.sh starts it and names it in API_URL), and the codes its live panel shows.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// playwright-core is installed into .local/npm by infra/install.sh browser, not beside these files.
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const { chromium } = createRequire(import.meta.url)(join(ROOT, ".local/npm/node_modules/playwright-core"));

export const API_URL = process.env.API_URL ?? "http://127.0.0.1:3000";

/** Headless Chromium from Debian's package, with nothing reaching out to Google's services. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A US number nobody else in this run draws (as the Rust tests' random_phone). */
export function randomPhone() {
  const n = Math.floor(Math.random() * 8_000_000);
  return `+1201${2 + (n % 8)}${String(Math.floor(n / 8) % 1_000_000).padStart(6, "0")}`;
}

/** The latest code make dev sent to `phone` (E.164) after line `after`, from the live panel's feed. */
export async function codeFor(phone, after = 0) {
  const deadline = Date.now() + 15_000;
  let seen = after;
  let code;
  while (Date.now() < deadline) {
    const { lines } = await (await fetch(`${API_URL}/_dev/live?after=${seen}&wait=5`)).json();
    for (const line of lines) {
      seen = line.seq;
      const match = line.text.match(/^\[dev SMS\] to (\+[0-9]+) code ([0-9]+)$/);
      if (match && match[1] === phone) code = match[2];
    }
    if (code) return code;
  }
  throw new Error(`no code for ${phone} in the live panel`);
}

/** The live panel's last line number now: codes sent after it are the ones to read. */
export async function liveMark() {
  const { lines } = await (await fetch(`${API_URL}/_dev/live?after=0&wait=0`)).json();
  return lines.length ? lines[lines.length - 1].seq : 0;
}

/** A screenshot of `page` (the whole page, or what a screen shows with `fullPage` false): under docs/screenshots
 * with UPDATE_SCREENSHOTS=1 (README shows them), else under .local/. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  const dir = join(ROOT, process.env.UPDATE_SCREENSHOTS === "1" ? "docs/screenshots" : ".local/screenshots");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage });
}

/** Waits until the web client shows `selector` or an error; an error fails the test with its words. */
export async function shownWithoutError(page, selector) {
  await page.locator(`${selector}:visible, #error:visible`).first().waitFor();
  assert.equal(await page.locator("#error").isVisible(), false, await page.locator("#error").textContent());
}
