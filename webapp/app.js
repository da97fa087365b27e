// The page: the secret from the URL fragment (never sent to a server: a
// fragment is not part of an HTTP request), Web Bluetooth to the pin, one
// screen per tab.
import * as P from "./protocol.js";
import { Link, PinClient, explain } from "./client.js";

const $ = (id) => document.getElementById(id);
let secret = null;
let client = null;
let designNames = {};

function say(text, isError = false) {
  $("error").textContent = isError ? text : "";
  if (!isError) $("status").textContent = text;
}

function loadSecret(text) {
  try {
    secret = P.parseSecret(text);
    $("secret-state").textContent = secret.badge ? `Card for badge ${secret.badge.toUpperCase()} loaded.` : "Secret loaded.";
    $("paste").hidden = true;
    return true;
  } catch (e) {
    secret = null;
    return false;
  }
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function friendItem(f) {
  const li = el("li");
  li.append(el("div", "who", f.card.name), el("div", "sub", [f.card.organisation, f.card.role].filter(Boolean).join(" · ")));
  if (f.card.handles.length) li.append(el("div", "sub", f.card.handles.join("  ")));
  if (f.latest) li.append(el("div", "steps", `${f.latest.steps.toLocaleString("en")} steps, ${f.latest.made} new friends`));
  return li;
}

async function showProfile() {
  const c = await client.card();
  const form = $("card");
  $("acc").textContent = c.acc;
  for (const k of ["name", "organisation", "role"]) form.elements[k].value = c[k];
  form.elements.handles.value = c.handles.join("\n");
}

async function showFriends() {
  const list = $("friend-list");
  list.replaceChildren();
  let start = 0, total = 0, n = 0;
  while (start !== null) {
    const page = await client.page(start);
    total = page.total;
    for (const f of page.friends) { list.append(friendItem(f)); n++; }
    $("friends-count").textContent = total ? `${n} of ${total} friends` : "No friends yet: tap a pin to make one.";
    start = page.next;
  }
}

async function showStats() {
  const s = await client.stats();
  const dl = $("stat-list");
  dl.replaceChildren();
  for (const [k, v] of [["Steps today", s.stepsToday], ["New friends today", s.friendsToday],
    ["Steps at this event", s.stepsTotal], ["Friends", s.friends]]) {
    dl.append(el("dt", "", k), el("dd", "", v.toLocaleString("en")));
  }
}

function colour(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 60% 40%)`;
}

async function showDesigns() {
  const d = await client.designs();
  const grid = $("design-grid");
  grid.replaceChildren();
  designNames = {};
  $("design-note").textContent = d.unlocked.length ? "Choose the design your pin shows." : "No design unlocked yet.";
  for (const { index, sport } of d.unlocked) {
    designNames[index] = sport;
    const b = el("button", "design" + (index === d.selected ? " shown" : ""));
    b.style.background = colour(sport);
    // The design as the pin draws it (cloudpin designs --art webapp/designs);
    // a sport of another event's pack without a picture keeps its coloured tile.
    const img = el("img");
    img.alt = "";
    img.src = "designs/" + encodeURIComponent(sport) + ".png";
    img.onerror = () => img.remove();
    b.append(img, el("span", "name", sport.replace(/_/g, " ")));
    b.onclick = () => act(async () => { await client.selectDesign(index); await showDesigns(); });
    grid.append(b);
  }
}

const SHOW = { profile: showProfile, friends: showFriends, stats: showStats, designs: showDesigns, events: async () => {} };

async function act(fn) {
  try { $("error").textContent = ""; await fn(); } catch (e) { say(explain(e), true); }
}

function tab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== name;
  document.body.dataset.tab = name;
  return act(SHOW[name]);
}

function onEvent(e) {
  const list = $("event-list");
  const li = el("li");
  if (e.event === "friend") { li.append(el("div", "who", "New friend: " + e.friend.card.name)); }
  else if (e.event === "update") li.textContent = `A friend walked ${e.steps.toLocaleString("en")} steps`;
  else if (e.event === "design") li.textContent = `Design unlocked: ${designNames[e.index] || e.index}`;
  else if (e.event === "battery") li.textContent = `Battery ${e.percent}%` + (e.low ? " (low)" : "");
  else return;
  list.prepend(li);
}

async function connect() {
  if (!secret && !loadSecret($("secret").value)) return say("That is not a CloudPin pairing code.", true);
  $("connect").disabled = true;
  try {
    say("looking for your pin...");
    const link = await Link.open(say);
    client = new PinClient(link, secret.key);
    say("proving the secret...");
    await client.pair();
    client.onEvent = onEvent;
    const info = await client.info();
    if (secret.badge && info.badgeId !== secret.badge) throw new Error(`This pin is badge ${info.badgeId}, your card is for ${secret.badge}.`);
    say(`badge ${info.badgeId.toUpperCase()} · battery ${info.battery === null ? "?" : info.battery + "%"} · v${info.version}`);
    $("start").hidden = true;
    $("tabs").hidden = false;
    document.body.dataset.paired = "1";
    await tab("profile");
    setInterval(() => client.pump().catch(() => {}), 1000);
  } catch (e) {
    if (client) client.link.close();
    client = null;
    say(explain(e), true);
    $("status").textContent = "not connected";
  } finally {
    $("connect").disabled = false;
  }
}

$("card").onsubmit = (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  act(async () => {
    await client.setCard({ name: f.name.value.trim(), organisation: f.organisation.value.trim(), role: f.role.value.trim(),
      handles: f.handles.value.split("\n").map((h) => h.trim()).filter(Boolean) });
    await showProfile();
    $("saved").textContent = "Saved on your pin.";
  });
};
for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => tab(b.dataset.tab);
$("connect").onclick = connect;
if (!navigator.bluetooth) { $("nobt").hidden = false; $("connect").disabled = true; }
if (location.hash.length > 1) {
  loadSecret(location.hash);
  history.replaceState(null, "", location.pathname + location.search); // out of the history and the address bar
}
