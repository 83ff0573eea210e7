//! The official RivetKit client from npm (`rivetkit@2.3.19`) under Node, unchanged, against the
//! real engine and this runner: the same scripts pass against the native fixture and the same
//! actor published in JavaScript (`tests/node/`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use bytes::Bytes;
use runner_core::bundle::{BundleKind, BundleStore};
use runner_core::object_store::LocalStore;
use runner_tests::fixtures::PROBE_JS;
use runner_tests::npm_client::run_script;
use runner_tests::{Engine, TestRunner};

/// Whether `dir` holds no file, at any depth.
fn dir_is_empty(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .all(|entry| entry.path().is_dir() && dir_is_empty(&entry.path()))
    })
}

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
        let id = printed
            .lines()
            .find_map(|line| line.strip_prefix("destroyed-actor-id: "))
            .context("the script names the destroyed actor")?;
        // Other actors' data sits beside it (so the path below is where data lives).
        let actors = runner.objects_dir.join("actors/default");
        assert!(
            std::fs::read_dir(&actors)?.count() > 0,
            "no actor data at all"
        );
        let data = actors.join(id);
        runner_tests::wait_for(
            "the destroyed actor's data to leave the bucket",
            Duration::from_secs(15),
            || {
                let data = data.clone();
                async move { (!data.exists() || dir_is_empty(&data)).then_some(()) }
            },
        )
        .await?;
    }
    // Vars are JavaScript's so far (docs/actors.md).
    let printed = run_script("vars.mjs", &[&engine.url(), "probe-js"]).await?;
    assert!(printed.contains("probe-js vars: ok"), "{printed}");
    Ok(())
}
