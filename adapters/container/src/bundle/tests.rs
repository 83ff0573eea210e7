//! The bundler on files as RivetKit authors write them. The bundles' behaviour is checked by
//! running them in the runner's JavaScript runtime (`runner_core::sandbox::js`).

use super::*;
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::JsRuntime;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn runtime() -> JsRuntime {
    JsRuntime::new(SandboxLimits::default()).unwrap()
}

#[test]
fn typescript_with_relative_imports_and_a_registry_becomes_one_module() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "lib/math.ts",
        "export function add(a: number, b: number): number { return a + b; }\n\
         export const enum Never { A }\n\
         export interface Shape { n: number }\n\
         export default 10;\n",
    );
    write(
        dir.path(),
        "lib/index.ts",
        "export * from './math.js';\nexport { default as ten } from './math';\n",
    );
    let entry = write(
        dir.path(),
        "registry.ts",
        "import { actor, setup, UserError } from \"rivetkit\";\n\
         import type { Shape } from './lib/math';\n\
         import { add, ten } from './lib';\n\
         type State = { count: number };\n\
         export const counter = actor({\n\
           state: { count: 0 } as State,\n\
           actions: {\n\
             increment: (c, n: number): number => { c.state.count = add(c.state.count, n); return c.state.count; },\n\
             ten: () => ten,\n\
             refuse: () => { throw new UserError('no', { code: 'nope' }); },\n\
           },\n\
         });\n\
         export const chat = actor({ state: { messages: [] as Shape[] }, actions: {} });\n\
         export const registry = setup({ use: { counter, chat } });\n",
    );
    let bundle = bundle(&entry).unwrap();
    assert_eq!(bundle.files.len(), 3, "{:?}", bundle.files);
    assert!(!bundle.source.contains("interface"), "types are gone");
    let runtime = runtime();
    let mut names = runtime.actor_names("registry", &bundle.source).unwrap();
    names.sort();
    assert_eq!(names, ["chat", "counter"]);
    runtime.compile("counter", &bundle.source).unwrap();
    let missing = runtime.compile("nobody", &bundle.source).unwrap_err();
    assert!(missing.to_string().contains("`counter`"), "{missing}");
}

#[test]
fn a_package_import_is_refused_by_name_with_how_to_bundle_it() {
    let dir = tempfile::tempdir().unwrap();
    let entry = write(
        dir.path(),
        "actor.ts",
        "import { z } from 'zod';\nexport default { actions: { f: () => z } };\n",
    );
    let error = bundle(&entry).unwrap_err().to_string();
    assert!(
        error.contains("\"zod\"") && error.contains("esbuild"),
        "{error}"
    );
}

#[test]
fn an_unresolved_relative_import_names_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    let entry = write(
        dir.path(),
        "actor.js",
        "import { x } from './missing';\nexport default {};\n",
    );
    let error = bundle(&entry).unwrap_err();
    assert!(
        matches!(error, BundleError::Unresolved { ref specifier, .. } if specifier == "./missing"),
        "{error}"
    );
    assert!(error.to_string().contains("missing.ts"), "{error}");
}

#[test]
fn what_cannot_be_wrapped_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let dynamic = write(
        dir.path(),
        "a.ts",
        "export default { actions: { f: () => import('./b') } };\n",
    );
    assert!(matches!(
        bundle(&dynamic).unwrap_err(),
        BundleError::DynamicImport { .. }
    ));
    let awaits = write(
        dir.path(),
        "c.ts",
        "const x = await Promise.resolve(1);\nexport default {};\n",
    );
    assert!(matches!(
        bundle(&awaits).unwrap_err(),
        BundleError::TopLevelAwait { .. }
    ));
    // Inside a function it is fine.
    let fine = write(
        dir.path(),
        "d.ts",
        "export default { actions: { f: async () => await 1 } };\n",
    );
    bundle(&fine).unwrap();
    let broken = write(dir.path(), "e.ts", "export const = ;\n");
    assert!(matches!(
        bundle(&broken).unwrap_err(),
        BundleError::Syntax { .. }
    ));
}

#[test]
fn cyclic_imports_and_live_bindings_behave_as_modules_do() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.ts",
        "import { b } from './b';\nexport let count = 0;\nexport function bump() { count += 1; return b(); }\n",
    );
    write(
        dir.path(),
        "b.ts",
        "import { count } from './a';\nexport const b = () => 'b';\nexport const seen = () => count;\n",
    );
    let entry = write(
        dir.path(),
        "main.ts",
        "import * as a from './a';\nimport { seen } from './b';\n\
         a.bump(); a.bump();\n\
         if (a.count !== 2 || seen() !== 2) throw new Error(`not live: ${a.count} ${seen()}`);\n\
         export default { actions: { go: () => a.count } };\n",
    );
    let bundle = bundle(&entry).unwrap();
    assert_eq!(bundle.files.len(), 3);
    runtime().compile("main", &bundle.source).unwrap();
}

