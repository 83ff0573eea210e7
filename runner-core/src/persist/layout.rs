//! The persisted layout: the one place an actor's object keys are spelled.
//!
//! Under `{prefix}/{namespace}/{actor_id}/`:
//! - `manifest.json`: the snapshot, the WAL chain after it, the files index, and the
//!   generation that last claimed the actor. Only ever advanced by compare-and-swap.
//! - `snapshots/{chain}.db` (or `….db.part{i}` for a snapshot stored in parts): a SQLite
//!   database file, the base of the chain named `{chain}` (`{generation}-{seq}-{tag}`).
//! - `wal/{chain}/{index}-g{generation}[-{tag}]`: WAL bytes, in commit order; concatenated
//!   they are the WAL file that goes with the snapshot.
//! - `files/blobs/{sha256}` and `files/index-{sha256}.json`: the mounted files.

use crate::storage::ActorKey;

/// Where one actor's objects live in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorPrefix {
    base: String,
}

impl ActorPrefix {
    /// The actor `key` under `prefix` (no leading or trailing slash; may be empty).
    pub fn new(prefix: &str, key: &ActorKey) -> Self {
        let actor = format!("{}/{}", key.namespace, key.actor_id);
        let base = if prefix.is_empty() {
            actor
        } else {
            format!("{prefix}/{actor}")
        };
        Self { base }
    }

    /// A prefix that is `base` itself (tests spell short ones).
    #[cfg(test)]
    pub(crate) fn from_base(base: &str) -> Self {
        Self {
            base: base.to_owned(),
        }
    }

    /// Lists every object of the actor.
    pub fn everything(&self) -> String {
        format!("{}/", self.base)
    }

    /// The manifest, the only object ever overwritten.
    pub fn manifest(&self) -> String {
        format!("{}/manifest.json", self.base)
    }

    /// The snapshot that is the base of chain `chain`.
    pub fn snapshot(&self, chain: &str) -> String {
        format!("{}/snapshots/{chain}.db", self.base)
    }

    /// Lists every segment uploaded for chain `chain`, referenced or not.
    pub fn chain(&self, chain: &str) -> String {
        format!("{}/wal/{chain}/", self.base)
    }

    /// WAL segment `index` of chain `chain`, written by `generation` under upload `tag`
    /// (`None` in chains written before tags).
    pub fn segment(&self, chain: &str, index: u32, generation: u32, tag: Option<&str>) -> String {
        let chain = self.chain(chain);
        match tag {
            Some(tag) => format!("{chain}{index:08}-g{generation:010}-{tag}"),
            None => format!("{chain}{index:08}-g{generation:010}"),
        }
    }

    /// A file's content, by its hash.
    pub fn blob(&self, sha256: &str) -> String {
        format!("{}/files/blobs/{sha256}", self.base)
    }

    /// A files index, by its hash.
    pub fn files_index(&self, sha256: &str) -> String {
        format!("{}/files/index-{sha256}.json", self.base)
    }
}

/// The name of a new chain (and of its snapshot): the generation and manifest sequence that
/// start it, and the upload tag, so no two writers ever pick the same one.
pub(crate) fn chain_id(generation: u32, seq: u64, tag: &str) -> String {
    format!("{generation:010}-{seq:012}-{tag}")
}

/// Part `index` of an object stored in parts.
pub(crate) fn part_key(key: &str, index: u32) -> String {
    format!("{key}.part{index:05}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_under_the_actor_and_the_prefix() {
        let key = ActorKey {
            namespace: "ns".into(),
            actor_id: "a1".into(),
        };
        let prefix = ActorPrefix::new("actors", &key);
        assert_eq!(prefix.manifest(), "actors/ns/a1/manifest.json");
        assert_eq!(ActorPrefix::new("", &key).manifest(), "ns/a1/manifest.json");
        let chain = chain_id(2, 7, "t");
        assert_eq!(chain, "0000000002-000000000007-t");
        assert_eq!(
            prefix.snapshot(&chain),
            "actors/ns/a1/snapshots/0000000002-000000000007-t.db"
        );
        assert_eq!(
            prefix.segment("c", 3, 2, Some("t")),
            "actors/ns/a1/wal/c/00000003-g0000000002-t"
        );
        assert!(
            prefix
                .segment("c", 3, 2, None)
                .starts_with(&prefix.chain("c"))
        );
        assert_eq!(prefix.blob("ab"), "actors/ns/a1/files/blobs/ab");
        assert_eq!(prefix.files_index("ab"), "actors/ns/a1/files/index-ab.json");
        for key in [prefix.manifest(), prefix.blob("x"), prefix.snapshot("c")] {
            assert!(key.starts_with(&prefix.everything()), "{key}");
        }
        assert_eq!(part_key("k", 12), "k.part00012");
    }
}
