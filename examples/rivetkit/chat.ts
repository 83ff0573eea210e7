// A chat room: each connection names its user; messages are kept and broadcast.
import { actor, UserError } from "rivetkit";

export interface Message {
  sender: string;
  text: string;
  timestamp: number;
}

type State = { messages: Message[] };

export const chatRoom = actor({
  state: { messages: [] } as State,
  createConnState: (c, params: { username?: string } | undefined) => ({
    username: params?.username ?? "anonymous",
  }),
  onConnect: (c, conn) => {
    c.broadcast("joined", conn.state.username);
  },
  actions: {
    sendMessage: (c, text: string): Message => {
      if (text.trim().length === 0) {
        throw new UserError("Message cannot be empty", { code: "empty_message" });
      }
      const message: Message = { sender: c.conn.state.username, text, timestamp: Date.now() };
      c.state.messages.push(message);
      c.broadcast("newMessage", message);
      return message;
    },
    getHistory: (c): Message[] => c.state.messages,
  },
});
