// A scheduled reminder: the schedule survives the actor sleeping, and fires an action.
import { actor } from "rivetkit";
import { describe } from "./lib/format";

export const reminder = actor({
  state: { fired: [] as string[] },
  actions: {
    remind: async (c, text: string, delayMs: number): Promise<string> => {
      return await c.schedule.after(delayMs, "fire", text);
    },
    fire: (c, text: string) => {
      const line = describe(text, c.state.fired.length + 1);
      c.state.fired.push(line);
      c.broadcast("reminder", line);
    },
    fired: (c): string[] => c.state.fired,
  },
});
