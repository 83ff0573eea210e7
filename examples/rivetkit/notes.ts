// A raw HTTP handler, as RivetKit's documentation writes one: `onRequest` routes on the URL of
// a standard `Request` and answers with `Response`s; an action reads the same state, and
// connected clients hear about new notes.
import { actor } from "rivetkit";

interface Note {
  id: number;
  text: string;
}

export const notesApi = actor({
  state: { notes: [] as Note[], nextId: 1 },
  onRequest: async (c, request) => {
    const url = new URL(request.url);
    if (url.pathname === "/notes" && request.method === "GET") {
      const limit = Number(url.searchParams.get("limit") ?? c.state.notes.length);
      return Response.json(c.state.notes.slice(0, limit));
    }
    if (url.pathname === "/notes" && request.method === "POST") {
      const { text } = (await request.json()) as { text?: unknown };
      if (typeof text !== "string" || text.trim() === "") {
        return new Response("a note needs text", { status: 400 });
      }
      const note = { id: c.state.nextId++, text };
      c.state.notes.push(note);
      c.broadcast("noteAdded", note);
      return Response.json(note, { status: 201, headers: { location: `/notes/${note.id}` } });
    }
    const match = /^\/notes\/(\d+)$/.exec(url.pathname);
    if (match && request.method === "DELETE") {
      const before = c.state.notes.length;
      c.state.notes = c.state.notes.filter((note) => note.id !== Number(match[1]));
      return new Response(null, { status: before === c.state.notes.length ? 404 : 204 });
    }
    return new Response("Not found", { status: 404 });
  },
  actions: {
    count: (c): number => c.state.notes.length,
  },
});
