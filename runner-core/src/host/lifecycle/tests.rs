//! The actor lifecycle and the instance around any actor's code, without an engine
//! ([`crate::testing`]): one transaction per action, rollback, durability before replies,
//! claims fenced by generation, and what a stop saves or deletes.

use std::sync::Arc;

use crate::LifecycleError;
use crate::actor::{ActionError, Actions, Actor, Ctx, Registry, StopError};
use crate::object_store::{FaultPlan, FaultyStore, MemoryStore, ObjectStore};
use crate::persist::{PersistError, Persistence};
use crate::storage::ActorStore;
use crate::testing::{TestHost, Timings, key};

/// The actors whose `on_destroy` ran.
static DESTROYED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Whether `on_destroy` ran for `actor_id` (tests of this file run in parallel: each looks for
/// its own actor).
fn destroyed(actor_id: &str) -> bool {
    DESTROYED.lock().unwrap().iter().any(|id| id == actor_id)
}

/// Adds to a total; `addThenFail` adds and then fails, which must leave no trace.
struct Tally;

impl Actor for Tally {
    const NAME: &'static str = "tally";
    type State = i64;
    type Input = ();
    const HAS_ON_STATE_CHANGE: bool = true;

    fn create_state(_: Option<()>) -> i64 {
        0
    }

    fn on_create(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        ctx.sql()
            .execute_batch("CREATE TABLE hook_log (total INTEGER)")?;
        Ok(())
    }

    /// Logs every new total; at 13 it also tries to change the state, at 21 it fails: both
    /// undone, the log row too.
    fn on_state_change(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        let total = *ctx.state();
        ctx.sql()
            .execute("INSERT INTO hook_log (total) VALUES (?1)", [total])?;
        match total {
            13 => *ctx.state_mut() = 1_000,
            21 => return Err(ActionError::user("hook", "refuses 21")),
            // As a guest write stopped at its deadline does: the whole transaction ends.
            31 => ctx.sql().execute_batch("ROLLBACK")?,
            _ => {}
        }
        Ok(())
    }

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("add", |ctx: &mut Ctx<'_, Self>, (n,): (i64,)| {
                *ctx.state_mut() += n;
                Ok(*ctx.state())
            })
            .add("addThenFail", |ctx: &mut Ctx<'_, Self>, (n,): (i64,)| {
                *ctx.state_mut() += n;
                ctx.sql()
                    .execute_batch("CREATE TABLE IF NOT EXISTS t (v)")?;
                Err::<i64, _>(ActionError::user("refused", "this action always fails"))
            })
            .add("total", |ctx: &mut Ctx<'_, Self>, (): ()| Ok(*ctx.state()))
            .add("logged", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let totals: Vec<i64> = ctx
                    .sql()
                    .prepare("SELECT total FROM hook_log ORDER BY rowid")?
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(totals)
            })
            .add("addLater", |ctx: &mut Ctx<'_, Self>, (n,): (i64,)| {
                ctx.schedule_after(std::time::Duration::from_secs(60), "add", &(n,))?;
                Ok(*ctx.state())
            })
            .add("nap", |ctx: &mut Ctx<'_, Self>, (): ()| {
                ctx.sleep();
                Ok(*ctx.state())
            })
            .add(
                "selfDestruct",
                |ctx: &mut Ctx<'_, Self>, (fail,): (bool,)| {
                    ctx.destroy();
                    if fail {
                        return Err(ActionError::user("no", "changed its mind"));
                    }
                    Ok(*ctx.state())
                },
            );
    }

    fn on_destroy(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        DESTROYED.lock().unwrap().push(ctx.actor_id().to_owned());
        // Rolled back: the data is deleted anyway, and nothing is shipped.
        *ctx.state_mut() = -1;
        Ok(())
    }
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

async fn call(
    actor: &crate::actor::ActorHandle,
    name: &str,
    n: Option<i64>,
) -> Result<i64, ActionError> {
    let args = match n {
        Some(n) => cbor(&(n,)),
        None => cbor(&()),
    };
    let out = actor.action(name, args).await?;
    Ok(ciborium::from_reader(out.as_slice()).unwrap())
}

