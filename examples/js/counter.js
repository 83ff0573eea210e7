// The counter actor in JavaScript: the same API as examples/counter (Rust) and
// examples/wasm/counter (a WebAssembly component). `increment(n)` adds `n` and returns the new
// count, `count` reads it, every increment is broadcast as `newCount` and recorded in SQLite.
//
// Deploy it to a namespace without redeploying the runner:
//   rivet-runner deploy examples/js/counter.js --namespace tenant-a --engine http://127.0.0.1:6420

export default actor({
  createState: (c, input) => ({ count: input && input.start ? input.start : 0 }),

  onCreate(c) {
    c.db.execute(`CREATE TABLE increments (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      amount INTEGER NOT NULL,
      total INTEGER NOT NULL,
      generation INTEGER NOT NULL
    )`);
  },

  actions: {
    increment(c, amount = 1) {
      if (!Number.isSafeInteger(amount)) {
        throw new UserError("amount must be an integer", { code: "invalid_amount" });
      }
      c.state.count += amount;
      c.db.execute(
        "INSERT INTO increments (amount, total, generation) VALUES (?, ?, ?)",
        amount,
        c.state.count,
        c.generation,
      );
      c.broadcast("newCount", c.state.count);
      return c.state.count;
    },

    count: (c) => c.state.count,

    history: (c) => c.db.query("SELECT amount, total, generation FROM increments ORDER BY id"),

    incrementLater(c, amount, delayMs) {
      c.schedule.after(delayMs, "increment", amount);
    },

    goToSleep(c) {
      c.sleep();
    },

    version: () => 1,
  },

  // Raw HTTP under /request/*: a WinterTC Request in, a Response out, as in RivetKit.
  onRequest: (c, request) => {
    const url = new URL(request.url);
    return new Response(`count=${c.state.count} path=${url.pathname}${url.search}\n`, {
      headers: { "content-type": "text/plain" },
    });
  },
});
