//! The bundler behind `rivet-runner deploy`: a TypeScript or JavaScript actor module, and the
//! relative modules it imports, become one ES module the runner's JavaScript runtime loads. No
//! Node.js is needed: types are stripped with oxc (see ARCHITECTURE.md for why), and each
//! module becomes a function in a table, run once when first required, in import order, as ES
//! modules are.
//!
//! Imports of `rivetkit`, `rivetkit/errors` and `rivetkit/db` are served by the runtime. Any other package is
//! refused with an error that names it: bundle such an actor with its packages first.

mod module;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use module::{EXPORTS, ModuleError, REQUIRE, Rewritten, STAR};

/// The modules one bundle may hold.
const MAX_MODULES: usize = 1_000;
/// The largest module file read.
const MAX_MODULE_BYTES: u64 = 8 << 20;
/// What the runtime provides to import, and the names each exports
/// (`runner-core/src/sandbox/js/rivetkit.js`).
const RUNTIME_MODULES: [(&str, &[&str]); 3] = [
    ("rivetkit/db", &["db"]),
    (
        "rivetkit",
        &[
            "actor",
            "setup",
            "event",
            "queue",
            "RivetError",
            "ActorError",
            "UserError",
        ],
    ),
    (
        "rivetkit/errors",
        &[
            "RivetError",
            "ActorError",
            "UserError",
            "USER_ERROR_CODE",
            "INTERNAL_ERROR_CODE",
            "isRivetErrorLike",
            "isRivetErrorCode",
            "isActorAbortedError",
            "forbiddenError",
            "internalError",
            "invalidRequest",
            "invalidEncoding",
            "actorNotFound",
            "actorStopping",
            "unsupportedFeature",
        ],
    ),
];
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
    /// A module imports a name the runtime's module does not export.
    #[error("{}: \"{specifier}\" exports no `{name}` here; it exports {available}", from.display())]
    MissingExport {
        from: PathBuf,
        specifier: String,
        name: String,
        available: String,
    },
    /// A relative import leaves the entry's directory.
    #[error("{}: \"{specifier}\" is outside {}, the directory of the module deployed; deploy from a directory that holds every module", from.display(), root.display())]
    OutsideRoot {
        from: PathBuf,
        specifier: String,
        root: PathBuf,
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

/// Bundles the module at `entry` with the relative modules it imports (from its directory).
pub fn bundle(entry: &Path) -> Result<Bundle, BundleError> {
    let entry = canonical(entry)?;
    let root = entry.parent().map(Path::to_owned).unwrap_or_default();
    let mut ids: HashMap<PathBuf, String> = HashMap::new();
    let mut queue = VecDeque::from([entry.clone()]);
    ids.insert(entry.clone(), module_id(&root, &entry));
    let mut files = Vec::new();
    let mut table = String::new();
    while let Some(path) = queue.pop_front() {
        let module = load(&path)?;
        let mut required = Vec::new();
        for require in &module.requires {
            let target = match resolve(&root, &entry, &path, &require.specifier)? {
                Target::Runtime(exports) => {
                    check_names(&path, &require.specifier, &require.names, exports)?;
                    required.push(require.specifier.clone());
                    continue;
                }
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
            required.push(id);
        }
        let _ = writeln!(
            table,
            "  [{:?}, {}],",
            ids[&path],
            function(&module, &required)
        );
        files.push(path);
    }
    Ok(Bundle {
        source: assemble(&table, &ids[&entry], &files[0]),
        files,
    })
}

/// A module as a function of the table: its export getters, then the modules it requires
/// (`required[i]` is the id of its `i`th), then its code.
fn function(module: &Rewritten, required: &[String]) -> String {
    let mut out = format!("function ({EXPORTS}, {REQUIRE}, {STAR}) {{\n");
    for (name, read) in &module.exports {
        let _ = writeln!(
            out,
            "Object.defineProperty({EXPORTS}, {name:?}, {{ enumerable: true, get: () => {read} }});"
        );
    }
    for (require, id) in module.requires.iter().zip(required) {
        let _ = writeln!(out, "const {} = {REQUIRE}({id:?});", require.binding);
    }
    for (local, binding) in &module.namespaces {
        let _ = writeln!(out, "const {local} = {binding};");
    }
    if !module.stars.is_empty() {
        let _ = writeln!(out, "{STAR}({EXPORTS}, [{}]);", module.stars.join(", "));
    }
    out.push_str(&module.body);
    out.push_str("\n}");
    out
}

/// A named import from the runtime's module must be one it exports: a typo fails here, not
/// as `undefined` at run time.
fn check_names(
    from: &Path,
    specifier: &str,
    names: &[String],
    exports: &[&str],
) -> Result<(), BundleError> {
    match names.iter().find(|name| !exports.contains(&name.as_str())) {
        Some(name) => Err(BundleError::MissingExport {
            from: from.to_owned(),
            specifier: specifier.to_owned(),
            name: name.clone(),
            available: exports.join(", "),
        }),
        None => Ok(()),
    }
}

/// The bundle: the module table, a loader that runs each module once (the runtime's modules
/// come from `__rivetkitModule`), and the entry's exports.
fn assemble(table: &str, entry_id: &str, entry: &Path) -> String {
    // The file name goes in a comment: anything but plain characters is left out.
    let name: String = entry
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    format!(
        "// Bundled by `rivet-runner deploy` from {name}.\n\
         const __rivet$modules = new Map([\n{table}]);\n\
         const __rivet$loaded = new Map();\n\
         const __rivet$star = (exports, modules) => {{\n\
         \x20 for (const module of modules) for (const name of Object.keys(module)) {{\n\
         \x20   if (name !== \"default\" && !Object.prototype.hasOwnProperty.call(exports, name))\n\
         \x20     Object.defineProperty(exports, name, {{ enumerable: true, get: () => module[name] }});\n\
         \x20 }}\n\
         }};\n\
         const __rivet$require = (id) => {{\n\
         \x20 const module = __rivet$modules.get(id);\n\
         \x20 if (module === undefined) return globalThis.__rivetkitModule(id);\n\
         \x20 let exports = __rivet$loaded.get(id);\n\
         \x20 if (exports === undefined) {{\n\
         \x20   exports = Object.create(null);\n\
         \x20   __rivet$loaded.set(id, exports);\n\
         \x20   module.call(undefined, exports, __rivet$require, __rivet$star);\n\
         \x20 }}\n\
         \x20 return exports;\n\
         }};\n\
         export const __rivetEntry = __rivet$require({entry_id:?});\n"
    )
}

/// Reads, strips and rewrites one module.
fn load(path: &Path) -> Result<Rewritten, BundleError> {
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
    /// One of the runtime's modules, with the names it exports.
    Runtime(&'static [&'static str]),
    File(PathBuf),
}

/// What `specifier`, imported by `from`, names: a runtime module, or a script file under
/// `root`.
fn resolve(root: &Path, entry: &Path, from: &Path, specifier: &str) -> Result<Target, BundleError> {
    if let Some((_, exports)) = RUNTIME_MODULES.iter().find(|(name, _)| *name == specifier) {
        return Ok(Target::Runtime(exports));
    }
    if !(specifier.starts_with("./") || specifier.starts_with("../")) {
        return Err(BundleError::Package {
            from: from.to_owned(),
            specifier: specifier.to_owned(),
            entry: entry.to_owned(),
        });
    }
    let base = from.parent().unwrap_or(Path::new(".")).join(specifier);
    let is_script = |path: &Path| {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
    };
    let mut candidates = Vec::new();
    if is_script(&base) {
        candidates.push(base.clone());
    }
    let stem = base.with_extension("");
    for extension in EXTENSIONS {
        let mut name = base.as_os_str().to_owned();
        name.push(format!(".{extension}"));
        candidates.push(PathBuf::from(name));
        // `./util.js` written for `./util.ts`.
        if base.extension().is_some_and(|e| e == "js" || e == "mjs") {
            candidates.push(stem.with_extension(extension));
        }
    }
    for extension in EXTENSIONS {
        candidates.push(base.join(format!("index.{extension}")));
    }
    let Some(found) = candidates.iter().find(|c| c.is_file()) else {
        return Err(BundleError::Unresolved {
            from: from.to_owned(),
            specifier: specifier.to_owned(),
            tried: candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let found = canonical(found)?;
    if !found.starts_with(root) {
        return Err(BundleError::OutsideRoot {
            from: from.to_owned(),
            specifier: specifier.to_owned(),
            root: root.to_owned(),
        });
    }
    Ok(Target::File(found))
}

fn canonical(path: &Path) -> Result<PathBuf, BundleError> {
    std::fs::canonicalize(path).map_err(|source| BundleError::Read {
        path: path.to_owned(),
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
