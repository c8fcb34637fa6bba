// The web client (web/) end to end in headless Chromium against make dev's stack: two people, one joins while in
// the other's address book, a photo, a group, logouts and a deletion; every screen used by keyboard and at a
// phone's width, errors in words.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { API_URL, codeFor, launch, liveMark, randomPhone, screenshot, shownWithoutError } from "./helpers.mjs";

const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

async function open(options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
  await page.goto(`${API_URL}/`);
  return { context, page, problems };
}

/** Signs in by keyboard alone: the number, Enter, the code the live panel shows, Enter. */
async function signIn(page, phone) {
  const mark = await liveMark();
  await page.fill("#phone", "");
  await page.locator("#phone").focus();
  await page.keyboard.type(phone);
  await page.keyboard.press("Enter");
  await shownWithoutError(page, "#code");
  assert.equal(await page.evaluate(() => document.activeElement.id), "code", "the code field takes the focus");
  await page.keyboard.type(await codeFor(phone, mark));
  await page.keyboard.press("Enter");
  await shownWithoutError(page, "#signed-in");
  assert.equal(await page.locator("#whoami").textContent(), `Signed in as ${phone}`);
}

/** A real picture, drawn in the page (PNG bytes). */
async function picture(page) {
  const dataUrl = await page.evaluate(() => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 240;
    const g = canvas.getContext("2d");
    g.fillStyle = "#0b6e4f";
    g.fillRect(0, 0, 240, 240);
    g.fillStyle = "#f2a900";
    g.beginPath();
    g.arc(120, 120, 80, 0, Math.PI * 2);
    g.fill();
    return canvas.toDataURL("image/png");
  });
  return Buffer.from(dataUrl.split(",")[1], "base64");
}

/** Waits for `condition` in the page; a timeout says what the page shows (its error, in words, or its status). */
async function waitOrFail(page, condition, arg) {
  try {
    await page.waitForFunction(condition, arg, { timeout: 15_000 });
  } catch (error) {
    const shown = await page.evaluate(() => [document.querySelector("#error"), document.querySelector("#status"), document.querySelector("#group-list")].map((e) => e.textContent));
    throw new Error(`${error.message}; the page shows: ${JSON.stringify(shown)}`);
  }
}

/** The wait before the `sends`+1st code to one number: RESEND_COOLDOWN_SECONDS (1 s here, infra/browser-tests.sh),
 * doubled after each code sent. */
const resendCooldown = (sends) => new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (sends - 1) + 200));

const statusText = (page) => page.locator("#status").textContent();

// One story in steps, each a test of its own, run in order on the same two people.
const alicePhone = randomPhone();
const bobPhone = randomPhone();
const stranger = randomPhone();
let alice, bob, bobTablet, page;
let heldSync; // the sign-in's sync, held back until the profile is saved

test("the sign-in screen: every control labelled, an error in words, sign-in by keyboard with the code the live panel shows", async () => {
  alice = await open(DESKTOP);
  page = alice.page;
  // Every control has a label a screen reader reads.
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, textarea")].filter((e) => e.labels.length === 0).map((e) => e.id),
  );
  assert.deepEqual(unlabelled, []);
  await screenshot(page, "sign-in");

  // An error is shown in words, not as a code.
  await page.fill("#phone", "12");
  await page.click("text=Send me a code");
  await page.locator("#error").waitFor({ state: "visible" });
  assert.match(await page.locator("#error").textContent(), /not a phone number we can read/);
  await page.fill("#phone", "");

  // The sync that follows sign-in is answered at once but delivered late, so that the next step types and saves
  // while it is in flight (as on a slow network): its older copy of the profile must not land over them.
  let release, answered;
  const held = new Promise((resolve) => (release = resolve));
  const done = new Promise((resolve) => (answered = resolve));
  await page.route("**/getcontacts", async (route) => {
    const response = await route.fetch(); // answered by the server now, before the save
    await held;
    await route.fulfill({ response }); // delivered after it
    answered();
  });
  heldSync = { release, done };
  await signIn(page, alicePhone);
  // The live panel shows the code sent and mesibo's user being made.
  await page.locator("#live-lines li.live-sms").first().waitFor();
  assert.match(await page.locator("#live").textContent(), /\[dev mesibo\] useradd/);
});

