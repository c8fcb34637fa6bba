// The web client: sign-in, profile, address book, groups, account, and make dev's live panel. Everything another
// person wrote (names, statuses) is put on the page as text, never as markup.
import { call, liveLines } from "./api.js";

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "messenger.session";

let session = JSON.parse(localStorage.getItem(SESSION_KEY) || "null"); // {token, phone}
let cursor = 0; // getcontacts' ts: the next delta starts here
const contacts = new Map(); // phone digits -> contact
const groups = new Map(); // gid -> group
let deleteCodeSent = false; // a fresh code for deleting the account was asked for
let profileShown = false; // the profile form holds the stored profile (from sign-in, a save, or a reload's sync)

function say(text) {
  $("error").hidden = true;
  $("status").textContent = text;
}

function fail(error) {
  $("status").textContent = "";
  $("error").textContent = error.message;
  $("error").hidden = false;
  if (error.code === "AUTHFAIL") signedOut();
}

/** Runs an action of a form or button: its errors are shown in words, and the button is busy meanwhile. */
function action(element, run) {
  const handler = async (event) => {
    event.preventDefault();
    $("error").hidden = true;
    const buttons = element.tagName === "FORM" ? element.querySelectorAll("button") : [element];
    buttons.forEach((b) => (b.disabled = true));
    try {
      await run();
    } catch (error) {
      fail(error);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      refreshDeleteForm();
    }
  };
  element.addEventListener(element.tagName === "FORM" ? "submit" : "click", handler);
}

const asked = () => $("phone").value.trim();
const withToken = () => ({ token: session.token });
// mesibo binds a user token to the app that asked for it, named as apps are (dotted, not a number): this site's
// domain reversed (app.example.com: com.example.app), as Android and iOS name theirs; on localhost or an address,
// a fixed local name.
const host = location.hostname;
const APP_ID = host.includes(".") && !/^[0-9.]+$/.test(host) ? host.split(".").reverse().join(".") : "local.messenger.web";

// Sign-in -------------------------------------------------------------------------------------------------------

action($("phone-form"), async () => {
  const answer = await call("login", { phone: asked(), appid: APP_ID });
  $("phone").readOnly = true;
  $("code-form").hidden = false;
  $("code").value = "";
  $("code").focus();
  say(`Code sent. You can ask for another in ${answer.resend_after} s.`);
});

$("other-number").addEventListener("click", () => {
  $("phone").readOnly = false;
  $("code-form").hidden = true;
  $("phone").focus();
});

action($("code-form"), async () => {
  const answer = await call("verify", { phone: asked(), code: $("code").value.trim(), appid: APP_ID });
  session = { token: answer.token, phone: answer.phone };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  showProfile(answer);
  signedIn();
  say(answer.new_user ? "Welcome! Your account is ready." : "Signed in.");
  await syncChanges();
});

function signedIn() {
  $("signin").hidden = true;
  $("signed-in").hidden = false;
  $("whoami").textContent = `Signed in as +${session.phone}`;
  $("name").focus();
}

function signedOut() {
  session = null;
  profileShown = false;
  deleteCodeSent = false;
  localStorage.removeItem(SESSION_KEY);
  cursor = 0;
  contacts.clear();
  groups.clear();
  renderContacts();
  renderGroups();
  $("changes").replaceChildren();
  $("signin").hidden = false;
  $("signed-in").hidden = true;
  $("code-form").hidden = true;
  $("phone").readOnly = false;
  $("whoami").textContent = "Not signed in";
}

// Profile -------------------------------------------------------------------------------------------------------

function showProfile(profile) {
  profileShown = true;
  $("name").value = profile.name ?? "";
  $("status-text").value = profile.status ?? "";
  $("profile-summary").textContent = `${profile.name || "(no name yet)"} — ${profile.status || "(no status)"}`;
  setThumbnail($("thumbnail"), profile.tn);
}

function setThumbnail(img, tn) {
  img.hidden = !tn;
  if (tn) img.src = `data:image/jpeg;base64,${tn}`;
}

action($("profile-form"), async () => {
  const answer = await call("profile", { name: $("name").value, status: $("status-text").value }, withToken());
  showProfile(answer.u);
  say("Profile saved. Your contacts see it on their next sync.");
});

