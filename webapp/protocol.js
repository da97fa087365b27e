// The phone protocol (docs/phone-api.md) for the web app: the same bytes as
// firmware/cloudpin/phone/protocol.py, on WebCrypto (HMAC-SHA256, HKDF,
// AES-CTR). tests/test_phone_webapp.py runs this file in Chromium against
// the pin's own service and checks it byte for byte against the Python one.

export const SERVICE_UUID = "441050e0-0cce-49cc-b8ae-553248e3a2ab";
export const RX_UUID = "441050e1-0cce-49cc-b8ae-553248e3a2ab";
export const TX_UUID = "441050e2-0cce-49cc-b8ae-553248e3a2ab";
export const COMPANY_ID = 0xffff;
export const BEACON_KIND = 0x1f;
export const PROTO = 1;
export const MAX_MESSAGE = 1024;
const NONCE = 16, PROOF = 16, TAG = 8, FIRST = 0x80;
export const K = { HELLO: 1, PROVE: 2, REQUEST: 3, CHALLENGE: 0x81, WELCOME: 0x82, RESPONSE: 0x83, EVENT: 0x84, ERROR: 0xff };
export const OP = { INFO: 1, CARD_GET: 2, CARD_SET: 3, FRIENDS: 4, STATS: 5, DESIGNS: 6, DESIGN_SET: 7 };
export const EV = { FRIEND: 1, UPDATE: 2, DESIGN: 3, BATTERY: 4 };
export const STATUS = ["ok", "malformed", "too large", "out of order", "unauthorised", "bad proof", "locked",
  "bad tag", "replay", "unknown", "invalid", "not found", "unavailable", "internal", "session over", "version"];
export const S = { OK: 0, BAD_PROOF: 5, LOCKED: 6, MALFORMED: 1, VERSION: 15 };
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export class PhoneError extends Error {
  constructor(status, what, waitS = 0) {
    super(`${what}: ${STATUS[status] ?? "status " + status}`);
    this.status = status;
    this.what = what;
    this.waitS = waitS;
  }
}

export function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function same(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// -- secret ------------------------------------------------------------------
export function base32Decode(s) {
  const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.toUpperCase().replace(/=+$/, "")) {
    const v = alpha.indexOf(c);
    if (v < 0) throw new Error("not base32");
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return new Uint8Array(out);
}

// "CLOUDPIN:1:<badge id>:<base32 key>" (the card's QR code) -> {badge, key}
export function parseSecret(text) {
  const raw = text.trim();
  const t = decodeURIComponent(raw.includes("#") ? raw.slice(raw.indexOf("#") + 1) : raw); // a whole URL too
  const parts = t.split(":");
  let badge = null, key;
  if (parts.length === 4 && parts[0].toUpperCase() === "CLOUDPIN" && parts[1] === "1") {
    badge = parts[2].toLowerCase();
    key = base32Decode(parts[3]);
  } else if (/^[0-9a-fA-F]{32}$/.test(t)) {
    key = new Uint8Array(t.match(/../g).map((h) => parseInt(h, 16)));
  } else {
    key = base32Decode(t);
  }
  if (key.length !== 16) throw new Error("the secret must be the card's 16-byte key");
  return { badge, key };
}

// -- fragments ---------------------------------------------------------------
export function* fragments(msg, size = 20) {
  const n = msg.length;
  yield concat(new Uint8Array([FIRST, n & 0xff, n >> 8]), msg.subarray(0, size - 3));
  let pos = size - 3, i = 1;
  while (pos < n) {
    yield concat(new Uint8Array([i & 0x7f]), msg.subarray(pos, pos + size - 1));
    pos += size - 1;
    i++;
  }
}

export class Reassembler {
  constructor() { this.want = -1; }
  // the whole message (Uint8Array), null while more is due; throws on a broken fragment
  feed(f) {
    if (!f.length) { this.want = -1; throw new PhoneError(S.MALFORMED, "fragment"); }
    let body;
    if (f[0] & FIRST) {
      if (f[0] !== FIRST || f.length < 3) { this.want = -1; throw new PhoneError(S.MALFORMED, "fragment"); }
      this.want = f[1] | (f[2] << 8);
      this.buf = new Uint8Array(this.want);
      this.have = 0;
      this.next = 1;
      body = f.subarray(3);
    } else {
      if (this.want < 0 || f[0] !== this.next) { this.want = -1; throw new PhoneError(3, "fragment"); }
      this.next = (this.next + 1) & 0x7f;
      body = f.subarray(1);
    }
    if (this.have + body.length > this.want) { this.want = -1; throw new PhoneError(S.MALFORMED, "fragment"); }
    this.buf.set(body, this.have);
    this.have += body.length;
    if (this.have < this.want) return null;
    this.want = -1;
    return this.buf;
  }
}

// -- crypto ------------------------------------------------------------------
const subtle = globalThis.crypto.subtle;

async function hmac(key, ...parts) {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, concat(...parts)));
}

