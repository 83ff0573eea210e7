// A job queue, as RivetKit 2.3's documentation writes one: clients `send` jobs to a declared
// queue (`canPublish` turns away banned tokens); the `run` loop takes them one at a time,
// records each, tells connected clients, and completes it with a response a sender that
// waited receives.
import { actor, queue } from "rivetkit";

interface Job {
  task: string;
}

export const jobQueue = actor({
  state: { done: [] as string[] },
  queues: {
    jobs: queue<Job>({
      canPublish: (c) => (c.conn.params as { token?: string } | undefined)?.token !== "banned",
    }),
  },
  run: async (c) => {
    for await (const job of c.queue.iter({ names: ["jobs"], completable: true })) {
      const { task } = job.body as Job;
      c.state.done.push(task);
      c.broadcast("jobDone", task);
      await job.complete({ ok: true, position: c.state.done.length });
    }
  },
  actions: {
    done: (c): string[] => c.state.done,
  },
});
