//! RivetKit 2.3's actor queue, started directly (no engine). In JavaScript: client sends to
//! declared queues only (`canPublish` with the sender's connection), a `run` loop consuming
//! with `c.queue.iter`, `tryNext`/batches/timeouts, completable messages answering a waiting
//! sender, and messages that outlive a restart. In native Rust: the same through `QUEUES`,
//! `can_publish` and `on_queue`.

use std::time::Duration;

use std::sync::Arc;

use runner_core::actor::{
    ActionError, Actions, Actor, ActorHandle, Ctx, NativeFactory, QueueSendOutcome,
};
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::JsRuntime;
use runner_core::storage::ActorStore;
use runner_tests::sandbox::{call, cbor, from_cbor, js_factory, start_actor};
use serde_json::{Value, json};

const QUEUES: &str = r#"
export default actor({
  state: { processed: [], lastPublisher: null },
  queues: {
    jobs: {
      canPublish: (c) => {
        c.state.lastPublisher = c.conn.params ? c.conn.params.name : null;
        return !(c.conn.params && c.conn.params.deny);
      },
    },
    work: {},
  },
  run: async (c) => {
    for await (const message of c.queue.iter({ names: ["work"] })) {
      c.state.processed.push(message.body);
    }
  },
  actions: {
    processed: (c) => c.state.processed,
    lastPublisher: (c) => c.state.lastPublisher,
    enqueue: async (c, name, body) => (await c.queue.send(name, body)).id,
    enqueueThenFail: async (c, body) => {
      await c.queue.send("work", body);
      await null;
      throw new UserError("changed my mind", { code: "undone" });
    },
    take: async (c, names) => {
      const message = await c.queue.tryNext({ names });
      return message === undefined ? null : message.body;
    },
    takeBatch: async (c, count) => (await c.queue.tryNextBatch({ count })).map((m) => m.body),
    waitBriefly: async (c) => {
      const message = await c.queue.next({ names: ["nothing"], timeout: 30 });
      return message === undefined ? "timed out" : message.body;
    },
    serveOne: async (c) => {
      const message = await c.queue.tryNext({ names: ["jobs"], completable: true });
      if (message === undefined) return null;
      await message.complete({ done: message.body });
      return message.body;
    },
    holdOne: async (c) => {
      await c.queue.tryNext({ names: ["jobs"], completable: true });
      return await c.queue.tryNext().then(() => "received", (e) => e.code);
    },
  },
});
"#;