/// Bundles `files` (the first is the entry) and runs the bundle's top level in the runtime:
/// the modules check themselves and throw if something is off.
fn run(files: &[(&str, &str)]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    let bundle = bundle(&dir.path().join(files[0].0)).map_err(|e| e.to_string())?;
    runtime()
        .compile("main", &bundle.source)
        .map(drop)
        .map_err(|e| format!("{e}\n{}", bundle.source))
}

#[test]
fn re_exports_hoisting_asi_and_this_behave_as_modules_do() {
    run(&[
        (
            "main.ts",
            "if (counter.n !== 1) throw new Error('import used before its statement: ' + counter.n)\n\
             import { counter, plain as renamed, whoIsThis } from './barrel'\n\
             import fallback from './barrel'\n\
             let n = 0\n\
             export { n }\n\
             ;(() => { n += 1 })()\n\
             if (n !== 1) throw new Error('ASI joined statements')\n\
             if (fallback !== counter) throw new Error('export { x as default } of an import')\n\
             if (renamed() !== 'plain') throw new Error('renamed import')\n\
             if (whoIsThis() !== undefined) throw new Error('an imported function got a this')\n\
             const __require = () => 'mine'; const __default = 1; const __exports = 2\n\
             export default { actions: { f: () => __require() + __default + __exports } }\n",
        ),
        (
            "barrel.ts",
            "import { counter } from './counter'\nexport { counter }\nexport { counter as default }\n\
             export * from './plain'\n",
        ),
        ("counter.ts", "export const counter = { n: 1 }\n"),
        (
            "plain.js",
            "export function plain() { return 'plain' }\nexport function whoIsThis() { return this }\n",
        ),
    ])
    .unwrap();
}

#[test]
fn imports_outside_the_entry_directory_and_unknown_runtime_names_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "secret.js", "export const key = 'k';\n");
    let entry = write(
        outer.path(),
        "app/main.ts",
        "import { key } from '../secret.js';\nexport default { actions: { k: () => key } };\n",
    );
    let error = bundle(&entry).unwrap_err();
    assert!(matches!(error, BundleError::OutsideRoot { .. }), "{error}");
    let error = run(&[(
        "main.ts",
        "import { actr } from 'rivetkit';\nexport default actr({ actions: {} });\n",
    )])
    .unwrap_err();
    assert!(
        error.contains("`actr`") && error.contains("actor, setup"),
        "{error}"
    );
    // A file with another extension is not a module.
    let error = run(&[
        (
            "main.ts",
            "import './data.json';\nexport default { actions: {} };\n",
        ),
        ("data.json", "{}"),
    ])
    .unwrap_err();
    assert!(error.contains("cannot resolve"), "{error}");
}

#[test]
fn the_web_globals_rivetkit_code_uses_are_there() {
    run(&[(
        "main.js",
        "const bytes = new TextEncoder().encode('héllo 🎉');\n\
         if (bytes.length !== 11) throw new Error('utf-8 length ' + bytes.length);\n\
         if (new TextDecoder().decode(bytes) !== 'héllo 🎉') throw new Error('round trip');\n\
         if (new TextDecoder().decode(new Uint8Array([0xff])) !== '\\ufffd') throw new Error('replacement');\n\
         const strict = new TextDecoder('utf-8', { fatal: true });\n\
         for (const bad of [[0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {\n\
           let refused = false; try { strict.decode(new Uint8Array(bad)); } catch (e) { refused = true; }\n\
           if (!refused) throw new Error('overlong or out of range accepted: ' + bad);\n\
         }\n\
         if (Object.keys(structuredClone(JSON.parse('{\"__proto__\":{\"admin\":true}}'))).join() !== '__proto__') throw new Error('__proto__');\n\
         const id = crypto.randomUUID();\n\
         if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)) throw new Error(id);\n\
         if (id === crypto.randomUUID()) throw new Error('not random');\n\
         const filled = crypto.getRandomValues(new Uint32Array(4));\n\
         if (filled.every((x) => x === 0)) throw new Error('not filled');\n\
         const state = { at: new Date(5), tags: new Set(['a']), nested: { list: [1, 2] } };\n\
         state.self = state;\n\
         const copy = structuredClone(state);\n\
         if (copy === state || copy.self !== copy || copy.nested === state.nested) throw new Error('not deep');\n\
         if (copy.at.getTime() !== 5 || !copy.tags.has('a') || copy.nested.list[1] !== 2) throw new Error('lost');\n\
         export default { actions: {} };\n",
    )])
    .unwrap();
}

