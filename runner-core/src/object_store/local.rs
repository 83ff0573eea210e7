//! A directory as an object store: the embedded default.
//!
//! Objects are files under the root, written to a temporary file, fsynced, then renamed into
//! place, so a reader never sees a partial object. Every write takes an exclusive lock on
//! `{root}/.runner-lock`, which makes conditional writes atomic across threads and processes.

use std::fs::{self, File};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{
    Object, ObjectMeta, ObjectStore, ObjectStoreError, PutMode, StoreFuture, clamp, content_etag,
    validate_key,
};

const RESERVED_PREFIX: &str = ".runner-";

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<PathBuf>,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: Arc::new(root.into()),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, ObjectStoreError> {
        validate_key(key)?;
        if key.starts_with(RESERVED_PREFIX) {
            return Err(ObjectStoreError::InvalidKey(key.to_owned()));
        }
        Ok(self.root.join(key))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path) -> Result<T, ObjectStoreError> + Send + 'static,
    ) -> Result<T, ObjectStoreError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || work(&root))
            .await
            .map_err(|err| ObjectStoreError::Other(format!("store task failed: {err}")))?
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ObjectStoreError {
    let path = path.display().to_string();
    move |source| ObjectStoreError::Io {
        action,
        path,
        source,
    }
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, ObjectStoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
        Err(err) => Err(io("read object", path)(err)),
    }
}

/// Holds the store-wide write lock while alive.
fn write_lock(root: &Path) -> Result<File, ObjectStoreError> {
    fs::create_dir_all(root).map_err(io("create store root", root))?;
    let path = root.join(format!("{RESERVED_PREFIX}lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open store lock", &path))?;
    file.lock().map_err(io("lock store", &path))?;
    Ok(file)
}

fn write_atomically(root: &Path, target: &Path, bytes: &[u8]) -> Result<(), ObjectStoreError> {
    let tmp_dir = root.join(format!("{RESERVED_PREFIX}tmp"));
    fs::create_dir_all(&tmp_dir).map_err(io("create temp dir", &tmp_dir))?;
    let parent = target.parent().unwrap_or(root);
    fs::create_dir_all(parent).map_err(io("create object dir", parent))?;
    let tmp = tmp_dir.join(unique_name());
    let mut file = File::create(&tmp).map_err(io("create temp object", &tmp))?;
    file.write_all(bytes)
        .map_err(io("write temp object", &tmp))?;
    file.sync_all().map_err(io("sync temp object", &tmp))?;
    fs::rename(&tmp, target).map_err(io("publish object", target))?;
    // Make the rename itself durable.
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl ObjectStore for LocalStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Object>> {
        Box::pin(async move {
            let path = self.path(key)?;
            self.blocking(move |_| {
                Ok(read_if_exists(&path)?.map(|bytes| Object {
                    etag: content_etag(&bytes),
                    bytes: Bytes::from(bytes),
                }))
            })
            .await
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let path = self.path(key)?;
            self.blocking(move |_| {
                use std::io::{Read, Seek, SeekFrom};
                let mut file = match File::open(&path) {
                    Ok(file) => file,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(io("open object", &path)(err)),
                };
                let len = file.metadata().map_err(io("stat object", &path))?.len();
                let range = clamp(range, len);
                let mut buf = vec![0; range.len()];
                file.seek(SeekFrom::Start(range.start as u64))
                    .and_then(|_| file.read_exact(&mut buf))
                    .map_err(io("read object range", &path))?;
                Ok(Some(Bytes::from(buf)))
            })
            .await
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, mode: PutMode) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let path = self.path(key)?;
            let key = key.to_owned();
            self.blocking(move |root| {
                let _lock = write_lock(root)?;
                let current = match &mode {
                    PutMode::Overwrite => None,
                    _ => read_if_exists(&path)?.map(|b| content_etag(&b)),
                };
                let allowed = match (&mode, &current) {
                    (PutMode::Overwrite, _) | (PutMode::IfAbsent, None) => true,
                    (PutMode::IfMatch(expected), Some(etag)) => expected == etag,
                    _ => false,
                };
                if !allowed {
                    return Err(ObjectStoreError::PreconditionFailed { key });
                }
                write_atomically(root, &path, &bytes)?;
                Ok(content_etag(&bytes))
            })
            .await
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        let prefix = prefix.to_owned();
        Box::pin(async move {
            self.blocking(move |root| {
                let mut found = Vec::new();
                walk(root, root, &prefix, &mut found)?;
                found.sort_by(|a, b| a.key.cmp(&b.key));
                Ok(found)
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path(key)?;
            self.blocking(move |root| {
                let _lock = write_lock(root)?;
                match fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(err) => Err(io("delete object", &path)(err)),
                }
            })
            .await
        })
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    found: &mut Vec<ObjectMeta>,
) -> Result<(), ObjectStoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io("list directory", dir)(err)),
    };
    for entry in entries {
        let entry = entry.map_err(io("list directory", dir))?;
        let path = entry.path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let key = relative.to_string_lossy().replace('\\', "/");
        if key.starts_with(RESERVED_PREFIX) {
            continue;
        }
        let kind = entry.file_type().map_err(io("stat entry", &path))?;
        if kind.is_dir() {
            // Only descend where keys under this directory can still match the prefix.
            let dir_key = format!("{key}/");
            if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                walk(root, &path, prefix, found)?;
            }
        } else if key.starts_with(prefix) {
            let size = entry.metadata().map_err(io("stat object", &path))?.len();
            found.push(ObjectMeta { key, size });
        }
    }
    Ok(())
}
