//! Storage benchmark: what persistence costs, measured side by side.
//!
//! 1. Bytes and PUTs per small transaction, against the WAL bytes SQLite wrote and against
//!    uploading the whole database after each transaction.
//! 2. PUTs while idle and under steady writes.
//! 3. Restore time for 1, 10 and 100 MB databases from SeaweedFS, against one whole-file GET.
//! 4. Action latency through the real engine with strict, interval and no persistence,
//!    requests interleaved.
//!
//! Run with `cargo bench -p runner-tests --bench storage`.
#![allow(clippy::print_stdout, reason = "a benchmark reports to the terminal")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use runner_core::object_store::{FaultyStore, MemoryStore, ObjectStore, PutMode};
use runner_core::persist::scenarios::{Instance, key};
use runner_core::persist::{DurabilityMode, PersistOptions, Persistence};
use runner_tests::s3_server::S3Server;
use runner_tests::{Engine, TestRunner};
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * 0.99).round() as usize]
}

fn persistence(store: Arc<dyn ObjectStore>, mode: DurabilityMode) -> Persistence {
    Persistence::new(store, "actors").with_options(PersistOptions {
        mode,
        compact_min_wal_bytes: 1 << 30,
        ..PersistOptions::default()
    })
}

/// An actor whose database holds about `mb` MiB, flushed and compacted into one snapshot.
async fn filled(p: &Persistence, mb: usize) -> Instance {
    let mut actor = Instance::start(p, 1).await.expect("start");
    actor.write("CREATE TABLE log (id INTEGER PRIMARY KEY, v BLOB)");
    for _ in 0..mb {
        actor.write("INSERT INTO log (v) VALUES (randomblob(1048576))");
    }
    actor.replica.flush().await.expect("flush");
    actor.replica.rebase(&actor.db).expect("rebase");
    actor.replica.flush().await.expect("flush");
    actor
}

async fn per_transaction(s3: &S3Server) {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 1));
    let p = persistence(store.clone(), DurabilityMode::Strict);
    let mut actor = filled(&p, 1).await;
    let txns = 200u64;
    let (wal_before, _) = actor.local_sizes();
    store.reset_stats();
    for i in 0..txns {
        actor.write(&format!(
            "INSERT INTO log (v) VALUES (randomblob({}))",
            100 + i % 50
        ));
        actor.replica.flush().await.expect("flush");
    }
    let stats = store.stats();
    let (wal_after, db) = actor.local_sizes();
    let wal_per_txn = (wal_after - wal_before) as f64 / txns as f64;
    let shipped_per_txn = stats.put_bytes as f64 / txns as f64;
    let whole = (db + wal_after) as f64;

    // Group commit needs uploads that take time, as real ones do: SeaweedFS on loopback.
    let s3 = Arc::new(FaultyStore::new(Arc::new(s3.store().await), 1));
    let p = persistence(s3.clone(), DurabilityMode::Strict);
    let mut burst = filled(&p, 1).await;
    s3.reset_stats();
    for _ in 0..10 {
        for _ in 0..10 {
            burst.write("INSERT INTO log (v) VALUES (randomblob(120))");
        }
        burst.replica.flush().await.expect("flush");
    }
    let grouped = s3.stats().puts as f64 / 100.0;

    println!("## Bytes and PUTs per small transaction (1 MiB database, 100–150 byte rows)\n");
    println!("| what | bytes per txn | PUTs per txn |");
    println!("|---|---|---|");
    println!("| WAL bytes SQLite wrote | {wal_per_txn:.0} | – |");
    println!(
        "| shipped, strict, one txn per upload | {shipped_per_txn:.0} ({:.2}× the WAL) | {:.2} |",
        shipped_per_txn / wal_per_txn,
        stats.puts as f64 / txns as f64
    );
    println!(
        "| shipped, strict, bursts of 10 txns while uploads run (group commit, SeaweedFS) | – | {grouped:.2} |"
    );
    println!(
        "| baseline: upload the whole database | {whole:.0} ({:.0}× the WAL) | 1 |\n",
        whole / wal_per_txn
    );
}

async fn idle_and_steady() {
    println!("## PUTs while idle and under steady writes\n");
    println!("| mode | idle 3 s | 20 writes/s for 3 s | → PUTs per actor-hour at that rate |");
    println!("|---|---|---|---|");
    for (name, mode) in [
        ("strict", DurabilityMode::Strict),
        (
            "interval 1 s",
            DurabilityMode::Interval(Duration::from_secs(1)),
        ),
    ] {
        let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new()), 2));
        let p = persistence(store.clone(), mode);
        let mut actor = Instance::start(&p, 1).await.expect("start");
        actor.write("CREATE TABLE log (v BLOB)");
        actor.replica.flush().await.expect("flush");
        store.reset_stats();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle = store.stats().puts;
        store.reset_stats();
        let started = Instant::now();
        for _ in 0..60 {
            actor.write("INSERT INTO log VALUES (randomblob(100))");
            // Strict: each write waits for its upload, as an action's reply does.
            if mode == DurabilityMode::Strict {
                actor.replica.flush().await.expect("flush");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let steady = store.stats().puts;
        println!(
            "| {name} | {idle} | {steady} | {:.0} |",
            steady as f64 / elapsed * 3600.0
        );
    }
    println!();
}

