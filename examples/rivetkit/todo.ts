// A to-do list in the actor's SQLite database, with RivetKit's `rivetkit/db`.
import { actor } from "rivetkit";
import { db } from "rivetkit/db";

interface Todo {
  id: number;
  text: string;
  done: number;
}

export const todoList = actor({
  db: db({
    onMigrate: async (db) => {
      await db.execute(`
        CREATE TABLE IF NOT EXISTS todos (id INTEGER PRIMARY KEY, text TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS todos_done ON todos (done);
      `);
    },
  }),
  actions: {
    add: async (c, text: string): Promise<Todo> => {
      const rows = (await c.db.execute(
        "INSERT INTO todos (text) VALUES (?) RETURNING id, text, done",
        text,
      )) as Todo[];
      return rows[0];
    },
    complete: async (c, id: number) => {
      await c.db.execute("UPDATE todos SET done = 1 WHERE id = ?", id);
    },
    list: async (c): Promise<Todo[]> =>
      (await c.db.execute("SELECT id, text, done FROM todos ORDER BY id")) as Todo[],
  },
});
