//! Fixture actors that exercise RivetKit's actor API, the same in every runtime: natively here,
//! and in JavaScript as [`PROBE_JS`]. The official clients' tests call both and expect the same.

use std::time::Duration;

use runner_core::actor::{ActionError, Actions, Actor, Cadence, Ctx, FireResult};
use serde_json::json;

/// The native probe: `whoami` answers `{name, key}`, `refuse` fails with a `UserError` that
/// carries metadata, `later`/`pending`/`scheduled`/`cancel` use the schedule by id.
#[derive(Debug)]
pub struct Probe;

impl Actor for Probe {
    const NAME: &'static str = "probe";
    type State = ();
    type Input = ();

    fn create_state(_: Option<()>) {}

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("whoami", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(json!({ "name": ctx.name(), "key": ctx.key() }))
            })
            .add("refuse", |_: &mut Ctx<'_, Self>, (limit,): (u32,)| {
                Err::<(), _>(
                    ActionError::user("refused", "too many requests")
                        .with_metadata(&json!({ "reason": "too many", "limit": limit })),
                )
            })
            .add(
                "later",
                |ctx: &mut Ctx<'_, Self>, (ms, tag): (u64, String)| {
                    ctx.schedule_after(Duration::from_millis(ms), "whoami", &(tag,))
                },
            )
            .add("pending", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let events = ctx.schedules()?;
                Ok(events
                    .into_iter()
                    .map(|e| json!({ "id": e.id, "action": e.action, "runAt": e.run_at_ms }))
                    .collect::<Vec<_>>())
            })
            .add("scheduled", |ctx: &mut Ctx<'_, Self>, (id,): (String,)| {
                Ok(ctx.schedule(&id)?.map(|e| e.action))
            })
            .add("cancel", |ctx: &mut Ctx<'_, Self>, (id,): (String,)| {
                ctx.cancel_schedule(&id)
            })
            .add("actorId", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(ctx.actor_id().to_owned())
            })
            .add("selfDestruct", |ctx: &mut Ctx<'_, Self>, (): ()| {
                ctx.destroy();
                Ok(())
            })
            .add("nap", |ctx: &mut Ctx<'_, Self>, (): ()| {
                ctx.sleep();
                Ok(())
            })
            .add("tickEvery", |ctx: &mut Ctx<'_, Self>, (ms,): (i64,)| {
                let every = Cadence::Every { interval_ms: ms };
                ctx.cron_set("tick", &every, "tick", &("tock",), Some(3))?;
                ctx.cron_set("boom", &every, "tick", &("boom",), None)
            })
            .add("generation", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(ctx.generation())
            })
            .add("tick", |ctx: &mut Ctx<'_, Self>, (word,): (String,)| {
                ctx.sql().execute_batch(TICKS_TABLE)?;
                ctx.sql().execute(
                    "INSERT INTO ticks (word, kind) VALUES (?1, NULL)",
                    [&word],
                )?;
                if word == "boom" {
                    return Err(ActionError::user("boom", "the boom job always fails"));
                }
                Ok(())
            })
            .add("ticks", |ctx: &mut Ctx<'_, Self>, (word,): (String,)| {
                ctx.sql().execute_batch(TICKS_TABLE)?;
                let count: i64 = ctx.sql().query_row(
                    "SELECT COUNT(*) FROM ticks WHERE word = ?1",
                    [word],
                    |row| row.get(0),
                )?;
                Ok(count)
            })
            .add("jobs", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(ctx
                    .cron_jobs()?
                    .into_iter()
                    .map(|job| {
                        json!({ "name": job.name, "action": job.action, "nextRunAt": job.next_run_at_ms, "maxHistory": job.max_history })
                    })
                    .collect::<Vec<_>>())
            })
            .add("fires", |ctx: &mut Ctx<'_, Self>, (name,): (String,)| {
                Ok(ctx
                    .cron_history(&name, None)?
                    .into_iter()
                    .map(|fire| {
                        let code = fire.error.map(|(_, code, _)| code);
                        json!({ "scheduledAt": fire.scheduled_at_ms, "firedAt": fire.fired_at_ms, "ok": fire.result == FireResult::Ok, "code": code })
                    })
                    .collect::<Vec<_>>())
            })
            .add("stopTicking", |ctx: &mut Ctx<'_, Self>, (): ()| {
                ctx.cron_delete("boom")?;
                ctx.cron_delete("tick")
            });
    }

    fn on_destroy(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        ctx.broadcast("destroyed", &ctx.name().to_owned())
    }
}

/// The probes' log of cron fires.
const TICKS_TABLE: &str = "CREATE TABLE IF NOT EXISTS ticks (word TEXT NOT NULL, kind TEXT)";

