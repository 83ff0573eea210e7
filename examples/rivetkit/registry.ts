// The registry: `rivet-runner deploy examples/rivetkit` publishes each of its actors.
import { setup } from "rivetkit";
import { chatRoom } from "./chat";
import { clickCounter } from "./counter";
import { jobQueue } from "./jobs";
import { notesApi } from "./notes";
import { reminder } from "./reminder";
import { todoList } from "./todo";
import { workspace } from "./workspace";

export const registry = setup({
  use: { clickCounter, chatRoom, reminder, todoList, notesApi, jobQueue, workspace },
});
