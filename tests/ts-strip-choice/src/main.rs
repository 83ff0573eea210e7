//! Strips the types of one generated 1 000-line RivetKit actor module with oxc and with swc,
//! the way `rivet-runner deploy` does (parse, scope analysis, TypeScript transform, print),
//! and reports the time per module of each, measured in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

const ROUNDS: usize = 200;

/// A RivetKit actor module of `lines` lines: interfaces, a type alias, an enum, typed actions.
fn actor_module(lines: usize) -> String {
    let mut out = String::from("import { actor, UserError } from \"rivetkit\";\n");
    out.push_str("export enum Level { Low, High }\n");
    let mut n = 0;
    while out.lines().count() < lines - 12 {
        out.push_str(&format!(
            "interface Item{n} {{ id: number; name: string; tags: string[] }}\n\
             type Pair{n} = [Item{n}, number];\n\
             function score{n}(item: Item{n}, weight: number = {n}): number {{\n\
             \x20 const pair: Pair{n} = [item, weight];\n\
             \x20 return pair[1] * item.tags.length + (item.name as string).length;\n\
             }}\n"
        ));
        n += 1;
    }
    out.push_str(
        "export default actor({\n  state: { total: 0 } as { total: number },\n  actions: {\n",
    );
    for i in 0..n.min(8) {
        out.push_str(&format!(
            "    add{i}: (c, name: string): number => {{ c.state.total += score{i}({{ id: {i}, name, tags: [] }}); return c.state.total; }},\n"
        ));
    }
    out.push_str(
        "    fail: () => { throw new UserError(\"no\", { code: \"no\" }); },\n  },\n});\n",
    );
    out
}

fn oxc(source: &str) -> String {
    use oxc_allocator::Allocator;
    let allocator = Allocator::default();
    let parsed = oxc_parser::Parser::new(&allocator, source, oxc_span::SourceType::ts()).parse();
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let mut program = parsed.program;
    let scoping = oxc_semantic::SemanticBuilder::new()
        .with_enum_eval(true)
        .build(&program)
        .semantic
        .into_scoping();
    let options = oxc_transformer::TransformOptions::default();
    let done = oxc_transformer::Transformer::new(&allocator, Path::new("actor.ts"), &options)
        .build_with_scoping(scoping, &mut program);
    assert!(done.diagnostics.is_empty());
    oxc_codegen::Codegen::new().build(&program).code
}

fn swc(source: &str) -> String {
    use swc_common::{FileName, GLOBALS, Globals, Mark, SourceMap, sync::Lrc};
    use swc_ecma_parser::{Parser, StringInput, Syntax, TsSyntax, lexer::Lexer};
    let cm: Lrc<SourceMap> = Lrc::default();
    let file = cm.new_source_file(Lrc::new(FileName::Anon), source.to_owned());
    let lexer = Lexer::new(
        Syntax::Typescript(TsSyntax::default()),
        Default::default(),
        StringInput::from(&*file),
        None,
    );
    let program = Parser::new_from(lexer).parse_program().expect("swc parses");
    GLOBALS.set(&Globals::default(), || {
        let unresolved = Mark::new();
        let top_level = Mark::new();
        let program = program
            .apply(swc_ecma_transforms_base::resolver(
                unresolved, top_level, true,
            ))
            .apply(swc_ecma_transforms_typescript::strip(unresolved, top_level))
            .apply(swc_ecma_transforms_base::hygiene::hygiene())
            .apply(swc_ecma_transforms_base::fixer::fixer(None));
        swc_ecma_codegen::to_code_default(cm, None, &program)
    })
}

fn time(f: impl Fn() -> String) -> (Duration, Duration, usize) {
    let size = f().len();
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort();
    (samples[ROUNDS / 2], samples[ROUNDS * 99 / 100], size)
}

fn main() {
    let source = actor_module(1000);
    println!(
        "input: {} lines, {} bytes",
        source.lines().count(),
        source.len()
    );
    for (name, f) in [
        ("oxc 0.146", oxc as fn(&str) -> String),
        ("swc (strip 57)", swc),
    ] {
        let (p50, p99, size) = time(|| f(&source));
        println!("{name}: p50 {p50:?}, p99 {p99:?}, output {size} bytes");
    }
}
