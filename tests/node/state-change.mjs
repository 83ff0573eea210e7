// The official RivetKit client (npm rivetkit@2.3.19): `onStateChange(c, state)` runs after each
// call that changed the state, before its reply (its event arrives first); a hook that changes
// the state is undone entirely (its event too).
//
// Usage: node state-change.mjs ENGINE_URL ACTOR_NAME
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, actorName] = process.argv.slice(2);
const client = createClient({ endpoint, namespace: "default", poolName: "default" });
const conn = client[actorName].getOrCreate(["state-change"]).connect();
const seen = [];
conn.on("changed", (count) => seen.push(count));
assert.equal(await conn.count(), 0);
assert.equal(await conn.bump(2), 2);
assert.deepEqual(seen.filter((v) => v !== 0), [2], "the event came before the reply");
assert.equal(await conn.count(), 2, "a call that changes nothing");
assert.equal(await conn.bump(3), 5);
assert.equal(await conn.count(), 5, "the hook's own change was undone");
assert.equal(await conn.bump(1), 6);
assert.deepEqual(seen.filter((v) => v !== 0), [2, 6], "one event per changing call; none from an undone hook");
await conn.dispose();
await client.dispose();
console.log(`${actorName} state-change: ok`);