#[test]
fn url_and_url_search_params_parse_resolve_and_serialize_as_browsers_do() {
    run(&[(
        "main.js",
        r##"const same = (actual, expected, what) => {
             if (actual !== expected) throw new Error(`${what}: ${actual} !== ${expected}`);
           };
           const u = new URL("https://Example.COM:443/a/./b/../c?x=1 2#frag ment");
           same(u.href, "https://example.com/a/c?x=1%202#frag%20ment", "href");
           same(u.host, "example.com", "default port dropped");
           same(u.origin, "https://example.com", "origin");
           same(u.pathname + u.search + u.hash, "/a/c?x=1%202#frag%20ment", "parts");
           same(new URL("../d?q=1", "http://h:8080/a/b/c").href, "http://h:8080/a/d?q=1", "dot-dot");
           same(new URL("/p", "http://h/a?x#y").href, "http://h/p", "absolute path");
           same(new URL("?z=9", "http://h/a/b?x#y").href, "http://h/a/b?z=9", "query only");
           same(new URL("#f", "http://h/a?x").href, "http://h/a?x#f", "fragment only");
           same(new URL("//other/x", "https://h/a").href, "https://other/x", "scheme-relative");
           same(new URL("HTTP://h/a b/é").href, "http://h/a%20b/%C3%A9", "encoded path");
           same(new URL("file:///tmp/x").pathname, "/tmp/x", "file path");
           same(new URL("file:///tmp/x").host, "", "file host");
           same(new URL("mailto:a@b.c").pathname, "a@b.c", "opaque path");
           const db = new URL("postgres://u:p@DB:5432/x");
           same(`${db.username}/${db.password}/${db.host}`, "u/p/DB:5432", "non-special authority");
           same(JSON.stringify({ u: new URL("http://h") }), '{"u":"http://h/"}', "toJSON");
           for (const bad of ["not a url", "http://", "http://h:99999", "http://a b/"]) {
             if (URL.canParse(bad)) throw new Error(`parsed ${bad}`);
           }
           same(URL.parse("/x"), null, "relative without base");
           const q = new URL("http://h/p?a=1&b=2&a=3");
           same(q.searchParams.getAll("a").join(), "1,3", "getAll");
           q.searchParams.set("a", "x y");
           same(q.href, "http://h/p?a=x+y&b=2", "set writes back");
           q.searchParams.delete("b");
           same(q.search, "?a=x+y", "delete writes back");
           q.search = "?k=v&k=w";
           same(q.searchParams.getAll("k").join(), "v,w", "search re-parses");
           same(new URLSearchParams({ q: "rivet actors!", n: 1 }).toString(), "q=rivet+actors%21&n=1", "form encoding");
           const p = new URLSearchParams("?a=%20b&c=d+e&bad=%zz");
           same(p.get("a") + "|" + p.get("c") + "|" + p.get("bad"), " b|d e|%zz", "form decoding");
           same([...new URLSearchParams([["b", "2"], ["a", "1"]])].map((e) => e.join("=")).join("&"), "b=2&a=1", "pairs");
           const s = new URLSearchParams("z=1&a=2&z=0"); s.sort();
           same(s.toString(), "a=2&z=1&z=0", "stable sort");
           same(new URL("http://h\\a\\b?path=C:\\dir").href, "http://h/a/b?path=C:\\dir", "backslashes");
           same(new URL("http://h/??a=1").searchParams.has("?a"), true, "a query keeps its own ?");
           same(new URLSearchParams("q=%E2%9C%93%&r=%20x%zz").get("q") + "|" + new URLSearchParams("r=%20x%zz").get("r"), "✓%| x%zz", "escape runs");
           const lone = new URLSearchParams(); lone.set("a", "\uD800");
           same(lone.toString(), "a=%EF%BF%BD", "a lone surrogate");
           const m = new URL("http://h:1/p?x=1");
           m.port = "8080"; same(m.host, "h:8080", "port");
           m.port = "80"; same(m.host, "h", "default port");
           m.hostname = "Example.org"; same(m.href, "http://example.org/p?x=1", "hostname");
           m.host = "a b"; same(m.host, "example.org", "an invalid host is ignored");
           m.host = "other:9"; same(m.host, "other:9", "host");
           m.protocol = "https"; same(m.href, "https://other:9/p?x=1", "protocol");
           m.username = "me"; same(m.href, "https://me@other:9/p?x=1", "username");
           m.href = "http://z/?k=v"; same(m.searchParams.get("k"), "v", "href re-reads the query");
           let threw = false; try { m.href = "nope"; } catch (e) { threw = e instanceof TypeError; }
           same(threw, true, "an invalid href throws a TypeError");
           export default { actions: {} };
        "##,
    )])
    .unwrap();
}
