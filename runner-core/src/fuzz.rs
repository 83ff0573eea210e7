//! Property tests for every decoder that reads bytes a stranger controls: the `/start` body,
//! the client protocol (HTTP action bodies and `/connect` frames in json, cbor and bare), the
//! manifest, and the guest SQL policy. Each input must be answered without a panic and without
//! allocating more than a small multiple of its own size (measured by a counting allocator on
//! the test's thread). Bounded to run in seconds in `./test`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;

use crate::client::{Encoding, decode_action_args, decode_to_server};

/// Counts the bytes live on each thread, and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(grow: usize, shrink: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(grow).saturating_sub(shrink);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

#[allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one only counts and defers to System"
)]
// SAFETY: every call is forwarded to `System` unchanged; the counters never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            track(layout.size(), 0);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        track(0, layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            track(new_size, layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the most it allocated beyond what was live before.
fn peak_growth<R>(f: impl FnOnce() -> R) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let result = f();
    let peak = PEAK.with(Cell::get);
    drop(result);
    peak.saturating_sub(base)
}

/// What decoding `input` may allocate: a small multiple of it, plus a fixed allowance for the
/// decoders' own tables and error messages.
fn allowance(input: &[u8]) -> usize {
    64 * input.len() + (256 << 10)
}

fn check(what: &str, input: &[u8], decode: impl FnOnce(&[u8])) -> Result<(), TestCaseError> {
    let grew = peak_growth(|| decode(input));
    prop_assert!(
        grew <= allowance(input),
        "{what}: {} input bytes allocated {grew} bytes",
        input.len()
    );
    Ok(())
}

/// Valid inputs, mutated: most random bytes fail at the first byte, so the interesting ones
/// start from something the decoder accepts.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let seeds = std::sync::Arc::new(seeds);
    (
        0..seeds.len(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        proptest::collection::vec(any::<u8>(), 0..16),
        any::<bool>(),
    )
        .prop_map(move |(seed, flips, tail, cut)| {
            let mut bytes = seeds[seed].clone();
            for (at, byte) in flips {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = byte;
                }
            }
            if cut && !bytes.is_empty() {
                bytes.truncate(bytes.len() / 2);
            }
            bytes.extend(tail);
            bytes
        })
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512)
}

fn start_seeds() -> Vec<Vec<u8>> {
    vec![
        crate::serverless::golden_start("actor-id-0123456789", 7),
        crate::serverless::golden_start("a", u32::MAX),
    ]
}

fn frame_seeds() -> Vec<Vec<u8>> {
    use rivetkit_client_protocol as proto;
    use vbare::OwnedVersionedData;
    let bare = |body| {
        proto::versioned::ToServer::wrap_latest(proto::ToServer { body })
            .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
            .expect("encode a frame")
    };
    let mut cbor = Vec::new();
    ciborium::into_writer(
        &serde_json::json!({"body": {"tag": "ActionRequest", "val": {"id": 1, "name": "inc", "args": [1]}}}),
        &mut cbor,
    )
    .expect("encode CBOR");
    vec![
        bare(proto::ToServerBody::ActionRequest(proto::ActionRequest {
            id: serde_bare::Uint(1),
            name: "increment".into(),
            args: vec![0x81, 0x01],
        })),
        bare(proto::ToServerBody::SubscriptionRequest(
            proto::SubscriptionRequest {
                event_name: "newCount".into(),
                subscribe: true,
            },
        )),
        cbor,
        br#"{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","3"],"name":"inc","args":[1,{"a":[2]}]}}}"#.to_vec(),
        br#"{"args":[1,"two",{"three":3}]}"#.to_vec(),
    ]
}

const ENCODINGS: [Encoding; 3] = [Encoding::Json, Encoding::Cbor, Encoding::Bare];

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn the_start_decoder_answers_any_body(body in prop_oneof![any_bytes(), mutated(start_seeds())]) {
        check("start", &body, |b| { let _ = crate::serverless::decode_start(b); })?;
    }

    #[test]
    fn client_frames_and_action_bodies_in_every_encoding(
        data in prop_oneof![any_bytes(), mutated(frame_seeds())],
    ) {
        for encoding in ENCODINGS {
            check("frame", &data, |d| { let _ = decode_to_server(encoding, d); })?;
            check("action body", &data, |d| { let _ = decode_action_args(encoding, d); })?;
        }
    }

    #[test]
    fn the_manifest_decoder_answers_any_document(data in prop_oneof![any_bytes(), mutated(manifest_seeds())]) {
        check("manifest", &data, |d| {
            if let Ok(manifest) = serde_json::from_slice::<crate::persist::Manifest>(d) {
                for i in 0..manifest.wal.segments.min(64) {
                    let _ = manifest.wal.segment_key(&crate::persist::ActorPrefix::from_base("base"), i);
                }
                let _ = manifest.content_id();
            }
        })?;
    }
}

