// The official RivetKit client (npm rivetkit@2.3.19): `c.schedule` by id — `after` returns an
// id, `list`/`get` show the pending schedule, `cancel` removes it once.
//
// Usage: node schedules.mjs ENGINE_URL ACTOR_NAME
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, actorName] = process.argv.slice(2);
const client = createClient({ endpoint, namespace: "default", poolName: "default" });
const handle = client[actorName].getOrCreate(["schedules"]);

const before = Date.now();
const id = await handle.later(600_000, "far");
assert.equal(typeof id, "string", "after returns an id");
const other = await handle.later(900_000, "farther");
assert.notEqual(id, other, "ids differ");

const pending = await handle.pending();
assert.deepEqual(pending.map((e) => e.id), [id, other], "list, soonest first");
assert.equal(pending[0].action, "whoami");
assert.ok(pending[0].runAt >= before + 600_000 && pending[0].runAt < Date.now() + 600_000 + 5_000, "runAt");
assert.equal(await handle.scheduled(id), "whoami", "get finds it");

assert.equal(await handle.cancel(id), true, "cancel removes it");
assert.equal(await handle.cancel(id), false, "a second cancel finds nothing");
assert.equal(await handle.scheduled(id), null, "get after cancel");
assert.deepEqual((await handle.pending()).map((e) => e.id), [other]);
assert.equal(await handle.cancel(other), true);
await client.dispose();
console.log(`${actorName} schedules: ok`);
