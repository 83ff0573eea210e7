//! Assembly: from the `RUNNER_*` settings to a running [`Runner`](crate::Runner).
//!
//! Every adapter needs the same steps: parse the platform-neutral settings, open the object store
//! they name, build the sandboxes (wasm runtime and component cache, JavaScript runtime, the
//! outbound policy, the published-code catalog and its publish key) and hand the result to the
//! core. They live here so an adapter only translates its platform (where the settings are kept,
//! its defaults, its HTTP client) and chooses the actors it hosts:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use runner_core::assembly::{Defaults, Settings};
//! use runner_core::{Runner, actor::Registry};
//! # struct Counter;
//! # impl runner_core::actor::Actor for Counter {
//! #     const NAME: &'static str = "counter"; type State = i64; type Input = ();
//! #     fn create_state(_: Option<()>) -> i64 { 0 }
//! #     fn actions(_: &mut runner_core::actor::Actions<Self>) {}
//! # }
//! let settings = Settings::from_lookup(|name| std::env::var(name).ok(), Defaults::default())?;
//! let runner = Runner::builder(settings)
//!     .registry(Registry::new().with_actor::<Counter>())
//!     .build()
//!     .await?;
//! // adapter: runner.handle(request, deadline).await
//! # Ok(()) }
//! ```
//!
//! The core never reads the environment: the adapter passes the lookup.

mod builder;
mod error;
mod sandbox;
mod sandbox_settings;
mod settings;
mod store;

pub use builder::RunnerBuilder;
pub use error::BuildError;
pub use sandbox_settings::{
    BundleNamespaces, CacheSecret, OutboundGrant, PublishSecret, SandboxSettings,
};
pub use settings::{Defaults, Settings, StoreKind, StoreSettings};
pub use store::open_store;
