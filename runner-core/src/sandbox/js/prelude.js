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
  installGlobals(host.randomHex);
  installUrl();
  // Captured now: actor code may replace the global.
  const clone = globalThis.structuredClone;

  const log = (level) => (...parts) =>
    host.log(level, parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" "));
  const logger = {
    trace: log("trace"),
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
  };
  const kit = rivetkitModules(logger.warn);
  const work = backgroundWork(logger);

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

  // `Headers`, `Request`, `Response` and `fetch` (under the operator's outbound policy).
  const http = installHttp(host, reply);
  // The actor's ends of raw WebSockets (`onWebSocket`).
  const sockets = installSockets(host, reply);
  // RivetKit's `c.queue`.
  const queue = installQueue(host, reply, work);

  const meta = () => JSON.parse(host.meta());
  let definition = null;
  let state = undefined;
  // RivetKit's vars: made by `createVars(c)` (or copied from `vars`) on every start of this
  // runtime, before `onWake`, and never persisted. A runtime replaced after a trap makes them
  // anew before its first call.
  let vars = undefined;
  let varsMade = false;
  let stateChangeHook = false;
  // Whether a declared event has RivetKit's `canSubscribe`, as read when it was defined.
  let subscribeHooks = false;
  // Whether the definition has `onWebSocket`, as read when it was defined.
  let socketHandler = false;
  // RivetKit's `c.request` during `onWebSocket`: the request that opened the socket.
  let callRequest = undefined;
  // Marked made only once made: a `createVars` that fails is tried again by the next call.
  const makeVars = () => {
    if (typeof definition.createVars === "function") {
      return then(definition.createVars(c, undefined), (made) => {
        vars = made;
        varsMade = true;
      });
    }
    if (definition.vars !== undefined) {
      try {
        vars = clone(definition.vars);
      } catch (error) {
        // RivetKit clones static vars; values it cannot clone (functions) were copied through
        // JSON here before, so they still are, with a warning, rather than the actor no longer
        // starting.
        logger.warn(`vars: ${error.message}; copied through JSON instead`);
        vars = JSON.parse(JSON.stringify(definition.vars));
      }
    }
    varsMade = true;
    return undefined;
  };
  const withVars = (f) => (varsMade ? f() : then(makeVars(), f));

  // RivetKit's connections. The runner owns them; a call sees each as a `Conn` object, one
  // per connection for the call (`c.conn === c.conns.get(id)`). Its state is read from the
  // runner once per call, on first use, and a state the call read or wrote is handed back whole
  // at its end (in-place changes included). A `Conn` kept from an earlier call reads and writes
  // the current one's.
  let connHooks = false;
  let callStates = new Map();
  let callConns = new Map();
  const stateOf = (id, seed) => {
    let entry = callStates.get(id);
    if (entry === undefined) {
      const known = seed !== undefined ? seed : JSON.parse(host.connState(id));
      const state = known === null || known.state === null ? undefined : known.state;
      entry = { state, touched: false };
      callStates.set(id, entry);
    }
    return entry;
  };
  const connObject = (record) => {
    const known = callConns.get(record.id);
    if (known) return known;
    stateOf(record.id, { state: record.state });
    const id = record.id;
    const conn = {
      id,
      params: record.params === null ? undefined : record.params,
      isHibernatable: false,
      get state() {
        const entry = stateOf(id);
        entry.touched = true;
        return entry.state;
      },
      set state(value) {
        const entry = stateOf(id);
        entry.touched = true;
        entry.state = value;
      },
      send: (name, ...args) => host.send(id, String(name), JSON.stringify(args)),
      // Closes the connection once the call commits; `onDisconnect` runs after.
      disconnect: async (reason) => host.disconnect(id, reason === undefined ? "" : String(reason)),
    };
    callConns.set(id, conn);
    return conn;
  };
  const connStates = () => {
    const states = [];
    for (const [id, entry] of callStates) {
      if (entry.touched) states.push([id, entry.state === undefined ? null : entry.state]);
    }
    callStates = new Map();
    callConns = new Map();
    return JSON.stringify(states);
  };

  // The definition's `rivetkit/db` database, if it declares one.
  let rivetDb = null;
  const sqlExecute = (sql, params) => reply(host.execute(String(sql), JSON.stringify(params)));
  // Rows of the statement (of the last, for a script of several: a migration), as RivetKit's
  // `execute` answers.
  const executeRows = (sql, params) => reply(host.query(String(sql), JSON.stringify(params), true));
  const migrate = () =>
    rivetDb && typeof rivetDb.onMigrate === "function" ? rivetDb.onMigrate(c.db) : undefined;

  const c = {
    get state() {
      return state;
    },
    get vars() {
      return vars;
    },
    // The connection this call runs for: `undefined` for scheduled actions and lifecycle hooks.
    get conn() {
      const record = JSON.parse(host.conn());
      return record === null ? undefined : connObject(record);
    },
    // RivetKit's `c.request`: in `onWebSocket`, the request that opened the socket.
    get request() {
      return callRequest;
    },
    get conns() {
      return new Map(JSON.parse(host.conns()).map((record) => [record.id, connObject(record)]));
    },
    set state(value) {
      state = value;
    },
    get actorId() {
      return meta().actorId;
    },
    // RivetKit's key: the parts of the key the actor was created with (`[]` without one).
    get key() {
      return meta().key;
    },
    get name() {
      return meta().name;
    },
    get generation() {
      return meta().generation;
    },
    get namespace() {
      return meta().namespace;
    },
    // With RivetKit's `db: db({ onMigrate })`, `execute` is RivetKit's: it resolves to the rows
    // (none for a statement that returns none). Without, it returns the rows changed.
    db: {
      execute: (sql, ...params) =>
        rivetDb ? Promise.resolve().then(() => executeRows(sql, params)) : sqlExecute(sql, params),
      query: (sql, ...params) => reply(host.query(String(sql), JSON.stringify(params))),
    },
    files: {
      read: (path) => reply(host.readFile(String(path))),
      write: (path, text) => reply(host.writeFile(String(path), String(text))),
      list: (path) => reply(host.listFiles(String(path === undefined ? "." : path))),
      remove: (path) => reply(host.removeFile(String(path))),
    },
    broadcast: (name, ...args) => host.broadcast(String(name), JSON.stringify(args)),
    // RivetKit's `c.schedule`: `after`/`at` resolve to the schedule's id; `cancel` to whether
    // it was still pending; `get`/`list` to `{id, action, args, runAt}`.
    schedule: {
      after: async (ms, action, ...args) =>
        reply(host.schedule(Date.now() + Number(ms), String(action), JSON.stringify(args))),
      at: async (timestamp, action, ...args) =>
        reply(host.schedule(Number(timestamp), String(action), JSON.stringify(args))),
      cancel: async (id) => reply(host.cancelSchedule(String(id))),
      get: async (id) => reply(host.getSchedule(String(id))) ?? undefined,
      list: async () => reply(host.listSchedules()),
    },
    // RivetKit 2.3's `c.cron`: recurring jobs by name, on a five-field cron expression in a
    // time zone (`set`) or a fixed interval of at least 5 s (`every`), with their fires'
    // history; they wake the actor like schedules do.
    cron: {
      set: async (options) => void reply(host.cron("set", JSON.stringify(options ?? {}))),
      every: async (options) => void reply(host.cron("every", JSON.stringify(options ?? {}))),
      get: async (name) => reply(host.cron("get", JSON.stringify({ name: String(name) }))) ?? undefined,
      list: async () => reply(host.cron("list", "{}")),
      delete: async (name) => reply(host.cron("delete", JSON.stringify({ name: String(name) }))),
      history: async (name, options) =>
        reply(host.cron("history", JSON.stringify({ name: String(name), limit: options?.limit }))),
    },
    sleep: () => host.sleep(),
    // RivetKit's work beyond one call: `keepAwake` resolves to its promise and keeps the actor
    // from sleeping while it is pending; a stop waits for both (up to its grace period).
    keepAwake: (promise) => work.keepAwake(promise),
    waitUntil: (promise) => work.waitUntil(promise),
    // Fires when the actor starts to stop (sleep, drain, destroy), before `onSleep`.
    get abortSignal() {
      return work.signal;
    },
    get aborted() {
      return work.signal.aborted;
    },
    // RivetKit's `c.destroy()`: once this call commits, the actor stops, `onDestroy` runs, and
    // its data is deleted.
    destroy: () => host.destroy(),
    log: logger,
    fetch: http.fetch,
    queue: queue.api,
  };

  // An event declaration's `canSubscribe`, if any (a schema such as zod's has none).
  const canSubscribeOf = (events, name) => {
    if (events === null || typeof events !== "object" || !Object.prototype.hasOwnProperty.call(events, name)) {
      return undefined;
    }
    const declared = events[name];
    return declared !== null && typeof declared === "object" ? declared.canSubscribe : undefined;
  };

  // Hook results may be promises (async hooks, awaited fetches): the runner drains the job
  // queue until they settle, since every host call completes synchronously.
  const then = (value, f) => (value instanceof Promise ? value.then(f) : f(value));
  const encode = (value) => JSON.stringify(value === undefined ? null : value);
  // RivetKit's `run: (c) => ...`, or `run: { run, name?, icon? }`; null when there is none.
  const runHandler = (value) => {
    const run = value.run;
    if (typeof run === "function") return run;
    if (run !== null && typeof run === "object" && typeof run.run === "function") return run.run;
    return null;
  };
  const hook = (name, ...args) => {
    const f = definition[name];
    return typeof f === "function" ? f(c, ...args) : undefined;
  };

  globalThis.UserError = kit.UserError;
  globalThis.console = { log: logger.info, info: logger.info, warn: logger.warn, error: logger.error, debug: logger.debug };
  for (const [name, f] of Object.entries(work.globals)) globalThis[name] = f;
  globalThis.actor = kit.actor;
  globalThis.__rivetkitModule = kit.load;

  // The actors a module defines, by name: a registry's (`setup({ use })`, exported under any
  // name), else its default export (named `fallback`) and its `actor()` exports (by export
  // name). A module `rivet-runner deploy` bundled exports its entry's exports as `__rivetEntry`.
  const actorsOf = (namespace, fallback) => {
    const exports = namespace.__rivetEntry !== undefined ? namespace.__rivetEntry : namespace;
    const found = new Map();
    for (const key of Object.keys(exports)) {
      const value = exports[key];
      if (kit.isRegistry(value)) {
        for (const name of Object.keys(value.use)) found.set(name, value.use[name]);
      }
    }
    if (found.size > 0) return found;
    const main = exports.default;
    // A plain object default export with actions or a state is a definition too (no
    // `actor()` needed).
    const plain =
      main !== undefined && main !== null && typeof main === "object" && !Array.isArray(main) &&
      ["actions", "state", "createState"].some((key) => Object.prototype.hasOwnProperty.call(main, key));
    if (kit.isDefinition(main) || plain) found.set(fallback, main);
    for (const key of Object.keys(exports)) {
      if (key !== "default" && kit.isDefinition(exports[key])) found.set(key, exports[key]);
    }
    return found;
  };

  const bridge = {
    // The names of the actors the module defines (JSON), its default export named `fallback`.
    names(namespace, fallback) {
      return JSON.stringify([...actorsOf(namespace, fallback).keys()]);
    },
    // Picks actor `name` from the module; a module that defines one actor runs it whatever the
    // name it was published under.
    define(namespace, name) {
      const actors = actorsOf(namespace, name);
      const value = actors.get(name) ?? (actors.size === 1 ? [...actors.values()][0] : undefined);
      if (value === undefined) {
        const known = [...actors.keys()].map((n) => `\`${n}\``).join(", ") || "none";
        throw new TypeError(
          `the module has no actor definition \`${name}\` (it defines ${known}): export default actor({...}), or setup({ use: { ${name}: actor({...}) } })`,
        );
      }
      if (value === null || typeof value !== "object") {
        throw new TypeError("an actor definition must be an object");
      }
      if (value.actions !== undefined && typeof value.actions !== "object") {
        throw new TypeError("`actions` must be an object of functions");
      }
      if (value.vars !== undefined && value.createVars !== undefined) {
        throw new TypeError("define `vars` or `createVars`, not both");
      }
      if (value.connState !== undefined && value.createConnState !== undefined) {
        throw new TypeError("define `connState` or `createConnState`, not both");
      }
      if (value.run !== undefined && runHandler(value) === null) {
        throw new TypeError("`run` must be a function, or an object with a `run` function");
      }
      stateChangeHook = typeof value.onStateChange === "function";
      socketHandler = typeof value.onWebSocket === "function";
      subscribeHooks =
        value.events !== null && typeof value.events === "object" &&
        Object.keys(value.events).some((name) => typeof canSubscribeOf(value.events, name) === "function");
      connHooks =
        ["onBeforeConnect", "onConnect", "onDisconnect", "createConnState"].some(
          (name) => typeof value[name] === "function",
        ) || value.connState !== undefined;
      definition = value;
      rivetDb = kit.isDb(value.db) ? value.db : null;
    },
    // A call begins: connection objects of an earlier (failed) call are forgotten.
    begin() {
      callStates = new Map();
      callConns = new Map();
      callRequest = undefined;
      queue.begin();
    },
    connStates,
    hasConnHooks() {
      return connHooks;
    },
    hasSubscribeHooks() {
      return subscribeHooks;
    },
    hasSocketHandler() {
      return socketHandler;
    },
    // RivetKit 2.3's `queues: { name: queue({ canPublish(c) }) }`: "false" for a queue not
    // declared (a client's message to it is ignored); a `canPublish` answering falsy refuses
    // with `auth.forbidden`.
    acceptsQueue(name) {
      const queues = definition.queues;
      if (queues === null || typeof queues !== "object" || !Object.prototype.hasOwnProperty.call(queues, name)) {
        return "false";
      }
      const declared = queues[name];
      const check = declared !== null && typeof declared === "object" ? declared.canPublish : undefined;
      if (typeof check !== "function") return "true";
      return withVars(() => then(check(c), (allowed) => {
        if (!allowed) throw kit.load("rivetkit/errors").forbiddenError();
        return "true";
      }));
    },
    // New queue messages: the receives waiting for them get them, in this turn.
    queueReady() {
      queue.deliver();
      return "null";
    },
    // RivetKit's `onWebSocket(c, websocket)` for the connection `c.conn`, `c.request` being the
    // request that opened it.
    socketOpen(headJson) {
      const head = JSON.parse(headJson);
      const socket = sockets.open(c.conn.id, head.url.replace(/^http/, "ws"));
      callRequest = http.incoming(head);
      return withVars(() => then(definition.onWebSocket(c, socket), () => "null"));
    },
    // A message from `c.conn`'s client: its bytes wait in the host's body slot.
    socketMessage(binary) {
      const bytes = new Uint8Array(host.takeBody());
      return withVars(() => JSON.stringify(sockets.message(c.conn.id, bytes, binary === "true")));
    },
    socketClose(closeJson) {
      const { code, reason } = JSON.parse(closeJson);
      return withVars(() => {
        sockets.close(c.conn.id, code, reason);
        return "null";
      });
    },
    // RivetKit 2.3's `events: { name: event({ canSubscribe(c) }) }`: whether `c.conn` may
    // subscribe to `name` ("true"/"false"). Undeclared events, and those without the hook, may.
    canSubscribe(name) {
      const check = canSubscribeOf(definition.events, name);
      if (typeof check !== "function") return "true";
      return withVars(() => then(check(c), (allowed) => {
        if (typeof allowed !== "boolean") throw new TypeError("canSubscribe must return a boolean");
        return JSON.stringify(allowed);
      }));
    },
    // RivetKit's `onBeforeConnect(c, params)`: a throw refuses the connection.
    beforeConnect(paramsJson) {
      const params = JSON.parse(paramsJson);
      return withVars(() => then(hook("onBeforeConnect", params === null ? undefined : params), () => "null"));
    },
    // The connection's first state: `createConnState(c, params)`, or a copy of `connState`;
    // "" for none.
    createConnState(paramsJson) {
      const params = JSON.parse(paramsJson);
      if (typeof definition.createConnState === "function") {
        return withVars(() =>
          then(definition.createConnState(c, params === null ? undefined : params), encode),
        );
      }
      return definition.connState === undefined ? "" : encode(definition.connState);
    },
    connected() {
      return withVars(() => then(hook("onConnect", c.conn), () => "null"));
    },
    disconnected() {
      return withVars(() => then(hook("onDisconnect", c.conn), () => "null"));
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
    // Every start: vars, then the database's `onMigrate`, then `onWake`, in RivetKit's order;
    // then the `run` handler starts, and nothing waits for it.
    wake() {
      return then(makeVars(), () =>
        then(migrate(), () =>
          then(hook("onWake"), () => {
            const run = runHandler(definition);
            if (run !== null) work.startRun(run, c);
            return "null";
          }),
        ),
      );
    },
    // A stop fires the abort signal first, as RivetKit does.
    sleep() {
      work.abort();
      return withVars(() => then(hook("onSleep"), () => "null"));
    },
    destroy() {
      work.abort();
      return withVars(() => then(hook("onDestroy"), () => "null"));
    },
    // A turn for timers due after the call that set them: the runner fires those due now.
    turn() {
      return "null";
    },
    fire(bound) {
      return work.fire(bound);
    },
    next() {
      return work.next();
    },
    // What is pending: `{next, awake, tracked}`, read by the runner after every call.
    status() {
      return work.status();
    },
    // Whether the definition has `onStateChange`, as read when it was defined (so the runner
    // asking runs no actor code, such as a getter, outside a call's time limit).
    hasStateChangeHook() {
      return stateChangeHook;
    },
    // RivetKit's `onStateChange(c, newState)`, after a call changed the state; the runner undoes
    // what it does if it fails or changes the state.
    // Always a promise, so the runner drains the jobs the hook queued before checking the state.
    stateChanged() {
      return withVars(() => Promise.resolve(hook("onStateChange", state)).then(() => "null"));
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
      return withVars(() => then(f(c, ...JSON.parse(argsJson)), encode));
    },
    // RivetKit's `onRequest(c, request)`: a WinterTC `Request` in, a `Response` out.
    request(headJson) {
      if (typeof definition.onRequest !== "function") {
        return "null";
      }
      const request = http.incoming(JSON.parse(headJson));
      return withVars(() => then(definition.onRequest(c, request), http.outgoing));
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

// Some native methods loop in C without giving QuickJS's interrupt handler a turn, so the call's
// time limit cannot stop them: `Array.prototype.reverse.call({ length: 2 ** 53 - 1 })`, a sparse
// array with a huge length, a naive substring search of a long pattern in a long string, a
// default-order sort of millions of elements. They are wrapped before any actor code runs:
// - array methods read the receiver's length once and refuse past MAX_LENGTH (no array that fits
//   in the sandbox's memory is that long, so only sparse arrays and array-likes are refused); a
//   receiver that is not a plain array reaches the native behind a proxy that pins its length
//   (a getter cannot answer small to the check and huge to the loop), and whose traps are
//   JavaScript, which the interrupt handler reaches;
// - `flat` and `flatMap` are JavaScript, so every element they visit can be interrupted;
// - substring searches refuse when the string's length times the pattern's exceeds MAX_SEARCH,
//   and sorts without a comparator refuse past MAX_NATIVE_SORT.
// Refusals are `actor.cpu_limit`. Every built-in the wrappers use is captured here, before actor
// code could replace it (`Reflect.apply`, `Proxy`, ...). `isPlainArray` is native: true for
// arrays, false for proxies of them.
function hardenArrays(isPlainArray) {
  const MAX_LENGTH = 2 ** 24;
  const MAX_SEARCH = 2 ** 32;
  const MAX_NATIVE_SORT = 2 ** 20;
  const apply = Reflect.apply;
  const reflectGet = Reflect.get;
  const defineProperty = Object.defineProperty;
  const ObjectOf = Object;
  const ProxyOf = Proxy;
  const RangeErrorOf = RangeError;
  const StringOf = String;
  const isArray = Array.isArray;
  const trunc = Math.trunc;
  const min = Math.min;
  const NumberOf = Number;
  const MAX_SAFE = Number.MAX_SAFE_INTEGER;
  const spreadable = Symbol.isConcatSpreadable;
  const toLength = (value) => {
    const n = trunc(NumberOf(value));
    return n > 0 ? min(n, MAX_SAFE) : 0;
  };
  const refuse = (what, size, limit) => {
    const error = new RangeErrorOf(
      `${what} over ${size} cannot be interrupted at the sandbox's time limit; the sandbox ` +
        `refuses more than ${limit}`,
    );
    error.group = "actor";
    error.code = "cpu_limit";
    return error;
  };
  // The receiver as the native method may see it: the array itself, or a proxy that pins
  // `length`.
  const pinned = (name, value) => {
    const object = ObjectOf(value);
    if (isPlainArray(object)) {
      if (object.length > MAX_LENGTH) {
        throw refuse(`Array.prototype.${name}`, `${object.length} elements`, MAX_LENGTH);
      }
      return object;
    }
    const length = toLength(object.length);
    if (length > MAX_LENGTH) {
      throw refuse(`Array.prototype.${name}`, `${length} elements`, MAX_LENGTH);
    }
    return new ProxyOf(object, {
      get: (target, key) => (key === "length" ? length : reflectGet(target, key, target)),
    });
  };
  const install = (proto, name, wrapped) =>
    defineProperty(proto, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
  const named = (name, f) => ({ [name](...args) { return f(this, args); } })[name];
  const arrayProto = Array.prototype;
  const wrapArray = (name, before) => {
    const native = arrayProto[name];
    if (typeof native !== "function") return;
    install(arrayProto, name, named(name, (self, args) => {
      const receiver = pinned(name, self);
      before(receiver, args);
      const result = apply(native, receiver, args);
      return result === receiver ? ObjectOf(self) : result;
    }));
  };
  const none = () => {};
  const wrapped = [
    "reverse", "fill", "copyWithin", "join", "toString", "toLocaleString", "slice", "splice",
    "shift", "unshift", "toReversed", "toSpliced", "with",
  ];
  for (let i = 0; i < wrapped.length; i++) wrapArray(wrapped[i], none);
  const sortBound = (receiver, args) => {
    if (args[0] === undefined && toLength(receiver.length) > MAX_NATIVE_SORT) {
      throw refuse("a sort without a comparator", `${receiver.length} elements`, MAX_NATIVE_SORT);
    }
  };
  wrapArray("sort", sortBound);
  wrapArray("toSorted", sortBound);
  // concat loops over every spread argument. Plain arrays and primitives go to the native (their
  // lengths checked); anything else is concatenated in JavaScript, reading whether it spreads
  // and its length once, so a lying getter cannot stretch the loop.
  const nativeConcat = arrayProto.concat;
  const define = (target, index, value) =>
    defineProperty(target, index, { value, writable: true, enumerable: true, configurable: true });
  install(arrayProto, "concat", named("concat", (self, args) => {
    const items = [ObjectOf(self)];
    for (let i = 0; i < args.length; i++) define(items, i + 1, args[i]);
    let plain = true;
    let total = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (isPlainArray(item)) total += item.length;
      else if (item !== null && (typeof item === "object" || typeof item === "function")) plain = false;
      else total += 1;
    }
    if (plain) {
      if (total > MAX_LENGTH) throw refuse("Array.prototype.concat", `${total} elements`, MAX_LENGTH);
      return apply(nativeConcat, items[0], args);
    }
    const result = [];
    let n = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const isObject = item !== null && (typeof item === "object" || typeof item === "function");
      const declared = isObject ? item[spreadable] : undefined;
      const spreads = isObject && (declared === undefined ? isArray(item) : !!declared);
      if (!spreads) {
        define(result, n, item);
        n += 1;
        continue;
      }
      const length = toLength(item.length);
      if (n + length > MAX_LENGTH) {
        throw refuse("Array.prototype.concat", `${n + length} elements`, MAX_LENGTH);
      }
      for (let k = 0; k < length; k++) if (k in item) define(result, n + k, item[k]);
      n += length;
    }
    result.length = n;
    return result;
  }));
  // flat and flatMap, in JavaScript.
  const flattenInto = (target, source, depth) => {
    const length = toLength(source.length);
    if (length > MAX_LENGTH) {
      throw refuse("Array.prototype.flat", `${length} elements`, MAX_LENGTH);
    }
    for (let i = 0; i < length; i++) {
      if (!(i in source)) continue;
      const value = source[i];
      if (depth > 0 && isArray(value)) flattenInto(target, value, depth - 1);
      else defineProperty(target, target.length, { value, writable: true, enumerable: true, configurable: true });
    }
    return target;
  };
  install(arrayProto, "flat", named("flat", (self, [depth]) => {
    const d = depth === undefined ? 1 : trunc(NumberOf(depth)) || 0;
    return flattenInto([], ObjectOf(self), d);
  }));
  install(arrayProto, "flatMap", named("flatMap", (self, [callback, thisArg]) => {
    const source = ObjectOf(self);
    const length = toLength(source.length);
    if (length > MAX_LENGTH) {
      throw refuse("Array.prototype.flatMap", `${length} elements`, MAX_LENGTH);
    }
    if (typeof callback !== "function") throw new TypeError("flatMap needs a function");
    const target = [];
    for (let i = 0; i < length; i++) {
      if (!(i in source)) continue;
      const value = apply(callback, thisArg, [source[i], i, source]);
      if (isArray(value)) flattenInto(target, value, 0);
      else defineProperty(target, target.length, { value, writable: true, enumerable: true, configurable: true });
    }
    return target;
  }));
  // Typed arrays' own default sort.
  const typedProto = Object.getPrototypeOf(Uint8Array.prototype);
  for (const name of ["sort", "toSorted"]) {
    const native = typedProto[name];
    if (typeof native !== "function") continue;
    install(typedProto, name, named(name, (self, args) => {
      if (args[0] === undefined && self.length > MAX_NATIVE_SORT * 4) {
        throw refuse("a typed-array sort without a comparator", `${self.length} elements`, MAX_NATIVE_SORT * 4);
      }
      return apply(native, self, args);
    }));
  }
  // Substring searches: QuickJS compares naively, so the cost is the product of the lengths.
  const stringProto = String.prototype;
  const searchBound = (name, native, patternAt) => {
    install(stringProto, name, named(name, (self, args) => {
      const text = StringOf(self);
      const pattern = args[patternAt];
      if (typeof pattern === "string" && text.length * pattern.length > MAX_SEARCH) {
        throw refuse(`String.prototype.${name}`, `${text.length} × ${pattern.length} characters`, MAX_SEARCH);
      }
      return apply(native, text, args);
    }));
  };
  for (const name of ["indexOf", "lastIndexOf", "includes", "split", "replace", "replaceAll", "startsWith", "endsWith"]) {
    if (typeof stringProto[name] === "function") searchBound(name, stringProto[name], 0);
  }
}
