//! The bundler behind `rivet-runner deploy`: a TypeScript or JavaScript actor module, and the
//! relative modules it imports, become one ES module the runner's JavaScript runtime loads. No
//! Node.js is needed: types are stripped with oxc (see ARCHITECTURE.md for why), and each
//! module becomes a function in a table, run once when first required, in import order, as ES
//! modules are.
//!
//! Imports of `rivetkit` and `rivetkit/errors` are served by the runtime. Any other package is
//! refused with an error that names it: bundle such an actor with its packages first.

mod module;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use module::ModuleError;

/// The modules one bundle may hold.
const MAX_MODULES: usize = 1_000;
/// The largest module file read.
const MAX_MODULE_BYTES: u64 = 8 << 20;
/// What the runtime provides to import.
const RUNTIME_MODULES: [&str; 2] = ["rivetkit", "rivetkit/errors"];
/// The extensions tried, in order, for an import written without one (and instead of `.js`,
/// which TypeScript sources write for their `.ts` siblings).
const EXTENSIONS: [&str; 4] = ["ts", "mts", "js", "mjs"];

/// A bundled actor module.
#[derive(Debug)]
pub struct Bundle {
    /// The ES module, its entry's exports as `__rivetEntry`.
    pub source: String,
    /// The files in it, entry first.
    pub files: Vec<PathBuf>,
}

/// Why a module could not be bundled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A file could not be read.
    #[error("read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TypeScript or JavaScript.
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// A relative import names no file.
    #[error("{}: cannot resolve \"{specifier}\": no such file (tried {tried})", from.display())]
    Unresolved {
        from: PathBuf,
        specifier: String,
        tried: String,
    },
    /// A module imports a package.
    #[error(
        "{}: imports \"{specifier}\", a package; deploy bundles relative imports and \"rivetkit\" only. Bundle the actor with its packages first (for example `npx esbuild {} --bundle --format=esm --external:rivetkit --outfile=actor.js`) and deploy the result",
        from.display(), entry.display()
    )]
    Package {
        from: PathBuf,
        specifier: String,
        entry: PathBuf,
    },
    /// A module uses `import()`.
    #[error("{}: dynamic import() is not supported; import the module statically", path.display())]
    DynamicImport { path: PathBuf },
    /// A module uses `await` at its top level.
    #[error("{}: `await` at a module's top level is not supported; await inside a hook or an action", path.display())]
    TopLevelAwait { path: PathBuf },
    /// Too many modules, or one too large.
    #[error("{}: {what}", path.display())]
    TooLarge { path: PathBuf, what: String },
}

/// Bundles the module at `entry` with the relative modules it imports.
pub fn bundle(entry: &Path) -> Result<Bundle, BundleError> {
    let entry = canonical(entry, entry)?;
    let root = entry.parent().map(Path::to_owned).unwrap_or_default();
    let mut ids: HashMap<PathBuf, String> = HashMap::new();
    let mut queue = VecDeque::from([entry.clone()]);
    ids.insert(entry.clone(), module_id(&root, &entry));
    let mut files = Vec::new();
    let mut table = String::new();
    while let Some(path) = queue.pop_front() {
        let rewritten = load(&path)?;
        let mut body = rewritten.body;
        for specifier in &rewritten.imports {
            let target = match resolve(&entry, &path, specifier)? {
                Target::Runtime => continue,
                Target::File(file) => file,
            };
            let id = match ids.get(&target) {
                Some(id) => id.clone(),
                None => {
                    if ids.len() >= MAX_MODULES {
                        return Err(BundleError::TooLarge {
                            path: entry,
                            what: format!("imports more than {MAX_MODULES} modules"),
                        });
                    }
                    let id = module_id(&root, &target);
                    ids.insert(target.clone(), id.clone());
                    queue.push_back(target);
                    id
                }
            };
            body = body.replacen(
                &format!("__require({specifier:?})"),
                &format!("__require({id:?})"),
                1,
            );
        }
        let _ = writeln!(
            table,
            "  {:?}: function (__exports, __require, __star) {{\n{body}\n  }},",
            ids[&path]
        );
        files.push(path);
    }
    Ok(Bundle {
        source: assemble(&table, &ids[&entry], &files[0]),
        files,
    })
}

