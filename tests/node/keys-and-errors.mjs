// The official RivetKit client (npm rivetkit@2.3.19) against the runner, for one actor name:
// `c.key` and `c.name` as RivetKit defines them, and a UserError's code and metadata reaching
// the client, over HTTP and over a connection, in every encoding.
//
// Usage: node keys-and-errors.mjs ENGINE_URL ACTOR_NAME
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint, actorName] = process.argv.slice(2);
const key = ["org/1", "", "room\\a"];

for (const encoding of ["bare", "cbor", "json"]) {
  const client = createClient({ endpoint, namespace: "default", poolName: "default", encoding });
  const handle = client[actorName].getOrCreate([...key, encoding]);

  const who = await handle.whoami();
  assert.deepEqual(who, { name: actorName, key: [...key, encoding] }, `${encoding}: whoami`);

  const overHttp = await handle.refuse(3).then(
    () => assert.fail(`${encoding}: refuse succeeded over HTTP`),
    (error) => error,
  );
  assert.equal(overHttp.group, "user", `${encoding}: group over HTTP`);
  assert.equal(overHttp.code, "refused", `${encoding}: code over HTTP`);
  assert.deepEqual(overHttp.metadata, { reason: "too many", limit: 3 }, `${encoding}: metadata over HTTP`);

  const conn = handle.connect();
  const overConn = await conn.refuse(4).then(
    () => assert.fail(`${encoding}: refuse succeeded over a connection`),
    (error) => error,
  );
  assert.equal(overConn.code, "refused", `${encoding}: code over a connection`);
  assert.deepEqual(overConn.metadata, { reason: "too many", limit: 4 }, `${encoding}: metadata over a connection`);
  assert.deepEqual((await conn.whoami()).key, [...key, encoding], `${encoding}: key over a connection`);
  await conn.dispose();
  await client.dispose();
  console.log(`${actorName} ${encoding}: ok`);
}
