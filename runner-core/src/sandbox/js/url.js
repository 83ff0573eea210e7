
// `URL` and `URLSearchParams`, as sandboxed code uses them in `onRequest` handlers and to build
// `fetch` URLs: absolute and relative parsing against a base, the special schemes' default ports
// and lowercase hosts, dot segments, percent-encoding of what may not stand in a path, query or
// fragment, and `searchParams` kept in step with `search`. Hosts are not IDNA-mapped (non-ASCII
// hosts are refused), and IPv6 literals are kept as written. Written in JavaScript, so the call's
// time limit reaches every loop. Appended to the prelude when it is compiled.
function installUrl() {
  const SPECIAL = { "http:": "80", "https:": "443", "ws:": "80", "wss:": "443", "ftp:": "21", "file:": "" };
  const invalid = (input) => new TypeError(`Invalid URL: ${String(input).slice(0, 200)}`);

  // Percent-encodes what may not stand in a component: controls, space, non-ASCII (as UTF-8)
  // and `extra`; an existing `%XX` is kept.
  const encodeSet = (text, extra) => {
    let out = "";
    for (const ch of text) {
      const code = ch.codePointAt(0);
      if (code > 0x20 && code < 0x7f && !extra.includes(ch)) out += ch;
      else if (code < 0x80) out += "%" + code.toString(16).toUpperCase().padStart(2, "0");
      else if (code >= 0xd800 && code <= 0xdfff) out += "%EF%BF%BD"; // a lone surrogate
      else out += encodeURIComponent(ch);
    }
    return out;
  };
  const encodePath = (text) => encodeSet(text, '"#<>?`{}');
  const encodeQuery = (text, special) => encodeSet(text, special ? "\"#<>'" : '"#<>');
  const encodeFragment = (text) => encodeSet(text, '"<>`');

  // Leading and trailing controls and spaces cut, by index (a regex anchored at the end
  // backtracks quadratically on a long run of spaces followed by something else).
  const trimControls = (text) => {
    let start = 0;
    let end = text.length;
    while (start < end && text.charCodeAt(start) <= 0x20) start++;
    while (end > start && text.charCodeAt(end - 1) <= 0x20) end--;
    return text.slice(start, end);
  };

  const removeDots = (segments) => {
    const out = [];
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      if (segment === "." || segment.toLowerCase() === "%2e") {
        if (last) out.push("");
      } else if (segment === ".." || /^(\.|%2e){2}$/i.test(segment)) {
        if (out.length > 0) out.pop();
        if (last) out.push("");
      } else {
        out.push(segment);
      }
    });
    return out;
  };

  const parseHost = (host, special, input) => {
    if (host.startsWith("[")) {
      if (!/^\[[0-9a-fA-F:.]+\]$/.test(host)) throw invalid(input);
      return host.toLowerCase();
    }
    let decoded;
    try {
      decoded = decodeURIComponent(host);
    } catch (e) {
      throw invalid(input);
    }
    if (special && decoded === "") throw invalid(input);
    if (/[\u0000-\u0020#%/:<>?@[\\\]^|\u007f-\uffff]/.test(decoded)) throw invalid(input);
    return special ? decoded.toLowerCase() : decoded;
  };

  // The parts of `input`: scheme, user, host, port, path segments (or an opaque path), query
  // and fragment, each already encoded; `base`'s parts resolve a relative one.
  const parse = (input, base) => {
    const text = trimControls(String(input)).replace(/[\t\n\r]/g, "");
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(text);
    const url = { protocol: "", username: "", password: "", hostname: "", port: "", path: [], opaque: null, query: null, fragment: null };
    let rest;
    if (scheme) {
      url.protocol = scheme[1].toLowerCase() + ":";
      rest = text.slice(scheme[0].length);
    } else {
      if (!base) throw invalid(input);
      url.protocol = base.protocol;
      rest = text;
    }
    const special = url.protocol in SPECIAL;
    const hashAt = rest.indexOf("#");
    if (hashAt >= 0) {
      url.fragment = encodeFragment(rest.slice(hashAt + 1));
      rest = rest.slice(0, hashAt);
    }
    const queryAt = rest.indexOf("?");
    if (queryAt >= 0) {
      url.query = encodeQuery(rest.slice(queryAt + 1), special);
      rest = rest.slice(0, queryAt);
    }
    // A special URL's path and authority take `\` for `/`; its query and fragment keep it.
    if (special) rest = rest.replace(/\\/g, "/");
    const relative = !scheme || (special && base && base.protocol === url.protocol && !rest.startsWith("/"));
    if (rest.startsWith("//") || (special && scheme && !relative)) {
      // `file:` keeps the slash of its path (`file:///tmp` has an empty host); the other
      // special schemes take any number of slashes before the host.
      rest = url.protocol === "file:" ? rest.replace(/^\/\//, "") : rest.replace(/^\/*/, "");
      const slash = rest.indexOf("/");
      const authority = slash >= 0 ? rest.slice(0, slash) : rest;
      rest = slash >= 0 ? rest.slice(slash) : "";
      const at = authority.lastIndexOf("@");
      const hostPort = at >= 0 ? authority.slice(at + 1) : authority;
      if (at >= 0) {
        const userinfo = authority.slice(0, at);
        const colon = userinfo.indexOf(":");
        url.username = encodeSet(colon >= 0 ? userinfo.slice(0, colon) : userinfo, '"#<>?`{}/:;=@[\\]^|');
        url.password = colon >= 0 ? encodeSet(userinfo.slice(colon + 1), '"#<>?`{}/:;=@[\\]^|') : "";
      }
      const portMatch = /:(\d*)$/.exec(hostPort.startsWith("[") ? hostPort.slice(hostPort.indexOf("]")) : hostPort);
      const host = portMatch ? hostPort.slice(0, hostPort.length - portMatch[0].length) : hostPort;
      if (portMatch && portMatch[1] !== "") {
        const port = Number(portMatch[1]);
        if (port > 65535) throw invalid(input);
        url.port = String(port) === SPECIAL[url.protocol] ? "" : String(port);
      } else if (!portMatch && hostPort.lastIndexOf(":") > hostPort.lastIndexOf("]")) {
        throw invalid(input);
      }
      url.hostname = parseHost(host, special && url.protocol !== "file:", input);
      url.path = removeDots(rest === "" ? (special ? [""] : []) : rest.slice(1).split("/")).map(encodePath);
      if (url.path.length === 0 && special) url.path = [""];
      return url;
    }
    if (relative && base) {
      url.username = base.username;
      url.password = base.password;
      url.hostname = base.hostname;
      url.port = base.port;
      if (base.opaque !== null) {
        if (rest !== "" || (queryAt < 0 && hashAt < 0)) throw invalid(input);
        url.opaque = base.opaque;
        if (queryAt < 0) url.query = base.query;
        return url;
      }
      if (rest === "") {
        url.path = base.path.slice();
        if (queryAt < 0) url.query = base.query;
      } else if (rest.startsWith("/")) {
        url.path = removeDots(rest.slice(1).split("/")).map(encodePath);
      } else {
        url.path = removeDots(base.path.slice(0, -1).concat(rest.split("/"))).map(encodePath);
      }
      return url;
    }
    if (special) throw invalid(input);
    if (rest.startsWith("/")) {
      url.path = removeDots(rest.slice(1).split("/")).map(encodePath);
    } else {
      url.opaque = encodeSet(rest, "");
    }
    return url;
  };

  // application/x-www-form-urlencoded, as URLSearchParams writes it.
  const formEncode = (text) =>
    encodeURIComponent(String(text))
      .replace(/%20/g, "+")
      .replace(/[!'()~]/g, (ch) => "%" + ch.charCodeAt(0).toString(16).toUpperCase());
  // Each run of `%XX` escapes is decoded as UTF-8 on its own (a bad byte becomes U+FFFD); a
  // `%` not followed by two hex digits stays as it is.
  const formDecode = (text) =>
    text
      .replace(/\+/g, " ")
      .replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
        new TextDecoder().decode(new Uint8Array(run.slice(1).split("%").map((hex) => parseInt(hex, 16)))),
      );
  // A string as a sequence of scalar values: a lone surrogate becomes U+FFFD (as WebIDL's
  // USVString does), so encoding it cannot throw.
  const scalar = (value) =>
    String(value).replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

  const paramsOwner = new WeakMap();
  class URLSearchParams {
    constructor(init = "") {
      this._list = [];
      if (init instanceof URLSearchParams) {
        this._list = init._list.map(([k, v]) => [k, v]);
      } else if (init !== null && typeof init === "object") {
        const pairs = typeof init[Symbol.iterator] === "function" ? Array.from(init) : Object.entries(init);
        for (const pair of pairs) {
          const entry = Array.from(pair);
          if (entry.length !== 2) throw new TypeError("URLSearchParams takes pairs of a name and a value");
          this._list.push([scalar(entry[0]), scalar(entry[1])]);
        }
      } else {
        this._parse(scalar(init), true);
      }
    }
    // Reads `text` (a leading `?` dropped when `strip`: a URL's own query keeps it).
    _parse(text, strip) {
      this._list = [];
      for (const part of (strip ? text.replace(/^\?/, "") : text).split("&")) {
        if (part === "") continue;
        const eq = part.indexOf("=");
        this._list.push(eq >= 0 ? [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))] : [formDecode(part), ""]);
      }
    }
    _changed() {
      const owner = paramsOwner.get(this);
      if (owner) owner._parts.query = this._list.length === 0 ? null : this.toString();
    }
    get size() {
      return this._list.length;
    }
    append(name, value) {
      this._list.push([scalar(name), scalar(value)]);
      this._changed();
    }
    delete(name, value) {
      const n = String(name);
      this._list = this._list.filter(([k, v]) => k !== n || (value !== undefined && v !== String(value)));
      this._changed();
    }
    get(name) {
      const found = this._list.find(([k]) => k === String(name));
      return found ? found[1] : null;
    }
    getAll(name) {
      return this._list.filter(([k]) => k === String(name)).map(([, v]) => v);
    }
    has(name, value) {
      return this._list.some(([k, v]) => k === String(name) && (value === undefined || v === String(value)));
    }
    set(name, value) {
      const n = scalar(name);
      const at = this._list.findIndex(([k]) => k === n);
      if (at < 0) this._list.push([n, scalar(value)]);
      else {
        this._list[at][1] = scalar(value);
        this._list = this._list.filter(([k], i) => k !== n || i === at);
      }
      this._changed();
    }
    sort() {
      this._list = this._list
        .map((entry, i) => [entry, i])
        .sort(([a, i], [b, j]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : i - j))
        .map(([entry]) => entry);
      this._changed();
    }
    forEach(callback, thisArg) {
      for (const [k, v] of this._list) callback.call(thisArg, v, k, this);
    }
    *entries() {
      for (const [k, v] of this._list) yield [k, v];
    }
    *keys() {
      for (const [k] of this._list) yield k;
    }
    *values() {
      for (const [, v] of this._list) yield v;
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    toString() {
      return this._list.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join("&");
    }
  }

  class URL {
    constructor(input, base) {
      const baseParts = base === undefined ? null : base instanceof URL ? base._parts : parse(base, null);
      this._parts = parse(input instanceof URL ? input.href : input, baseParts);
      this._params = new URLSearchParams();
      this._params._parse(this._parts.query ?? "", false);
      paramsOwner.set(this._params, this);
    }
    static canParse(input, base) {
      try {
        new URL(input, base);
        return true;
      } catch (e) {
        return false;
      }
    }
    static parse(input, base) {
      try {
        return new URL(input, base);
      } catch (e) {
        return null;
      }
    }
    // Applies `change` to a copy of the parts and keeps the result if it parses again; an
    // invalid value is ignored, as browsers do for every setter but `href`.
    _assign(change) {
      if (this._parts.opaque !== null) return;
      const parts = { ...this._parts, path: this._parts.path.slice() };
      change(parts);
      const probe = Object.create(URL.prototype);
      probe._parts = parts;
      try {
        this._replace(parse(probe.href, null));
      } catch (e) {
        // Ignored: the URL stays as it was.
      }
    }
    _replace(parts) {
      this._parts = parts;
      this._params._parse(parts.query ?? "", false);
    }
    get protocol() {
      return this._parts.protocol;
    }
    set protocol(value) {
      const scheme = String(value).split(":")[0].toLowerCase();
      if (!/^[a-z][a-z0-9+.-]*$/.test(scheme) || (scheme + ":" in SPECIAL) !== (this._parts.protocol in SPECIAL)) return;
      this._assign((p) => {
        p.protocol = scheme + ":";
        if (p.port === SPECIAL[p.protocol]) p.port = "";
      });
    }
    get username() {
      return this._parts.username;
    }
    set username(value) {
      this._assign((p) => {
        p.username = encodeSet(scalar(value), '"#<>?`{}/:;=@[\\]^|');
      });
    }
    get password() {
      return this._parts.password;
    }
    set password(value) {
      this._assign((p) => {
        p.password = encodeSet(scalar(value), '"#<>?`{}/:;=@[\\]^|');
      });
    }
    get hostname() {
      return this._parts.hostname;
    }
    set hostname(value) {
      const text = String(value);
      if (/[:/?#@]/.test(text.replace(/^\[.*\]$/, ""))) return;
      this._assign((p) => {
        p.hostname = text;
      });
    }
    get port() {
      return this._parts.port;
    }
    set port(value) {
      const digits = /^\d*/.exec(String(value))[0];
      this._assign((p) => {
        p.port = digits === "" ? "" : String(Number(digits));
      });
    }
    get host() {
      return this._parts.port === "" ? this._parts.hostname : `${this._parts.hostname}:${this._parts.port}`;
    }
    set host(value) {
      const text = String(value);
      const colon = text.lastIndexOf(":");
      if (/[/?#@]/.test(text)) return;
      this._assign((p) => {
        if (colon > text.lastIndexOf("]")) {
          p.hostname = text.slice(0, colon);
          const digits = /^\d*/.exec(text.slice(colon + 1))[0];
          if (digits !== "") p.port = String(Number(digits));
        } else {
          p.hostname = text;
        }
      });
    }
    get origin() {
      return this._parts.protocol in SPECIAL && this._parts.protocol !== "file:"
        ? `${this._parts.protocol}//${this.host}`
        : "null";
    }
    get pathname() {
      const p = this._parts;
      return p.opaque !== null ? p.opaque : p.path.length === 0 ? "" : "/" + p.path.join("/");
    }
    set pathname(value) {
      if (this._parts.opaque !== null) return;
      const text = String(value).replace(/^\//, "");
      this._parts.path = removeDots(text.split("/")).map(encodePath);
    }
    get search() {
      const q = this._parts.query;
      return q === null || q === "" ? "" : "?" + q;
    }
    set search(value) {
      const text = String(value).replace(/^\?/, "");
      this._parts.query = text === "" ? null : encodeQuery(text, this._parts.protocol in SPECIAL);
      this._params._parse(text, false);
    }
    get searchParams() {
      return this._params;
    }
    get hash() {
      const f = this._parts.fragment;
      return f === null || f === "" ? "" : "#" + f;
    }
    set hash(value) {
      const text = String(value).replace(/^#/, "");
      this._parts.fragment = text === "" ? null : encodeFragment(text);
    }
    set href(value) {
      this._replace(parse(value, null));
    }
    get href() {
      const p = this._parts;
      let out = p.protocol;
      if (p.opaque === null && (p.hostname !== "" || p.protocol in SPECIAL)) {
        out += "//";
        if (p.username !== "" || p.password !== "") {
          out += p.username + (p.password !== "" ? ":" + p.password : "") + "@";
        }
        out += this.host;
      }
      out += this.pathname;
      if (p.query !== null) out += "?" + p.query;
      if (p.fragment !== null) out += "#" + p.fragment;
      return out;
    }
    toString() {
      return this.href;
    }
    toJSON() {
      return this.href;
    }
  }

  Object.defineProperty(globalThis, "URL", { value: URL, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(globalThis, "URLSearchParams", {
    value: URLSearchParams,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}
