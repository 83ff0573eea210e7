//! The official RivetKit client from npm (`rivetkit@2.3.19`), run under Node against the engine
//! and this runner: a script in `tests/node/` is copied into the cache directory where the
//! package is installed, so its `import "rivetkit/client"` resolves there, and run with the
//! engine's URL.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::engine::npm_install;

/// The RivetKit version the runner is built against.
pub const RIVETKIT_VERSION: &str = "2.3.19";

/// The directory holding `node_modules/rivetkit`, installed on first use.
pub fn rivetkit_dir() -> anyhow::Result<PathBuf> {
    let package = npm_install(
        &format!("rivetkit-{RIVETKIT_VERSION}"),
        &format!("rivetkit@{RIVETKIT_VERSION}"),
        "rivetkit/package.json",
    )?;
    // `{prefix}/node_modules/rivetkit/package.json` → `{prefix}`.
    let prefix = package
        .ancestors()
        .nth(3)
        .context("the npm prefix of rivetkit")?;
    Ok(prefix.to_owned())
}

/// Runs `tests/node/{script}` with `args` under Node, with the npm client importable; returns its
/// standard output, or fails with its output when it exits non-zero.
pub async fn run_script(script: &str, args: &[&str]) -> anyhow::Result<String> {
    let dir = rivetkit_dir()?;
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("node")
        .join(script);
    let target = dir.join(script);
    std::fs::copy(&source, &target).with_context(|| format!("copy {}", source.display()))?;
    let child = tokio::process::Command::new("node")
        .arg(&target)
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("run node")?;
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .context("the node script did not finish within 120 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "node {script} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}
