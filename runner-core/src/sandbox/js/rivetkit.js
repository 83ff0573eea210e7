
// RivetKit's modules as actor code imports them: `rivetkit` (actor, setup, the errors, event,
// queue) and `rivetkit/errors`. `rivet-runner deploy` bundles a module's imports of them into
// calls of `globalThis.__rivetkitModule(name)`; the prelude installs that function. Appended to
// the prelude when it is compiled. `rivetkit/db` declares the actor's SQLite database.
function rivetkitModules(warn) {
  const DEFINITION = Symbol.for("rivet.actor");
  const REGISTRY = Symbol.for("rivet.registry");
  const DB = Symbol.for("rivet.db");

  // RivetKit's `RivetError(group, code, message, { metadata, ... })`, also `ActorError`; what
  // reaches the client is its group, code, message and metadata.
  class RivetError extends Error {
    constructor(group, code, message, options) {
      super(message, options && options.cause !== undefined ? { cause: options.cause } : undefined);
      this.name = "RivetError";
      this.group = String(group);
      this.code = String(code);
      this.public = true;
      if (options && options.metadata !== undefined) this.metadata = options.metadata;
      if (options && options.statusCode !== undefined) this.statusCode = options.statusCode;
    }
  }
  // `UserError(message, { code, metadata })`: group `user`, code `user_error` unless given.
  class UserError extends RivetError {
    constructor(message, options) {
      super("user", (options && options.code) || "user_error", message, options);
      this.name = "UserError";
      this.statusCode = 400;
    }
  }

  const mark = (object, symbol) => {
    Object.defineProperty(object, symbol, { value: true, enumerable: false });
    return object;
  };
  // `actor({...})`: the definition itself, marked so a module's exports can be told apart.
  const actor = (definition) => {
    if (definition === null || typeof definition !== "object") {
      throw new TypeError("actor() takes a definition object");
    }
    return mark(definition, DEFINITION);
  };
  const isRegistry = (value) => value !== null && typeof value === "object" && value[REGISTRY] === true;
  const isDefinition = (value) =>
    value !== null && typeof value === "object" && value[DEFINITION] === true;

  // `setup({ use: { name: actor(...) } })`: the registry; each key is an actor's name. Serving
  // it is the runner's job, so `start()` and its kin only say so.
  const setup = (config) => {
    const use = config && config.use;
    if (use === null || typeof use !== "object") {
      throw new TypeError("setup() takes { use: { name: actor({...}) } }");
    }
    for (const name of Object.keys(use)) {
      if (!isDefinition(use[name])) throw new TypeError(`setup(): \`use.${name}\` is not an actor()`);
    }
    const served = () => warn("the runner serves this registry's actors; start() does nothing here");
    return mark({ config, use, start: served, serve: served, listen: served }, REGISTRY);
  };
  // Declarations of RivetKit 2.3's `events` and `queues`: their options as given.
  const event = (options) => ({ ...(options || {}) });
  const queue = (options) => ({ ...(options || {}) });

  const error = (group, code, fallback, statusCode) => (message, options) =>
    new RivetError(group, code, message === undefined ? fallback : message, { ...(options || {}), statusCode });
  const isRivetErrorLike = (e) =>
    e !== null && typeof e === "object" && typeof e.group === "string" && typeof e.code === "string";
  const errors = Object.freeze({
    RivetError,
    ActorError: RivetError,
    UserError,
    USER_ERROR_CODE: "user_error",
    INTERNAL_ERROR_CODE: "internal_error",
    isRivetErrorLike,
    isRivetErrorCode: (e, group, code) => isRivetErrorLike(e) && e.group === group && e.code === code,
    isActorAbortedError: (e) => isRivetErrorLike(e) && e.group === "actor" && e.code === "aborted",
    forbiddenError: error("auth", "forbidden", "Forbidden", 403),
    internalError: error("rivetkit", "internal_error", "An internal error occurred", 500),
    invalidRequest: error("request", "invalid", "Invalid request", 400),
    invalidEncoding: error("encoding", "invalid", "Invalid encoding", 400),
    actorNotFound: error("actor", "not_found", "Actor not found", 404),
    actorStopping: error("actor", "stopping", "Actor is stopping", 503),
    unsupportedFeature: error("feature", "unsupported", "Unsupported feature", 400),
  });
  // `db({ onMigrate })`: the actor's SQLite database (it always has one here); `onMigrate(db)`
  // runs on every start, before `onWake`.
  const db = (options) => mark({ onMigrate: options && options.onMigrate }, DB);
  const isDb = (value) => value !== null && typeof value === "object" && value[DB] === true;
  const modules = {
    "rivetkit/db": Object.freeze({ db }),
    rivetkit: Object.freeze({ actor, setup, event, queue, RivetError, ActorError: RivetError, UserError }),
    "rivetkit/errors": errors,
  };
  const load = (name) => {
    const found = Object.prototype.hasOwnProperty.call(modules, name) ? modules[name] : undefined;
    if (found === undefined) {
      throw new TypeError(`module "${name}" is not available to actors here; bundle it into the actor`);
    }
    return found;
  };
  return { load, actor, UserError, isDefinition, isRegistry, isDb };
}