action($("photo-form"), async () => {
  const file = $("photo").files[0];
  if (!file) throw new Error("Choose a picture first.");
  const answer = await call("profile", {}, { ...withToken(), file });
  showProfile(answer.u);
  say("Photo uploaded: the thumbnail is what your contacts see first.");
});

// Address book --------------------------------------------------------------------------------------------------

action($("contacts-form"), async () => {
  const numbers = $("numbers").value.split(/[\n,;]+/).map((n) => n.trim()).filter(Boolean);
  if (numbers.length === 0) throw new Error("Paste at least one number.");
  // reset=1: the pasted numbers become the whole address book (as an app's first sync after sign-in).
  const answer = await call("getcontacts", { phones: numbers.join(","), reset: "1" }, withToken());
  const users = answer.contacts.filter((c) => c.gid === 0 && c.deleted !== "1");
  const valid = numbers.length - answer.invalid;
  $("contacts-summary").textContent =
    `${users.length} of ${valid} numbers use the app` +
    (answer.invalid ? `; ${answer.invalid} could not be read as a number.` : ".");
  // The lists start again from the whole picture, quietly: numbers no longer in the book leave them.
  contacts.clear();
  groups.clear();
  cursor = 0;
  await syncChanges();
  say("Address book synced.");
});

action($("check-changes"), async () => {
  const changed = await syncChanges();
  say(changed === 0 ? "No changes." : `${changed} change${changed === 1 ? "" : "s"}.`);
});

const sameProfile = (a, b) => a.name === b.name && a.status === b.status && a.photo === b.photo && a.tn === b.tn;
const sameGroup = (a, b) => sameProfile(a, b) && a.members === b.members;

/**
 * getcontacts without numbers: what changed after the cursor (contacts and groups), told as changes. The server
 * repeats what changed in its last minute on purpose (a write in flight is never missed), so an entry counts as a
 * change only if it differs from what is shown; the first sync after sign-in only fills the lists.
 */
async function syncChanges() {
  const answer = await call("getcontacts", { ts: String(cursor) }, withToken());
  const first = cursor === 0;
  cursor = answer.ts;
  // Only after a reload: once the form holds the profile, a sync in flight (the one that follows sign-in) must not
  // put its older copy over what the person is typing or has just saved.
  if (!profileShown) showProfile(answer.u);
  let changes = 0;
  const note = (text) => {
    changes += 1;
    if (!first) logChange(text);
  };
  for (const entry of answer.contacts) {
    if (entry.gid) {
      const known = groups.get(entry.gid);
      if (entry.deleted === "1") {
        if (known) note(`Group “${known.name}” is gone`);
        groups.delete(entry.gid);
      } else {
        if (!known) note(`You are in the group “${entry.name}”`);
        else if (!sameGroup(known, entry)) note(`Group “${entry.name}” changed`);
        groups.set(entry.gid, entry);
      }
    } else if (entry.deleted === "1") {
      const known = contacts.get(entry.phone);
      if (known) note(`${label(known)} left the app`);
      contacts.delete(entry.phone);
    } else {
      const known = contacts.get(entry.phone);
      if (!known) note(`${label(entry)} joined the app`);
      else if (!sameProfile(known, entry)) note(`${label(entry)} updated their profile`);
      contacts.set(entry.phone, entry);
    }
  }
  renderContacts();
  renderGroups();
  return first ? 0 : changes;
}

const label = (contact) => (contact.name ? `${contact.name} (+${contact.phone})` : `+${contact.phone}`);

