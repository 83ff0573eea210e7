// RivetKit's `onWebSocket(c, websocket)`: the actor's end of a raw WebSocket, shaped like a
// WHATWG `WebSocket` (`send`, `close`, `readyState`, `message`/`close` events through
// `addEventListener` or `onmessage`/`onclose`). Text arrives as a string, binary as an
// `ArrayBuffer`. What `send` and `close` do leaves when the call commits, through the output
// gate, like events. Sockets live in this runtime: one replaced after a limit no longer knows
// them, and the runner closes them. Appended to the prelude when it is compiled.
function installSockets(host, reply) {
  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSING = 2;
  const CLOSED = 3;
  const MAX_REASON_BYTES = 123;

  class MessageEvent extends Event {
    constructor(type, init = {}) {
      super(type);
      this.data = init.data;
    }
  }
  class CloseEvent extends Event {
    constructor(type, init = {}) {
      super(type);
      this.code = init.code === undefined ? 0 : init.code;
      this.reason = init.reason === undefined ? "" : String(init.reason);
      this.wasClean = !!init.wasClean;
    }
  }

  const fields = new WeakMap();
  const fieldsOf = (socket) => {
    const found = fields.get(socket);
    if (found === undefined) throw new TypeError("Illegal invocation: not a WebSocket");
    return found;
  };
  const bytesOf = (data) => {
    if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  };
  class ActorWebSocket extends EventTarget {
    constructor(id, url) {
      super();
      fields.set(this, { id, url, readyState: OPEN });
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      this.binaryType = "arraybuffer";
    }
    get readyState() {
      return fieldsOf(this).readyState;
    }
    get url() {
      return fieldsOf(this).url;
    }
    get protocol() {
      return "";
    }
    get extensions() {
      return "";
    }
    get bufferedAmount() {
      return 0;
    }
    // Text for a string, binary for an `ArrayBuffer` or a view of one.
    send(data) {
      const socket = fieldsOf(this);
      if (socket.readyState !== OPEN) throw new TypeError("WebSocket is not open");
      const binary = data instanceof ArrayBuffer || ArrayBuffer.isView(data);
      const bytes = binary ? bytesOf(data) : new Uint8Array(host.encodeUtf8(String(data)));
      reply(host.socketSend(socket.id, bytes, binary));
    }
    close(code, reason) {
      const socket = fieldsOf(this);
      if (socket.readyState >= CLOSING) return;
      if (code !== undefined && code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
        throw new RangeError(`a WebSocket is closed with 1000 or 3000 to 4999, not ${code}`);
      }
      const text = reason === undefined ? "" : String(reason);
      if (host.encodeUtf8(text).byteLength > MAX_REASON_BYTES) {
        throw new SyntaxError(`a close reason is at most ${MAX_REASON_BYTES} bytes of UTF-8`);
      }
      // `readyState` changes with the close event: a call that fails closes nothing.
      reply(host.socketClose(socket.id, code === undefined ? 1000 : code, text));
    }
    get [Symbol.toStringTag]() {
      return "WebSocket";
    }
  }
  for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
    Object.defineProperty(ActorWebSocket, name, { value });
    Object.defineProperty(ActorWebSocket.prototype, name, { value });
  }
  for (const [name, value] of Object.entries({ MessageEvent, CloseEvent })) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }

  const sockets = new Map();
  return {
    // The socket of connection `id`, opened on `url`.
    open(id, url) {
      const socket = new ActorWebSocket(id, url);
      sockets.set(id, socket);
      return socket;
    },
    // A message for connection `id`'s socket; false when this runtime does not know it.
    message(id, bytes, binary) {
      const socket = sockets.get(id);
      if (socket === undefined) return false;
      // A text frame is UTF-8 (the runner checked it); a leading BOM is content here.
      const data = binary ? bytes.buffer : host.decodeUtf8(bytes, true);
      socket.dispatchEvent(new MessageEvent("message", { data }));
      return true;
    },
    // Connection `id`'s socket closed.
    close(id, code, reason) {
      const socket = sockets.get(id);
      if (socket === undefined) return;
      sockets.delete(id);
      fieldsOf(socket).readyState = CLOSED;
      socket.dispatchEvent(new CloseEvent("close", { code, reason, wasClean: true }));
    },
  };
}