/// The JavaScript probe, as a RivetKit author writes it.
pub const PROBE_JS: &str = r#"
export default actor({
  state: { touches: 0, wakes: 0, count: 0 },
  createVars: (c) => ({ calls: 0, madeFor: c.actorId }),
  onWake: (c) => {
    c.state.wakes += 1;
  },
  actions: {
    whoami: (c) => ({ name: c.name, key: c.key }),
    refuse: (c, limit) => {
      throw new UserError("too many requests", {
        code: "refused",
        metadata: { reason: "too many", limit },
      });
    },
    later: async (c, ms, tag) => await c.schedule.after(ms, "whoami", tag),
    pending: async (c) =>
      (await c.schedule.list()).map((e) => ({ id: e.id, action: e.action, runAt: e.runAt })),
    scheduled: async (c, id) => {
      const event = await c.schedule.get(id);
      return event === undefined ? null : event.action;
    },
    cancel: async (c, id) => await c.schedule.cancel(id),
    touch: (c) => {
      c.vars.calls += 1;
      c.state.touches += 1;
      return { calls: c.vars.calls, touches: c.state.touches, wakes: c.state.wakes, mine: c.vars.madeFor === c.actorId };
    },
    nap: (c) => c.sleep(),
    bump: (c, n) => {
      c.state.count += n;
      return c.state.count;
    },
    count: (c) => c.state.count,
    actorId: (c) => c.actorId,
    selfDestruct: (c) => c.destroy(),
    tickEvery: async (c, interval) => {
      await c.cron.every({ name: "tick", interval, action: "tick", args: ["tock"], maxHistory: 3 });
      await c.cron.every({ name: "boom", interval, action: "tick", args: ["boom"] });
    },
    generation: (c) => c.generation,
    tick: async (c, word, fire) => {
      await c.db.execute("CREATE TABLE IF NOT EXISTS ticks (word TEXT NOT NULL, kind TEXT)");
      await c.db.execute("INSERT INTO ticks (word, kind) VALUES (?, ?)", word, fire?.kind ?? null);
      if (word === "boom") throw new UserError("the boom job always fails", { code: "boom" });
    },
    ticks: async (c, word) => {
      await c.db.execute("CREATE TABLE IF NOT EXISTS ticks (word TEXT NOT NULL, kind TEXT)");
      const rows = await c.db.query("SELECT COUNT(*) AS n FROM ticks WHERE word = ?", word);
      return rows[0].n;
    },
    tickKinds: async (c) => (await c.db.query("SELECT kind FROM ticks")).map((r) => r.kind),
    jobs: async (c) =>
      (await c.cron.list()).map((j) => ({ name: j.name, action: j.action, nextRunAt: j.nextRunAt, maxHistory: j.maxHistory, kind: j.kind, interval: j.interval })),
    fires: async (c, name) =>
      (await c.cron.history(name)).map((f) => ({ scheduledAt: f.scheduledAt, firedAt: f.firedAt, ok: f.result === "ok", code: f.error?.code ?? null })),
    stopTicking: async (c) => {
      await c.cron.delete("boom");
      return await c.cron.delete("tick");
    },
  },
  onDestroy: (c) => c.broadcast("destroyed", c.name),
  onStateChange: (c, state) => {
    c.broadcast("changed", state.count);
    if (state.count === 5) state.count = 999; // not allowed: undone, event included
  },
});
"#;

/// A connection's state in the lobby: who it is, and what it said.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Member {
    name: String,
    messages: u32,
}

/// The lobby's state: connections opened and closed, over its whole life.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LobbyState {
    connects: u32,
    disconnects: u32,
    /// Who `can_subscribe` last saw asking for `secret`.
    #[serde(default)]
    asked_for_secret: Option<String>,
    /// Messages raw WebSockets sent, and how the last one closed.
    #[serde(default)]
    socket_messages: u32,
    #[serde(default)]
    last_socket_close: Option<(u16, String)>,
}

/// The native lobby: RivetKit's connections. `onBeforeConnect` refuses the token `bad`, each
/// connection's state names it (from its params), `onConnect`/`onDisconnect` count and announce,
/// and actions reach `c.conn`, `c.conns`, `conn.send` and `conn.disconnect`.
#[derive(Debug)]
pub struct Lobby;

fn member(ctx: &Ctx<'_, Lobby>) -> Result<Member, ActionError> {
    let conn = ctx
        .conn()
        .ok_or_else(|| ActionError::user("no_conn", "no connection"))?;
    conn.state::<Member>()?
        .ok_or_else(|| ActionError::user("no_state", "no connection state"))
}

fn find(ctx: &Ctx<'_, Lobby>, name: &str) -> Option<String> {
    ctx.conns()
        .find(|conn| {
            conn.state::<Member>()
                .ok()
                .flatten()
                .is_some_and(|m| m.name == name)
        })
        .map(|conn| conn.id().to_owned())
}

