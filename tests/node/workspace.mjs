// The official RivetKit client (npm rivetkit@2.3.19) against the multiplayer workspace
// (examples/rivetkit/workspace.ts, deployed from TypeScript): two clients connected to one
// workspace both receive the agent session's events as they stream; the events persist in the
// actor's state; a sleep disposes the session and the wake resumes it.
//
// Usage: node workspace.mjs ENGINE_URL AGENT_URL
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, baseUrl] = process.argv.slice(2);
const until = async (what, check) => {
  for (let i = 0; i < 150; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`never: ${what}`);
};

const client = createClient({ endpoint, namespace: "default", poolName: "default" });
const key = [`ws-${Date.now()}`];
const options = { createWithInput: { baseUrl } };
const ada = client.workspace.getOrCreate(key, options).connect();
const bob = client.workspace.getOrCreate(key, options).connect();
const heard = { ada: [], bob: [] };
const chat = { ada: [], bob: [] };
for (const [name, conn] of [["ada", ada], ["bob", bob]]) {
  conn.on("session.event", (event) => heard[name].push({ event, at: Date.now() }));
  conn.on("chat.user", (message) => chat[name].push(message));
}
const info = await ada.getSessionInfo();
assert.equal(info.workspaceId, key[0]);
assert.equal(info.session.resumed, 0, "a new session");
await bob.getSessionInfo();

assert.deepEqual(await ada.prompt({ userId: "ada", text: "what is the answer?" }), { accepted: true });
await until("both clients hear the agent's three events", () => heard.ada.length === 3 && heard.bob.length === 3);
for (const name of ["ada", "bob"]) {
  assert.deepEqual(heard[name].map(({ event }) => event.eventIndex), [0, 1, 2], `${name}: in order`);
  assert.deepEqual(heard[name].map(({ event }) => event.payload.type), ["thinking", "tool", "message"]);
  assert.equal(chat[name][0].text, "what is the answer?", `${name}: the prompt was broadcast`);
}
// Streamed: the events arrived spread over the agent's steps, not all at once at the end.
const spread = heard.ada[2].at - heard.ada[0].at;
assert.ok(spread >= 60, `the events arrived ${spread} ms apart in all`);

const history = await ada.history();
assert.deepEqual(history.map((e) => e.payload.type), ["thinking", "tool", "message"], "persisted");
await ada.dispose();
await bob.dispose();

// A sleep disposes the session; the wake resumes it from the persisted records.
const handle = client.workspace.getOrCreate(key, options);
await handle.nap();
const resumed = await until("the workspace slept and woke", async () => {
  const now = await handle.getSessionInfo();
  return now.disposals === 1 ? now : null;
});
assert.equal(resumed.session.resumed, 1, "the session was resumed, not created");
assert.equal((await handle.history()).length, 3, "its events survived the sleep");
await client.dispose();
console.log("workspace: ok");
