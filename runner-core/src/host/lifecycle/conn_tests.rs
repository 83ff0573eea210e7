//! Connections around any actor's code, without an engine: the connect hooks in one
//! transaction, refusals that leave nothing, the actor disconnecting a client, and the stop
//! ending every connection with its `on_disconnect`, whose writes are saved.

use std::sync::{Arc, Mutex};

use crate::actor::{ActionError, Actions, Actor, ConnParams, ConnSink, Ctx, Registry};
use crate::storage::ActorStore;
use crate::testing::{TestHost, Timings};

/// Logs connects and disconnects in SQL, so a test reads what the hooks did after a restart.
struct Room;

impl Actor for Room {
    const NAME: &'static str = "room";
    type State = ();
    type Input = ();

    fn create_state(_: Option<()>) {}

    fn on_create(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        ctx.sql().execute_batch("CREATE TABLE log (what TEXT)")?;
        Ok(())
    }

    fn on_before_connect(
        ctx: &mut Ctx<'_, Self>,
        params: ConnParams<'_>,
    ) -> Result<(), ActionError> {
        assert!(ctx.conn().is_none(), "no connection before it is accepted");
        match params.get::<String>()?.as_deref() {
            Some("refuse") => Err(ActionError::user("forbidden", "not you")),
            _ => Ok(()),
        }
    }

    fn on_connect(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        let name: String = ctx.conn().expect("c.conn").params()?.unwrap_or_default();
        ctx.sql()
            .execute("INSERT INTO log VALUES (?1)", [format!("in:{name}")])?;
        ctx.set_conn_state(&name)?;
        if name == "fail" {
            return Err(ActionError::user("broken", "onConnect failed"));
        }
        let online = ctx.conns().count();
        ctx.broadcast("online", &online)
    }

    fn on_disconnect(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        let name: String = ctx.conn().expect("c.conn").state()?.unwrap_or_default();
        assert!(
            ctx.conns()
                .all(|c| c.state::<String>().ok().flatten() != Some(name.clone()))
        );
        ctx.sql()
            .execute("INSERT INTO log VALUES (?1)", [format!("out:{name}")])?;
        Ok(())
    }

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("log", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let rows: Vec<String> = ctx
                    .sql()
                    .prepare("SELECT what FROM log ORDER BY rowid")?
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .add("online", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(ctx.conns().count())
            })
            .add("kick", |ctx: &mut Ctx<'_, Self>, (name,): (String,)| {
                let id = ctx
                    .conns()
                    .find(|c| c.state::<String>().ok().flatten().as_deref() == Some(&name))
                    .map(|c| c.id().to_owned());
                if let Some(id) = &id {
                    ctx.send(id, "bye", &"kicked")?;
                    ctx.disconnect(id, "kicked");
                }
                Ok(id.is_some())
            });
    }
}

/// A client's transport: what reached it, in order.
#[derive(Default)]
struct Client(Mutex<Vec<String>>);

impl ConnSink for Client {
    fn event(&self, name: &str, _args: &[u8]) {
        self.0.lock().unwrap().push(name.to_owned());
    }
    fn close(&self, reason: &str) {
        self.0.lock().unwrap().push(format!("close:{reason}"));
    }
}

impl Client {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

async fn call<T: serde::de::DeserializeOwned>(actor: &crate::actor::ActorHandle, name: &str) -> T {
    let out = actor.action(name, cbor(&())).await.unwrap();
    ciborium::from_reader(out.as_slice()).unwrap()
}

fn host(dir: &std::path::Path) -> TestHost {
    TestHost::new(
        Registry::new().with_actor::<Room>(),
        ActorStore::new(dir),
        None,
        Timings::default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let actor = host.start("room", "r1", 1).await.unwrap();
    let refused = actor
        .open_conn(Arc::new(Client::default()), cbor(&"refuse"))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.group.as_str(), refused.code.as_str()),
        ("user", "forbidden")
    );
    // onConnect wrote a row and a state, then failed: the row is rolled back, the connection
    // never listed.
    let failed = actor
        .open_conn(Arc::new(Client::default()), cbor(&"fail"))
        .await
        .unwrap_err();
    assert_eq!(failed.code, "broken");
    assert_eq!(call::<usize>(&actor, "online").await, 0);
    assert!(call::<Vec<String>>(&actor, "log").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kicked_client_gets_what_was_sent_then_the_close_then_on_disconnect_runs() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let actor = host.start("room", "r1", 1).await.unwrap();
    let ada = Arc::new(Client::default());
    let bob = Arc::new(Client::default());
    actor.open_conn(ada.clone(), cbor(&"ada")).await.unwrap();
    let bob_id = actor.open_conn(bob.clone(), cbor(&"bob")).await.unwrap();
    let kicked: bool = {
        let out = actor.action("kick", cbor(&("bob",))).await.unwrap();
        ciborium::from_reader(out.as_slice()).unwrap()
    };
    assert!(kicked);
    assert_eq!(
        bob.seen(),
        ["bye", "close:kicked"],
        "the send leaves before the close"
    );
    assert_eq!(call::<usize>(&actor, "online").await, 1);
    assert_eq!(
        call::<Vec<String>>(&actor, "log").await,
        ["in:ada", "in:bob", "out:bob"]
    );
    // The transport's own close of a connection already gone changes nothing.
    actor.close_conn(bob_id).await;
    assert_eq!(
        call::<Vec<String>>(&actor, "log").await,
        ["in:ada", "in:bob", "out:bob"]
    );
    // An action over the closed connection is refused.
    let gone = actor
        .conn_action("nope".into(), "online", cbor(&()))
        .await
        .unwrap_err();
    assert_eq!(gone.code, "connection_closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_ends_every_connection_and_saves_what_on_disconnect_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let actor = host.start("room", "r1", 1).await.unwrap();
    let ada = Arc::new(Client::default());
    let bob = Arc::new(Client::default());
    actor.open_conn(ada.clone(), cbor(&"ada")).await.unwrap();
    actor.open_conn(bob.clone(), cbor(&"bob")).await.unwrap();
    host.stop("r1", 1, false).await.unwrap();
    assert_eq!(
        ada.seen().last().map(String::as_str),
        Some("close:actor stopped")
    );
    assert_eq!(
        bob.seen().last().map(String::as_str),
        Some("close:actor stopped")
    );
    let again = host.start("room", "r1", 2).await.unwrap();
    let mut log = call::<Vec<String>>(&again, "log").await;
    log.sort();
    assert_eq!(log, ["in:ada", "in:bob", "out:ada", "out:bob"]);
}
