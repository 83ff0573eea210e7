// The multiplayer workspace from Rivet's docs: one actor per workspace key owns an agent
// session, streams its events to every connected client, keeps the session's records and
// events in its state, disposes the session when it sleeps and resumes it when it wakes.
//
// One difference from the docs' version: `prompt` hands the agent's work to `c.keepAwake`
// instead of awaiting it. This runner runs one call at a time and sends a call's broadcasts
// when it commits, so an awaited prompt would hold the actor and deliver its events at the
// end; as background work each event leaves as the agent produces it.
import { actor } from "rivetkit";
import {
  AgentClient,
  type AgentSession,
  type SessionEvent,
  type SessionPersistDriver,
  type SessionRecord,
} from "./lib/agent";

interface PersistData {
  sessions: Record<string, SessionRecord>;
  events: Record<string, SessionEvent[]>;
}

type State = {
  baseUrl: string;
  sandboxId: string;
  persist: PersistData;
  disposals: number;
};

type Vars = {
  sdk: AgentClient;
  session: AgentSession;
  unsubscribe: () => void;
};

// Keeps the agent's session records and events in the actor's state.
class StatePersistDriver implements SessionPersistDriver {
  constructor(private readonly c: { state: State }) {}

  async getSession(id: string) {
    const session = this.c.state.persist.sessions[id];
    return session ? { ...session } : undefined;
  }
  async updateSession(session: SessionRecord) {
    this.c.state.persist.sessions[session.id] = { ...session };
    this.c.state.persist.events[session.id] ??= [];
  }
  async listEvents(sessionId: string) {
    return [...(this.c.state.persist.events[sessionId] ?? [])];
  }
  async insertEvent(sessionId: string, event: SessionEvent) {
    (this.c.state.persist.events[sessionId] ??= []).push(event);
  }
}

export const workspace = actor({
  createState: (c, input: { baseUrl?: string } | undefined): State => ({
    baseUrl: input?.baseUrl ?? "http://127.0.0.1:2468",
    sandboxId: `sbx_${c.key[0] ?? "default"}`,
    persist: { sessions: {}, events: {} },
    disposals: 0,
  }),

  createVars: async (c): Promise<Vars> => {
    const sdk = await AgentClient.connect({
      baseUrl: c.state.baseUrl,
      persist: new StatePersistDriver(c),
    });
    const session = await sdk.resumeOrCreateSession({ id: "default", agent: "codex" });
    const unsubscribe = session.onEvent((event) => {
      c.broadcast("session.event", event);
    });
    return { sdk, session, unsubscribe };
  },

  actions: {
    getSessionInfo: (c) => ({
      workspaceId: c.key[0],
      sandboxId: c.state.sandboxId,
      session: c.vars.session.record,
      disposals: c.state.disposals,
    }),

    prompt: (c, input: { userId: string; text: string }) => {
      c.broadcast("chat.user", { userId: input.userId, text: input.text, createdAt: Date.now() });
      c.keepAwake(c.vars.session.prompt([{ type: "text", text: input.text }]));
      return { accepted: true };
    },

    history: (c): SessionEvent[] => c.state.persist.events["default"] ?? [],

    // Asks the actor to sleep, as an idle one would.
    nap: (c) => c.sleep(),
  },

  onSleep: async (c) => {
    c.vars.unsubscribe?.();
    await c.vars.sdk.dispose();
    c.state.disposals += 1;
  },
});
