//! The official RivetKit client from npm (`rivetkit@2.3.19`) under Node, unchanged, against the
//! real engine and this runner: the same scripts pass against the native fixture and the same
//! actor published in JavaScript (`tests/node/`).

use std::sync::Arc;

use bytes::Bytes;
use runner_core::bundle::{BundleKind, BundleStore};
use runner_core::object_store::LocalStore;
use runner_tests::fixtures::PROBE_JS;
use runner_tests::npm_client::run_script;
use runner_tests::{Engine, TestRunner};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_errors_schedules_destroy_and_vars_through_the_npm_client_in_native_and_javascript()
-> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let runner = TestRunner::start(
        &engine.url(),
        &[
            ("RUNNER_BUNDLE_NAMESPACES", "default"),
            ("RUNNER_IDLE_SLEEP_MS", "120000"),
        ],
    )
    .await?;
    engine
        .put_runner_config(&runner.runner_config(300, 10))
        .await?;
    let bundles = BundleStore::new(Arc::new(LocalStore::new(&runner.objects_dir)), "bundles");
    bundles
        .publish(
            "default",
            "probe-js",
            BundleKind::Js,
            Bytes::from_static(PROBE_JS.as_bytes()),
            None,
        )
        .await?;
    for actor in ["probe", "probe-js"] {
        let printed = run_script("keys-and-errors.mjs", &[&engine.url(), actor]).await?;
        for encoding in ["bare", "cbor", "json"] {
            assert!(
                printed.contains(&format!("{actor} {encoding}: ok")),
                "{printed}"
            );
        }
        let printed = run_script("schedules.mjs", &[&engine.url(), actor]).await?;
        assert!(
            printed.contains(&format!("{actor} schedules: ok")),
            "{printed}"
        );
        let printed = run_script("destroy.mjs", &[&engine.url(), actor]).await?;
        assert!(
            printed.contains(&format!("{actor} destroy: ok")),
            "{printed}"
        );
    }
    // Vars are JavaScript's so far (docs/actors.md).
    let printed = run_script("vars.mjs", &[&engine.url(), "probe-js"]).await?;
    assert!(printed.contains("probe-js vars: ok"), "{printed}");
    Ok(())
}
