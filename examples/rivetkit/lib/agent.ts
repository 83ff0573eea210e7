// A small client for an agent service, shaped like the Sandbox Agent SDK the multiplayer
// example in Rivet's docs uses: connect, resume or create a session whose records a persist
// driver keeps, prompt it, and hear its events. The service answers a prompt with the steps
// the agent took; they reach listeners one by one, as a stream would deliver them.

export interface SessionRecord {
  id: string;
  agent: string;
  createdAt: number;
  resumed: number;
}

export interface SessionEvent {
  id: string;
  sessionId: string;
  eventIndex: number;
  payload: unknown;
  createdAt: number;
}

export interface SessionPersistDriver {
  getSession(id: string): Promise<SessionRecord | undefined>;
  updateSession(session: SessionRecord): Promise<void>;
  listEvents(sessionId: string): Promise<SessionEvent[]>;
  insertEvent(sessionId: string, event: SessionEvent): Promise<void>;
}

type Listener = (event: SessionEvent) => void;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class AgentSession {
  private listeners = new Set<Listener>();

  constructor(
    private readonly client: AgentClient,
    readonly record: SessionRecord,
  ) {}

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async prompt(content: { type: "text"; text: string }[]): Promise<number> {
    const response = await fetch(`${this.client.baseUrl}/v1/sessions/${this.record.id}/prompt`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: this.record.agent, content }),
    });
    if (!response.ok) throw new Error(`the agent service answered ${response.status}`);
    const { events } = (await response.json()) as { events: unknown[] };
    let delivered = 0;
    for (const payload of events) {
      await sleep(this.client.stepMs);
      if (this.client.disposed) break;
      const known = await this.client.persist.listEvents(this.record.id);
      const event: SessionEvent = {
        id: crypto.randomUUID(),
        sessionId: this.record.id,
        eventIndex: known.length,
        payload,
        createdAt: Date.now(),
      };
      await this.client.persist.insertEvent(this.record.id, event);
      for (const listener of this.listeners) listener(event);
      delivered++;
    }
    return delivered;
  }
}

export class AgentClient {
  disposed = false;

  private constructor(
    readonly baseUrl: string,
    readonly persist: SessionPersistDriver,
    readonly stepMs: number,
  ) {}

  static async connect(options: {
    baseUrl: string;
    persist: SessionPersistDriver;
    stepMs?: number;
  }): Promise<AgentClient> {
    return new AgentClient(options.baseUrl, options.persist, options.stepMs ?? 50);
  }

  async resumeOrCreateSession(options: { id: string; agent: string }): Promise<AgentSession> {
    const known = await this.persist.getSession(options.id);
    const record: SessionRecord = known
      ? { ...known, resumed: known.resumed + 1 }
      : { id: options.id, agent: options.agent, createdAt: Date.now(), resumed: 0 };
    await this.persist.updateSession(record);
    return new AgentSession(this, record);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