export async function phoneProof(key, np, nc) {
  return (await hmac(key, enc.encode("cloudpin v1 phone proof"), np, nc)).subarray(0, PROOF);
}

export async function pinProof(key, np, nc) {
  return (await hmac(key, enc.encode("cloudpin v1 pin proof"), nc, np)).subarray(0, PROOF);
}

export async function beaconTag(key, nonce) {
  return (await hmac(key, enc.encode("cloudpin v1 phone beacon"), nonce)).subarray(0, 4);
}

// Is this manufacturer data (what Web Bluetooth gives for COMPANY_ID: the
// bytes after the company id) the phone window of the pin holding key?
export async function isMine(payload, key) {
  if (payload.length !== 9 || payload[0] !== BEACON_KIND) return false;
  return same(await beaconTag(key, payload.subarray(1, 5)), payload.subarray(5, 9));
}

export class Channel {
  static async make(key, np, nc, pinSide) {
    const ikm = await subtle.importKey("raw", key, "HKDF", false, ["deriveBits"]);
    const okm = new Uint8Array(await subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: concat(np, nc), info: enc.encode("cloudpin v1 phone session") }, ikm, 768));
    const toPin = [okm.slice(0, 16), okm.slice(32, 64)], toPhone = [okm.slice(16, 32), okm.slice(64, 96)];
    const [out, inn] = pinSide ? [toPhone, toPin] : [toPin, toPhone];
    const c = new Channel();
    c.txEnc = await subtle.importKey("raw", out[0], "AES-CTR", false, ["encrypt"]);
    c.rxEnc = await subtle.importKey("raw", inn[0], "AES-CTR", false, ["encrypt"]);
    c.txMac = out[1];
    c.rxMac = inn[1];
    c.txSeq = 0;
    c.rxSeq = 0;
    return c;
  }

  static async ctr(k, seq, data) {
    const counter = new Uint8Array(16);
    counter[0] = seq & 0xff;
    counter[1] = seq >> 8;
    return new Uint8Array(await subtle.encrypt({ name: "AES-CTR", counter, length: 16 }, k, data));
  }

  async seal(kind, plain) {
    const seq = this.txSeq++;
    const head = new Uint8Array([kind, seq & 0xff, seq >> 8]);
    const ct = await Channel.ctr(this.txEnc, seq, plain);
    const tag = (await hmac(this.txMac, head, ct)).subarray(0, TAG);
    return concat(head, ct, tag);
  }

  async open(msg) {
    const n = msg.length - 11;
    if (n < 0) throw new PhoneError(S.MALFORMED, "message");
    const tag = (await hmac(this.rxMac, msg.subarray(0, 3 + n))).subarray(0, TAG);
    if (!same(tag, msg.subarray(3 + n))) throw new PhoneError(7, "message from the pin");
    const seq = msg[1] | (msg[2] << 8);
    if (seq !== this.rxSeq) throw new PhoneError(seq < this.rxSeq ? 8 : 3, "message from the pin");
    this.rxSeq++;
    return Channel.ctr(this.rxEnc, seq, msg.subarray(3, 3 + n));
  }
}

function checkError(msg, what) {
  if (msg.length >= 3 && msg[0] === K.ERROR) {
    throw new PhoneError(msg[1], what, msg[1] === S.LOCKED && msg.length >= 5 ? msg[3] | (msg[4] << 8) : 0);
  }
}

// The owner's phone, without I/O (as protocol.Phone).
export class Phone {
  constructor(key) { this.key = key; this.chan = null; }

  hello() { return new Uint8Array([K.HELLO, PROTO]); }

  async prove(msg) {
    checkError(msg, "hello");
    if (msg.length !== 2 + NONCE || msg[0] !== K.CHALLENGE) throw new PhoneError(S.MALFORMED, "challenge");
    if (msg[1] !== PROTO) throw new PhoneError(S.VERSION, "challenge");
    this.np = msg.slice(2);
    this.nc = crypto.getRandomValues(new Uint8Array(NONCE));
    return concat(new Uint8Array([K.PROVE]), this.nc, await phoneProof(this.key, this.np, this.nc));
  }

