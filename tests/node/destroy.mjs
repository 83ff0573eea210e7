// The official RivetKit client (npm rivetkit@2.3.19): `c.destroy()` ends the actor, `onDestroy`
// runs (its event reaches a connected client), and the key then names no actor. It prints the
// destroyed actor's id, so the test can check that its data is gone from the bucket.
//
// Usage: node destroy.mjs ENGINE_URL ACTOR_NAME
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, actorName] = process.argv.slice(2);
const client = createClient({ endpoint, namespace: "default", poolName: "default" });
const key = ["doomed"];
const handle = client[actorName].getOrCreate(key);
await handle.later(600_000, "kept");
assert.equal((await handle.pending()).length, 1, "some data to delete");
const actorId = await handle.actorId();

const conn = handle.connect();
const farewell = new Promise((resolve) => conn.on("destroyed", resolve));
await conn.whoami();
await conn.selfDestruct();
const name = await Promise.race([
  farewell,
  new Promise((_, reject) => setTimeout(() => reject(new Error("no `destroyed` event within 20 s")), 20_000)),
]);
assert.equal(name, actorName, "onDestroy ran and broadcast");
await conn.dispose();

let gone = null;
for (let i = 0; i < 60 && gone === null; i++) {
  try {
    await client[actorName].get(key).whoami();
    await new Promise((resolve) => setTimeout(resolve, 500));
  } catch (error) {
    gone = error;
  }
}
assert.ok(gone, "the destroyed actor no longer answers");
await client.dispose();
console.log(`destroyed-actor-id: ${actorId}`);
console.log(`${actorName} destroy: ok`);
