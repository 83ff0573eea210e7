//! `rivet-runner deploy PATH …`: the tenant deployment flow, without redeploying the runner.
//!
//! 1. checks the code loads: a `.wasm` component, or a TypeScript or JavaScript module
//!    (`.ts`, `.mts`, `.js`, `.mjs`) bundled with the relative modules it imports
//!    ([`crate::bundle`]); a module publishes every actor it defines (a `setup({ use })`
//!    registry's, or its `actor()` exports), under their names. A directory deploys its
//!    `index`/`registry` module if it has one, else each file in it, named after the file;
//! 2. creates the namespace on the engine, if it does not exist (`--engine`);
//! 3. publishes the code to the object store the runner reads (the same `RUNNER_OBJECT_STORE`
//!    / `RUNNER_S3_*` / `RUNNER_BUNDLE_PREFIX` variables), where new actor generations pick it up,
//!    signed with the namespace's publish token (`RUNNER_PUBLISH_TOKEN`, or derived from the
//!    operator's `RUNNER_PUBLISH_KEY`), which runners holding the key check;
//! 4. upserts the runner config pointing at the runner (`--url`, as `runner-config put`);
//! 5. prints how a client connects.
//!
//! Every step is idempotent: deploying the same code again changes nothing.
//!
//! `rivet-runner publish-token --namespace NS` prints the token an operator hands to the
//! namespace's publisher, so tenants never hold the master key.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use runner_core::bundle::{BundleKind, BundleStore, PublishKey, PublishToken};
use runner_core::object_store::ObjectStore;

use crate::ContainerConfig;
use crate::admin::{PutArgs, parse_put};

/// Parsed `deploy` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployArgs {
    /// The actors to publish: (name, file).
    pub actors: Vec<(String, PathBuf)>,
    /// The namespace they run in.
    pub namespace: String,
    /// Engine API base URL, to create the namespace (and the runner config).
    pub engine: Option<String>,
    /// The runner config to upsert, if `--url` was given.
    pub runner_config: Option<PutArgs>,
}

/// Parses `deploy PATH [--actor NAME] [--namespace NS] [--engine URL] [--url URL …]`. Runner
/// config options are those of `runner-config put`, with `--pool` for its name.
pub fn parse_deploy(args: &[String], secret: Option<String>) -> anyhow::Result<DeployArgs> {
    let Some((path, rest)) = args.split_first() else {
        bail!("deploy needs a file (.wasm, .js) or a directory of them");
    };
    let mut actor = None;
    let mut namespace = "default".to_owned();
    let mut engine = None;
    let mut put_args = Vec::new();
    let mut iter = rest.iter();
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--actor" => actor = Some(value),
            "--namespace" => namespace = value,
            "--engine" => engine = Some(value.trim_end_matches('/').to_owned()),
            "--pool" => put_args.extend(["--name".to_owned(), value]),
            other => put_args.extend([other.to_owned(), value]),
        }
    }
    let actors = actor_files(Path::new(path), actor)?;
    let runner_config = if put_args.is_empty() {
        None
    } else {
        let engine = engine
            .clone()
            .context("--engine is needed to register the runner config")?;
        put_args.extend(["--engine".to_owned(), engine]);
        put_args.extend(["--namespace".to_owned(), namespace.clone()]);
        Some(parse_put(&put_args, secret)?)
    };
    Ok(DeployArgs {
        actors,
        namespace,
        engine,
        runner_config,
    })
}

/// Source files `deploy` bundles into a JavaScript actor.
const SCRIPT_EXTENSIONS: [&str; 4] = ["ts", "mts", "js", "mjs"];
/// The module a directory's actors come from, when it has one.
const DIRECTORY_ENTRIES: [&str; 4] = ["index.ts", "index.js", "registry.ts", "registry.js"];

/// Whether `path` is a script `deploy` bundles (else a `.wasm` component).
fn is_script(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SCRIPT_EXTENSIONS.contains(&e))
}

/// The actor files under `path`, each named after its file (or `name`, for a single file); a
/// module's name is the one its default export gets.
fn actor_files(path: &Path, name: Option<String>) -> anyhow::Result<Vec<(String, PathBuf)>> {
    // `deploy .` names the actors after the directory itself.
    let path = &std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))?;
    let stem = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_owned)
            .with_context(|| format!("{} has no usable file name", p.display()))
    };
    let is_code = |p: &Path| {
        is_script(p) || BundleKind::from_file_name(&p.to_string_lossy()) == Some(BundleKind::Wasm)
    };
    if path.is_dir() {
        if let Some(entry) = DIRECTORY_ENTRIES
            .iter()
            .map(|e| path.join(e))
            .find(|e| e.is_file())
        {
            let name = name.map_or_else(|| stem(path), Ok)?;
            return Ok(vec![(name, entry)]);
        }
        if name.is_some() {
            bail!("--actor names one file; a directory deploys each file under its own name");
        }
        let mut actors = Vec::new();
        let entries =
            std::fs::read_dir(path).with_context(|| format!("read {}", path.display()))?;
        for entry in entries {
            let file = entry?.path();
            if file.is_file() && is_code(&file) {
                actors.push((stem(&file)?, file));
            }
        }
        actors.sort();
        if actors.is_empty() {
            bail!("{} holds no .wasm, .ts or .js file", path.display());
        }
        return Ok(actors);
    }
    if !is_code(path) {
        bail!(
            "{} is not actor code: expected a .wasm component or a .ts/.js module",
            path.display()
        );
    }
    Ok(vec![(
        name.map_or_else(|| stem(path), Ok)?,
        path.to_owned(),
    )])
}

