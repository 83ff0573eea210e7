// The official RivetKit client (npm rivetkit@2.3.19): raw WebSockets through the engine
// gateway (`handle.webSocket()`), to the actor's `onWebSocket`. The socket is a connection
// (params reach onBeforeConnect, which refuses the token `bad`, and createConnState); text
// echoes as text and binary comes back reversed, in order; the actor's writes in its message
// listener persist; either side may close, and the actor hears how.
//
// Usage: node websocket.mjs ENGINE_URL ACTOR_NAME
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, actorName] = process.argv.slice(2);
const within = (ms, what, promise) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)),
  ]);
const until = async (what, check) => {
  for (let i = 0; i < 100; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`never: ${what}`);
};

// Collects a socket's messages (text as strings, binary as byte arrays) and its close.
const watch = (ws) => {
  const seen = { messages: [], closed: null };
  ws.binaryType = "arraybuffer";
  ws.addEventListener("message", (event) => {
    seen.messages.push(typeof event.data === "string" ? event.data : [...new Uint8Array(event.data)]);
  });
  ws.addEventListener("close", (event) => (seen.closed = { code: event.code, reason: event.reason }));
  return seen;
};

const client = createClient({ endpoint, namespace: "default", poolName: "default" });
const key = ["sockets", String(Date.now())];
const as = (params) => client[actorName].getOrCreate(key, params ? { params } : undefined);

const ws = await as({ name: "ada" }).webSocket("room?x=1");
const seen = watch(ws);
await until("the welcome", () => seen.messages.length === 1);
assert.deepEqual(JSON.parse(seen.messages[0]), { type: "welcome", path: "/websocket/room?x=1", name: "ada" });
for (let i = 0; i < 5; i++) ws.send(`hello ${i}`);
ws.send(new Uint8Array([1, 2, 3]));
await until("the echoes", () => seen.messages.length === 7);
assert.deepEqual(seen.messages.slice(1), ["hello 0", "hello 1", "hello 2", "hello 3", "hello 4", [3, 2, 1]], "in order");
assert.equal((await as().socketStats()).messages, 6, "the listener's writes persist");
ws.close(1000, "done");
await until("the actor hears the client close", async () => {
  const stats = await as().socketStats();
  return stats.lastClose !== null && stats.lastClose[0] === 1000 ? stats : undefined;
});
assert.deepEqual((await as().socketStats()).lastClose, [1000, "done"]);

// The actor closes one.
const closing = await as({ name: "bob" }).webSocket();
const closingSeen = watch(closing);
await until("bob's welcome", () => closingSeen.messages.length === 1);
closing.send("close");
await until("the actor's close", () => closingSeen.closed !== null);
assert.deepEqual(closingSeen.closed, { code: 4001, reason: "bye" }, "the actor's code and reason");
await until("the actor hears its own close", async () => {
  const stats = await as().socketStats();
  return stats.lastClose[0] === 4001 ? stats : undefined;
});

// onBeforeConnect refuses one: it opens and closes with 1011 and the error's group.code.
const refused = await as({ token: "bad", name: "eve" }).webSocket();
const refusedSeen = watch(refused);
await within(10000, "the refusal", until("the refusal", () => refusedSeen.closed !== null));
assert.equal(refusedSeen.closed.code, 1011, "refused with 1011");
assert.equal(refusedSeen.closed.reason, "user.forbidden", "and the error's group.code");

await client.dispose();
console.log(`${actorName} websocket: ok`);
