// The bridge between a JavaScript actor definition and the runner: a module whose default
// export the runner calls once per instance, before the actor's module, with the native
// functions. The runner talks to the bridge in JSON strings only.
//
// `host` holds the native functions (database, events, schedule, files, fetch, log). It is
// captured here and never exposed: the actor sees the context object `c` alone. The bridge the
// runner calls is `globalThis.__rivet`.
export default function (host) {
  "use strict";

  hardenArrays(host.isPlainArray);

  class UserError extends Error {
    constructor(message, options) {
      super(message);
      this.name = "UserError";
      this.group = "user";
      this.code = (options && options.code) || "user_error";
    }
  }

  const log = (level) => (...parts) =>
    host.log(level, parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" "));
  const logger = {
    trace: log("trace"),
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
  };

  // Parses a host reply: `{"ok": value}` or `{"error": {group, code, message}}`.
  const reply = (json) => {
    const parsed = JSON.parse(json);
    if (parsed.error) {
      const error = new Error(parsed.error.message);
      error.group = parsed.error.group;
      error.code = parsed.error.code;
      throw error;
    }
    return parsed.ok;
  };

  class Response {
    constructor(status, headers, body) {
      this.status = status;
      this.ok = status >= 200 && status < 300;
      this.headers = headers;
      this.body = body;
    }
    async text() {
      return this.body;
    }
    async json() {
      return JSON.parse(this.body);
    }
  }

  // Outbound HTTP, for the origins the operator allows this namespace (denied otherwise).
  const fetch = async (url, init) => {
    const options = init || {};
    const body = options.body === undefined ? "" : String(options.body);
    const out = reply(
      host.fetch(
        JSON.stringify({
          method: options.method || "GET",
          url: String(url),
          headers: Object.entries(options.headers || {}),
          body,
        }),
      ),
    );
    return new Response(out.status, Object.fromEntries(out.headers), out.body);
  };

  const meta = () => JSON.parse(host.meta());
  let definition = null;
  let state = undefined;

  const c = {
    get state() {
      return state;
    },
    set state(value) {
      state = value;
    },
    get actorId() {
      return meta().actorId;
    },
    get key() {
      return meta().key;
    },
    get generation() {
      return meta().generation;
    },
    get namespace() {
      return meta().namespace;
    },
    db: {
      execute: (sql, ...params) => reply(host.execute(String(sql), JSON.stringify(params))),
      query: (sql, ...params) => reply(host.query(String(sql), JSON.stringify(params))),
    },
    files: {
      read: (path) => reply(host.readFile(String(path))),
      write: (path, text) => reply(host.writeFile(String(path), String(text))),
      list: (path) => reply(host.listFiles(String(path === undefined ? "." : path))),
      remove: (path) => reply(host.removeFile(String(path))),
    },
    broadcast: (name, ...args) => host.broadcast(String(name), JSON.stringify(args)),
    schedule: {
      after: (ms, action, ...args) =>
        reply(host.schedule(Date.now() + Number(ms), String(action), JSON.stringify(args))),
      at: (timestamp, action, ...args) =>
        reply(host.schedule(Number(timestamp), String(action), JSON.stringify(args))),
    },
    sleep: () => host.sleep(),
    log: logger,
    fetch,
  };

  // Hook results may be promises (async hooks, awaited fetches): the runner drains the job
  // queue until they settle, since every host call completes synchronously.
  const then = (value, f) => (value instanceof Promise ? value.then(f) : f(value));
  const encode = (value) => JSON.stringify(value === undefined ? null : value);
  const hook = (name, ...args) => {
    const f = definition[name];
    return typeof f === "function" ? f(c, ...args) : undefined;
  };

  globalThis.UserError = UserError;
  globalThis.console = { log: logger.info, info: logger.info, warn: logger.warn, error: logger.error, debug: logger.debug };
  globalThis.fetch = fetch;
  globalThis.actor = (definition) => definition;

  const bridge = {
    define(value) {
      if (value === null || typeof value !== "object") {
        throw new TypeError("the module's default export must be an actor definition object");
      }
      if (value.actions !== undefined && typeof value.actions !== "object") {
        throw new TypeError("`actions` must be an object of functions");
      }
      definition = value;
    },
    create(inputJson) {
      const input = JSON.parse(inputJson);
      const created =
        typeof definition.createState === "function"
          ? definition.createState(c, input)
          : JSON.parse(encode(definition.state === undefined ? {} : definition.state));
      return then(created, (value) => {
        state = value;
        return then(hook("onCreate", input), () => encode(state));
      });
    },
    load(stateJson) {
      state = JSON.parse(stateJson);
    },
    state() {
      return encode(state);
    },
    wake() {
      return then(hook("onWake"), () => "null");
    },
    sleep() {
      return then(hook("onSleep"), () => "null");
    },
    action(name, argsJson) {
      const actions = definition.actions || {};
      const f = Object.prototype.hasOwnProperty.call(actions, name) ? actions[name] : undefined;
      if (typeof f !== "function") {
        const error = new Error(`action \`${name}\` does not exist`);
        error.group = "actor";
        error.code = "action_not_found";
        throw error;
      }
      return then(f(c, ...JSON.parse(argsJson)), encode);
    },
    request(requestJson) {
      if (typeof definition.onRequest !== "function") {
        return "null";
      }
      const request = JSON.parse(requestJson);
      return then(definition.onRequest(c, request), (response) => {
        if (response === undefined || response === null) {
          return "null";
        }
        return JSON.stringify({
          status: response.status === undefined ? 200 : response.status,
          headers: Object.entries(response.headers || {}),
          body:
            typeof response.body === "string" ? response.body : encode(response.body === undefined ? "" : response.body),
        });
      });
    },
  };
  // The runner finds the bridge here on every call. Frozen and fixed, so actor code cannot
  // replace it; it can reach it, which gives it nothing `c` does not.
  Object.defineProperty(globalThis, "__rivet", {
    value: Object.freeze(bridge),
    writable: false,
    enumerable: false,
    configurable: false,
  });
}

