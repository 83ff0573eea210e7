//! Code published per namespace: `rivet-runner deploy` against the real engine and a running
//! runner, new versions picked up by new generations, tampered bundles and bundles not signed
//! with their namespace's publish token refused, and the agent workspace (files, SQLite log,
//! an allowed LLM API with an injected key) across re-allocation.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use runner_core::actor::Registry;
use runner_core::bundle::{BundleKind, BundleStore, PublishKey};
use runner_core::object_store::{MemoryStore, ObjectStore, PutMode};
use runner_core::sandbox::js::JsRuntime;
use runner_core::sandbox::{Catalog, NamespaceAllow, SandboxLimits};
use runner_tests::fake_api::FakeApi;
use runner_tests::process::runner_binary;
use runner_tests::runner::SECRET;
use runner_tests::sandbox::guest;
use runner_tests::{Engine, TestRunner};
use serde_json::{Value, json};

const NAMESPACE: &str = "tenant-a";
const COUNTER_JS: &str = include_str!("../../examples/js/counter.js");
/// The operator's master publishing key (`RUNNER_PUBLISH_KEY`).
const PUBLISH_KEY: &str = "test-publish-master-key";

/// Runs `rivet-runner deploy ARGS…` publishing to the local store `objects`; returns stdout.
async fn deploy(objects: &Path, args: &[&str]) -> anyhow::Result<String> {
    deploy_with(objects, &[], args).await
}

/// [`deploy`], with the extra variables `vars` (a publish token or key).
async fn deploy_with(
    objects: &Path,
    vars: &[(&str, &str)],
    args: &[&str],
) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(runner_binary()?)
        .arg("deploy")
        .args(args)
        .envs(vars.iter().copied())
        .env("RUNNER_SECRET", SECRET)
        .env("RUNNER_OBJECT_STORE", "local")
        .env("RUNNER_OBJECT_STORE_DIR", objects)
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.success(), "deploy failed: {stderr}");
    Ok(String::from_utf8(output.stdout)?)
}

/// Calls `action` on the actor `name` with key `key` in the tenant namespace through the
/// gateway, creating it on first use, as the deploy command's output shows. Returns the output
/// and the actor's id.
async fn call(
    engine: &Engine,
    name: &str,
    key: &str,
    action: &str,
    args: Value,
) -> anyhow::Result<(Value, String)> {
    call_created_with(engine, name, key, None, action, args).await
}

/// [`call`], creating the actor with `input` (CBOR, as JSON here) if it does not exist.
async fn call_created_with(
    engine: &Engine,
    name: &str,
    key: &str,
    input: Option<&Value>,
    action: &str,
    args: Value,
) -> anyhow::Result<(Value, String)> {
    let mut url = format!(
        "{}/gateway/{name}/action/{action}?rvt-namespace={NAMESPACE}&rvt-method=getOrCreate&rvt-key={key}&rvt-runner=default",
        engine.url()
    );
    if let Some(input) = input {
        let cbor = runner_tests::sandbox::cbor(input);
        let encoded =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cbor);
        url.push_str(&format!("&rvt-input={encoded}"));
    }
    let response = reqwest::Client::new()
        .post(url)
        .json(&json!({ "args": args }))
        .send()
        .await?;
    let status = response.status();
    let actor_id = response
        .headers()
        .get("x-rivet-actor")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{name}.{action} → {status}: {body}");
    Ok((body["output"].clone(), actor_id))
}

/// Calls the read-only `action` of an actor that is asleep or not yet created, retrying while
/// the engine starts it (under load the gateway may time out resolving the route at first).
async fn read_when_ready(
    engine: &Engine,
    name: &str,
    key: &str,
    action: &str,
) -> anyhow::Result<Value> {
    runner_tests::wait_for("the actor to answer", Duration::from_secs(60), || async {
        call(engine, name, key, action, json!([]))
            .await
            .ok()
            .map(|(output, _)| output)
    })
    .await
}

