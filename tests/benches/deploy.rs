//! `rivet-runner deploy`'s work on a TypeScript actor, without the network: bundling (types
//! stripped, relative imports bundled) and the load check, for a generated 1 000-line actor
//! split over three modules, next to the same work on the JavaScript the bundler emits.
//!
//! `cargo bench -p runner-tests --bench deploy`

#![allow(clippy::print_stdout, reason = "a benchmark reports to the terminal")]

use std::time::{Duration, Instant};

use runner_container::bundle::bundle;
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::JsRuntime;

const ROUNDS: usize = 50;

/// Helpers of `lines` lines in TypeScript: interfaces, aliases, typed functions.
fn helpers(prefix: &str, lines: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "export interface {prefix}Item{n} {{ id: number; name: string; tags: string[] }}\n\
             type {prefix}Pair{n} = [{prefix}Item{n}, number];\n\
             export function {prefix}score{n}(item: {prefix}Item{n}, weight: number = {n}): number {{\n\
             \x20 const pair: {prefix}Pair{n} = [item, weight];\n\
             \x20 return pair[1] * item.tags.length + (item.name as string).length;\n\
             }}\n"
        ));
        n += 1;
    }
    out
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn measure(what: &str, mut f: impl FnMut()) {
    f();
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    println!(
        "{what}: p50 {:?}, p99 {:?} ({ROUNDS} rounds)",
        percentile(&mut samples, 50),
        percentile(&mut samples, 99)
    );
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("a.ts"), helpers("A", 450))?;
    std::fs::write(dir.path().join("b.ts"), helpers("B", 450))?;
    let mut entry = String::from(
        "import { actor, setup } from \"rivetkit\";\nimport { Ascore0 } from \"./a\";\nimport * as b from \"./b\";\n",
    );
    entry.push_str(
        "export const big = actor({\n  state: { total: 0 } as { total: number },\n  actions: {\n",
    );
    for i in 0..90 {
        entry.push_str(&format!(
            "    add{i}: (c, name: string): number => {{ c.state.total += Ascore0({{ id: {i}, name, tags: [] }}) + b.Bscore{i}({{ id: {i}, name, tags: [] }}); return c.state.total; }},\n"
        ));
    }
    entry.push_str("  },\n});\nexport const registry = setup({ use: { big } });\n");
    let path = dir.path().join("registry.ts");
    std::fs::write(&path, &entry)?;
    let lines: usize = ["a.ts", "b.ts", "registry.ts"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).map(|s| s.lines().count()))
        .sum::<std::io::Result<_>>()?;
    println!("input: {lines} lines of TypeScript in 3 modules");

    let bundled = bundle(&path)?;
    println!("bundle: {} bytes of JavaScript", bundled.source.len());
    measure("bundle (strip types + bundle)", || {
        std::hint::black_box(bundle(&path).expect("bundles"));
    });
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    measure("load check (compile + evaluate in QuickJS)", || {
        runtime.compile("big", &bundled.source).expect("loads");
    });
    Ok(())
}