fn socket_id(ctx: &Ctx<'_, Lobby>) -> Result<String, ActionError> {
    ctx.conn()
        .map(|conn| conn.id().to_owned())
        .ok_or_else(|| ActionError::user("no_conn", "no connection"))
}

fn announce(ctx: &mut Ctx<'_, Lobby>, event: &str) -> Result<(), ActionError> {
    let name = member(ctx)?.name;
    let online = ctx.conns().count();
    ctx.broadcast(event, &json!({ "name": name, "online": online }))
}

impl Actor for Lobby {
    const NAME: &'static str = "lobby";
    type State = LobbyState;
    type Input = ();

    fn create_state(_: Option<()>) -> LobbyState {
        LobbyState::default()
    }

    fn on_before_connect(
        _ctx: &mut Ctx<'_, Self>,
        params: runner_core::actor::ConnParams<'_>,
    ) -> Result<(), ActionError> {
        let params: Option<serde_json::Value> = params.get()?;
        match params {
            Some(p) if p["token"] == "bad" => Err(ActionError::user("forbidden", "not allowed")
                .with_metadata(&json!({ "who": p["name"] }))),
            _ => Ok(()),
        }
    }

    fn on_connect(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        let params: Option<serde_json::Value> =
            ctx.conn().map(|c| c.params()).transpose()?.flatten();
        let name = params
            .as_ref()
            .and_then(|p| p["name"].as_str())
            .unwrap_or("anon")
            .to_owned();
        ctx.set_conn_state(&Member { name, messages: 0 })?;
        ctx.state_mut().connects += 1;
        announce(ctx, "joined")
    }

    fn on_disconnect(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        ctx.state_mut().disconnects += 1;
        announce(ctx, "left")
    }

    const HAS_ON_WEBSOCKET: bool = true;

    /// A raw WebSocket: welcomed with its path, then echoed (binary reversed); `close` has the
    /// actor close it with 4001.
    fn on_websocket(
        ctx: &mut Ctx<'_, Self>,
        request: &runner_core::actor::RawRequest,
    ) -> Result<(), ActionError> {
        let id = socket_id(ctx)?;
        let welcome = json!({ "type": "welcome", "path": request.path, "name": member(ctx)?.name });
        ctx.socket_send(&id, welcome.to_string().as_bytes(), false)
    }

    fn on_websocket_message(
        ctx: &mut Ctx<'_, Self>,
        data: &[u8],
        binary: bool,
    ) -> Result<(), ActionError> {
        ctx.state_mut().socket_messages += 1;
        let id = socket_id(ctx)?;
        if binary {
            let reversed: Vec<u8> = data.iter().rev().copied().collect();
            return ctx.socket_send(&id, &reversed, true);
        }
        if data == b"close" {
            return ctx.socket_close(&id, 4001, "bye");
        }
        ctx.socket_send(&id, data, false)
    }

    fn on_websocket_close(
        ctx: &mut Ctx<'_, Self>,
        code: u16,
        reason: &str,
    ) -> Result<(), ActionError> {
        ctx.state_mut().last_socket_close = Some((code, reason.to_owned()));
        Ok(())
    }

    const HAS_CAN_SUBSCRIBE: bool = true;

    /// Only `admin` hears `secret`; everyone hears the rest.
    fn can_subscribe(ctx: &mut Ctx<'_, Self>, event: &str) -> Result<bool, ActionError> {
        if event != "secret" {
            return Ok(true);
        }
        let name = member(ctx)?.name;
        let allowed = name == "admin";
        ctx.state_mut().asked_for_secret = Some(name);
        Ok(allowed)
    }

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("me", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let conn = ctx
                    .conn()
                    .ok_or_else(|| ActionError::user("no_conn", "no connection"))?;
                let params: Option<serde_json::Value> = conn.params()?;
                let id = conn.id().to_owned();
                let m = member(ctx)?;
                Ok(json!({ "id": id, "params": params, "name": m.name, "messages": m.messages }))
            })
            .add("say", |ctx: &mut Ctx<'_, Self>, (_text,): (String,)| {
                let mut m = member(ctx)?;
                m.messages += 1;
                ctx.set_conn_state(&m)?;
                Ok(m.messages)
            })
            .add("sayThenFail", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let mut m = member(ctx)?;
                m.messages += 100;
                ctx.set_conn_state(&m)?;
                Err::<(), _>(ActionError::user("failed", "on purpose"))
            })
            .add(
                "whisper",
                |ctx: &mut Ctx<'_, Self>, (to, text): (String, String)| {
                    let from = member(ctx)?.name;
                    let Some(id) = find(ctx, &to) else {
                        return Ok(false);
                    };
                    ctx.send(&id, "whisper", &json!({ "from": from, "text": text }))?;
                    Ok(true)
                },
            )
            .add("kick", |ctx: &mut Ctx<'_, Self>, (name,): (String,)| {
                let Some(id) = find(ctx, &name) else {
                    return Ok(false);
                };
                ctx.disconnect(&id, "kicked");
                Ok(true)
            })
            .add("online", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let mut names: Vec<String> = ctx
                    .conns()
                    .filter_map(|c| c.state::<Member>().ok().flatten())
                    .map(|m| m.name)
                    .collect();
                names.sort();
                Ok(names)
            })
            .add("counts", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(json!({ "connects": ctx.state().connects, "disconnects": ctx.state().disconnects }))
            })
            .add("hasConn", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(ctx.conn().is_some())
            })
            .add("tellSecret", |ctx: &mut Ctx<'_, Self>, (text,): (String,)| {
                ctx.broadcast("secret", &text)
            })
            .add("askedForSecret", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(ctx.state().asked_for_secret.clone())
            })
            .add("socketStats", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let last = &ctx.state().last_socket_close;
                Ok(json!({ "messages": ctx.state().socket_messages, "lastClose": last }))
            });
    }
}

