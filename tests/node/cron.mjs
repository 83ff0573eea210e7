// The official RivetKit client (npm rivetkit@2.3.19): `c.cron` (RivetKit 2.3) — a job set with
// `every` is listed, setting it again keeps its next run, the engine's alarm wakes the sleeping
// actor to fire it on time, its fires are in the history, and delete removes it once. The
// JavaScript probe also sees RivetKit's trailing `ScheduledFireInfo` argument.
//
// Usage: node cron.mjs ENGINE_URL ACTOR_NAME
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, actorName] = process.argv.slice(2);
const client = createClient({ endpoint, namespace: "default", poolName: "default" });
const handle = client[actorName].getOrCreate(["cron"]);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

const before = Date.now();
await handle.tickEvery(5_000);
// A native actor's i64 reaches the client as a CBOR integer (a BigInt when it is large).
const jobs = async () => (await handle.jobs()).map((j) => ({ ...j, nextRunAt: Number(j.nextRunAt), maxHistory: Number(j.maxHistory) }));
const byName = async () => (await jobs()).sort((a, b) => a.name.localeCompare(b.name));
const listed = await byName();
assert.deepEqual(listed.map((j) => j.name), ["boom", "tick"], "both jobs listed");
const job = listed[1];
assert.equal(job.name, "tick");
assert.equal(job.action, "tick");
assert.equal(job.maxHistory, 3);
assert.ok(job.nextRunAt >= before + 5_000 && job.nextRunAt <= Date.now() + 5_000, "the first run is one interval away");
await handle.tickEvery(5_000);
assert.equal((await byName())[1].nextRunAt, job.nextRunAt, "set again with the same cadence keeps its next run");

// Asleep when the job comes due: only the engine's alarm can wake it in time.
const generation = Number(await handle.generation());
await handle.nap();
await sleep(job.nextRunAt + 4_000 - Date.now());
const fires = (await handle.fires("tick")).map((f) => ({ ...f, scheduledAt: Number(f.scheduledAt), firedAt: Number(f.firedAt) }));
assert.ok(fires.length >= 1, "it fired");
const first = fires.at(-1);
assert.equal(first.scheduledAt, job.nextRunAt, "the history names the occurrence");
assert.ok(first.ok, "the fire succeeded");
const late = first.firedAt - first.scheduledAt;
assert.ok(late >= 0 && late < 3_000, `woken by the alarm, not by this client (${late} ms late)`);
assert.ok(Number(await handle.generation()) > generation, "the actor slept and was woken");
assert.ok(Number(await handle.ticks("tock")) >= 1, "the fire's write committed");
assert.equal(Number(await handle.ticks("boom")), 0, "the failing fire's write was undone");
const [failed] = await handle.fires("boom");
assert.equal(failed.ok, false, "a failing job's fire is recorded as an error");
assert.equal(failed.code, "boom", "with its error code");
if (actorName.endsWith("-js")) {
  assert.equal((await handle.tickKinds())[0], "every", "ScheduledFireInfo follows the stored arguments");
}

assert.equal(await handle.stopTicking(), true, "delete removes it");
assert.equal(await handle.stopTicking(), false, "a second delete finds nothing");
assert.deepEqual(await handle.jobs(), [], "boom deleted too");
await client.dispose();
console.log(`${actorName} cron: ok`);
