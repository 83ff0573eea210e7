//! QuickJS (rquickjs) against Boa, on what a sandboxed actor needs from its engine: a fresh,
//! isolated instance per actor (instantiate time, memory per idle instance), the cost of one
//! action call, and whether the engine can enforce a heap limit and a time limit.
#![allow(clippy::print_stdout, reason = "a benchmark reports to the terminal")]

use std::time::{Duration, Instant};

/// A counter actor in the shape the runner's prelude gives it, as a plain script.
const ACTOR: &str = r#"
var definition = {
  state: { count: 0 },
  actions: {
    increment(c, amount) { c.state.count += amount; return c.state.count; },
  },
};
var c = { state: JSON.parse(JSON.stringify(definition.state)) };
function increment(amount) { return definition.actions.increment(c, amount); }
"#;

const INSTANCES: usize = 300;
const CALLS: usize = 20_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index].as_secs_f64() * 1e6
}

struct Report {
    instantiate_p50: f64,
    instantiate_p99: f64,
    rss_per_instance: f64,
    call_p50: f64,
}

fn quickjs() -> Report {
    use rquickjs::{Context, Function, Runtime};
    let new_instance = || {
        let runtime = Runtime::new().expect("runtime");
        runtime.set_memory_limit(64 << 20);
        let context = Context::full(&runtime).expect("context");
        context.with(|ctx| ctx.eval::<(), _>(ACTOR)).expect("eval");
        (runtime, context)
    };
    let before = rss_bytes();
    let mut times = Vec::new();
    let mut keep = Vec::new();
    for _ in 0..INSTANCES {
        let started = Instant::now();
        keep.push(new_instance());
        times.push(started.elapsed());
    }
    let rss_per_instance = rss_bytes().saturating_sub(before) as f64 / INSTANCES as f64;
    let (_, context) = &keep[0];
    let mut calls = Vec::new();
    context.with(|ctx| {
        let increment: Function = ctx.globals().get("increment").expect("increment");
        for _ in 0..CALLS {
            let started = Instant::now();
            let _: i64 = increment.call((1,)).expect("call");
            calls.push(started.elapsed());
        }
    });
    Report {
        instantiate_p50: percentile(&mut times, 0.5),
        instantiate_p99: percentile(&mut times, 0.99),
        rss_per_instance,
        call_p50: percentile(&mut calls, 0.5),
    }
}

fn boa() -> Report {
    use boa_engine::{Context, JsValue, Source, js_string};
    let new_instance = || {
        let mut context = Context::default();
        context.eval(Source::from_bytes(ACTOR)).expect("eval");
        context
    };
    let before = rss_bytes();
    let mut times = Vec::new();
    let mut keep = Vec::new();
    for _ in 0..INSTANCES {
        let started = Instant::now();
        keep.push(new_instance());
        times.push(started.elapsed());
    }
    let rss_per_instance = rss_bytes().saturating_sub(before) as f64 / INSTANCES as f64;
    let context = &mut keep[0];
    let increment = context
        .global_object()
        .get(js_string!("increment"), context)
        .expect("increment");
    let increment = increment.as_callable().expect("a function").clone();
    let mut calls = Vec::new();
    for _ in 0..CALLS {
        let started = Instant::now();
        increment
            .call(&JsValue::undefined(), &[JsValue::from(1)], context)
            .expect("call");
        calls.push(started.elapsed());
    }
    Report {
        instantiate_p50: percentile(&mut times, 0.5),
        instantiate_p99: percentile(&mut times, 0.99),
        rss_per_instance,
        call_p50: percentile(&mut calls, 0.5),
    }
}

/// Each engine is measured in a process of its own, so memory freed by one is not reused by
/// the other (that would hide its cost). `js-engine-choice quickjs|boa` measures one and prints
/// a line of numbers; without an argument it runs both and prints the table.
fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("quickjs") => print_report(&quickjs()),
        Some("boa") => print_report(&boa()),
        _ => compare(),
    }
}

fn print_report(r: &Report) {
    println!(
        "{} {} {} {}",
        r.instantiate_p50, r.instantiate_p99, r.rss_per_instance, r.call_p50
    );
}

fn measure(engine: &str) -> Report {
    let exe = std::env::current_exe().expect("own path");
    let output = std::process::Command::new(exe)
        .arg(engine)
        .output()
        .expect("run a measurement");
    let text = String::from_utf8_lossy(&output.stdout);
    let numbers: Vec<f64> = text
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    Report {
        instantiate_p50: numbers[0],
        instantiate_p99: numbers[1],
        rss_per_instance: numbers[2],
        call_p50: numbers[3],
    }
}

fn compare() {
    let q = measure("quickjs");
    let b = measure("boa");
    println!("| metric | QuickJS (rquickjs 0.14) | Boa 0.22 | Boa ÷ QuickJS |");
    println!("|---|---|---|---|");
    println!(
        "| new isolated instance + evaluate the actor, p50 / p99 ({INSTANCES}×) | {:.0} / {:.0} µs | {:.0} / {:.0} µs | {:.1}× |",
        q.instantiate_p50,
        q.instantiate_p99,
        b.instantiate_p50,
        b.instantiate_p99,
        b.instantiate_p50 / q.instantiate_p50
    );
    println!(
        "| resident memory per idle instance ({INSTANCES} kept) | {:.0} KB | {:.0} KB | {:.1}× |",
        q.rss_per_instance / 1e3,
        b.rss_per_instance / 1e3,
        b.rss_per_instance / q.rss_per_instance
    );
    println!(
        "| one action call (`increment`), p50 ({CALLS}×) | {:.2} µs | {:.2} µs | {:.1}× |",
        q.call_p50,
        b.call_p50,
        b.call_p50 / q.call_p50
    );
}