/// The token that signs what `deploy` publishes in `namespace`: `given` (a tenant's
/// `RUNNER_PUBLISH_TOKEN`), else derived from the operator's `RUNNER_PUBLISH_KEY`; `None` when
/// neither is set. Both set but not matching is an error, rather than code the runner refuses.
pub fn publish_token(
    namespace: &str,
    given: Option<&str>,
    config: &ContainerConfig,
) -> anyhow::Result<Option<PublishToken>> {
    let derived = config
        .settings
        .sandbox
        .publish_key
        .as_ref()
        .map(|master| PublishKey::new(master.0.as_bytes()).token_for(namespace));
    let Some(given) = given.filter(|t| !t.trim().is_empty()) else {
        return Ok(derived);
    };
    let token = PublishToken::from_hex(given).context("RUNNER_PUBLISH_TOKEN")?;
    if derived.as_ref().is_some_and(|derived| *derived != token) {
        bail!(
            "RUNNER_PUBLISH_TOKEN is not namespace `{namespace}`'s token under RUNNER_PUBLISH_KEY"
        );
    }
    Ok(Some(token))
}

/// `publish-token --namespace NS`: the hex token for `NS` under the operator's `master` key
/// (`RUNNER_PUBLISH_KEY`), to hand to that namespace's publisher.
pub fn publish_token_command(args: &[String], master: Option<&str>) -> anyhow::Result<String> {
    let namespace = match args {
        [flag, namespace] if flag == "--namespace" && !namespace.is_empty() => namespace,
        _ => bail!("usage: rivet-runner publish-token --namespace NS"),
    };
    let master = master
        .filter(|m| !m.trim().is_empty())
        .context("publish-token derives the token from RUNNER_PUBLISH_KEY, which is not set")?;
    Ok(PublishKey::new(master.as_bytes())
        .token_for(namespace)
        .to_hex())
}

/// Runs the deployment, printing each step on stderr and the client details on stdout.
/// Pointers are signed with `publish` (the namespace's token, see [`publish_token`]).
pub async fn deploy(
    args: &DeployArgs,
    config: &ContainerConfig,
    token: Option<&str>,
    publish: Option<&PublishToken>,
) -> anyhow::Result<String> {
    let mut checker = Checker::new(config);
    let mut loaded = Vec::new();
    for (name, path) in &args.actors {
        let actors = checker
            .load(name, path)
            .await
            .with_context(|| format!("{} does not load", path.display()))?;
        loaded.extend(actors);
    }
    // Every name is checked before anything is published: no deployment stops half-way.
    let mut names: Vec<String> = Vec::new();
    for (name, _, _) in &loaded {
        runner_core::bundle::check_name(name).with_context(|| format!("actor `{name}`"))?;
        if names.contains(name) {
            bail!("two actors are named `{name}`; each name is published once");
        }
        names.push(name.clone());
    }
    if let Some(engine) = &args.engine {
        ensure_namespace(engine, &args.namespace, token).await?;
    }
    let bundles = BundleStore::new(
        open_store(config).await?,
        &config.settings.sandbox.bundle_prefix,
    );
    if publish.is_none() {
        eprintln!(
            "warning: no RUNNER_PUBLISH_TOKEN or RUNNER_PUBLISH_KEY: the code is published unsigned, and runners with RUNNER_PUBLISH_KEY refuse it"
        );
    }
    for (name, kind, code) in loaded {
        let version = bundles
            .publish(&args.namespace, &name, kind, code, publish)
            .await
            .with_context(|| format!("publish `{name}`"))?;
        eprintln!(
            "published `{name}` ({kind}, {} bytes, sha256 {}) in namespace `{}`",
            version.size, version.sha256, args.namespace
        );
    }
    if let Some(put) = &args.runner_config {
        crate::admin::put(put, token).await?;
        eprintln!(
            "runner config `{}` in namespace `{}` points at {}",
            put.name, put.namespace, put.config.url
        );
    }
    Ok(client_details(args, &names))
}

