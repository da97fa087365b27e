// TEST ONLY (tests/test_phone_webapp.py injects it before the page loads):
// navigator.bluetooth as Chrome's Web Bluetooth presents it, forwarding to
// the test server's /bridge/* endpoints, which reach a pin (the pin's own
// service in the test's process, or a virtual badge on the emulated air).
// The page's own code (webapp/*.js) runs unchanged on top.
(() => {
  const base = "/bridge";
  const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (s) => new Uint8Array((s.match(/../g) || []).map((h) => parseInt(h, 16)));
  async function post(path, body = "") {
    const r = await fetch(base + path, { method: "POST", body });
    const t = await r.text();
    if (!r.ok) throw new DOMException(t, r.status === 404 ? "NotFoundError" : "NetworkError");
    return t;
  }

  class Characteristic extends EventTarget {
    constructor(uuid) { super(); this.uuid = uuid; this.value = null; }
    async writeValueWithResponse(v) {
      const u8 = v instanceof Uint8Array ? v : new Uint8Array(v.buffer || v);
      await post("/write", hex(u8));
    }
    async startNotifications() {
      if (!this.polling) { this.polling = true; this.poll(); }
      return this;
    }
    async poll() {
      while (this.polling) {
        let t;
        try { t = await post("/notify"); } catch (e) { this.polling = false; break; }
        for (const h of t.split("\n").filter(Boolean)) {
          this.value = new DataView(unhex(h).buffer);
          this.dispatchEvent(new Event("characteristicvaluechanged"));
        }
      }
    }
  }

  function matches(filters, ad) {
    return (filters || []).some((f) => (f.manufacturerData || []).some((m) => {
      if (m.companyIdentifier !== ad.company) return false;
      const prefix = m.dataPrefix ? new Uint8Array(m.dataPrefix.buffer || m.dataPrefix) : new Uint8Array(0);
      const data = unhex(ad.data);
      return prefix.every((b, i) => data[i] === b);
    }));
  }

  const bluetooth = {
    async requestDevice(options) {
      const ad = JSON.parse(await post("/scan"));
      if (!matches(options.filters, ad)) throw new DOMException("User cancelled the requestDevice() chooser.", "NotFoundError");
      const allowed = (options.optionalServices || []).map((s) => String(s).toLowerCase());
      const device = new EventTarget();
      device.name = ad.name;
      const chars = {};
      device.gatt = {
        connected: false,
        device,
        async connect() { await post("/connect"); this.connected = true; return this; },
        disconnect() {
          this.connected = false;
          for (const c of Object.values(chars)) c.polling = false;
          post("/disconnect").catch(() => {});
          device.dispatchEvent(new Event("gattserverdisconnected"));
        },
        async getPrimaryService(uuid) {
          uuid = String(uuid).toLowerCase();
          if (!allowed.includes(uuid)) throw new DOMException("Origin is not allowed to access the service.", "SecurityError");
          const list = JSON.parse(await post("/service", uuid));
          return {
            uuid,
            async getCharacteristic(c) {
              c = String(c).toLowerCase();
              if (!list.includes(c)) throw new DOMException("No Characteristics matching UUID " + c, "NotFoundError");
              return (chars[c] = chars[c] || new Characteristic(c));
            },
          };
        },
      };
      return device;
    },
  };
  Object.defineProperty(Navigator.prototype, "bluetooth", { get: () => bluetooth, configurable: true });
})();