  async welcome(msg) {
    checkError(msg, "proof");
    if (msg.length !== 1 + PROOF || msg[0] !== K.WELCOME) throw new PhoneError(S.MALFORMED, "welcome");
    if (!same(await pinProof(this.key, this.np, this.nc), msg.subarray(1))) {
      throw new PhoneError(S.BAD_PROOF, "the pin's proof");
    }
    this.chan = await Channel.make(this.key, this.np, this.nc, false);
  }

  async request(op, args = new Uint8Array(0)) {
    const seq = this.chan.txSeq;
    return [await this.chan.seal(K.REQUEST, concat(new Uint8Array([op]), args)), seq];
  }

  async take(msg) {
    checkError(msg, "request");
    if (msg.length < 11 || (msg[0] !== K.RESPONSE && msg[0] !== K.EVENT)) throw new PhoneError(S.MALFORMED, "message");
    const plain = await this.chan.open(msg);
    if (msg[0] === K.EVENT) return { kind: "event", code: plain[0], payload: plain.subarray(1) };
    return { kind: "response", seq: plain[0] | (plain[1] << 8), status: plain[2], payload: plain.subarray(3) };
  }
}

// -- payloads ----------------------------------------------------------------
export class Reader {
  constructor(b) { this.b = b; this.p = 0; }
  take(n) {
    if (this.p + n > this.b.length) throw new Error("short");
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
  u8() { return this.take(1)[0]; }
  u16() { const b = this.take(2); return b[0] | (b[1] << 8); }
  u32() { const b = this.take(4); return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000; }
  text() { return dec.decode(this.take(this.u16())); }
  end() { if (this.p !== this.b.length) throw new Error("trailing bytes"); }
}

const FIELDS = ["name", "organisation", "role"];

export function getCard(r, withAcc = false) {
  const card = {};
  if (withAcc) card.acc = r.text();
  for (const f of FIELDS) card[f] = r.text();
  const n = r.u8();
  card.handles = [];
  for (let i = 0; i < n; i++) card.handles.push(r.text());
  return card;
}

export function cardArgs(card) {
  const parts = [];
  const text = (s) => { const b = enc.encode(s); parts.push(new Uint8Array([b.length & 0xff, b.length >> 8]), b); };
  for (const f of FIELDS) text(card[f] ?? "");
  parts.push(new Uint8Array([card.handles.length]));
  for (const h of card.handles) text(h);
  return concat(...parts);
}

function getFriend(r) {
  const slot = r.u16(), added = r.u32(), flags = r.u8();
  const latest = flags & 1 ? { steps: r.u32(), made: r.u16(), t: r.u32() } : null;
  return { slot, added, latest, card: getCard(r), shortened: !!(flags & 2) };
}

export function parseInfo(b) {
  const r = new Reader(b);
  const proto = r.u8(), pct = r.u8(), low = r.u8();
  const badge = Array.from(r.take(8), (x) => x.toString(16).padStart(2, "0")).join("");
  const version = dec.decode(r.take(r.u8()));
  r.end();
  return { proto, battery: pct === 255 ? null : pct, batteryLow: !!low, badgeId: badge, version };
}

export function parseCard(b) { const r = new Reader(b); const c = getCard(r, true); r.end(); return c; }

export function parsePage(b) {
  const r = new Reader(b);
  const total = r.u16(), next = r.u16(), n = r.u8();
  const friends = [];
  for (let i = 0; i < n; i++) friends.push(getFriend(r));
  r.end();
  return { total, next: next === 0xffff ? null : next, friends };
}

export function parseStats(b) {
  const r = new Reader(b);
  const s = { day: r.u32(), stepsToday: r.u32(), friendsToday: r.u16(), stepsTotal: r.u32(), friends: r.u16() };
  r.end();
  return s;
}

export function parseDesigns(b) {
  const r = new Reader(b);
  const sel = r.u8(), n = r.u8();
  const unlocked = [];
  for (let i = 0; i < n; i++) { const index = r.u8(); unlocked.push({ index, sport: dec.decode(r.take(r.u8())) }); }
  r.end();
  return { selected: sel === 255 ? null : sel, unlocked };
}

export function parseEvent(code, b) {
  const r = new Reader(b);
  if (code === EV.FRIEND) return { event: "friend", friend: getFriend(r) };
  if (code === EV.UPDATE) return { event: "update", slot: r.u16(), steps: r.u32(), made: r.u16(), t: r.u32() };
  if (code === EV.DESIGN) return { event: "design", index: r.u8() };
  if (code === EV.BATTERY) return { event: "battery", percent: r.u8(), low: !!r.u8() };
  return { event: "unknown", code };
}