/// The bundle: the module table, a loader that runs each module once (the runtime's modules
/// come from `__rivetkitModule`), and the entry's exports.
fn assemble(table: &str, entry_id: &str, entry: &Path) -> String {
    format!(
        "// Bundled by `rivet-runner deploy` from {entry}.\n\
         const __rivetModules = {{\n{table}}};\n\
         const __rivetLoaded = new Map();\n\
         const __rivetStar = (exports, modules) => {{\n\
         \x20 for (const module of modules) for (const name of Object.keys(module)) {{\n\
         \x20   if (name !== \"default\" && !Object.prototype.hasOwnProperty.call(exports, name))\n\
         \x20     Object.defineProperty(exports, name, {{ enumerable: true, get: () => module[name] }});\n\
         \x20 }}\n\
         }};\n\
         const __rivetRequire = (id) => {{\n\
         \x20 if (!Object.prototype.hasOwnProperty.call(__rivetModules, id)) return globalThis.__rivetkitModule(id);\n\
         \x20 let exports = __rivetLoaded.get(id);\n\
         \x20 if (exports === undefined) {{\n\
         \x20   exports = Object.create(null);\n\
         \x20   __rivetLoaded.set(id, exports);\n\
         \x20   __rivetModules[id].call(undefined, exports, __rivetRequire, __rivetStar);\n\
         \x20 }}\n\
         \x20 return exports;\n\
         }};\n\
         export const __rivetEntry = __rivetRequire({entry_id:?});\n",
        entry = entry.file_name().unwrap_or_default().to_string_lossy(),
    )
}

/// Reads, strips and rewrites one module.
fn load(path: &Path) -> Result<module::Rewritten, BundleError> {
    let read = |source| BundleError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_MODULE_BYTES {
        return Err(BundleError::TooLarge {
            path: path.to_owned(),
            what: format!("{size} bytes; a module is at most {MAX_MODULE_BYTES}"),
        });
    }
    let source = std::fs::read_to_string(path).map_err(read)?;
    module::strip_types(path, &source)
        .and_then(|js| module::rewrite(&js))
        .map_err(|error| match error {
            ModuleError::Syntax(message) => BundleError::Syntax {
                path: path.to_owned(),
                message,
            },
            ModuleError::DynamicImport => BundleError::DynamicImport {
                path: path.to_owned(),
            },
            ModuleError::TopLevelAwait => BundleError::TopLevelAwait {
                path: path.to_owned(),
            },
        })
}

enum Target {
    Runtime,
    File(PathBuf),
}

/// What `specifier`, imported by `from`, names.
fn resolve(entry: &Path, from: &Path, specifier: &str) -> Result<Target, BundleError> {
    if RUNTIME_MODULES.contains(&specifier) {
        return Ok(Target::Runtime);
    }
    if !(specifier.starts_with("./") || specifier.starts_with("../")) {
        return Err(BundleError::Package {
            from: from.to_owned(),
            specifier: specifier.to_owned(),
            entry: entry.to_owned(),
        });
    }
    let base = from.parent().unwrap_or(Path::new(".")).join(specifier);
    let mut candidates = vec![base.clone()];
    let stem = base.with_extension("");
    for extension in EXTENSIONS {
        let with = |path: &Path| {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{extension}"));
            PathBuf::from(name)
        };
        candidates.push(with(&base));
        // `./util.js` written for `./util.ts`.
        if base.extension().is_some_and(|e| e == "js" || e == "mjs") {
            candidates.push(stem.with_extension(extension));
        }
    }
    for extension in EXTENSIONS {
        candidates.push(base.join(format!("index.{extension}")));
    }
    match candidates.iter().find(|c| c.is_file()) {
        Some(found) => canonical(from, found).map(Target::File),
        None => Err(BundleError::Unresolved {
            from: from.to_owned(),
            specifier: specifier.to_owned(),
            tried: candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn canonical(from: &Path, path: &Path) -> Result<PathBuf, BundleError> {
    std::fs::canonicalize(path).map_err(|source| BundleError::Read {
        path: if path == from {
            path.to_owned()
        } else {
            from.join(path)
        },
        source,
    })
}

/// A module's name in the table: its path from the entry's directory.
fn module_id(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests;