function logChange(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} — ${text}`;
  $("changes").prepend(item);
}

function renderContacts() {
  const items = [...contacts.values()].map((contact) => {
    const item = document.createElement("li");
    const img = document.createElement("img");
    img.alt = "";
    img.width = img.height = 40;
    setThumbnail(img, contact.tn);
    const text = document.createElement("span");
    text.textContent = `${contact.name || "(no name)"} · +${contact.phone}${contact.status ? ` · ${contact.status}` : ""}`;
    item.append(img, text);
    return item;
  });
  $("contact-list").replaceChildren(...items);
}

// Groups --------------------------------------------------------------------------------------------------------

/** Numbers as typed, one per comma, semicolon or line ("+1 201 555 0101" is one number), spaces and dashes dropped. */
const memberList = (value) =>
  value.split(/[\n,;]+/).map((n) => n.replace(/[\s().-]/g, "")).filter(Boolean).join(",");

action($("group-form"), async () => {
  const m = memberList($("group-members").value);
  const answer = await call("setgroup", { name: $("group-name").value, ...(m ? { m } : {}) }, withToken());
  groups.set(answer.gid, answer);
  renderGroups();
  $("group-form").reset();
  say(`Group “${answer.name}” created.`);
});

/** mesibo's members string, "<admincount>:<owner>,<admins…>,<others…>" (the owner counts as an admin), as people. */
function members(group) {
  const [admins, list] = (group.members || "0:").split(":");
  return list.split(",").filter(Boolean).map((phone, i) => ({ phone, role: i === 0 ? "owner" : i < Number(admins) ? "admin" : "member" }));
}

function renderGroups() {
  const items = [...groups.values()].map((group) => {
    const item = document.createElement("li");
    const title = document.createElement("h3");
    title.textContent = group.name;
    const list = document.createElement("ul");
    list.setAttribute("aria-label", `Members of ${group.name}`);
    for (const member of members(group)) {
      const li = document.createElement("li");
      const known = contacts.get(member.phone);
      li.textContent = `${known?.name || "+" + member.phone}${member.phone === session?.phone ? " (you)" : ""} — ${member.role}`;
      list.append(li);
    }
    const form = document.createElement("form");
    const id = `edit-${group.gid}`;
    const inputLabel = document.createElement("label");
    inputLabel.htmlFor = id;
    inputLabel.textContent = `Numbers to add to or remove from “${group.name}”`;
    const input = document.createElement("input");
    input.id = id;
    input.inputMode = "tel";
    input.required = true;
    const add = document.createElement("button");
    add.type = "submit";
    add.textContent = "Add";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Remove";
    form.append(inputLabel, input, add, remove);
    const edit = async (removing) => {
      const answer = await call("editmembers", { gid: String(group.gid), m: memberList(input.value), ...(removing ? { delete: "1" } : {}) }, withToken());
      groups.set(answer.gid, answer);
      renderGroups();
      say(removing ? "Members removed." : "Members added.");
    };
    action(form, () => edit(false));
    action(remove, () => edit(true));
    item.append(title, list, form);
    return item;
  });
  $("group-list").replaceChildren(...items);
}

// Account -------------------------------------------------------------------------------------------------------

// Everything the backend stores about me, as a JSON file (POST /export).
action($("export"), async () => {
  const answer = await call("export", {}, withToken());
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(answer, null, 2)], { type: "application/json" }));
  link.download = `my-data-${session.phone}.json`;
  link.click();
  URL.revokeObjectURL(link.href);
  say("Your data is downloaded: profile, devices, groups, address-book size, sign-ins and limits.");
});

action($("logout"), async () => {
  await call("logout", {}, withToken());
  signedOut();
  say("Logged out of this device.");
});

action($("logout-all"), async () => {
  const answer = await call("logout", { all: "1" }, withToken());
  signedOut();
  say(`Logged out everywhere (${answer.revoked} sign-in${answer.revoked === 1 ? "" : "s"} ended).`);
});

function refreshDeleteForm() {
  $("delete-code-input").disabled = !deleteCodeSent;
  $("delete-account").disabled = !deleteCodeSent;
}

action($("delete-code"), async () => {
  await call("login", { phone: `+${session.phone}`, appid: APP_ID });
  deleteCodeSent = true;
  refreshDeleteForm();
  $("delete-code-input").focus();
  say("Code sent: enter it to delete your account.");
});

action($("delete-form"), async () => {
  await call("deleteaccount", { code: $("delete-code-input").value.trim() }, withToken());
  deleteCodeSent = false;
  $("delete-form").reset();
  signedOut();
  say("Your account is deleted.");
});

// make dev's live panel -----------------------------------------------------------------------------------------

async function followLive() {
  let after = 0;
  for (;;) {
    let lines;
    try {
      lines = await liveLines(after);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      continue;
    }
    if (lines === null) return; // no panel on this server
    $("live").hidden = false;
    for (const line of lines) {
      after = line.seq;
      const item = document.createElement("li");
      item.className = `live-${line.kind}`;
      item.textContent = line.text;
      $("live-lines").prepend(item);
    }
    while ($("live-lines").children.length > 200) $("live-lines").lastChild.remove();
  }
}

if (session) {
  signedIn();
  syncChanges().catch(fail);
}
followLive();
