// The official RivetKit client (npm rivetkit@2.3.19): `createVars` makes ephemeral values on
// every start, which live across actions but never across a sleep, while the state does.
//
// Usage: node vars.mjs ENGINE_URL ACTOR_NAME
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, actorName] = process.argv.slice(2);
const client = createClient({ endpoint, namespace: "default", poolName: "default" });
const handle = client[actorName].getOrCreate(["vars"]);

const first = await handle.touch();
assert.deepEqual(first, { calls: 1, touches: 1, wakes: 1, mine: true }, "first call");
const second = await handle.touch();
assert.deepEqual(second, { calls: 2, touches: 2, wakes: 1, mine: true }, "vars live across actions");

await handle.nap();
// The actor sleeps after the action; the next call wakes it (poll until it has).
let after;
for (let i = 0; i < 60; i++) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  after = await handle.touch();
  if (after.wakes === 2) break;
}
assert.equal(after.wakes, 2, "the actor slept and woke");
assert.equal(after.calls, 1, "vars were made anew on wake, not persisted");
assert.ok(after.touches >= 3, "the state was persisted");
await client.dispose();
console.log(`${actorName} vars: ok`);