/// Loads code as the runner will, so a broken bundle is refused before it is published. The
/// runtimes are made on first use and shared by every file of one deployment.
struct Checker {
    limits: runner_core::sandbox::SandboxLimits,
    #[cfg(feature = "wasm")]
    wasm: Option<runner_core::sandbox::wasm::WasmRuntime>,
    #[cfg(feature = "js")]
    js: Option<runner_core::sandbox::js::JsRuntime>,
}

impl Checker {
    fn new(config: &ContainerConfig) -> Self {
        Self {
            limits: runner_core::sandbox::SandboxLimits {
                memory_bytes: config.settings.sandbox.memory_bytes,
                call_time: config.settings.sandbox.call_time,
            },
            #[cfg(feature = "wasm")]
            wasm: None,
            #[cfg(feature = "js")]
            js: None,
        }
    }

    /// The actors the file at `path` publishes: (name, kind, code), each checked to load.
    async fn load(
        &mut self,
        name: &str,
        path: &Path,
    ) -> anyhow::Result<Vec<(String, BundleKind, Bytes)>> {
        if !is_script(path) {
            let code = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            self.check(name, BundleKind::Wasm, &code).await?;
            return Ok(vec![(name.to_owned(), BundleKind::Wasm, Bytes::from(code))]);
        }
        self.load_script(name, path)
    }

    #[cfg(feature = "js")]
    fn load_script(
        &mut self,
        name: &str,
        path: &Path,
    ) -> anyhow::Result<Vec<(String, BundleKind, Bytes)>> {
        let bundle = crate::bundle::bundle(path)?;
        if bundle.files.len() > 1 {
            eprintln!(
                "bundled {} with {} modules it imports",
                path.display(),
                bundle.files.len() - 1
            );
        }
        let runtime = self.js_runtime()?;
        let names = runtime.actor_names(name, &bundle.source)?;
        if names.is_empty() {
            bail!(
                "it defines no actor: export default actor({{...}}), export actor() definitions, \
                 or export setup({{ use: {{ name: actor({{...}}) }} }})"
            );
        }
        let code = Bytes::from(bundle.source);
        let mut actors = Vec::new();
        for actor in names {
            let source = std::str::from_utf8(&code).context("the bundle is UTF-8")?;
            runtime.compile(&actor, source)?;
            actors.push((actor, BundleKind::Js, code.clone()));
        }
        Ok(actors)
    }

    #[cfg(not(feature = "js"))]
    fn load_script(
        &mut self,
        name: &str,
        _path: &Path,
    ) -> anyhow::Result<Vec<(String, BundleKind, Bytes)>> {
        bail!("`{name}`: this build cannot run JavaScript actors")
    }

    #[cfg(feature = "js")]
    fn js_runtime(&mut self) -> anyhow::Result<&runner_core::sandbox::js::JsRuntime> {
        if self.js.is_none() {
            self.js = Some(runner_core::sandbox::js::JsRuntime::new(self.limits)?);
        }
        self.js.as_ref().context("the JavaScript runtime")
    }

    async fn check(&mut self, name: &str, kind: BundleKind, code: &[u8]) -> anyhow::Result<()> {
        match kind {
            #[cfg(feature = "wasm")]
            BundleKind::Wasm => {
                let runtime = match &self.wasm {
                    Some(runtime) => runtime.clone(),
                    None => {
                        let runtime = runner_core::sandbox::wasm::WasmRuntime::new(self.limits, 4)?;
                        self.wasm.insert(runtime).clone()
                    }
                };
                let code = code.to_vec();
                tokio::task::spawn_blocking(move || {
                    runtime.compile(&code)?.check_instantiates()?;
                    anyhow::Ok(())
                })
                .await??;
            }
            #[allow(unreachable_patterns, reason = "one arm per runtime compiled in")]
            other => bail!("`{name}`: this build cannot run `{other}` actors"),
        }
        Ok(())
    }
}

/// The store the runner reads, opened as the runner opens it.
async fn open_store(config: &ContainerConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    runner_core::assembly::open_store(&config.settings.store)
        .await?
        .context("deploy publishes to the object store: set RUNNER_OBJECT_STORE=local or s3")
}

/// Creates `namespace` unless it exists.
async fn ensure_namespace(
    engine: &str,
    namespace: &str,
    token: Option<&str>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let authed = |request: reqwest::RequestBuilder| match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let unreachable =
        |e: reqwest::Error| anyhow::anyhow!("could not reach the engine at {engine}: {e}");
    let listed = authed(
        client
            .get(format!("{engine}/namespaces"))
            .query(&[("name", namespace)]),
    )
    .send()
    .await
    .map_err(unreachable)?;
    if listed.status().is_success() {
        let body: serde_json::Value = listed.json().await.unwrap_or_default();
        let exists = body["namespaces"]
            .as_array()
            .is_some_and(|list| list.iter().any(|ns| ns["name"] == namespace));
        if exists {
            eprintln!("namespace `{namespace}` exists");
            return Ok(());
        }
    }
    let created = authed(client.post(format!("{engine}/namespaces")))
        .json(&serde_json::json!({ "name": namespace, "display_name": namespace }))
        .send()
        .await
        .map_err(unreachable)?;
    if !created.status().is_success() {
        bail!(
            "the engine refused to create namespace `{namespace}`: {} {}",
            created.status(),
            created.text().await.unwrap_or_default()
        );
    }
    eprintln!("created namespace `{namespace}`");
    Ok(())
}

