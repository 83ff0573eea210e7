//! Reading and deleting the objects a manifest names, for restore and the shipper alike.

use std::sync::Arc;

use bytes::Bytes;

use crate::object_store::{ObjectStore, content_etag};

use super::error::PersistError;
use super::manifest::ObjectRef;
use super::retry::retry;

/// The object at `key`, which a manifest names: its absence is corruption.
pub(crate) async fn fetch(store: &Arc<dyn ObjectStore>, key: &str) -> Result<Bytes, PersistError> {
    retry("get", || store.get(key))
        .await?
        .map(|object| object.bytes)
        .ok_or_else(|| PersistError::Corrupt {
            key: key.to_owned(),
            reason: "the manifest names an object that does not exist".into(),
        })
}

/// Downloads an object and checks its size and hash.
pub(crate) async fn fetch_verified(
    store: &Arc<dyn ObjectStore>,
    object: &ObjectRef,
) -> Result<Bytes, PersistError> {
    let bytes = fetch(store, &object.key).await?;
    let sha256 = content_etag(&bytes);
    if sha256 != object.sha256 || bytes.len() as u64 != object.size {
        return Err(PersistError::Corrupt {
            key: object.key.clone(),
            reason: format!(
                "expected {} bytes with sha256 {}, got {} bytes with {sha256}",
                object.size,
                object.sha256,
                bytes.len()
            ),
        });
    }
    Ok(bytes)
}

/// Deletes a superseded object; a failure only leaves garbage behind, never a wrong state.
pub(crate) async fn delete_quietly(store: &Arc<dyn ObjectStore>, key: &str) {
    if let Err(err) = store.delete(key).await {
        tracing::warn!(%key, error = %err, "could not delete a superseded object");
    }
}