fn host(dir: &std::path::Path, persistence: Option<Persistence>) -> TestHost {
    TestHost::new(
        Registry::new().with_actor::<Tally>(),
        ActorStore::new(dir),
        persistence,
        Timings::default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_action_commits_and_a_failed_one_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), None);
    let actor = host.start("tally", "a1", 1).await.unwrap();
    assert_eq!(call(&actor, "add", Some(2)).await.unwrap(), 2);
    let err = call(&actor, "addThenFail", Some(5)).await.unwrap_err();
    assert_eq!(err.code, "refused");
    assert_eq!(
        call(&actor, "total", None).await.unwrap(),
        2,
        "state rolled back"
    );
    host.stop("a1", 1, false).await.unwrap();
    assert_eq!(host.running(), 0);
    // Local data survives the stop on the same disk.
    let again = host.start("tally", "a1", 2).await.unwrap();
    assert_eq!(call(&again, "total", None).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_actor_name_fails_the_start_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = host(dir.path(), None)
        .start("nope", "a1", 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LifecycleError::Start(crate::ActorStartError::UnknownActor(ref n)) if n == "nope"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_means_the_write_is_in_the_store_and_another_runner_restores_it() {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let persistence = Persistence::new(store.clone(), "actors");
    let first_disk = tempfile::tempdir().unwrap();
    let first = host(first_disk.path(), Some(persistence.clone()));
    let actor = first.start("tally", "a1", 1).await.unwrap();
    assert_eq!(call(&actor, "add", Some(3)).await.unwrap(), 3);
    // Strict durability: the reply left only after the manifest named the write, so a
    // runner on another disk restores it without the first one ever stopping.
    let other_disk = tempfile::tempdir().unwrap();
    let second = host(other_disk.path(), Some(persistence.clone()));
    let restored = second.start("tally", "a1", 2).await.unwrap();
    assert_eq!(call(&restored, "total", None).await.unwrap(), 3);
    // The first instance has been fenced: its next write cannot be acknowledged.
    let err = call(&actor, "add", Some(1)).await.unwrap_err();
    assert!(
        err.message.contains("fenced") || err.code.contains("durable"),
        "{err:?}"
    );
    assert_eq!(call(&restored, "add", Some(10)).await.unwrap(), 13);
    second.stop("a1", 2, false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_generation_cannot_start_once_a_newer_one_claimed_the_actor() {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let persistence = Persistence::new(store, "actors");
    let disk = tempfile::tempdir().unwrap();
    let newer = host(disk.path(), Some(persistence.clone()));
    newer.start("tally", "a1", 5).await.unwrap();
    let other = tempfile::tempdir().unwrap();
    let err = host(other.path(), Some(persistence))
        .start("tally", "a1", 4)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LifecycleError::Restore(PersistError::Fenced {
                ours: 4,
                theirs: 5,
                ..
            })
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destroy_deletes_the_actor_everywhere() {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let persistence = Persistence::new(store.clone(), "actors");
    let disk = tempfile::tempdir().unwrap();
    let host = host(disk.path(), Some(persistence.clone()));
    let actor = host.start("tally", "a1", 1).await.unwrap();
    call(&actor, "add", Some(1)).await.unwrap();
    assert!(!store.list("actors/default/a1/").await.unwrap().is_empty());
    host.stop("a1", 1, true).await.unwrap();
    assert!(store.list("actors/default/a1/").await.unwrap().is_empty());
    assert!(!ActorStore::new(disk.path()).actor_dir(&key("a1")).exists());
    // Stopping again (the engine may repeat a command) is not an error.
    host.stop("a1", 1, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_whose_last_writes_cannot_be_shipped_says_so() {
    let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 7));
    let persistence = Persistence::new(faulty.clone() as Arc<dyn ObjectStore>, "actors")
        .with_options(crate::persist::PersistOptions {
            mode: crate::persist::DurabilityMode::Interval(std::time::Duration::from_secs(3600)),
            ..crate::persist::PersistOptions::default()
        });
    let disk = tempfile::tempdir().unwrap();
    let host = host(disk.path(), Some(persistence));
    let actor = host.start("tally", "a1", 1).await.unwrap();
    call(&actor, "add", Some(1)).await.unwrap();
    faulty.set_plan(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let err = host.stop("a1", 1, false).await.unwrap_err();
    assert!(matches!(err, StopError::NotPersisted(_)), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_and_sleep_intents_reach_the_engine_only_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), None);
    let actor = host.start("tally", "a1", 1).await.unwrap();
    call(&actor, "add", Some(1)).await.unwrap();
    assert_eq!(host.control().sleep_requests(), 0);
    assert_eq!(host.control().alarm(), None);
    call(&actor, "addLater", Some(1)).await.unwrap();
    let now_ms = crate::rt::SystemTime::now()
        .duration_since(crate::rt::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let alarm = host.control().alarm().expect("the schedule set an alarm");
    assert!(
        (alarm - now_ms - 60_000).abs() < 5_000,
        "alarm {alarm}, now {now_ms}"
    );
    call(&actor, "nap", None).await.unwrap();
    assert_eq!(host.control().sleep_requests(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_is_asked_of_the_engine_once_committed_and_on_destroy_runs_at_the_stop() {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let persistence = Persistence::new(store.clone(), "actors");
    let disk = tempfile::tempdir().unwrap();
    let host = host(disk.path(), Some(persistence));
    let actor = host.start("tally", "doomed", 1).await.unwrap();
    call(&actor, "add", Some(2)).await.unwrap();
    // A failed action's destroy is rolled back with it.
    let args = cbor(&(true,));
    assert!(actor.action("selfDestruct", args).await.is_err());
    assert_eq!(host.control().destroy_requests(), 0);
    actor.action("selfDestruct", cbor(&(false,))).await.unwrap();
    assert_eq!(host.control().destroy_requests(), 1);
    assert_eq!(
        host.control().sleep_requests(),
        0,
        "a destroyed actor does not also sleep"
    );
    // The engine answers the intent with a destroying stop.
    assert!(!destroyed("doomed"));
    assert!(
        !store
            .list("actors/default/doomed/")
            .await
            .unwrap()
            .is_empty()
    );
    host.stop("doomed", 1, true).await.unwrap();
    assert!(destroyed("doomed"), "on_destroy ran");
    assert!(
        store
            .list("actors/default/doomed/")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_state_change_runs_after_changing_calls_and_a_bad_hook_is_undone_whole() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), None);
    let actor = host.start("tally", "changes", 1).await.unwrap();
    let logged = |actor: crate::actor::ActorHandle| async move {
        let out = actor.action("logged", cbor(&())).await.unwrap();
        ciborium::from_reader::<Vec<i64>, _>(out.as_slice()).unwrap()
    };
    assert_eq!(call(&actor, "add", Some(3)).await.unwrap(), 3);
    // Calls that change nothing, and a failed one, do not run the hook.
    assert_eq!(call(&actor, "total", None).await.unwrap(), 3);
    assert!(call(&actor, "addThenFail", Some(1)).await.is_err());
    assert_eq!(logged(actor.clone()).await, [3]);
    // At 13 the hook changes the state: undone, its log row with it; the call stands.
    assert_eq!(call(&actor, "add", Some(10)).await.unwrap(), 13);
    assert_eq!(call(&actor, "total", None).await.unwrap(), 13);
    assert_eq!(logged(actor.clone()).await, [3]);
    // At 21 it fails: undone the same way.
    assert_eq!(call(&actor, "add", Some(8)).await.unwrap(), 21);
    assert_eq!(logged(actor.clone()).await, [3]);
    assert_eq!(call(&actor, "add", Some(1)).await.unwrap(), 22);
    assert_eq!(logged(actor.clone()).await, [3, 22]);
    // At 31 the hook ends the transaction: the call cannot commit, and nothing of it is kept.
    assert!(call(&actor, "add", Some(9)).await.is_err());
    assert_eq!(call(&actor, "total", None).await.unwrap(), 22);
    assert_eq!(logged(actor.clone()).await, [3, 22]);
    // What is on disk agrees (a state saved outside the transaction would come back here).
    host.stop("changes", 1, false).await.unwrap();
    let again = host.start("tally", "changes", 2).await.unwrap();
    assert_eq!(call(&again, "total", None).await.unwrap(), 22);
    assert_eq!(call(&again, "add", Some(1)).await.unwrap(), 23);
}
