//! The local files of one actor directory that persistence reads and writes.

use std::path::{Path, PathBuf};

use crate::disk;

use super::error::{PersistError, io};
use super::manifest::Manifest;

/// Local files of one actor directory.
pub(crate) struct LocalPaths {
    pub(crate) db: PathBuf,
    pub(crate) wal: PathBuf,
    pub(crate) shm: PathBuf,
    pub(crate) files: PathBuf,
    /// Present only while the local copy equals a persisted state: written after a clean stop,
    /// removed before the actor runs again.
    pub(crate) marker: PathBuf,
}

impl LocalPaths {
    pub(crate) fn new(dir: &Path) -> Self {
        let db = dir.join(crate::storage::DB_FILE);
        let with = |suffix: &str| {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        Self {
            wal: with("-wal"),
            shm: with("-shm"),
            marker: dir.join(".persisted"),
            files: dir.join(crate::storage::FILES_DIR),
            db,
        }
    }

    /// The local copy is exactly `manifest`'s content (a warm instance, same actor again).
    pub(crate) fn holds(&self, manifest: &Manifest) -> bool {
        let marker = disk::read(&self.marker).unwrap_or_default();
        let wal_len = disk::len(&self.wal).unwrap_or(0);
        String::from_utf8_lossy(&marker).trim() == manifest.content_id()
            && disk::is_file(&self.db)
            && wal_len == manifest.wal.len
    }

    pub(crate) fn forget_marker(&self) -> Result<(), PersistError> {
        remove_if_present(&self.marker)
    }
}

pub(crate) fn remove_if_present(path: &Path) -> Result<(), PersistError> {
    disk::remove_if_present(path).map_err(io("remove", path))
}