test("a profile: name, status, and a photo with its thumbnail", async () => {
  // Profile: name, status, photo with its thumbnail.
  await page.fill("#name", "Alice");
  await page.fill("#status-text", "Hiking this weekend");
  await page.click("text=Save name and status");
  await waitOrFail(page, () => document.querySelector("#profile-summary").textContent.startsWith("Alice"));
  // The sync held since sign-in now answers, with the profile as it was before the save.
  heldSync.release();
  await heldSync.done;
  await page.unroute("**/getcontacts");
  await page.waitForTimeout(500);
  assert.equal(await page.inputValue("#name"), "Alice");
  assert.equal(await page.locator("#profile-summary").textContent(), "Alice — Hiking this weekend");
  await page.setInputFiles("#photo", { name: "alice.png", mimeType: "image/png", buffer: await picture(page) });
  await page.click("text=Upload photo");
  await page.locator("#thumbnail").waitFor({ state: "visible" });
  assert.match(await page.getAttribute("#thumbnail", "src"), /^data:image\/jpeg;base64,\/9j\//);
  // A reload keeps the session and shows the profile as stored (saving again would not blank it).
  await page.reload();
  await waitOrFail(page, () => document.querySelector("#profile-summary").textContent === "Alice — Hiking this weekend");
  assert.equal(await page.inputValue("#name"), "Alice");
  await page.locator("#thumbnail").waitFor({ state: "visible" });
});

test("a contact joins: Alice synced Bob's number before he signed up, and sees him join", async () => {
  // Alice's address book holds Bob, who is not a user yet, and a stranger.
  await page.fill("#numbers", `${bobPhone}\n${stranger}\nnot a number`);
  await page.click("text=Sync address book");
  await waitOrFail(page, () => document.querySelector("#contacts-summary").textContent !== "");
  assert.equal(await page.locator("#contacts-summary").textContent(), "0 of 2 numbers use the app; 1 could not be read as a number.");

  // Bob signs up on a phone-sized screen.
  bob = await open(PHONE);
  await signIn(bob.page, bobPhone);
  await bob.page.fill("#name", "Bob");
  await bob.page.click("text=Save name and status");
  await waitOrFail(bob.page, () => document.querySelector("#profile-summary").textContent.startsWith("Bob"));
  // Nothing runs wider than the phone.
  const width = await bob.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide on a 390 px screen`);

  // Alice sees Bob join: the live panel shows the event sent to her (sent once the notifier has marked Bob's entry
  // in her address book as a user's, which is what lets her delta list him), then her changes and her contacts.
  await waitOrFail(page,
    (to) => [...document.querySelectorAll("#live-lines li.live-event")].some((li) => li.textContent.includes(`contact_joined to ${to}`)),
    alicePhone,
  );
  await page.click("text=Check for changes");
  await waitOrFail(page, () => document.querySelector("#changes").textContent.includes("joined the app"));
  assert.match(await page.locator("#changes").textContent(), new RegExp(`Bob \\(\\${bobPhone}\\) joined the app`));
  assert.match(await page.locator("#contact-list").textContent(), /Bob/);
  // The server repeats its last minute's changes on purpose: asked again at once, nothing is news.
  await page.click("text=Check for changes");
  await waitOrFail(page, () => document.querySelector("#status").textContent === "No changes.");
  assert.equal(await page.locator("#changes li").count(), 1);
});

test("a group: made, a member added and removed, refusals in words", async () => {
  // A group: made empty, Bob added, Bob sees it, Bob removed; adding him back so soon, or someone who is not in
  // the address book, is refused in words.
  await page.fill("#group-name", "Weekend");
  await page.click("text=Create group");
  const group = page.locator("#group-list > li", { hasText: "Weekend" });
  await group.waitFor();
  assert.match(await group.textContent(), new RegExp(`\\${alicePhone} \\(you\\) — owner`));
  // A number as people write it, with spaces, is one number.
  await group.locator("input").fill(`${bobPhone.slice(0, 2)} ${bobPhone.slice(2, 5)} ${bobPhone.slice(5, 8)} ${bobPhone.slice(8)}`);
  await group.locator("button", { hasText: "Add" }).click();
  await waitOrFail(page, () => document.querySelector("#group-list").textContent.includes("Bob — member"));
  await bob.page.click("text=Check for changes");
  await waitOrFail(bob.page, () => document.querySelector("#group-list").textContent.includes("Weekend"));
  // Bob's contacts show Alice with her photo's thumbnail.
  assert.match(await bob.page.locator("#contact-list li", { hasText: "Alice" }).locator("img").getAttribute("src"), /^data:image\/jpeg;base64,/);
  await screenshot(bob.page, "phone", { fullPage: false });
  await group.locator("input").fill(bobPhone);
  await group.locator("button", { hasText: "Remove" }).click();
  await waitOrFail(page, () => !document.querySelector("#group-list").textContent.includes("Bob — member"));
  await group.locator("input").fill(bobPhone);
  await group.locator("button", { hasText: "Add" }).click();
  await page.locator("#error").waitFor({ state: "visible" });
  assert.match(await page.locator("#error").textContent(), /left or was removed recently/);
  await group.locator("input").fill(randomPhone());
  await group.locator("button", { hasText: "Add" }).click();
  await waitOrFail(page, () => document.querySelector("#error").textContent.includes("contacts who use the app"));
  await page.click("text=Check for changes");
  await waitOrFail(page, () => /change|No changes/.test(document.querySelector("#status").textContent));
  await screenshot(page, "contacts-and-groups");
});

test("logging out everywhere ends every device's sign-in", async () => {
  // Bob on a second device; "log out everywhere" on the first ends both.
  bobTablet = await open(DESKTOP);
  await signIn(bobTablet.page, bobPhone);
  await bob.page.click("text=Log out everywhere");
  await bob.page.locator("#signin").waitFor({ state: "visible" });
  assert.match(await statusText(bob.page), /Logged out everywhere \(2 sign-ins ended\)/);
  await bobTablet.page.click("text=Check for changes");
  await bobTablet.page.locator("#signin").waitFor({ state: "visible" });
  assert.match(await bobTablet.page.locator("#error").textContent(), /You are signed out/);
});

test("deleting the account with a fresh code: the contact sees them leave", async () => {
  // Bob signs in again, deletes his account with a fresh code; Alice sees him leave.
  await resendCooldown(2);
  await signIn(bob.page, bobPhone);
  await resendCooldown(3);
  const mark = await liveMark();
  await bob.page.click("text=Send me a code to confirm");
  await waitOrFail(bob.page, () => !document.querySelector("#delete-code-input").disabled);
  await bob.page.fill("#delete-code-input", await codeFor(bobPhone, mark));
  await bob.page.click("text=Delete my account");
  await bob.page.locator("#signin").waitFor({ state: "visible" });
  assert.equal(await statusText(bob.page), "Your account is deleted.");
  await page.click("text=Check for changes");
  await waitOrFail(page, () => document.querySelector("#changes").textContent.includes("left the app"));
});

test("downloading my data: the export as a JSON file, with my groups and no token", async () => {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download my data")]);
  const data = JSON.parse(readFileSync(await download.path(), "utf8"));
  assert.equal(data.op, "export");
  assert.equal(data.profile.name, "Alice");
  assert.equal(data.groups[0].name, "Weekend");
  assert.equal(data.groups[0].role, "owner");
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("messenger.session")).token);
  assert.ok(!JSON.stringify(data).includes(token), "no token in the export");
});

test("logging out of one device ends that device's token and no other", async () => {
  const laptop = await open(DESKTOP);
  await resendCooldown(1);
  await signIn(laptop.page, alicePhone);
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("messenger.session")).token);
  await page.click("text=Log out of this device");
  await page.locator("#signin").waitFor({ state: "visible" });
  assert.equal(await statusText(page), "Logged out of this device.");
  const answer = await (await fetch(`${API_URL}/getcontacts`, { method: "POST", headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(answer.error, "AUTHFAIL");
  // The other device is still signed in.
  await laptop.page.click("text=Check for changes");
  await waitOrFail(laptop.page, () => /change/i.test(document.querySelector("#status").textContent));
  assert.equal(await laptop.page.locator("#signed-in").isVisible(), true);
  await laptop.context.close();
});

test("the app-store review number signs in with its fixed code, and no SMS is sent", async () => {
  // make dev's TEST_NUMBERS (infra/dev.sh): +12015550100 always takes 428913.
  const reviewer = await open(PHONE);
  const mark = await liveMark();
  await reviewer.page.fill("#phone", "+1 201 555 0100");
  await reviewer.page.click("text=Send me a code");
  await waitOrFail(reviewer.page, () => !document.querySelector("#code-form").hidden);
  await reviewer.page.fill("#code", "428913");
  await reviewer.page.click("#code-form button[type=submit]");
  await waitOrFail(reviewer.page, () => !document.querySelector("#signed-in").hidden);
  assert.equal(await reviewer.page.locator("#whoami").textContent(), "Signed in as +12015550100");
  const { lines } = await (await fetch(`${API_URL}/_dev/live?after=${mark}&wait=0`)).json();
  assert.deepEqual(lines.filter((line) => line.kind === "sms"), []);
  assert.deepEqual(reviewer.problems, []);
  await reviewer.context.close();
});

test("no page logged a script error", async () => {
  // The refusals the steps provoke on purpose (400, 401, 403) are logged by Chromium as failed loads; nothing else.
  for (const person of [alice, bob, bobTablet].filter(Boolean)) {
    assert.deepEqual(person.problems.filter((p) => !p.includes("Failed to load resource")), []);
    await person.context.close();
  }
});
