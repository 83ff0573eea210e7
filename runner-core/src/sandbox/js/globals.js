
// What sandboxed RivetKit code commonly reaches for beyond the language: `TextEncoder` and
// `TextDecoder` (UTF-8), `crypto.getRandomValues` and `crypto.randomUUID` (the host's
// randomness), `structuredClone`, `Event`/`EventTarget`, `AbortController`/`AbortSignal` and
// `queueMicrotask` (the timers are `work.js`'s). Written in JavaScript, so the call's time limit reaches every
// loop. Appended to the prelude when it is compiled; `randomHex(n)` is the host's.
function installGlobals(randomHex) {
  const define = (name, value) =>
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(input = "") {
      const text = String(input);
      const out = [];
      for (let i = 0; i < text.length; i++) {
        let code = text.charCodeAt(i);
        if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
          const next = text.charCodeAt(i + 1);
          if (next >= 0xdc00 && next <= 0xdfff) {
            code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
            i++;
          }
        }
        if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate
        if (code < 0x80) out.push(code);
        else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 63));
        else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
        else out.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
      }
      return new Uint8Array(out);
    }
  }

  const bytesOf = (input) => {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError("TextDecoder.decode takes an ArrayBuffer or a view of one");
  };
  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      const name = String(label).toLowerCase();
      if (name !== "utf-8" && name !== "utf8") throw new RangeError(`TextDecoder: only utf-8 here, not ${label}`);
      this.fatal = !!(options && options.fatal);
    }
    get encoding() {
      return "utf-8";
    }
    decode(input) {
      const bytes = bytesOf(input);
      let out = "";
      const bad = () => {
        if (this.fatal) throw new TypeError("TextDecoder: invalid UTF-8");
        return 0xfffd;
      };
      for (let i = 0; i < bytes.length; ) {
        const b = bytes[i];
        let code;
        let need = 0;
        if (b < 0x80) code = b;
        else if (b >= 0xc2 && b < 0xe0) (code = b & 31), (need = 1);
        else if (b >= 0xe0 && b < 0xf0) (code = b & 15), (need = 2);
        else if (b >= 0xf0 && b < 0xf5) (code = b & 7), (need = 3);
        else code = bad();
        i++;
        // The second byte's range rules out overlong forms, surrogates and code points past
        // U+10FFFF (the WHATWG decoder's rule).
        const low = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
        const high = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
        for (let k = 0; k < need; k++, i++) {
          const next = bytes[i];
          const inRange = k === 0 ? next >= low && next <= high : (next & 0xc0) === 0x80;
          if (i >= bytes.length || !inRange) {
            code = bad();
            need = 0;
            break;
          }
          code = (code << 6) | (bytes[i] & 63);
        }
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) code = bad();
        out += String.fromCodePoint(code);
      }
      return out;
    }
  }

  const MAX_RANDOM_BYTES = 65536;
  const getRandomValues = (array) => {
    if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array) {
      throw new TypeError("crypto.getRandomValues takes an integer typed array");
    }
    if (array.byteLength > MAX_RANDOM_BYTES) {
      throw new RangeError(`crypto.getRandomValues fills at most ${MAX_RANDOM_BYTES} bytes`);
    }
    const hex = randomHex(array.byteLength);
    if (hex.length !== array.byteLength * 2) throw new Error("crypto.getRandomValues: the host has no randomness");
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return array;
  };
  const randomUUID = () => {
    const b = getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };

  // structuredClone for what actor state holds: primitives, plain objects, arrays, Date, Map,
  // Set, typed arrays and ArrayBuffer, with shared and cyclic references kept. Functions and
  // symbols are refused, as the standard does.
  const structuredClone = (value) => {
    const seen = new Map();
    const clone = (v) => {
      if (v === null || (typeof v !== "object" && typeof v !== "function")) {
        if (typeof v === "symbol") throw new TypeError("structuredClone: a symbol cannot be cloned");
        return v;
      }
      if (typeof v === "function") throw new TypeError("structuredClone: a function cannot be cloned");
      if (seen.has(v)) return seen.get(v);
      let out;
      if (v instanceof Date) out = new Date(v.getTime());
      else if (v instanceof ArrayBuffer) out = v.slice(0);
      else if (ArrayBuffer.isView(v)) out = new v.constructor(v);
      else if (v instanceof Map) {
        out = new Map();
        seen.set(v, out);
        for (const [k, x] of v) out.set(clone(k), clone(x));
        return out;
      } else if (v instanceof Set) {
        out = new Set();
        seen.set(v, out);
        for (const x of v) out.add(clone(x));
        return out;
      } else if (Array.isArray(v)) {
        out = [];
        seen.set(v, out);
        for (let i = 0; i < v.length; i++) out[i] = clone(v[i]);
        return out;
      } else {
        out = {};
        seen.set(v, out);
        for (const key of Object.keys(v)) {
          // Defined, not assigned: a `__proto__` key stays a key.
          Object.defineProperty(out, key, { value: clone(v[key]), writable: true, enumerable: true, configurable: true });
        }
        return out;
      }
      seen.set(v, out);
      return out;
    };
    return clone(value);
  };

  // Event, EventTarget, AbortController and AbortSignal, as far as code that cancels work uses
  // them: listeners (with `once` and `signal`), `on<type>` handlers, `aborted`, `reason`,
  // `throwIfAborted`, `AbortSignal.abort`, `.timeout`, `.any`.
  class Event {
    constructor(type) {
      this.type = String(type);
      this.target = null;
      this.defaultPrevented = false;
    }
    preventDefault() {
      this.defaultPrevented = true;
    }
  }
  const listenersOf = new WeakMap();
  class EventTarget {
    constructor() {
      listenersOf.set(this, new Map());
    }
    addEventListener(type, listener, options) {
      if (typeof listener !== "function" && !(listener && typeof listener.handleEvent === "function")) return;
      const once = typeof options === "object" && options !== null && !!options.once;
      const signal = typeof options === "object" && options !== null ? options.signal : undefined;
      if (signal && signal.aborted) return;
      const all = listenersOf.get(this);
      const list = all.get(type) || [];
      if (list.some((entry) => entry.listener === listener)) return;
      list.push({ listener, once });
      all.set(type, list);
      if (signal) signal.addEventListener("abort", () => this.removeEventListener(type, listener), { once: true });
    }
    removeEventListener(type, listener) {
      const all = listenersOf.get(this);
      const list = all.get(type);
      if (list) all.set(type, list.filter((entry) => entry.listener !== listener));
    }
    dispatchEvent(event) {
      event.target = this;
      const handler = this[`on${event.type}`];
      const list = (listenersOf.get(this).get(event.type) || []).slice();
      const call = (f) => {
        try {
          if (typeof f === "function") f.call(this, event);
          else f.handleEvent(event);
        } catch (error) {
          console.error(`an ${event.type} listener threw ${error instanceof Error ? error.message : String(error)}`);
        }
      };
      if (typeof handler === "function") call(handler);
      for (const entry of list) {
        if (entry.once) this.removeEventListener(event.type, entry.listener);
        call(entry.listener);
      }
      return !event.defaultPrevented;
    }
  }
  const abortError = (message) => {
    const error = new Error(message);
    error.name = "AbortError";
    return error;
  };
  const signalState = new WeakMap();
  class AbortSignal extends EventTarget {
    constructor(key) {
      super();
      if (key !== signalState) throw new TypeError("an AbortSignal comes from an AbortController");
      signalState.set(this, { aborted: false, reason: undefined });
      this.onabort = null;
    }
    get aborted() {
      return signalState.get(this).aborted;
    }
    get reason() {
      return signalState.get(this).reason;
    }
    throwIfAborted() {
      if (this.aborted) throw this.reason;
    }
    static abort(reason) {
      const controller = new AbortController();
      controller.abort(reason);
      return controller.signal;
    }
    static timeout(ms) {
      const controller = new AbortController();
      const error = abortError("The operation timed out");
      error.name = "TimeoutError";
      globalThis.setTimeout(() => controller.abort(error), ms);
      return controller.signal;
    }
    static any(signals) {
      const controller = new AbortController();
      for (const signal of signals) {
        if (signal.aborted) {
          controller.abort(signal.reason);
          break;
        }
        signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
      }
      return controller.signal;
    }
  }
  class AbortController {
    constructor() {
      this.signal = new AbortSignal(signalState);
    }
    abort(reason) {
      const state = signalState.get(this.signal);
      if (state.aborted) return;
      state.aborted = true;
      state.reason = reason === undefined ? abortError("This operation was aborted") : reason;
      this.signal.dispatchEvent(new Event("abort"));
    }
  }

  define("Event", Event);
  define("EventTarget", EventTarget);
  define("AbortSignal", AbortSignal);
  define("AbortController", AbortController);
  if (typeof globalThis.queueMicrotask !== "function") {
    define("queueMicrotask", (callback) => {
      if (typeof callback !== "function") throw new TypeError("queueMicrotask takes a function");
      Promise.resolve().then(() => callback());
    });
  }
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("crypto", Object.freeze({ getRandomValues, randomUUID }));
  define("structuredClone", structuredClone);
}
