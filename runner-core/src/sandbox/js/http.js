// WinterTC's fetch API for sandboxed code: `Headers`, `Request`, `Response` and `fetch`, as
// RivetKit's `onRequest(c, request)` takes and returns them and as actor code calls other
// services. Bodies are bytes held whole: `body` is a stream of one chunk (`getReader()`, async
// iteration), enough to read it or hand it to another `Request`/`Response`, not a
// `ReadableStream` to build. Bytes cross to the runner as `Uint8Array`s, and UTF-8 is encoded
// and decoded natively. Internals live in WeakMaps, out of actor code's reach. Appended to the
// prelude when it is compiled; `installHttp` returns what the bridge needs.
function installHttp(host, reply) {
  const define = (name, value) =>
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const NULL_BODY_STATUS = [101, 103, 204, 205, 304];
  const REDIRECT_STATUS = [301, 302, 303, 307, 308];
  // Captured now: actor code may replace the globals later.
  const U8 = Uint8Array;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const arrayFrom = Array.from;
  const toWellFormed = String.prototype.toWellFormed;
  const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
  // A lone surrogate becomes U+FFFD, as UTF-8 encoding does in browsers.
  const wellFormed = (text) =>
    typeof toWellFormed === "function" ? toWellFormed.call(text) : text.replace(LONE_SURROGATE, "\uFFFD");
  const encodeUtf8 = (text) => new U8(host.encodeUtf8(wellFormed(String(text))));
  const decodeUtf8 = (bytes) => host.decodeUtf8(bytes);

  const isHttpSpace = (code) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
  const headerName = (name) => {
    const text = String(name);
    if (!TOKEN.test(text)) throw new TypeError(`Invalid header name: ${stringify(text.slice(0, 100))}`);
    return text.toLowerCase();
  };
  // Trimmed of HTTP whitespace by index; NUL, CR, LF and characters past U+00FF are refused.
  const headerValue = (value) => {
    const text = String(value);
    let start = 0;
    let end = text.length;
    while (start < end && isHttpSpace(text.charCodeAt(start))) start++;
    while (end > start && isHttpSpace(text.charCodeAt(end - 1))) end--;
    for (let i = start; i < end; i++) {
      const code = text.charCodeAt(i);
      if (code === 0 || code === 0x0a || code === 0x0d || code > 0xff) {
        throw new TypeError(`Invalid header value: ${stringify(text.slice(0, 100))}`);
      }
    }
    return text.slice(start, end);
  };

  const headerLists = new WeakMap();
  const listOf = (headers) => {
    const list = headerLists.get(headers);
    if (list === undefined) throw new TypeError("Illegal invocation: not a Headers");
    return list;
  };
  class Headers {
    constructor(init) {
      headerLists.set(this, new Map());
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [name, values] of listOf(init)) listOf(this).set(name, values.slice());
      } else if (typeof init === "object" && typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const entry = arrayFrom(pair);
          if (entry.length !== 2) throw new TypeError("Headers: each pair must have a name and a value");
          this.append(entry[0], entry[1]);
        }
      } else if (typeof init === "object") {
        for (const name of Object.keys(init)) this.append(name, init[name]);
      } else {
        throw new TypeError("Headers: takes pairs, a record, or Headers");
      }
    }
    append(name, value) {
      const key = headerName(name);
      const list = listOf(this);
      const values = list.get(key);
      if (values) values.push(headerValue(value));
      else list.set(key, [headerValue(value)]);
    }
    set(name, value) {
      listOf(this).set(headerName(name), [headerValue(value)]);
    }
    get(name) {
      const values = listOf(this).get(headerName(name));
      return values === undefined ? null : values.join(", ");
    }
    getSetCookie() {
      return (listOf(this).get("set-cookie") || []).slice();
    }
    has(name) {
      return listOf(this).has(headerName(name));
    }
    delete(name) {
      listOf(this).delete(headerName(name));
    }
    // Sorted by name, values joined, except `set-cookie`, which comes once per value.
    entries() {
      const list = listOf(this);
      const out = [];
      for (const name of arrayFrom(list.keys()).sort()) {
        if (name === "set-cookie") for (const value of list.get(name)) out.push([name, value]);
        else out.push([name, list.get(name).join(", ")]);
      }
      return out.values();
    }
    keys() {
      return arrayFrom(this.entries(), ([name]) => name).values();
    }
    values() {
      return arrayFrom(this.entries(), ([, value]) => value).values();
    }
    forEach(callback, thisArg) {
      for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    get [Symbol.toStringTag]() {
      return "Headers";
    }
  }

  // A body's one-chunk stream; reading it uses the body up, as a stream's read does.
  const streamTakes = new WeakMap();
  class BodyStream {
    constructor(take) {
      streamTakes.set(this, take);
    }
    get locked() {
      return false;
    }
    getReader() {
      const take = streamTakes.get(this);
      let done = false;
      return {
        read: async () => {
          if (done) return { value: undefined, done: true };
          done = true;
          const bytes = take();
          return bytes.length === 0 ? { value: undefined, done: true } : { value: bytes, done: false };
        },
        cancel: async () => {
          done = true;
        },
        releaseLock() {},
        closed: Promise.resolve(undefined),
      };
    }
    async *[Symbol.asyncIterator]() {
      const bytes = streamTakes.get(this)();
      if (bytes.length > 0) yield bytes;
    }
    get [Symbol.toStringTag]() {
      return "ReadableStream";
    }
  }

  // What a body init becomes: bytes (a copy) and the content type it implies.
  const extractBody = (init) => {
    if (init === undefined || init === null) return { bytes: null, type: null };
    if (typeof init === "string") return { bytes: encodeUtf8(init), type: "text/plain;charset=UTF-8" };
    if (init instanceof URLSearchParams) {
      return { bytes: encodeUtf8(init.toString()), type: "application/x-www-form-urlencoded;charset=UTF-8" };
    }
    if (init instanceof ArrayBuffer) return { bytes: new U8(init.slice(0)), type: null };
    if (ArrayBuffer.isView(init)) {
      return { bytes: new U8(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), type: null };
    }
    if (streamTakes.has(init)) return { bytes: streamTakes.get(init)(), type: null };
    if (typeof init === "object" && (typeof init.getReader === "function" || typeof init.stream === "function")) {
      throw new TypeError("this body type is not supported here (no ReadableStream or Blob): pass a string or bytes");
    }
    return { bytes: encodeUtf8(String(init)), type: "text/plain;charset=UTF-8" };
  };

  // The body half of `Request` and `Response`: bytes or null, read once.
  const bodies = new WeakMap();
  const bodyOf = (holder) => {
    const body = bodies.get(holder);
    if (body === undefined) throw new TypeError("Illegal invocation: not a Request or Response");
    return body;
  };
  const setBody = (holder, bytes) => {
    const body = { bytes, used: false, stream: null };
    body.take = () => {
      if (body.used) throw new TypeError("Body is unusable: Body has already been read");
      body.used = true;
      return body.bytes === null ? new U8(0) : body.bytes;
    };
    bodies.set(holder, body);
  };
  // Resolves to the bytes, or rejects when the body was read already.
  const consume = async (holder) => bodyOf(holder).take();
  class Body {
    get body() {
      const body = bodyOf(this);
      if (body.bytes === null) return null;
      if (body.stream === null) body.stream = new BodyStream(body.take);
      return body.stream;
    }
    get bodyUsed() {
      return bodyOf(this).used;
    }
    async arrayBuffer() {
      return (await consume(this)).slice().buffer;
    }
    async bytes() {
      return (await consume(this)).slice();
    }
    async text() {
      return decodeUtf8(await consume(this));
    }
    async json() {
      return parse(await this.text());
    }
  }
  const cloneBody = (from, to) => {
    const body = bodyOf(from);
    if (body.used) throw new TypeError("Body is unusable: Body has already been read");
    setBody(to, body.bytes === null ? null : body.bytes.slice());
  };

  const FORBIDDEN_METHODS = ["CONNECT", "TRACE", "TRACK"];
  const NORMALIZED_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"];
  // `incoming`: a request a client sent may use a method a script may not.
  const normalizeMethod = (method, incoming) => {
    const text = String(method);
    if (!TOKEN.test(text)) throw new TypeError(`Invalid method: ${stringify(text.slice(0, 100))}`);
    const upper = text.toUpperCase();
    if (!incoming && FORBIDDEN_METHODS.includes(upper)) throw new TypeError(`Forbidden method: ${text}`);
    return NORMALIZED_METHODS.includes(upper) ? upper : text;
  };

  // Passed as a third argument by the runner alone, for what a script cannot construct: an
  // error response, a fetched response's URL and type, a request a client sent.
  const INTERNAL = {};
  const requests = new WeakMap();
  const requestOf = (request) => {
    const fields = requests.get(request);
    if (fields === undefined) throw new TypeError("Illegal invocation: not a Request");
    return fields;
  };
  class Request extends Body {
    constructor(input, init = {}, internal = undefined) {
      super();
      const options = init === null || init === undefined ? {} : init;
      const incoming = internal !== undefined && internal.token === INTERNAL;
      const source = input instanceof Request ? input : null;
      const url = source ? source.url : new URL(String(input)).href;
      const method =
        options.method !== undefined ? normalizeMethod(options.method, incoming) : source ? source.method : "GET";
      const headers = new Headers(options.headers !== undefined ? options.headers : source ? source.headers : undefined);
      let bytes = null;
      if (options.body !== undefined && options.body !== null) {
        const extracted = extractBody(options.body);
        bytes = extracted.bytes;
        if (extracted.type !== null && !headers.has("content-type")) headers.set("content-type", extracted.type);
      } else if (source && bodyOf(source).bytes !== null) {
        bytes = bodyOf(source).take();
      }
      if (bytes !== null && (method === "GET" || method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have body.");
      }
      const signal = options.signal || (source ? source.signal : new AbortController().signal);
      const redirect = options.redirect || (source ? source.redirect : "follow");
      requests.set(this, { url, method, headers, signal, redirect });
      setBody(this, bytes);
    }
    get url() {
      return requestOf(this).url;
    }
    get method() {
      return requestOf(this).method;
    }
    get headers() {
      return requestOf(this).headers;
    }
    get signal() {
      return requestOf(this).signal;
    }
    get redirect() {
      return requestOf(this).redirect;
    }
    clone() {
      const fields = requestOf(this);
      const copy = new Request(
        fields.url,
        { method: fields.method, headers: fields.headers, signal: fields.signal, redirect: fields.redirect },
        { token: INTERNAL },
      );
      cloneBody(this, copy);
      return copy;
    }
    get [Symbol.toStringTag]() {
      return "Request";
    }
  }

  const responses = new WeakMap();
  const responseOf = (response) => {
    const fields = responses.get(response);
    if (fields === undefined) throw new TypeError("Illegal invocation: not a Response");
    return fields;
  };
  class Response extends Body {
    constructor(body = null, init = {}, internal = undefined) {
      super();
      const options = init === null || init === undefined ? {} : init;
      const trusted = internal !== undefined && internal.token === INTERNAL ? internal : null;
      const status = options.status === undefined ? 200 : Number(options.status);
      if (!trusted && (!Number.isInteger(status) || status < 200 || status > 599)) {
        throw new RangeError(`Response status must be 200 to 599, not ${options.status}`);
      }
      const headers = new Headers(options.headers);
      const extracted = extractBody(body);
      if (extracted.bytes !== null && NULL_BODY_STATUS.includes(status)) {
        throw new TypeError(`Response with status ${status} cannot have a body`);
      }
      if (extracted.type !== null && !headers.has("content-type")) headers.set("content-type", extracted.type);
      responses.set(this, {
        status,
        statusText: options.statusText === undefined ? "" : headerValue(options.statusText),
        headers,
        url: trusted ? trusted.url : "",
        type: trusted ? trusted.type : "default",
      });
      setBody(this, extracted.bytes);
    }
    static json(data, init = {}) {
      const text = stringify(data);
      if (text === undefined) throw new TypeError("Response.json: the value cannot be serialized as JSON");
      const headers = new Headers(init && init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(text, { ...init, headers });
    }
    static redirect(url, status = 302) {
      if (!REDIRECT_STATUS.includes(status)) throw new RangeError(`Invalid redirect status: ${status}`);
      return new Response(null, { status, headers: { location: new URL(String(url)).href } });
    }
    static error() {
      return new Response(null, {}, { token: INTERNAL, url: "", type: "error" });
    }
    get status() {
      const fields = responseOf(this);
      return fields.type === "error" ? 0 : fields.status;
    }
    get ok() {
      return this.status >= 200 && this.status < 300;
    }
    get statusText() {
      return responseOf(this).statusText;
    }
    get headers() {
      return responseOf(this).headers;
    }
    get url() {
      return responseOf(this).url;
    }
    get type() {
      return responseOf(this).type;
    }
    get redirected() {
      return false;
    }
    clone() {
      const fields = responseOf(this);
      const copy = new Response(null, { status: fields.status, statusText: fields.statusText, headers: fields.headers }, {
        token: INTERNAL,
        url: fields.url,
        type: fields.type,
      });
      cloneBody(this, copy);
      return copy;
    }
    get [Symbol.toStringTag]() {
      return "Response";
    }
  }

  // Outbound HTTP, for the origins the operator allows this namespace (denied otherwise).
  const fetch = async (input, init) => {
    const request = new Request(input, init);
    if (request.signal.aborted) throw request.signal.reason;
    const sent = host.fetch(
      stringify({ method: request.method, url: request.url, headers: arrayFrom(request.headers.entries()) }),
      await request.bytes(),
    );
    let head;
    try {
      head = reply(sent);
    } catch (error) {
      // A network failure is a `TypeError`, as `fetch` has it; the runner's code stays on it.
      const failure = new TypeError(error.message);
      failure.group = error.group;
      failure.code = error.code;
      throw failure;
    }
    const bytes = new U8(host.takeBody());
    const status = head.status;
    const body = NULL_BODY_STATUS.includes(status) || request.method === "HEAD" ? null : bytes;
    return new Response(body, { status, headers: head.headers }, { token: INTERNAL, url: request.url, type: "basic" });
  };

  define("Headers", Headers);
  define("Request", Request);
  define("Response", Response);
  define("fetch", fetch);

  return {
    fetch,
    // The `Request` RivetKit's `onRequest` gets: `{method, url, headers}` from the runner, and
    // the body it holds.
    incoming(head) {
      const bytes = new U8(host.takeBody());
      const method = head.method.toUpperCase();
      const body = method === "GET" || method === "HEAD" || bytes.length === 0 ? null : bytes;
      return new Request(head.url, { method, headers: head.headers, body }, { token: INTERNAL });
    },
    // What `onRequest` answered, for the runner: the body handed over as bytes, the rest as
    // JSON. Anything Response-like will do, as in RivetKit (a status, headers with `entries()`
    // and `arrayBuffer()`).
    outgoing(response) {
      const like =
        typeof response === "object" && response !== null && typeof response.status === "number" &&
        typeof response.arrayBuffer === "function" && response.headers !== null &&
        typeof response.headers === "object" && typeof response.headers.entries === "function";
      if (!like) throw new TypeError("onRequest handler must return a Response");
      const head = { status: response.status, headers: arrayFrom(response.headers.entries()) };
      return Promise.resolve(response.arrayBuffer()).then((buffer) => {
        host.putBody(new U8(buffer));
        return stringify(head);
      });
    },
  };
}
