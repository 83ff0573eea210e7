//! An in-memory object store, for tests.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;

use super::{
    Object, ObjectMeta, ObjectStore, ObjectStoreError, PutMode, StoreFuture, clamp, content_etag,
    validate_key,
};

/// Objects in a map; conditional writes are atomic under one lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Object>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Object>> {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ObjectStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Object>> {
        Box::pin(async move {
            validate_key(key)?;
            Ok(self.lock().get(key).cloned())
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            validate_key(key)?;
            Ok(self.lock().get(key).map(|object| {
                let range = clamp(range, object.bytes.len() as u64);
                object.bytes.slice(range)
            }))
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, mode: PutMode) -> StoreFuture<'a, String> {
        Box::pin(async move {
            validate_key(key)?;
            let mut objects = self.lock();
            let current = objects.get(key).map(|o| o.etag.as_str());
            let allowed = match (&mode, current) {
                (PutMode::Overwrite, _) | (PutMode::IfAbsent, None) => true,
                (PutMode::IfMatch(expected), Some(etag)) => expected == etag,
                _ => false,
            };
            if !allowed {
                return Err(ObjectStoreError::PreconditionFailed {
                    key: key.to_owned(),
                });
            }
            let etag = content_etag(&bytes);
            objects.insert(
                key.to_owned(),
                Object {
                    bytes,
                    etag: etag.clone(),
                },
            );
            Ok(etag)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .range(prefix.to_owned()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .map(|(key, object)| ObjectMeta {
                    key: key.clone(),
                    size: object.bytes.len() as u64,
                })
                .collect())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            self.lock().remove(key);
            Ok(())
        })
    }
}
