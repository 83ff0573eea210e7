//! The manifest cell: the one object of an actor that is ever overwritten, and the only code
//! that writes it. Every write is a compare-and-swap on the ETag this writer last saw, and
//! every failed swap is classified here, once: a write of this claim's own whose reply was
//! lost, or a newer generation (fenced).

use std::sync::Arc;

use crate::object_store::{ObjectStore, ObjectStoreError, PutMode};

use super::error::PersistError;
use super::layout::ActorPrefix;
use super::manifest::{self, Manifest};
use super::retry::retry;

/// Claims of one start that may lose to an older generation's write before giving up.
const CLAIM_ATTEMPTS: u32 = 4;

/// One actor's manifest in the store, as one writer sees it.
pub(crate) struct ManifestCell {
    store: Arc<dyn ObjectStore>,
    key: String,
    actor_id: String,
    /// The ETag of the manifest this writer last claimed or wrote.
    etag: Option<String>,
}

/// How advancing the manifest ended, when it did not fail.
#[derive(Debug)]
pub(crate) enum Advance {
    /// The manifest asked for is stored.
    Written,
    /// A later manifest of this claim's own is stored (a write whose reply was lost), with
    /// this ETag: the writer continues from it once it has taken it over ([`ManifestCell::adopt`]).
    /// Until then the cell keeps swapping against the manifest it had, so a writer that fails to
    /// take it over cannot overwrite it.
    Behind(Box<Manifest>, String),
}

impl ManifestCell {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, prefix: &ActorPrefix, actor_id: &str) -> Self {
        Self {
            store,
            key: prefix.manifest(),
            actor_id: actor_id.to_owned(),
            etag: None,
        }
    }

    /// The manifest's key.
    #[cfg(test)]
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The stored manifest and its ETag, or an empty manifest if there is none.
    pub(crate) async fn read(&self) -> Result<(Manifest, Option<String>), PersistError> {
        let Some(object) = retry("get manifest", || self.store.get(&self.key)).await? else {
            return Ok((Manifest::empty(), None));
        };
        let manifest: Manifest =
            serde_json::from_slice(&object.bytes).map_err(|err| PersistError::Corrupt {
                key: self.key.clone(),
                reason: err.to_string(),
            })?;
        if manifest.format > manifest::FORMAT {
            return Err(PersistError::Corrupt {
                key: self.key.clone(),
                reason: format!(
                    "manifest format {} is newer than the supported {}",
                    manifest.format,
                    manifest::FORMAT
                ),
            });
        }
        Ok((manifest, Some(object.etag)))
    }

    /// Writes a manifest naming `generation` and a new claim id over the stored one, refusing
    /// if a newer generation holds the actor. An older generation (a zombie finishing a write)
    /// that moves the manifest between the read and the claim keeps its write, and the claim
    /// goes on top, up to [`CLAIM_ATTEMPTS`] times.
    pub(crate) async fn claim(&mut self, generation: u32) -> Result<Manifest, PersistError> {
        for attempt in 1..=CLAIM_ATTEMPTS {
            let (stored, etag) = self.read().await?;
            if stored.generation > generation {
                return Err(self.fenced(generation, stored.generation));
            }
            let claimed = Manifest {
                generation,
                seq: stored.seq + 1,
                claim: manifest::random_tag(),
                ..stored
            };
            let body = claimed.encode(&self.key)?;
            let mode = etag.map_or(PutMode::IfAbsent, PutMode::IfMatch);
            match self.store.put(&self.key, body, mode).await {
                Ok(etag) => {
                    self.etag = Some(etag);
                    return Ok(claimed);
                }
                Err(ObjectStoreError::PreconditionFailed { .. }) => {
                    let theirs = self.read().await.map_or(0, |(m, _)| m.generation);
                    if theirs > generation || attempt == CLAIM_ATTEMPTS {
                        return Err(self.fenced(generation, theirs));
                    }
                    tracing::info!(
                        actor_id = %self.actor_id,
                        generation,
                        theirs,
                        "an older generation wrote during the claim; claiming again"
                    );
                }
                Err(err) => return Err(err.into()),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Makes the manifest of a [`Advance::Behind`] (stored under `etag`) the one the next
    /// swap is against, once the writer has taken over its content.
    pub(crate) fn adopt(&mut self, etag: String) {
        self.etag = Some(etag);
    }

    /// Advances the stored manifest to `next` by compare-and-swap on the one this writer last
    /// claimed, wrote or adopted.
    pub(crate) async fn advance(&mut self, next: &Manifest) -> Result<Advance, PersistError> {
        let body = next.encode(&self.key)?;
        let mode = match &self.etag {
            Some(etag) => PutMode::IfMatch(etag.clone()),
            None => PutMode::IfAbsent,
        };
        let put = retry("put manifest", || {
            self.store.put(&self.key, body.clone(), mode.clone())
        })
        .await;
        match put {
            Ok(etag) => {
                self.etag = Some(etag);
                Ok(Advance::Written)
            }
            Err(ObjectStoreError::PreconditionFailed { .. }) => self.after_conflict(next).await,
            Err(err) => Err(err.into()),
        }
    }

    /// The stored manifest is not the one this writer last wrote. Its own writes may have
    /// landed with their replies lost: the one just retried (then it is `next`), or an earlier
    /// one (then it carries this claim). Anything else is a newer generation's.
    async fn after_conflict(&mut self, next: &Manifest) -> Result<Advance, PersistError> {
        let current = retry("get manifest", || self.store.get(&self.key)).await?;
        let Some(object) = current else {
            return Err(self.fenced(next.generation, 0));
        };
        let stored = serde_json::from_slice::<Manifest>(&object.bytes).ok();
        match stored {
            Some(stored) if &stored == next => {
                self.etag = Some(object.etag);
                Ok(Advance::Written)
            }
            Some(stored) if !stored.claim.is_empty() && stored.claim == next.claim => {
                Ok(Advance::Behind(Box::new(stored), object.etag))
            }
            // A conflicting request that did not change it (S3's 409): go again.
            Some(stored) if self.etag.as_deref() == Some(object.etag.as_str()) => {
                Ok(Advance::Behind(Box::new(stored), object.etag))
            }
            other => Err(self.fenced(next.generation, other.map_or(0, |m| m.generation))),
        }
    }

    fn fenced(&self, ours: u32, theirs: u32) -> PersistError {
        PersistError::Fenced {
            actor_id: self.actor_id.clone(),
            ours,
            theirs,
        }
    }
}

#[cfg(test)]
mod tests;