fn manifest_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"format":2,"generation":3,"seq":9,"snapshot":{"key":"a/snapshots/x.db","size":4096,"sha256":"ab"},"wal":{"id":"c","segments":2,"len":100,"sha256":"cd","writers":[{"first":0,"generation":3,"tag":"t"}]},"files":null,"claim":"k"}"#.to_vec(),
        br#"{"format":1,"generation":1,"seq":1,"snapshot":null}"#.to_vec(),
    ]
}

#[cfg(any(feature = "wasmtime", feature = "js"))]
mod sql {
    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::sandbox::call::CallGuard;

    /// Pieces of SQL a hostile guest would combine.
    const FRAGMENTS: &[&str] = &[
        "CREATE TEMP TRIGGER t AFTER UPDATE ON main._rivet_state BEGIN SELECT 1; END",
        "CREATE TRIGGER t2 AFTER INSERT ON _rivet_schedule BEGIN DELETE FROM _rivet_state; END",
        "UPDATE _rivet_state SET state = x'00'",
        "DELETE FROM _RIVET_STATE",
        "INSERT INTO main._rivet_schedule (at_ms, action, args) VALUES (0, 'x', x'')",
        "UPDATE sqlite_sequence SET seq = 0",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA writable_schema = ON",
        "PRAGMA journal_mode = DELETE",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT s",
        "CREATE VIEW v AS SELECT * FROM _rivet_state",
        "SELECT * FROM v",
        "CREATE TABLE mine (v)",
        "INSERT INTO mine VALUES (1)",
        "WITH x AS (SELECT state FROM _rivet_state) INSERT INTO mine SELECT * FROM x",
        "ALTER TABLE _rivet_state RENAME TO gone",
        "DROP TABLE _rivet_state",
        "CREATE INDEX i ON _rivet_state (state)",
        "SELECT load_extension('x')",
        "VACUUM INTO '/tmp/rivet-fuzz-stolen.db'",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

        /// Whatever a guest runs, the runner's rows are as they were and nothing reached
        /// outside the database.
        #[test]
        fn no_guest_sql_touches_the_runners_tables(picks in proptest::collection::vec(0..FRAGMENTS.len(), 1..6)) {
            let mut db = rusqlite::Connection::open_in_memory().unwrap();
            db.execute_batch(
                "CREATE TABLE _rivet_state (id INTEGER PRIMARY KEY, state BLOB);
                 INSERT INTO _rivet_state VALUES (0, x'cafe');
                 CREATE TABLE _rivet_schedule (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER, action TEXT, args BLOB);
                 INSERT INTO _rivet_schedule (at_ms, action, args) VALUES (5, 'a', x'');",
            ).unwrap();
            let guard = Arc::new(CallGuard::default());
            crate::sandbox::sql_policy::install(&mut db, guard.clone()).unwrap();
            db.execute_batch("BEGIN").unwrap();
            guard.set_guest_sql(true);
            for pick in picks {
                let _ = db.execute_batch(FRAGMENTS[pick]);
            }
            guard.set_guest_sql(false);
            // The runner's own statements (the policy off) see their rows unchanged, and any
            // trigger a guest managed to plant would fire here.
            db.execute_batch("UPDATE _rivet_state SET state = x'beef' WHERE id = 0").unwrap();
            let state: Vec<u8> = db.query_row("SELECT state FROM _rivet_state", [], |r| r.get(0)).unwrap();
            prop_assert_eq!(state, vec![0xbe, 0xef]);
            let schedules: i64 = db.query_row("SELECT count(*) FROM _rivet_schedule", [], |r| r.get(0)).unwrap();
            prop_assert_eq!(schedules, 1);
            let seq: i64 = db.query_row("SELECT seq FROM sqlite_sequence WHERE name = '_rivet_schedule'", [], |r| r.get(0)).unwrap();
            prop_assert_eq!(seq, 1);
            let attached: i64 = db.query_row("SELECT count(*) FROM pragma_database_list", [], |r| r.get(0)).unwrap();
            prop_assert!(attached <= 2, "{attached} databases attached");
            prop_assert!(!std::path::Path::new("/tmp/rivet-fuzz-stolen.db").exists());
        }
    }
}
