
// Work that outlives a call: timers (`setTimeout`, `setInterval`), RivetKit's `c.keepAwake` and
// `c.waitUntil`, the `run` handler, and the abort signal that tells them the actor is stopping.
//
// QuickJS has no event loop: the runner is the loop. After a call's jobs run out it fires the
// timers that are due, one at a time with the jobs each one queued run in between, as an event
// loop would. A call still waiting on its own promise sleeps until its next timer (the wait is
// not counted as the call's CPU time). A timer due after the call ended gets a turn of its own
// later, in a transaction like an action's (`turn`). `status()` tells the runner when the next
// timer is due and what is pending, after every call. Appended to the prelude when it is compiled.
function backgroundWork(logger) {
  const MAX_TIMERS = 10000;
  // Timers set by a timer, and intervals, wait at least this long (as browsers clamp them), so
  // a timer that re-arms itself at 0 ms cannot keep the actor's loop busy.
  const MIN_NESTED_DELAY = 4;
  const MAX_DELAY = 2 ** 31 - 1;
  const now = Date.now;
  const trunc = Math.trunc;
  const NumberOf = Number;

  // Pending timers by id, and a binary heap of [due, order, id] over them; a cleared timer's
  // heap entry is skipped when it reaches the top.
  const timers = new Map();
  const heap = [];
  let lastId = 0;
  let order = 0;
  let firing = false;
  const before = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const push = (entry) => {
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  };
  const pop = () => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < heap.length && before(heap[left], heap[least])) least = left;
        if (right < heap.length && before(heap[right], heap[least])) least = right;
        if (least === i) break;
        [heap[i], heap[least]] = [heap[least], heap[i]];
        i = least;
      }
    }
    return top;
  };
  // The earliest live timer's heap entry, dropping cleared ones.
  const peek = () => {
    while (heap.length > 0) {
      const [due, at, id] = heap[0];
      const timer = timers.get(id);
      if (timer !== undefined && timer.due === due && timer.order === at) return heap[0];
      pop();
    }
    return undefined;
  };
  const arm = (id, timer, delay) => {
    timer.due = now() + delay;
    timer.order = order++;
    timers.set(id, timer);
    push([timer.due, timer.order, id]);
  };
  const delayOf = (ms, repeat) => {
    let delay = trunc(NumberOf(ms));
    if (!(delay > 0)) delay = 0;
    if (delay > MAX_DELAY) delay = 1; // as Node and browsers do with an overflowing delay
    return firing || repeat ? Math.max(delay, MIN_NESTED_DELAY) : delay;
  };
  const set = (callback, ms, args, repeat) => {
    if (typeof callback !== "function") {
      throw new TypeError("setTimeout and setInterval take a function (a string is not evaluated)");
    }
    if (timers.size >= MAX_TIMERS) {
      throw new RangeError(`an actor may have at most ${MAX_TIMERS} timers pending`);
    }
    const id = ++lastId;
    const delay = delayOf(ms, repeat);
    arm(id, { callback, args, every: repeat ? delay : 0, due: 0, order: 0 }, delay);
    return id;
  };
  const clear = (id) => {
    timers.delete(NumberOf(id));
  };
  const message = (error) =>
    error instanceof Error ? `${error.name}: ${error.message}` : String(error);

  // What is pending: promises a stop waits for (`waitUntil`, `keepAwake`, `run`) and those that
  // also keep the actor from sleeping when idle (`keepAwake`).
  let tracked = 0;
  let awake = 0;
  // Running `run` handlers, and receives waiting for queue messages.
  let runs = 0;
  let queueWaits = 0;
  const track = (promise, keepsAwake, what) => {
    tracked++;
    if (keepsAwake) awake++;
    const done = () => {
      tracked--;
      if (keepsAwake) awake--;
    };
    Promise.resolve(promise).then(done, (error) => {
      done();
      logger.error(`${what} failed: ${message(error)}`);
    });
  };

  // RivetKit's abort signal: fires once, when the actor starts to stop.
  const controller = new AbortController();

  return {
    globals: {
      setTimeout: (callback, ms, ...args) => set(callback, ms, args, false),
      setInterval: (callback, ms, ...args) => set(callback, ms, args, true),
      clearTimeout: clear,
      clearInterval: clear,
    },
    keepAwake(promise) {
      track(promise, true, "c.keepAwake's promise");
      return promise;
    },
    waitUntil(promise) {
      track(promise, false, "c.waitUntil's promise");
    },
    // RivetKit's `run` handler: started after `onWake` in a turn of its own (its first steps
    // are not the wake's), not awaited by anything. While it runs the actor does not sleep
    // when idle, as in RivetKit 2.3; a stop waits for it (within the grace period) once the
    // abort signal fired.
    startRun(run, c) {
      const started = new Promise((resolve) => set(resolve, 0, [], false));
      runs++;
      track(
        started.then(() => run(c)).finally(() => runs--),
        false,
        "the run handler",
      );
    },
    // Set by the queue: how many receives wait for messages.
    set queueWaits(count) {
      queueWaits = count;
    },
    get signal() {
      return controller.signal;
    },
    abort() {
      if (controller.signal.aborted) return;
      const error = new Error("The actor is stopping.");
      error.group = "actor";
      error.code = "aborted";
      controller.abort(error);
    },
    // Fires the earliest timer due by `bound` (ms since the epoch), if any; its callback's
    // error is logged, as an uncaught error in a timer is. Returns whether one fired.
    fire(bound) {
      const top = peek();
      if (top === undefined || top[0] > bound) return false;
      pop();
      const id = top[2];
      const timer = timers.get(id);
      if (timer.every > 0) arm(id, timer, timer.every);
      else timers.delete(id);
      firing = true;
      try {
        timer.callback(...timer.args);
      } catch (error) {
        logger.error(`a timer's callback threw ${message(error)}`);
      } finally {
        firing = false;
      }
      return true;
    },
    // When the earliest timer is due (ms since the epoch), or null.
    next() {
      const top = peek();
      return top === undefined ? null : top[0];
    },
    // A `run` handler keeps the actor awake unless it waits for queue messages, as in
    // RivetKit 2.3 (a stop aborts that wait, and the next start runs it again).
    status() {
      const top = peek();
      return {
        next: top === undefined ? null : top[0],
        awake: awake > 0 || (runs > 0 && queueWaits === 0),
        tracked: tracked > 0,
        queue: queueWaits > 0,
      };
    },
  };
}