// Native array methods loop over `length` in C without giving QuickJS's interrupt handler a
// turn, so `Array.prototype.reverse.call({ length: 2 ** 53 - 1 })`, or a sparse array with a
// huge length, would run past the call's time limit for ever. Each such method is wrapped:
// the receiver's length is read once and refused past MAX_LENGTH (no array that fits in the
// sandbox's memory is that long, so only sparse arrays and array-likes are refused), and a
// receiver that is not a plain array is handed to the native method behind a proxy that pins
// its length, so a getter cannot answer small to the check and huge to the loop; the proxy's
// traps are JavaScript, which the interrupt handler reaches. Refusals are `actor.cpu_limit`.
// `isPlainArray` is native: true for arrays, false for proxies of them.
function hardenArrays(isPlainArray) {
  const MAX_LENGTH = 2 ** 24;
  const toLength = (value) => {
    const n = Math.trunc(Number(value));
    return n > 0 ? Math.min(n, Number.MAX_SAFE_INTEGER) : 0;
  };
  const refuse = (name, length) => {
    const error = new RangeError(
      `Array.prototype.${name} over ${length} elements cannot be interrupted at the sandbox's ` +
        `time limit; the sandbox refuses array-likes longer than ${MAX_LENGTH}`,
    );
    error.group = "actor";
    error.code = "cpu_limit";
    return error;
  };
  // The receiver as the native method may see it, and what to return instead of the proxy.
  const checked = (name, value) => {
    const object = Object(value);
    if (isPlainArray(object)) {
      if (object.length > MAX_LENGTH) throw refuse(name, object.length);
      return object;
    }
    const length = toLength(object.length);
    if (length > MAX_LENGTH) throw refuse(name, length);
    return new Proxy(object, {
      get: (target, key) => (key === "length" ? length : Reflect.get(target, key, target)),
    });
  };
  const proto = Array.prototype;
  const wrap = (name, native, check) => {
    const wrapped = {
      [name](...args) {
        const receiver = checked(name, this);
        check(args);
        const result = Reflect.apply(native, receiver, args);
        return result === receiver ? Object(this) : result;
      },
    }[name];
    Object.defineProperty(proto, name, {
      value: wrapped,
      writable: true,
      enumerable: false,
      configurable: true,
    });
  };
  const none = () => {};
  for (const name of [
    "reverse", "fill", "copyWithin", "join", "toString", "toLocaleString", "slice", "splice",
    "shift", "unshift", "sort", "flat", "flatMap", "toReversed", "toSorted", "toSpliced", "with",
  ]) {
    if (typeof proto[name] === "function") wrap(name, proto[name], none);
  }
  // concat also loops over every spreadable argument.
  wrap("concat", proto.concat, (args) => {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (arg !== null && typeof arg === "object" && (Array.isArray(arg) || arg[Symbol.isConcatSpreadable])) {
        args[i] = checked("concat", arg);
      }
    }
  });
}
