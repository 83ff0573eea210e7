// A counter with connection state, as RivetKit's documentation writes it.
import { actor, UserError } from "rivetkit";

interface ConnParams {
  token?: string;
}

export const clickCounter = actor({
  state: { count: 0 },
  connState: { clicks: 0 },
  onBeforeConnect: (c, params: ConnParams | undefined) => {
    if (params?.token === "banned") {
      throw new UserError("This token may not connect", { code: "banned" });
    }
  },
  actions: {
    increment: (c, amount: number = 1): number => {
      c.state.count += amount;
      c.conn.state.clicks += 1;
      c.broadcast("newCount", c.state.count);
      return c.state.count;
    },
    getCount: (c): number => c.state.count,
    myClicks: (c): number => c.conn.state.clicks,
  },
});
