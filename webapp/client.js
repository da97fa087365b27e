// The web app's link to the pin over Web Bluetooth, and the client on top
// (as host_tools/phone/client.py): pair, then requests and events.
import * as P from "./protocol.js";

const FRAGMENT = 20; // Web Bluetooth gives a page no MTU: ATT_MTU 23 - 3 always fits

export class Link {
  // Ask the browser for a pin in its phone window (the chooser lists pins
  // advertising CloudPin's beacon), connect, subscribe to TX.
  static async open(log = () => {}) {
    const device = await navigator.bluetooth.requestDevice({
      filters: [{ manufacturerData: [{ companyIdentifier: P.COMPANY_ID, dataPrefix: new Uint8Array([P.BEACON_KIND]) }] }],
      optionalServices: [P.SERVICE_UUID],
    });
    log(`connecting to ${device.name || "the pin"}...`);
    const server = await device.gatt.connect();
    const service = await server.getPrimaryService(P.SERVICE_UUID);
    const link = new Link();
    link.device = device;
    link.rx = await service.getCharacteristic(P.RX_UUID);
    link.tx = await service.getCharacteristic(P.TX_UUID);
    link.queue = [];
    link.waiters = [];
    link.tx.addEventListener("characteristicvaluechanged", (e) => {
      const v = e.target.value;
      link.push(new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)));
    });
    device.addEventListener("gattserverdisconnected", () => { link.closed = true; link.push(null); });
    await link.tx.startNotifications();
    return link;
  }

  push(frag) {
    const w = this.waiters.shift();
    if (w) w(frag); else this.queue.push(frag);
  }

  recv(timeoutMs) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((x) => x !== done); resolve(undefined); }, timeoutMs);
      const done = (f) => { clearTimeout(t); resolve(f); };
      this.waiters.push(done);
    });
  }

  async send(frag) { await this.rx.writeValueWithResponse(frag); }

  close() { if (this.device && this.device.gatt.connected) this.device.gatt.disconnect(); }
}

const MESSAGES = {
  5: "The pin refused the secret: it belongs to someone else, or the code is wrong.",
  6: "The pin is locked after wrong secrets: try again in %s s.",
  12: "The pin has nothing of that kind (no owner card, or no designs yet).",
  10: "The pin refused the values (name required, texts up to 100 characters, up to 8 handles of 1-64).",
  11: "That design is not unlocked yet.",
};

export function explain(e) {
  if (e instanceof P.PhoneError) {
    if (e.what === "the pin's proof") return "This pin could not prove it holds your secret: it is not your pin.";
    const m = MESSAGES[e.status];
    if (m) return m.replace("%s", e.waitS);
  }
  if (e && e.name === "NotFoundError") return "No pin chosen. Double-tap your pin (its phone window stays open 60 s) and try again.";
  return String(e && e.message ? e.message : e);
}

export class PinClient {
  constructor(link, key, timeoutMs = 10000) {
    this.link = link;
    this.phone = new P.Phone(key);
    this.rxa = new P.Reassembler();
    this.timeoutMs = timeoutMs;
    this.events = [];
    this.onEvent = null;
    this.busy = Promise.resolve();
  }

  async send(msg) { for (const f of P.fragments(msg, FRAGMENT)) await this.link.send(f); }

  async recv(timeoutMs) {
    for (;;) {
      const f = await this.link.recv(timeoutMs);
      if (f === undefined) return undefined;
      if (f === null) throw new Error("The pin disconnected.");
      const m = this.rxa.feed(f);
      if (m) return m;
    }
  }

  async answer(msg, what) {
    await this.send(msg);
    const a = await this.recv(this.timeoutMs);
    if (!a) throw new Error(`${what}: the pin did not answer`);
    return a;
  }

  async pair() {
    const prove = await this.phone.prove(await this.answer(this.phone.hello(), "hello"));
    await this.phone.welcome(await this.answer(prove, "proof"));
  }

  // one request at a time: a page view and a watch must not interleave
  call(op, args) {
    const run = this.busy.then(() => this._call(op, args));
    this.busy = run.catch(() => {});
    return run;
  }

  async _call(op, args) {
    const [msg, seq] = await this.phone.request(op, args);
    await this.send(msg);
    for (;;) {
      const a = await this.recv(this.timeoutMs);
      if (!a) throw new Error(`request ${op}: the pin did not answer`);
      const got = await this.phone.take(a);
      if (got.kind === "event") { this.event(P.parseEvent(got.code, got.payload)); continue; }
      if (got.seq !== seq) throw new Error("the pin answered another request");
      if (got.status !== P.S.OK) throw new P.PhoneError(got.status, `request ${op}`);
      return got.payload;
    }
  }

  event(e) { if (this.onEvent) this.onEvent(e); else this.events.push(e); }

  // events that come while no request is waiting
  async pump() {
    const run = this.busy.then(async () => {
      const a = await this.recv(50);
      if (a) { const got = await this.phone.take(a); if (got.kind === "event") this.event(P.parseEvent(got.code, got.payload)); }
    });
    this.busy = run.catch(() => {});
    return run;
  }

  async info() { return P.parseInfo(await this.call(P.OP.INFO)); }
  async card() { return P.parseCard(await this.call(P.OP.CARD_GET)); }
  async setCard(card) { await this.call(P.OP.CARD_SET, P.cardArgs(card)); return this.card(); }
  async stats() { return P.parseStats(await this.call(P.OP.STATS)); }
  async designs() { return P.parseDesigns(await this.call(P.OP.DESIGNS)); }
  async selectDesign(index) { await this.call(P.OP.DESIGN_SET, new Uint8Array([index])); }
  async page(start) { return P.parsePage(await this.call(P.OP.FRIENDS, new Uint8Array([start & 0xff, start >> 8, 255]))); }
}
