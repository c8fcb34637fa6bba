// Pages of other origins, in headless Chromium: mesibo's web messenger's requests (mesibo/messenger-javascript:
// login/login.js posts op=login&appid&phone, then with otp, as a form to MESSENGER_API_URL; its contact sync reads
// getcontacts) are readable from an allowed origin, as form bodies to api.php and as JSON with a Bearer token; a
// refused origin reads nothing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { API_URL, codeFor, launch, liveMark, randomPhone, shownWithoutError } from "./helpers.mjs";

// infra/browser-tests.sh lists http://localhost:<OTHER_ORIGIN_PORT> in ALLOWED_ORIGINS, and not the refused one;
// it also builds the web client as a static site for that API (infra/web-dist.sh, in WEB_DIST), served here under
// /app/ of the allowed origin as any static host would.
const ALLOWED = `http://localhost:${process.env.OTHER_ORIGIN_PORT}`;
const REFUSED = `http://127.0.0.1:${process.env.REFUSED_ORIGIN_PORT}`;

let browser;
const servers = [];
before(async () => {
  browser = await launch();
  for (const origin of [ALLOWED, REFUSED]) {
    const server = createServer((request, response) => {
      const file = request.url.match(/^\/app\/([a-z]+\.(html|js|css|svg))?$/);
      if (file && process.env.WEB_DIST) {
        const types = { html: "text/html", js: "text/javascript", css: "text/css", svg: "image/svg+xml" };
        response.writeHead(200, { "content-type": types[file[2] ?? "html"] });
        response.end(readFileSync(join(process.env.WEB_DIST, file[1] ?? "index.html")));
        return;
      }
      response.writeHead(file ? 404 : 200, { "content-type": "text/html" });
      response.end("<!doctype html><title>another site</title><p>A page of another origin.</p>");
    });
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(new URL(origin).port), "127.0.0.1", resolve);
    });
    servers.push(server);
  }
});
after(async () => {
  await browser?.close();
  for (const server of servers) server.close();
});

async function pageOf(origin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  return page;
}

// mesibo's http helper (setPostData(p, true) then send): an XMLHttpRequest POST of a urlencoded form.
function postForm(page, url, fields) {
  return page.evaluate(
    ([url, fields]) =>
      new Promise((resolve, reject) => {
        const http = new XMLHttpRequest();
        http.open("POST", url);
        http.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
        http.onload = () => resolve({ status: http.status, body: http.responseText });
        http.onerror = () => reject(new Error("the browser withheld the answer"));
        http.send(new URLSearchParams(fields).toString());
      }),
    [url, fields],
  );
}

test("mesibo's web messenger signs in and syncs from another origin", async () => {
  const page = await pageOf(ALLOWED);
  const phone = randomPhone();
  const digits = phone.slice(1);
  const mark = await liveMark();
  // login.js strips the +: phone is country code and digits.
  const sent = await postForm(page, `${API_URL}/api.php`, { op: "login", appid: "com.mesibo.webapp", phone: digits });
  assert.equal(sent.status, 200);
  assert.equal(JSON.parse(sent.body).result, "OK");
  const otp = await codeFor(phone, mark);
  const signedIn = JSON.parse((await postForm(page, `${API_URL}/api.php`, { op: "login", appid: "com.mesibo.webapp", phone: digits, otp })).body);
  assert.equal(signedIn.result, "OK", JSON.stringify(signedIn));
  assert.ok(signedIn.token.length > 16, "login.js keeps a token longer than 16 characters");

  // getcontacts as a form body with the token, to api.php.
  const friend = randomPhone();
  const form = JSON.parse((await postForm(page, `${API_URL}/api.php`, { op: "getcontacts", token: signedIn.token, phones: friend.slice(1), reset: "1" })).body);
  assert.equal(form.result, "OK", JSON.stringify(form));
  assert.ok(Array.isArray(form.contacts));

  // getcontacts as JSON with a Bearer token: a preflighted request, answered and readable.
  const json = await page.evaluate(
    async ([url, token]) => {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ ts: 0 }),
      });
      return { status: response.status, body: await response.json() };
    },
    [`${API_URL}/getcontacts`, signedIn.token],
  );
  assert.equal(json.status, 200);
  assert.equal(json.body.result, "OK");
  assert.equal(json.body.u.phone, digits);

  // A refusal is readable too: the page can tell the person why.
  const refused = await page.evaluate(async (url) => {
    const response = await fetch(url, { method: "POST", headers: { Authorization: "Bearer not-a-token-at-all-0000" } });
    return { status: response.status, body: await response.json() };
  }, `${API_URL}/getcontacts`);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error, "AUTHFAIL");
  await page.context().close();
});

test("a refused origin reads nothing: no CORS header on its answers or its preflights", async () => {
  const page = await pageOf(REFUSED);
  const mark = await liveMark();
  const phone = randomPhone();
  await assert.rejects(postForm(page, `${API_URL}/api.php`, { op: "login", phone: phone.slice(1) }), /withheld/);
  const blocked = await page.evaluate(async (url) => {
    try {
      await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      return "read";
    } catch (error) {
      return error.name;
    }
  }, `${API_URL}/getcontacts`);
  assert.equal(blocked, "TypeError");
  await page.context().close();
  // The simple POST still reached the API (CORS protects answers, not the server): the code went out, unreadable
  // to the page.
  assert.match(await codeFor(phone, mark), /^[0-9]{6}$/);

  const preflight = await fetch(`${API_URL}/getcontacts`, {
    method: "OPTIONS",
    headers: { Origin: REFUSED, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), null);
  const answer = await fetch(`${API_URL}/login`, { method: "POST", headers: { Origin: REFUSED }, body: new URLSearchParams({ phone: "1" }) });
  assert.equal(answer.headers.get("access-control-allow-origin"), null);

  const allowed = await fetch(`${API_URL}/getcontacts`, {
    method: "OPTIONS",
    headers: { Origin: ALLOWED, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" },
  });
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get("access-control-allow-origin"), ALLOWED);
  assert.equal(allowed.headers.get("access-control-allow-methods"), "GET,POST");
  assert.equal(allowed.headers.get("access-control-allow-headers"), "authorization,content-type");
  assert.equal(allowed.headers.get("access-control-max-age"), "7200");
});

test("the web client deployed on another site (infra/web-dist.sh) signs in, sets a photo and syncs", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(`${ALLOWED}/app/`);
  const phone = randomPhone();
  const mark = await liveMark();
  await page.fill("#phone", phone);
  await page.click("#phone-form button");
  await shownWithoutError(page, "#code-form");
  await page.fill("#code", await codeFor(phone, mark));
  await page.click("#code-form button[type=submit]");
  await shownWithoutError(page, "#signed-in");
  // A multipart upload with a Bearer token: preflighted, answered, readable.
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC",
    "base64",
  );
  await page.setInputFiles("#photo", { name: "me.png", mimeType: "image/png", buffer: png });
  await page.click("#photo-form button");
  await shownWithoutError(page, "#thumbnail");
  await page.fill("#numbers", randomPhone());
  await page.click("#contacts-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#contacts-summary").textContent !== "");
  assert.equal(await page.locator("#contacts-summary").textContent(), "0 of 1 numbers use the app.");
  // The live panel is make dev's own, same-origin: a page elsewhere has none.
  assert.equal(await page.locator("#live").isHidden(), true);
  assert.deepEqual(problems, []);
  await context.close();
});