async fn sleep_and_wait(engine: &Engine, actor_id: &str) -> anyhow::Result<()> {
    engine.sleep_actor_in(NAMESPACE, actor_id).await?;
    runner_tests::wait_for("the actor to sleep", Duration::from_secs(30), || async {
        let actor = engine.actor_in(NAMESPACE, actor_id).await.ok()?;
        actor["sleep_ts"].as_i64().map(|_| ())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_js_and_wasm_actors_run_and_new_generations_run_the_new_version()
-> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let objects = tempfile::tempdir()?;
    let objects_dir = objects.path().to_str().unwrap_or_default();
    let runner = TestRunner::start(
        &engine.url(),
        &[
            ("RUNNER_BUNDLE_NAMESPACES", NAMESPACE),
            ("RUNNER_OBJECT_STORE_DIR", objects_dir),
            ("RUNNER_IDLE_SLEEP_MS", "120000"),
            ("RUNNER_PUBLISH_KEY", PUBLISH_KEY),
        ],
    )
    .await?;
    // The tenant holds only its namespace's token, minted by the operator.
    let tenant_token = PublishKey::new(PUBLISH_KEY.as_bytes())
        .token_for(NAMESPACE)
        .to_hex();
    let tenant = [("RUNNER_PUBLISH_TOKEN", tenant_token.as_str())];

    // A tenant's code directory: the JS counter and the wasm counter.
    let code = tempfile::tempdir()?;
    std::fs::write(code.path().join("counter.js"), COUNTER_JS)?;
    std::fs::copy(
        guest("counter-wasm")?,
        code.path().join("wasm-counter.wasm"),
    )?;
    let code_dir = code.path().to_str().unwrap_or_default();
    let runner_url = runner.url();
    let deploy_args = [
        code_dir,
        "--namespace",
        NAMESPACE,
        "--engine",
        &engine.url(),
        "--url",
        &runner_url,
        "--request-lifespan",
        "300",
        "--drain-grace-period",
        "10",
    ];
    let printed = deploy_with(objects.path(), &tenant, &deploy_args).await?;
    assert!(
        printed.contains(&format!("namespace: {NAMESPACE}")),
        "{printed}"
    );
    assert!(
        printed.contains("/gateway/wasm-counter/action/"),
        "{printed}"
    );
    // Idempotent: the namespace exists, the code is unchanged.
    deploy_with(objects.path(), &tenant, &deploy_args).await?;

    let (count, js_id) = call(&engine, "counter", "k1", "increment", json!([5])).await?;
    assert_eq!(count, json!(5));
    assert_eq!(
        call(&engine, "counter", "k1", "version", json!([]))
            .await?
            .0,
        json!(1)
    );
    let (count, _) = call(&engine, "wasm-counter", "k1", "increment", json!([3])).await?;
    assert_eq!(count, json!(3));
    assert_eq!(
        call(&engine, "wasm-counter", "k1", "increment", json!([4]))
            .await?
            .0,
        json!(7)
    );

    // Version 2 of the JS counter: the running generation keeps version 1 ...
    let v2 = tempfile::tempdir()?;
    let v2_file = v2.path().join("counter.js");
    std::fs::write(
        &v2_file,
        COUNTER_JS.replace("version: () => 1", "version: () => 2"),
    )?;
    // Deployed by the operator this time: signed with the token derived from the master key.
    deploy_with(
        objects.path(),
        &[("RUNNER_PUBLISH_KEY", PUBLISH_KEY)],
        &[
            v2_file.to_str().unwrap_or_default(),
            "--namespace",
            NAMESPACE,
        ],
    )
    .await?;
    assert_eq!(
        call(&engine, "counter", "k1", "version", json!([]))
            .await?
            .0,
        json!(1)
    );
    // ... and the next one runs version 2, with the state the first left.
    sleep_and_wait(&engine, &js_id).await?;
    assert_eq!(
        read_when_ready(&engine, "counter", "k1", "version").await?,
        json!(2)
    );
    assert_eq!(
        call(&engine, "counter", "k1", "count", json!([])).await?.0,
        json!(5)
    );
    // A new actor runs version 2 from the start.
    assert_eq!(
        read_when_ready(&engine, "counter", "k2", "version").await?,
        json!(2)
    );
    drop(runner);
    Ok(())
}

/// Why `registry` has no actor `name` in `namespace`.
async fn refusal(registry: &Registry, namespace: &str, name: &str) -> String {
    match registry.resolve(namespace, name).await {
        Ok(_) => panic!("{namespace}/{name} resolved"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_unlisted_bundle_is_refused() -> anyhow::Result<()> {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let bundles = BundleStore::new(store.clone(), "bundles");
    let version = bundles
        .publish(
            NAMESPACE,
            "counter",
            BundleKind::Js,
            Bytes::from_static(COUNTER_JS.as_bytes()),
            None,
        )
        .await?;
    let registry = |allowed: NamespaceAllow| {
        let catalog = Catalog::new(bundles.clone(), allowed)
            .with_js(JsRuntime::new(SandboxLimits::default()).expect("the JavaScript runtime"));
        Registry::new().with_resolver(Arc::new(catalog))
    };
    let allowed = registry(NamespaceAllow::Only(vec![NAMESPACE.to_owned()]));
    allowed.resolve(NAMESPACE, "counter").await?;

    // Another namespace, or a name nobody published: no such actor.
    let err = refusal(&allowed, "tenant-b", "counter").await;
    assert!(err.contains("no actor named"), "{err}");
    let err = refusal(&allowed, NAMESPACE, "other").await;
    assert!(err.contains("no actor named"), "{err}");

    // The code changed in the store after publishing: refused, not run.
    let key = format!("bundles/{NAMESPACE}/counter/code/{}.js", version.sha256);
    let evil = Bytes::from_static(b"export default actor({ actions: { steal: () => 1 } });");
    store.put(&key, evil, PutMode::Overwrite).await?;
    let fresh = registry(NamespaceAllow::Any);
    let err = refusal(&fresh, NAMESPACE, "counter").await;
    assert!(err.contains("altered after publishing"), "{err}");

    // Code that does not load is refused with its error.
    let broken = Bytes::from_static(b"export default {");
    bundles
        .publish(NAMESPACE, "broken", BundleKind::Js, broken, None)
        .await?;
    let err = refusal(&fresh, NAMESPACE, "broken").await;
    assert!(err.contains("SyntaxError"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_not_signed_with_its_namespaces_publish_token_is_refused() -> anyhow::Result<()> {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let bundles = BundleStore::new(store, "bundles");
    let key = PublishKey::new(PUBLISH_KEY.as_bytes());
    let token_a = key.token_for(NAMESPACE);
    let code = Bytes::from_static(COUNTER_JS.as_bytes());
    let js = BundleKind::Js;
    bundles
        .publish(NAMESPACE, "counter", js, code.clone(), Some(&token_a))
        .await?;
    // A tenant holding namespace A's token writes code for namespace B, and someone with
    // only bucket access writes code unsigned.
    bundles
        .publish("tenant-b", "counter", js, code.clone(), Some(&token_a))
        .await?;
    bundles
        .publish(NAMESPACE, "unsigned", js, code, None)
        .await?;
    let catalog = Catalog::new(bundles, NamespaceAllow::Any)
        .with_publish_key(key)
        .with_js(JsRuntime::new(SandboxLimits::default()).expect("the JavaScript runtime"));
    let registry = Registry::new().with_resolver(Arc::new(catalog));

    registry.resolve(NAMESPACE, "counter").await?;
    let err = refusal(&registry, "tenant-b", "counter").await;
    assert!(
        err.contains("published code for `tenant-b`/`counter` is not signed"),
        "{err}"
    );
    let err = refusal(&registry, NAMESPACE, "unsigned").await;
    assert!(err.contains("not signed"), "{err}");
    Ok(())
}

/// The agent workspace: notes in its files mount, a SQLite log, and an LLM API it may call
/// only because the operator allowed the origin, with a key the runner adds. The actor sleeps,
/// moves to a runner with an empty disk, and finds everything there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_workspace_keeps_files_and_log_across_reallocation_and_never_sees_its_key()
-> anyhow::Result<()> {
    runner_tests::init_tracing();
    let llm = FakeApi::start("The answer is 42.").await?;
    let engine = Engine::start().await?;
    let objects = tempfile::tempdir()?;
    let objects_dir = objects.path().to_str().unwrap_or_default();
    let outbound = json!({ NAMESPACE: [{
        "origin": llm.origin(),
        "headers": { "authorization": "Bearer ${TEST_LLM_KEY}" },
    }]})
    .to_string();
    let vars = [
        ("RUNNER_BUNDLE_NAMESPACES", NAMESPACE),
        ("RUNNER_OBJECT_STORE_DIR", objects_dir),
        ("RUNNER_IDLE_SLEEP_MS", "120000"),
        ("RUNNER_OUTBOUND", outbound.as_str()),
        ("TEST_LLM_KEY", "sk-test-secret"),
    ];
    let first = TestRunner::start(&engine.url(), &vars).await?;
    let component = guest("agent-workspace")?;
    let first_url = first.url();
    deploy(
        objects.path(),
        &[
            component.to_str().unwrap_or_default(),
            "--actor",
            "agent",
            "--namespace",
            NAMESPACE,
            "--engine",
            &engine.url(),
            "--url",
            &first_url,
            "--request-lifespan",
            "300",
            "--drain-grace-period",
            "10",
        ],
    )
    .await?;

    // The LLM URL comes in the create input (getOrCreate's `rvt-input`).
    let input = json!({ "llm_url": format!("{}/v1/complete", llm.origin()) });
    let key = "agent-1";
    let plan = json!(["plan.md", "1. ask\n2. write"]);
    // Created by a read, retried while the engine starts it; then the writes, once each.
    let created = runner_tests::wait_for("the agent to start", Duration::from_secs(60), || async {
        call_created_with(&engine, "agent", key, Some(&input), "list", json!([]))
            .await
            .ok()
    })
    .await?;
    assert_eq!(created.0, json!([]), "a new workspace is empty");
    call(&engine, "agent", key, "write", plan).await?;
    let (answer, actor_id) = call(&engine, "agent", key, "ask", json!(["What is 6 x 7?"])).await?;
    assert_eq!(answer, json!("The answer is 42."));
    let seen = llm.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].headers.contains(&(
            "authorization".to_owned(),
            "Bearer sk-test-secret".to_owned()
        )),
        "the runner added the key: {:?}",
        seen[0].headers
    );
    assert!(seen[0].body.contains("6 x 7"), "{}", seen[0].body);

    // Sleep, then move: the second runner has an empty disk and the same object store.
    sleep_and_wait(&engine, &actor_id).await?;
    let second = TestRunner::start(&engine.url(), &vars).await?;
    engine
        .put_runner_config_in(NAMESPACE, &second.runner_config(300, 10))
        .await?;
    first.shutdown(Duration::from_secs(10)).await;

    let files = read_when_ready(&engine, "agent", key, "list").await?;
    assert_eq!(files, json!(["answers/1.md", "plan.md"]));
    let (plan, _) = call(&engine, "agent", key, "read", json!(["plan.md"])).await?;
    assert_eq!(plan, json!("1. ask\n2. write"));
    let (steps, _) = call(&engine, "agent", key, "steps", json!([])).await?;
    let kinds: Vec<&str> = steps
        .as_array()
        .map(|s| s.iter().filter_map(|step| step["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["write", "write", "ask"], "{steps}");
    assert!(
        !steps.to_string().contains("sk-test-secret"),
        "the key never reached the actor's data"
    );
    // An origin the operator did not allow stays closed.
    let elsewhere = json!({ "llm_url": "http://127.0.0.1:9/v1/complete" });
    let err = call_created_with(
        &engine,
        "agent",
        "agent-2",
        Some(&elsewhere),
        "ask",
        json!(["hi"]),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("fetch_denied"), "{err}");
    assert_eq!(llm.requests().len(), 1);
    Ok(())
}