async fn restore_times(s3: &S3Server) {
    let store: Arc<dyn ObjectStore> = Arc::new(s3.store().await);
    println!("## Restore time from SeaweedFS on loopback (median of 5, cold disk)\n");
    println!("| database | restore (snapshot + WAL, verified) | whole-file GET + write | ratio |");
    println!("|---|---|---|---|");
    for mb in [1usize, 10, 100] {
        let p = Persistence::new(store.clone(), format!("restore-{mb}"));
        let actor = filled(&p, mb).await;
        let (_, db_size) = actor.local_sizes();
        drop(actor);
        let blob = Bytes::from(vec![7u8; db_size as usize]);
        let blob_key = format!("baseline/{mb}.db");
        store
            .put(&blob_key, blob, PutMode::Overwrite)
            .await
            .expect("put");
        let (mut ours, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let started = Instant::now();
            p.export(&key(), dir.path()).await.expect("export");
            ours.push(started.elapsed().as_secs_f64() * 1000.0);

            let dir = tempfile::tempdir().expect("tempdir");
            let started = Instant::now();
            let object = store.get(&blob_key).await.expect("get").expect("exists");
            std::fs::write(dir.path().join("actor.db"), &object.bytes).expect("write");
            baseline.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let (ours, baseline) = (median(ours), median(baseline));
        println!(
            "| {:.1} MB | {ours:.0} ms | {baseline:.0} ms | {:.2}× |",
            db_size as f64 / 1e6,
            ours / baseline
        );
    }
    println!();
}

async fn action_latency(s3: &S3Server) -> anyhow::Result<()> {
    let engine = Engine::start().await?;
    let s3_vars = |mode: &'static str| {
        vec![
            ("RUNNER_IDLE_SLEEP_MS", "600000"),
            ("RUNNER_OBJECT_STORE", "s3"),
            ("RUNNER_S3_BUCKET", s3.bucket.as_str()),
            ("RUNNER_S3_ENDPOINT", s3.endpoint.as_str()),
            (
                "RUNNER_S3_ACCESS_KEY_ID",
                runner_tests::s3_server::ACCESS_KEY,
            ),
            (
                "RUNNER_S3_SECRET_ACCESS_KEY",
                runner_tests::s3_server::SECRET_KEY,
            ),
            ("RUNNER_DURABILITY", mode),
        ]
    };
    let configs = [
        (
            "no persistence",
            vec![
                ("RUNNER_IDLE_SLEEP_MS", "600000"),
                ("RUNNER_OBJECT_STORE", "none"),
            ],
        ),
        ("strict (S3)", s3_vars("strict")),
        ("interval 1 s (S3)", s3_vars("interval")),
    ];
    let gw = engine.gateway();
    let mut runners = Vec::new();
    for (i, (name, vars)) in configs.iter().enumerate() {
        let runner = TestRunner::start(&engine.url(), vars).await?;
        let mut spec = runner.runner_config(300, 10);
        spec.pool = format!("pool-{i}");
        engine.put_runner_config(&spec).await?;
        let id = engine
            .create_actor_in(&spec.pool, "counter", &format!("latency-{i}"), None)
            .await?;
        gw.action(&id, "increment", json!([1])).await?;
        runners.push((*name, id, runner, Vec::new()));
    }
    for _ in 0..300 {
        for (_, id, _, samples) in &mut runners {
            let started = Instant::now();
            gw.action(id, "increment", json!([1])).await?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!("## Action latency through the engine (`increment`, 300 interleaved calls each)\n");
    println!("| persistence | median | p99 |");
    println!("|---|---|---|");
    let base = median(runners[0].3.clone());
    for (name, _, _, samples) in &runners {
        let m = median(samples.clone());
        println!(
            "| {name} | {m:.1} ms ({:+.1} ms) | {:.1} ms |",
            m - base,
            p99(samples.clone())
        );
    }
    println!();
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let s3 = S3Server::start("storage-bench").await?;
    per_transaction(&s3).await;
    idle_and_steady().await;
    restore_times(&s3).await;
    action_latency(&s3).await?;
    Ok(())
}
