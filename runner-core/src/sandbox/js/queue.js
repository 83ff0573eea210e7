// RivetKit 2.3's `c.queue`: `send`, `next`/`nextBatch` (waiting, up to a `timeout`, for a
// message of the given `names`), `tryNext`/`tryNextBatch` (not waiting), `waitForNames`,
// `iter`, completable messages (`complete(response)`), and `enqueueAndWait`. Messages live in
// the actor's database; a receive takes them out in its call's transaction. A receive that
// waits is resolved in a turn the runner gives the actor after a message arrives (a client's,
// or this actor's from a call that committed): a call cannot wait for a message it sends
// itself after it started waiting. The actor's stop rejects waiting receives with
// `actor.aborted`, which ends `iter`. Appended to the prelude when it is compiled.
//
// A message reaches a receive waiting in another call only in a turn after the call that sent
// it committed, and a turn that fails replaces the runtime: JavaScript never holds a message
// whose receive was undone.
function installQueue(host, reply, work) {
  // Captured now: actor code may replace the globals later.
  const stringify = JSON.stringify;
  const { setTimeout, clearTimeout } = work.globals;
  const queueError = (group, code, message) => Object.assign(new Error(message), { group, code });
  // None, or an empty list, is any name, as in RivetKit.
  const namesOf = (names) => {
    const list = names === undefined || names === null ? [] : Array.from(names, String);
    return list.length === 0 ? null : list;
  };
  const receive = (names, count, completable) =>
    reply(host.queueReceive(stringify({ names, count, completable })));

  // Receives waiting for a message, oldest first.
  const waiters = [];
  const settle = (waiter) => {
    const at = waiters.indexOf(waiter);
    if (at >= 0) waiters.splice(at, 1);
    work.queueWaits = waiters.length;
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    for (const [signal, listener] of waiter.listeners) signal.removeEventListener("abort", listener);
  };
  // Completable messages received and not completed yet; `enqueueAndWait`s by message id.
  const uncompleted = new Set();
  const completions = new Map();

  const complete = async (message, response) => {
    const done = reply(
      host.queueComplete(Number(message.id), String(message.name), response === undefined ? "" : stringify(response)),
    );
    uncompleted.delete(message.id);
    const local = completions.get(message.id);
    if (local !== undefined) {
      completions.delete(message.id);
      local(response);
    }
    return done;
  };
  const wrap = (messages, completable) => {
    if (!completable) return messages;
    for (const message of messages) {
      uncompleted.add(message.id);
      message.complete = (response) => complete(message, response).then(() => undefined);
    }
    return messages;
  };

  const nextBatch = (options = {}) => {
    if (uncompleted.size > 0) {
      return Promise.reject(
        queueError(
          "queue",
          "previous_message_not_completed",
          "Previous completable queue message is not completed. Call `message.complete(...)` before receiving the next message.",
        ),
      );
    }
    const names = namesOf(options.names);
    const count = options.count === undefined ? 1 : Math.max(1, Math.floor(Number(options.count)) || 1);
    const completable = options.completable === true;
    let got;
    try {
      got = receive(names, count, completable);
    } catch (error) {
      return Promise.reject(error);
    }
    if (got.length > 0 || options.timeout === 0) return Promise.resolve(wrap(got, completable));
    return new Promise((resolve, reject) => {
      const waiter = { names, count, completable, resolve, reject, listeners: [] };
      if (options.timeout !== undefined) {
        waiter.timer = setTimeout(() => {
          settle(waiter);
          resolve([]);
        }, Number(options.timeout));
      }
      for (const signal of [options.signal, work.signal]) {
        if (!signal) continue;
        if (signal.aborted) return reject(signal.reason);
        const listener = () => {
          settle(waiter);
          reject(signal.reason);
        };
        signal.addEventListener("abort", listener);
        waiter.listeners.push([signal, listener]);
      }
      waiters.push(waiter);
      work.queueWaits = waiters.length;
    });
  };

  // Hands what the queue holds to the receives waiting for it, oldest first.
  const deliver = () => {
    for (const waiter of waiters.slice()) {
      if (uncompleted.size > 0) return;
      let got;
      try {
        got = receive(waiter.names, waiter.count, waiter.completable);
      } catch (error) {
        settle(waiter);
        waiter.reject(error);
        continue;
      }
      if (got.length === 0) continue;
      settle(waiter);
      waiter.resolve(wrap(got, waiter.completable));
    }
  };

  const api = {
    async send(name, body) {
      // Receives waiting in other calls get it in a turn after this call commits (a call
      // that fails then takes nothing with it).
      return reply(host.queueSend(String(name), stringify(body === undefined ? null : body)));
    },
    nextBatch,
    async next(options = {}) {
      return (await nextBatch({ ...options, count: 1 }))[0];
    },
    async tryNextBatch(options = {}) {
      return await nextBatch({ names: options.names, count: options.count, completable: options.completable, timeout: 0 });
    },
    async tryNext(options = {}) {
      return (await api.tryNextBatch({ ...options, count: 1 }))[0];
    },
    async waitForNames(names, options = {}) {
      const [message] = await nextBatch({ ...options, names, count: 1 });
      if (message === undefined) {
        throw queueError("queue", "timed_out", `Queue wait timed out after ${options.timeout || 0} ms.`);
      }
      return message;
    },
    complete,
    // Sends, then resolves to the response the actor completes the message with.
    async enqueueAndWait(name, body, options = {}) {
      const message = await api.send(name, body);
      return await new Promise((resolve, reject) => {
        completions.set(message.id, resolve);
        if (options.timeout !== undefined) {
          setTimeout(() => {
            if (!completions.delete(message.id)) return;
            reject(queueError("queue", "timed_out", `Queue wait timed out after ${options.timeout} ms.`));
          }, Number(options.timeout));
        }
      });
    },
    // Every message as it comes, until the actor stops.
    async *iter(options = {}) {
      for (;;) {
        let message;
        try {
          message = await api.next({ names: options.names, signal: options.signal, completable: options.completable });
        } catch (error) {
          if (error && error.group === "actor" && error.code === "aborted") return;
          throw error;
        }
        if (message !== undefined) yield message;
      }
    },
  };
  return {
    api: Object.freeze(api),
    deliver,
    // A call begins: completable messages an earlier call received and left uncompleted stay
    // in the queue for a later receive, and no longer hold this one back (RivetKit tracks
    // them per context).
    begin() {
      uncompleted.clear();
    },
  };
}
