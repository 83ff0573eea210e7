//! Opening the object store [`StoreSettings`] names, with what this build and target have.

use std::path::Path;
use std::sync::Arc;

use super::{BuildError, StoreSettings};
#[cfg(feature = "s3-http")]
use crate::object_store::HttpClient;
use crate::object_store::{ObjectStore, S3Config};

/// What reaching a store may take besides its settings: the adapter's HTTP client, for the
/// S3 store over HTTP (where the SDK does not run).
#[derive(Clone, Default)]
pub(super) struct Clients {
    #[cfg(feature = "s3-http")]
    pub(super) http: Option<Arc<dyn HttpClient>>,
}

/// The store `settings` names, `None` for [`StoreSettings::None`]. An S3 bucket is reached
/// through the AWS SDK (feature `s3`); a build whose only S3 store is the HTTP one needs the
/// adapter's client, which [`RunnerBuilder::http_client`](super::RunnerBuilder) takes.
pub async fn open_store(
    settings: &StoreSettings,
) -> Result<Option<Arc<dyn ObjectStore>>, BuildError> {
    open(settings, &Clients::default()).await
}

pub(super) async fn open(
    settings: &StoreSettings,
    clients: &Clients,
) -> Result<Option<Arc<dyn ObjectStore>>, BuildError> {
    match settings {
        StoreSettings::None => Ok(None),
        StoreSettings::Local(dir) => local_store(dir).map(Some),
        StoreSettings::S3(s3) => clients.s3_store(s3).await.map(Some),
    }
}

impl Clients {
    /// A given HTTP client is used whenever there is one: the adapter chose how to reach the
    /// bucket. Otherwise the SDK's store, where the build has it.
    async fn s3_store(&self, s3: &S3Config) -> Result<Arc<dyn ObjectStore>, BuildError> {
        #[cfg(feature = "s3-http")]
        if let Some(client) = &self.http {
            let store = crate::object_store::HttpS3Store::new(s3.clone(), client.clone())?;
            return Ok(Arc::new(store));
        }
        sdk_store(s3).await
    }
}

#[cfg(feature = "s3")]
async fn sdk_store(s3: &S3Config) -> Result<Arc<dyn ObjectStore>, BuildError> {
    Ok(Arc::new(
        crate::object_store::S3Store::new(s3.clone()).await,
    ))
}

#[cfg(not(feature = "s3"))]
async fn sdk_store(_s3: &S3Config) -> Result<Arc<dyn ObjectStore>, BuildError> {
    Err(if cfg!(feature = "s3-http") {
        BuildError::NoHttpClient
    } else {
        BuildError::NoS3Store
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn local_store(dir: &Path) -> Result<Arc<dyn ObjectStore>, BuildError> {
    Ok(Arc::new(crate::object_store::LocalStore::new(dir)))
}

/// A Worker has no filesystem, so there is no `LocalStore` on wasm32.
#[cfg(target_arch = "wasm32")]
fn local_store(dir: &Path) -> Result<Arc<dyn ObjectStore>, BuildError> {
    Err(BuildError::NoLocalStore {
        dir: dir.display().to_string(),
    })
}