/// The JavaScript lobby, as a RivetKit author writes it: the same behaviour as [`Lobby`].
pub const LOBBY_JS: &str = r#"
// A `Conn` kept across calls, as RivetKit code does (a map of members, say).
let kept;
const find = (c, name) => [...c.conns.values()].find((conn) => conn.state.name === name);
const announce = (c, event, conn) => c.broadcast(event, { name: conn.state.name, online: c.conns.size });

export default actor({
  state: { connects: 0, disconnects: 0, socketMessages: 0, lastSocketClose: null },
  onBeforeConnect: (c, params) => {
    if (params && params.token === "bad") {
      throw new UserError("not allowed", { code: "forbidden", metadata: { who: params.name } });
    }
  },
  createConnState: (c, params) => ({ name: (params && params.name) || "anon", messages: 0 }),
  onConnect: (c, conn) => {
    c.state.connects += 1;
    announce(c, "joined", conn);
  },
  onDisconnect: (c, conn) => {
    c.state.disconnects += 1;
    announce(c, "left", conn);
  },
  // RivetKit 2.3's declared events (what `event({ canSubscribe })` returns): only admin hears
  // `secret`; undeclared events are open to all.
  events: {
    secret: {
      canSubscribe: (c) => {
        c.state.askedForSecret = c.conn.state.name;
        return c.conn.state.name === "admin";
      },
    },
  },
  // A raw WebSocket: welcomed with its path, then echoed (binary reversed); `close` has the
  // actor close it with 4001.
  onWebSocket: (c, ws) => {
    const url = new URL(c.request.url);
    ws.send(JSON.stringify({ type: "welcome", path: url.pathname + url.search, name: c.conn.state.name }));
    ws.addEventListener("message", (event) => {
      c.state.socketMessages += 1;
      if (event.data instanceof ArrayBuffer) return ws.send(new Uint8Array(event.data).reverse());
      if (event.data === "close") return ws.close(4001, "bye");
      ws.send(event.data);
    });
    ws.addEventListener("close", (event) => {
      c.state.lastSocketClose = [event.code, event.reason];
    });
  },
  actions: {
    socketStats: (c) => ({ messages: c.state.socketMessages, lastClose: c.state.lastSocketClose }),
    tellSecret: (c, text) => c.broadcast("secret", text),
    askedForSecret: (c) => (c.state.askedForSecret === undefined ? null : c.state.askedForSecret),
    me: (c) => ({
      id: c.conn.id,
      params: c.conn.params === undefined ? null : c.conn.params,
      name: c.conn.state.name,
      messages: c.conn.state.messages,
    }),
    say: (c, text) => {
      c.conn.state.messages += 1;
      return c.conn.state.messages;
    },
    sayThenFail: (c) => {
      c.conn.state.messages += 100;
      throw new UserError("on purpose", { code: "failed" });
    },
    whisper: (c, to, text) => {
      const target = find(c, to);
      if (!target) return false;
      target.send("whisper", { from: c.conn.state.name, text });
      return true;
    },
    kick: async (c, name) => {
      const target = find(c, name);
      if (!target) return false;
      await target.disconnect("kicked");
      return true;
    },
    online: (c) => [...c.conns.values()].map((conn) => conn.state.name).sort(),
    counts: (c) => ({ connects: c.state.connects, disconnects: c.state.disconnects }),
    hasConn: (c) => c.conn !== undefined,
    keep: (c) => {
      kept = c.conn;
    },
    bumpKept: (c) => {
      kept.state.messages += 10;
      return kept.state.messages;
    },
  },
});
"#;
