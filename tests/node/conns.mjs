// The official RivetKit client (npm rivetkit@2.3.19): connections, in every encoding. Params
// reach `onBeforeConnect` (which refuses the token `bad` with a UserError), `createConnState`
// and `c.conn`; `onConnect`/`onDisconnect` see `c.conns` without the leaving connection; a
// connection's state lives across its actions and a failed action's change to it is undone;
// `conn.send` reaches one connection; `conn.disconnect` closes it; an HTTP action runs on a
// connection of its own; a declared event's `canSubscribe` admits or refuses a subscription.
//
// Usage: node conns.mjs ENGINE_URL ACTOR_NAME
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
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

for (const encoding of ["bare", "cbor", "json"]) {
  const client = createClient({ endpoint, namespace: "default", poolName: "default", encoding });
  const key = ["lobby", encoding, String(Date.now())];
  const as = (params) => client[actorName].getOrCreate(key, params ? { params } : undefined);

  // Refused by onBeforeConnect, over a connection and over HTTP.
  const bad = as({ token: "bad", name: "eve" }).connect();
  const refusal = await within(10000, "refusal", new Promise((resolve) => bad.onError(resolve)));
  assert.equal(refusal.group, "user", `${encoding}: refusal group`);
  assert.equal(refusal.code, "forbidden", `${encoding}: refusal code`);
  assert.deepEqual(refusal.metadata, { who: "eve" }, `${encoding}: refusal metadata`);
  await bad.dispose();
  const overHttp = await as({ token: "bad", name: "eve" }).counts().then(
    () => assert.fail(`${encoding}: a refused HTTP action ran`),
    (error) => error,
  );
  assert.equal(overHttp.code, "forbidden", `${encoding}: HTTP refusal code`);

  // Params, connection id, connection state.
  const ada = as({ name: "ada" }).connect();
  const heard = [];
  for (const event of ["joined", "left", "whisper"]) ada.on(event, (e) => heard.push([event, e]));
  const me = await ada.me();
  assert.equal(me.name, "ada", `${encoding}: createConnState from params`);
  assert.deepEqual(me.params, { name: "ada" }, `${encoding}: c.conn.params`);
  assert.match(me.id, uuid, `${encoding}: connection ids are UUIDs`);
  assert.equal(me.id, ada.connectionId, `${encoding}: c.conn.id is the client's connection id`);
  assert.equal(await ada.say("hi"), 1);
  assert.equal(await ada.say("again"), 2, `${encoding}: conn state lives across actions`);
  const failed = await ada.sayThenFail().then(() => assert.fail("sayThenFail succeeded"), (e) => e);
  assert.equal(failed.code, "failed");
  assert.equal((await ada.me()).messages, 2, `${encoding}: a failed action's conn state change is undone`);

  if (actorName.endsWith("-js")) {
    // A Conn kept from an earlier call reads and writes the connection's current state.
    await ada.keep();
    assert.equal(await ada.say("kept"), 3);
    assert.equal(await as({ name: "other" }).bumpKept(), 13, `${encoding}: a kept Conn reads the current state`);
    assert.equal((await ada.me()).messages, 13, `${encoding}: a kept Conn's write lands`);
    await ada.sayThenFail().catch(() => {});
    await ada.say("reset").then((n) => assert.equal(n, 14));
  }

  // A second connection: onConnect announces it with c.conns counting it.
  const bob = as({ name: "bob" }).connect();
  const bobHeard = [];
  bob.on("whisper", (e) => bobHeard.push(e));
  let bobClosed = false;
  bob.onClose(() => (bobClosed = true));
  assert.equal((await bob.me()).messages, 0, `${encoding}: each connection has its own state`);
  await until(`${encoding}: ada hears bob join`, () =>
    heard.some(([k, e]) => k === "joined" && e.name === "bob" && e.online === 2),
  );
  assert.deepEqual(await ada.online(), ["ada", "bob"], `${encoding}: c.conns`);

  // conn.send: to bob alone.
  assert.equal(await ada.whisper("bob", "psst"), true);
  await until(`${encoding}: bob hears the whisper`, () => bobHeard.length === 1);
  assert.deepEqual(bobHeard[0], { from: "ada", text: "psst" }, `${encoding}: conn.send payload`);
  assert.ok(!heard.some(([k]) => k === "whisper"), `${encoding}: conn.send reached only its connection`);

  // An HTTP action runs on a connection of its own: params, hooks, then it leaves.
  const viaHttp = await as({ name: "http" }).me();
  assert.equal(viaHttp.name, "http", `${encoding}: HTTP action's connection state`);
  assert.deepEqual(viaHttp.params, { name: "http" }, `${encoding}: HTTP action's params`);
  await until(`${encoding}: ada hears the HTTP connection come and go`, () =>
    heard.some(([k, e]) => k === "joined" && e.name === "http" && e.online === 3) &&
    heard.some(([k, e]) => k === "left" && e.name === "http" && e.online === 2),
  );

  // conn.disconnect: bob is closed, onDisconnect announces it without him.
  assert.equal(await ada.kick("bob"), true);
  await until(`${encoding}: ada hears bob leave`, () =>
    heard.some(([k, e]) => k === "left" && e.name === "bob" && e.online === 1),
  );
  await until(`${encoding}: bob's socket closed`, () => bobClosed);
  await bob.dispose();
  await ada.dispose();

  // A declared event's canSubscribe decides with c.conn, its state write kept; a refusal
  // closes the connection with auth.forbidden, which fails its pending action.
  const admin = as({ name: "admin" }).connect();
  const secrets = [];
  admin.on("secret", (text) => secrets.push(text));
  assert.equal((await admin.me()).name, "admin");
  await admin.tellSecret("psst");
  await until(`${encoding}: admin hears the secret`, () => secrets.includes("psst"));
  assert.equal(await admin.askedForSecret(), "admin", `${encoding}: canSubscribe's write is kept`);
  const guest = as({ name: "guest" }).connect();
  guest.on("secret", () => assert.fail(`${encoding}: a refused subscription delivered`));
  const denied = await within(10000, "refused subscription", guest.me().then(
    () => assert.fail(`${encoding}: a refused subscription left the connection open`),
    (error) => error,
  ));
  assert.equal(denied.code, "forbidden", `${encoding}: canSubscribe refusal code`);
  assert.equal(denied.group, "auth", `${encoding}: canSubscribe refusal group`);
  await guest.dispose();
  assert.equal(await admin.askedForSecret(), "guest");
  await admin.dispose();

  // Every connection opened was closed; the one counting is the HTTP call's own.
  await until(`${encoding}: every connection closed`, async () => {
    const counts = await as().counts();
    return counts.connects - counts.disconnects === 1 ? counts : undefined;
  });
  await client.dispose();
  console.log(`${actorName} ${encoding}: ok`);
}