async fn send(
    actor: &ActorHandle,
    name: &str,
    body: Value,
    wait: Option<Duration>,
    params: Option<Value>,
) -> Result<QueueSendOutcome, runner_core::actor::ActionError> {
    let params = params.map(|p| cbor(&p)).unwrap_or_default();
    actor
        .queue_send(name.to_owned(), cbor(&body), wait, params)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_send_to_declared_queues_and_the_actor_receives_completes_and_keeps_them()
-> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let factory = js_factory(&runtime, "queues", QUEUES);
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor(factory.clone(), &store, "q1").await?;

    // Undeclared queues are ignored, as RivetKit does; canPublish sees the sender's connection.
    assert_eq!(
        send(&actor, "elsewhere", json!(1), None, None).await?,
        QueueSendOutcome::Completed(None)
    );
    assert_eq!(call(&actor, "takeBatch", json!([10])).await?, json!([]));
    let refused = send(
        &actor,
        "jobs",
        json!(1),
        None,
        Some(json!({"name": "eve", "deny": true})),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (refused.group.as_str(), refused.code.as_str()),
        ("auth", "forbidden")
    );
    assert_eq!(refused.http_status(), 403);
    assert_eq!(
        call(&actor, "lastPublisher", json!([])).await?,
        Value::Null,
        "a refusal's writes are undone with it"
    );

    // The run loop gets what clients send to `work`, in order, as they come (it starts in a
    // turn of its own after the wake, and waits for messages in between).
    for body in ["a", "b", "c"] {
        send(&actor, "work", json!(body), None, None).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut processed = Value::Null;
    for _ in 0..100 {
        processed = call(&actor, "processed", json!([])).await?;
        if processed == json!(["a", "b", "c"]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(processed, json!(["a", "b", "c"]));
    // A send in a call that fails sends nothing: the waiting run loop never sees it.
    let undone = call(&actor, "enqueueThenFail", json!(["ghost"]))
        .await
        .unwrap_err();
    assert_eq!(undone.code, "undone");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        call(&actor, "processed", json!([])).await?,
        json!(["a", "b", "c"])
    );
    assert_eq!(call(&actor, "takeBatch", json!([10])).await?, json!([]));

    // A sender that waits hears the actor's completion, with its response.
    let waiting = {
        let actor = actor.clone();
        tokio::spawn(async move {
            send(
                &actor,
                "jobs",
                json!(7),
                Some(Duration::from_secs(10)),
                Some(json!({"name": "ada"})),
            )
            .await
        })
    };
    let served = loop {
        let served = call(&actor, "serveOne", json!([])).await?;
        if served != Value::Null {
            break served;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(served, json!(7));
    let outcome = waiting.await??;
    let QueueSendOutcome::Completed(Some(response)) = outcome else {
        anyhow::bail!("the waiting sender got {outcome:?}");
    };
    assert_eq!(from_cbor::<Value>(&response)?, json!({"done": 7}));
    assert_eq!(
        call(&actor, "lastPublisher", json!([])).await?,
        json!("ada")
    );

    // Nobody completes it: the sender times out, the message stays.
    let outcome = send(
        &actor,
        "jobs",
        json!(8),
        Some(Duration::from_millis(100)),
        None,
    )
    .await?;
    assert_eq!(outcome, QueueSendOutcome::TimedOut);
    assert_eq!(
        call(&actor, "holdOne", json!([])).await?,
        json!("previous_message_not_completed"),
        "a completable message must be completed before the next receive"
    );
    assert_eq!(call(&actor, "take", json!([["jobs"]])).await?, json!(8));
    assert_eq!(
        call(&actor, "waitBriefly", json!([])).await?,
        json!("timed out")
    );

    // Bounds, as RivetKit's.
    let big = send(&actor, "jobs", json!("x".repeat(70_000)), None, None)
        .await
        .unwrap_err();
    assert_eq!(big.code, "message_too_large", "{big}");

    // Messages are durable: they outlive a restart.
    call(&actor, "enqueue", json!(["jobs", {"kept": true}])).await?;
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    let actor = start_actor(factory, &store, "q1").await?;
    assert_eq!(
        call(&actor, "take", json!([["jobs"]])).await?,
        json!({"kept": true})
    );
    assert_eq!(
        call(&actor, "processed", json!([])).await?,
        json!(["a", "b", "c"])
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// A native worker: takes `jobs` as they come and completes each with its position.
#[derive(Debug)]
struct Worker;

impl Actor for Worker {
    const NAME: &'static str = "worker";
    type State = Vec<String>;
    type Input = ();

    fn create_state(_: Option<()>) -> Vec<String> {
        Vec::new()
    }

    const QUEUES: &'static [&'static str] = &["jobs"];

    fn can_publish(ctx: &mut Ctx<'_, Self>, _name: &str) -> Result<bool, ActionError> {
        let params: Option<Value> = ctx.conn().map(|c| c.params()).transpose()?.flatten();
        Ok(params.is_none_or(|p| p["deny"] != json!(true)))
    }

    const HAS_ON_QUEUE: bool = true;

    fn on_queue(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        for message in ctx.queue_receive_completable(Some(&["jobs"]), 100)? {
            let task: String = message.body()?;
            ctx.state_mut().push(task);
            let position = ctx.state().len();
            ctx.queue_complete(&message, Some(&json!({ "ok": true, "position": position })))?;
        }
        Ok(())
    }

    fn actions(actions: &mut Actions<Self>) {
        actions.add("done", |ctx: &mut Ctx<'_, Self>, (): ()| {
            Ok(ctx.state().clone())
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_actor_declares_queues_and_takes_messages_as_they_come() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let actor = start_actor(
        Arc::new(NativeFactory::<Worker>::default()),
        &ActorStore::new(dir.path()),
        "w1",
    )
    .await?;
    assert_eq!(
        send(&actor, "elsewhere", json!("x"), None, None).await?,
        QueueSendOutcome::Completed(None),
        "an undeclared queue is ignored"
    );
    let refused = send(
        &actor,
        "jobs",
        json!("x"),
        None,
        Some(json!({"deny": true})),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "forbidden");
    assert_eq!(
        send(&actor, "jobs", json!("wash"), None, None).await?,
        QueueSendOutcome::Completed(None)
    );
    let waited = send(
        &actor,
        "jobs",
        json!("dry"),
        Some(Duration::from_secs(5)),
        None,
    )
    .await?;
    let QueueSendOutcome::Completed(Some(response)) = waited else {
        anyhow::bail!("the waiting sender got {waited:?}");
    };
    assert_eq!(
        from_cbor::<Value>(&response)?,
        json!({"ok": true, "position": 2})
    );
    assert_eq!(
        call(&actor, "done", json!([])).await?,
        json!(["wash", "dry"])
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}
