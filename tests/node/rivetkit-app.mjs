// The official RivetKit client (npm rivetkit@2.3.19) against RivetKit actors written in
// TypeScript (examples/rivetkit) and deployed with `rivet-runner deploy`: a counter with
// connection state, a chat room, a scheduled reminder, a to-do list on rivetkit/db, a raw HTTP
// handler, a job queue with a run loop; in every encoding.
//
// Usage: node rivetkit-app.mjs ENGINE_URL
import assert from "node:assert/strict";
import { createClient } from "rivetkit/client";

const [endpoint] = process.argv.slice(2);
const until = async (what, check) => {
  for (let i = 0; i < 150; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`never: ${what}`);
};

for (const encoding of ["bare", "cbor", "json"]) {
  const client = createClient({ endpoint, namespace: "default", poolName: "default", encoding });
  const key = [encoding, String(Date.now())];

  // Counter: actions over a connection, its state per connection, events, a refusal.
  const counter = client.clickCounter.getOrCreate(key).connect();
  const counts = [];
  counter.on("newCount", (n) => counts.push(n));
  assert.equal(await counter.increment(5), 5);
  assert.equal(await counter.increment(), 6, `${encoding}: default argument`);
  assert.equal(await counter.myClicks(), 2, `${encoding}: connection state`);
  await until(`${encoding}: newCount events`, () => counts.includes(6));
  assert.equal(await client.clickCounter.getOrCreate(key).getCount(), 6, `${encoding}: over HTTP`);
  const banned = client.clickCounter.getOrCreate(key, { params: { token: "banned" } }).connect();
  const refusal = await new Promise((resolve) => banned.onError(resolve));
  assert.equal(refusal.code, "banned", `${encoding}: onBeforeConnect refusal`);
  await banned.dispose();
  await counter.dispose();

  // Chat room: two users, one hears the other.
  const ada = client.chatRoom.getOrCreate(key, { params: { username: "ada" } }).connect();
  const heard = [];
  ada.on("newMessage", (m) => heard.push(m));
  await ada.getHistory();
  const bob = client.chatRoom.getOrCreate(key, { params: { username: "bob" } }).connect();
  const sent = await bob.sendMessage("hello");
  assert.equal(sent.sender, "bob", `${encoding}: createConnState from params`);
  await until(`${encoding}: ada hears bob`, () => heard.some((m) => m.text === "hello" && m.sender === "bob"));
  const empty = await bob.sendMessage("  ").then(() => assert.fail("an empty message was sent"), (e) => e);
  assert.equal(empty.code, "empty_message", `${encoding}: UserError code`);
  assert.deepEqual((await ada.getHistory()).map((m) => m.text), ["hello"]);
  await ada.dispose();
  await bob.dispose();

  // Reminder: a schedule fires an action, which broadcasts.
  const reminder = client.reminder.getOrCreate(key).connect();
  const reminders = [];
  reminder.on("reminder", (line) => reminders.push(line));
  const id = await reminder.remind("stretch", 300);
  assert.equal(typeof id, "string", `${encoding}: schedule id`);
  await until(`${encoding}: the reminder fires`, () => reminders.length === 1);
  assert.deepEqual(await reminder.fired(), ["#1: stretch"], `${encoding}: relative import ran`);
  await reminder.dispose();

  // To-do list: rivetkit/db's onMigrate made the table; execute resolves to rows.
  const todos = client.todoList.getOrCreate(key);
  const first = await todos.add("write tests");
  assert.deepEqual(first, { id: 1, text: "write tests", done: 0 }, `${encoding}: RETURNING rows`);
  await todos.add("ship");
  await todos.complete(1);
  assert.deepEqual(
    (await todos.list()).map((t) => [t.text, t.done]),
    [["write tests", 1], ["ship", 0]],
    `${encoding}: execute returns rows`,
  );

  // Notes: raw HTTP through `handle.fetch`, a Request in and Responses out.
  const notes = client.notesApi.getOrCreate(key);
  const listener = notes.connect();
  const added = [];
  listener.on("noteAdded", (note) => added.push(note.text));
  await listener.count();
  const post = (body) => notes.fetch("/notes", { method: "POST", headers: { "content-type": "application/json" }, body });
  const created = await post(JSON.stringify({ text: "buy milk" }));
  assert.equal(created.status, 201, `${encoding}: created`);
  assert.equal(created.headers.get("location"), "/notes/1", `${encoding}: a header set by the handler`);
  assert.deepEqual(await created.json(), { id: 1, text: "buy milk" });
  assert.equal((await post(JSON.stringify({ text: "call ada" }))).status, 201);
  const refused = await post("{}");
  assert.equal(refused.status, 400, `${encoding}: the handler's own status`);
  assert.equal(await refused.text(), "a note needs text");
  const listed = await notes.fetch("/notes?limit=1");
  assert.equal(listed.headers.get("content-type"), "application/json", `${encoding}: Response.json's type`);
  assert.deepEqual(await listed.json(), [{ id: 1, text: "buy milk" }], `${encoding}: the query string`);
  assert.equal((await notes.fetch("/notes/1", { method: "DELETE" })).status, 204);
  assert.equal((await notes.fetch("/notes/1", { method: "DELETE" })).status, 404);
  assert.equal((await notes.fetch("/elsewhere")).status, 404);
  assert.equal(await notes.count(), 1, `${encoding}: an action sees what the handler wrote`);
  await until(`${encoding}: noteAdded events`, () => added.length === 2);
  await listener.dispose();

  // Job queue: sends to a declared queue, one that waits for the run loop's completion, a
  // refused token, an undeclared queue ignored.
  const jobs = client.jobQueue.getOrCreate(key);
  assert.equal(await jobs.send("jobs", { task: "wash" }), undefined, `${encoding}: a send resolves`);
  const waited = await jobs.send("jobs", { task: "dry" }, { wait: true, timeout: 10000 });
  assert.deepEqual(waited, { status: "completed", response: { ok: true, position: 2 } }, `${encoding}: completed`);
  assert.deepEqual(await jobs.done(), ["wash", "dry"], `${encoding}: the run loop took both, in order`);
  const bannedSend = await client.jobQueue
    .getOrCreate(key, { params: { token: "banned" } })
    .send("jobs", { task: "steal" })
    .then(() => assert.fail(`${encoding}: canPublish let a banned token send`), (error) => error);
  assert.equal(bannedSend.code, "forbidden", `${encoding}: canPublish refusal`);
  assert.equal(await jobs.send("nowhere", { task: "lost" }), undefined, `${encoding}: undeclared queue`);
  const ignored = await jobs.send("nowhere", {}, { wait: true, timeout: 50 });
  assert.equal(ignored.status, "completed", `${encoding}: an undeclared queue completes at once`);
  assert.deepEqual(await jobs.done(), ["wash", "dry"]);

  await client.dispose();
  console.log(`rivetkit-app ${encoding}: ok`);
}