/// How a client reaches the deployed actors, for the person who ran the command.
fn client_details(args: &DeployArgs, names: &[String]) -> String {
    let endpoint = args.engine.as_deref().unwrap_or("http://127.0.0.1:6420");
    let pool = args
        .runner_config
        .as_ref()
        .map_or("default", |put| put.name.as_str());
    let ns = &args.namespace;
    let mut out = format!("endpoint:  {endpoint}\nnamespace: {ns}\npool:      {pool}\n");
    for name in names {
        out.push_str(&format!(
            "\n# call `{name}` (actor key `demo`, created on first use) through the gateway:\n\
             curl -X POST '{endpoint}/gateway/{name}/action/ACTION?rvt-namespace={ns}&rvt-method=getOrCreate&rvt-key=demo&rvt-runner={pool}' \\\n  \
             -H 'content-type: application/json' -d '{{\"args\": []}}'\n"
        ));
    }
    out.push_str(&format!(
        "\n# or from TypeScript: createClient({{ endpoint: \"{endpoint}\", namespace: \"{ns}\" }})\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn deploy_arguments_name_files_and_pass_runner_config_options_through() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("counter.js"), "export default {}").unwrap();
        std::fs::write(dir.path().join("agent.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.path().join("README.md"), "not code").unwrap();
        let path = dir.path().to_string_lossy().into_owned();

        let parsed = parse_deploy(&args(&[&path, "--namespace", "tenant-a"]), None).unwrap();
        let names: Vec<&str> = parsed.actors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["agent", "counter"]);
        assert_eq!(parsed.namespace, "tenant-a");
        assert!(parsed.runner_config.is_none());

        let file = format!("{path}/counter.js");
        let parsed = parse_deploy(
            &args(&[
                &file,
                "--actor",
                "clicks",
                "--engine",
                "http://e/",
                "--url",
                "http://r/api/rivet",
                "--request-lifespan",
                "300",
                "--drain-grace-period",
                "30",
                "--pool",
                "sandbox",
            ]),
            Some("s".repeat(32)),
        )
        .unwrap();
        assert_eq!(parsed.actors[0].0, "clicks");
        let put = parsed.runner_config.unwrap();
        assert_eq!(
            (put.engine.as_str(), put.name.as_str()),
            ("http://e", "sandbox")
        );
        assert_eq!(put.namespace, "default");

        let err = parse_deploy(&args(&[&format!("{path}/README.md")]), None).unwrap_err();
        assert!(err.to_string().contains("not actor code"), "{err}");
        let err = parse_deploy(&args(&[&file, "--url", "http://r"]), None).unwrap_err();
        assert!(err.to_string().contains("--engine"), "{err}");
        let err = parse_deploy(&args(&[&path, "--actor", "x"]), None).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }

    fn config(vars: &[(&str, &str)]) -> ContainerConfig {
        ContainerConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn the_publish_token_is_given_or_derived_from_the_master_key() {
        let operator = config(&[("RUNNER_PUBLISH_KEY", "master")]);
        let minted = publish_token_command(&args(&["--namespace", "a"]), Some("master")).unwrap();
        let derived = publish_token("a", None, &operator).unwrap().unwrap();
        assert_eq!(derived.to_hex(), minted);
        assert_eq!(derived, PublishKey::new(b"master").token_for("a"));

        // A tenant holds only its token.
        let tenant = config(&[]);
        assert!(publish_token("a", None, &tenant).unwrap().is_none());
        let given = publish_token("a", Some(minted.as_str()), &tenant)
            .unwrap()
            .unwrap();
        assert_eq!(given, derived);
        assert!(publish_token("a", Some("not hex"), &tenant).is_err());
        // Namespace A's token with the master key at hand, deploying to B: caught here.
        let err = publish_token("b", Some(minted.as_str()), &operator).unwrap_err();
        assert!(err.to_string().contains("namespace `b`"), "{err}");

        let err = publish_token_command(&args(&["--namespace", "a"]), None).unwrap_err();
        assert!(err.to_string().contains("RUNNER_PUBLISH_KEY"), "{err}");
        assert!(publish_token_command(&args(&[]), Some("master")).is_err());
    }
}
