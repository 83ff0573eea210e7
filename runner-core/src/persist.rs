//! Actor data in object storage between invocations, fenced by generation.
//!
//! Layout under `{prefix}/{namespace}/{actor_id}/`:
//! - `manifest.json`: the current snapshot, the generation that last claimed the actor, and a
//!   sequence number. It is only ever advanced by compare-and-swap (`If-Match`).
//! - `snapshots/{generation}-{seq}.db`: a complete SQLite database, written create-only.
//!
//! On start a generation **claims** the actor: it reads the manifest, refuses to run if a newer
//! generation has claimed it, and writes a manifest naming itself with `If-Match`. From then on
//! every write it makes is `If-Match` on the manifest it last wrote, so once a newer generation
//! has claimed the actor, an older one (a zombie from an earlier lifespan) fails instead of
//! overwriting. On stop the database is uploaded as a new snapshot and the manifest advanced.
//!
//! This slice ships whole snapshots at stop; incremental WAL segments and the strict durability
//! mode build on the same manifest.

mod manifest;
mod sync;

pub use manifest::{Manifest, SnapshotRef};
pub use sync::{PersistError, Persistence};
