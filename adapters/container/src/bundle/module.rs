//! One module of a bundle: its types stripped (oxc's parser and TypeScript transform), then its
//! `import`/`export` statements rewritten into calls of the bundle's module table, so the
//! module becomes the body of a function `(EXPORTS, REQUIRE, STAR) => { … }`.
//!
//! Exports become getters on `EXPORTS` defined before the body runs, and every use of an
//! imported name reads the exporting module at that moment: both are live bindings, as in ES
//! modules, and cycles work.

use std::path::Path;

use oxc_allocator::Allocator;
use oxc_ast::AstKind;
use oxc_ast::ast::{
    ArrowFunctionExpression, AwaitExpression, Declaration, ExportDefaultDeclarationKind,
    ForOfStatement, Function, ImportDeclarationSpecifier, ImportExpression, ImportOrExportKind,
    Program, Statement,
};
use oxc_ast_visit::{Visit, walk};
use oxc_codegen::Codegen;
use oxc_parser::Parser;
use oxc_semantic::{Semantic, SemanticBuilder};
use oxc_span::{GetSpan, SourceType, Span};
use oxc_syntax::scope::ScopeFlags;
use oxc_syntax::symbol::SymbolId;
use oxc_transformer::{TransformOptions, Transformer};

/// The names the bundle gives its own bindings in each module's function: unlikely in code
/// people or other bundlers write (`$` keeps them apart from esbuild's `__require` and kin).
pub(super) const EXPORTS: &str = "__rivet$exports";
pub(super) const REQUIRE: &str = "__rivet$require";
pub(super) const STAR: &str = "__rivet$star";
const DEFAULT: &str = "__rivet$default";

/// A module rewritten for the bundle: the body of `function (EXPORTS, REQUIRE, STAR)`, in
/// parts the bundler puts together once it knows the modules' ids.
pub(super) struct Rewritten {
    /// (exported name, the expression it reads): getters defined before anything runs, so a
    /// module that requires this one in a cycle sees them.
    pub(super) exports: Vec<(String, String)>,
    /// The modules it requires, in order; required before its code runs, as ES modules are
    /// linked before they run.
    pub(super) requires: Vec<Require>,
    /// (local name, binding): `import * as local`.
    pub(super) namespaces: Vec<(String, String)>,
    /// Bindings of the modules it re-exports with `export *`.
    pub(super) stars: Vec<String>,
    /// The code, imports and exports removed.
    pub(super) body: String,
}

/// One module a module requires.
pub(super) struct Require {
    /// The binding its exports are read through.
    pub(super) binding: String,
    /// As written in the import.
    pub(super) specifier: String,
    /// The names imported from it by name (checked against what the runtime's modules export).
    pub(super) names: Vec<String>,
}

/// Why a module cannot go in the bundle.
#[derive(Debug)]
pub(super) enum ModuleError {
    Syntax(String),
    DynamicImport,
    TopLevelAwait,
}

/// Strips `source`'s types (if it is TypeScript, by its extension) into JavaScript.
pub(super) fn strip_types(path: &Path, source: &str) -> Result<String, ModuleError> {
    let source_type = source_type(path);
    if !source_type.is_typescript() {
        return Ok(source.to_owned());
    }
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if let Some(error) = parsed.diagnostics.first() {
        return Err(ModuleError::Syntax(describe(source, error)));
    }
    let mut program = parsed.program;
    let scoping = SemanticBuilder::new()
        .with_enum_eval(true)
        .build(&program)
        .semantic
        .into_scoping();
    let transformed = Transformer::new(&allocator, path, &TransformOptions::default())
        .build_with_scoping(scoping, &mut program);
    if let Some(error) = transformed.diagnostics.first() {
        return Err(ModuleError::Syntax(describe(source, error)));
    }
    Ok(Codegen::new().build(&program).code)
}

/// A diagnostic with the line and column it points at.
fn describe(source: &str, error: &oxc_diagnostics::OxcDiagnostic) -> String {
    let offset = error.labels.as_ref().first().map(|label| label.offset());
    match offset {
        Some(offset) => {
            let end = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(source.len());
            let before = source.get(..end).unwrap_or(source);
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[line_start..].chars().count() + 1;
            format!("{line}:{column}: {error}")
        }
        None => error.to_string(),
    }
}

fn source_type(path: &Path) -> SourceType {
    match path.extension().and_then(|e| e.to_str()) {
        Some("ts" | "mts") => SourceType::ts(),
        _ => SourceType::mjs(),
    }
}

/// Rewrites JavaScript module `js` for the bundle.
pub(super) fn rewrite(js: &str) -> Result<Rewritten, ModuleError> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, js, SourceType::mjs()).parse();
    if let Some(error) = parsed.diagnostics.first() {
        return Err(ModuleError::Syntax(describe(js, error)));
    }
    let program = parsed.program;
    refuse_what_cannot_be_wrapped(&program)?;
    let semantic = SemanticBuilder::new()
        .with_build_nodes(true)
        .build(&program)
        .semantic;
    let mut edits = Edits::default();
    for statement in &program.body {
        edits.statement(statement);
    }
    edits.rebind_imports(&semantic);
    Ok(edits.apply(js))
}

/// A dynamic `import()` has no module loader to reach here, and an `await` at the top level
/// cannot run inside the function a module becomes.
fn refuse_what_cannot_be_wrapped(program: &Program<'_>) -> Result<(), ModuleError> {
    /// Finds `import()` anywhere, and `await` outside any function.
    #[derive(Default)]
    struct Finder {
        functions: usize,
        dynamic_import: bool,
        top_level_await: bool,
    }
    impl<'a> Visit<'a> for Finder {
        fn visit_import_expression(&mut self, _it: &ImportExpression<'a>) {
            self.dynamic_import = true;
        }
        fn visit_await_expression(&mut self, it: &AwaitExpression<'a>) {
            self.top_level_await |= self.functions == 0;
            walk::walk_await_expression(self, it);
        }
        fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
            self.top_level_await |= it.r#await && self.functions == 0;
            walk::walk_for_of_statement(self, it);
        }
        fn visit_function(&mut self, it: &Function<'a>, flags: ScopeFlags) {
            self.functions += 1;
            walk::walk_function(self, it, flags);
            self.functions -= 1;
        }
        fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
            self.functions += 1;
            walk::walk_arrow_function_expression(self, it);
            self.functions -= 1;
        }
    }
    let mut finder = Finder::default();
    finder.visit_program(program);
    if finder.dynamic_import {
        return Err(ModuleError::DynamicImport);
    }
    if finder.top_level_await {
        return Err(ModuleError::TopLevelAwait);
    }
    Ok(())
}

/// Text edits on the module, by span, and what its imports and exports become.
#[derive(Default)]
struct Edits {
    /// (span, replacement), in source order.
    replace: Vec<(Span, String)>,
    /// (exported name, expression it reads).
    exports: Vec<(String, String)>,
    requires: Vec<Require>,
    namespaces: Vec<(String, String)>,
    stars: Vec<String>,
    /// Imported bindings: (symbol, local name, what reading it reads), so every use reads the
    /// exporting module's current value (a live binding, and no read before a cycle is done).
    imported: Vec<(SymbolId, String, String)>,
}

impl Edits {
    /// A binding for module `specifier`.
    fn require(&mut self, specifier: &str) -> String {
        let binding = format!("__rivet$m{}", self.requires.len());
        self.requires.push(Require {
            binding: binding.clone(),
            specifier: specifier.to_owned(),
            names: Vec::new(),
        });
        binding
    }

    /// Removes a statement; a `;` keeps the statements around it apart (no ASI surprises).
    fn remove(&mut self, span: Span) {
        self.replace.push((span, ";".to_owned()));
    }

    fn statement(&mut self, statement: &Statement<'_>) {
        match statement {
            Statement::ImportDeclaration(import) => {
                self.remove(import.span);
                if import.import_kind == ImportOrExportKind::Type {
                    return;
                }
                let module = self.require(&import.source.value);
                for specifier in import.specifiers.iter().flatten() {
                    let (local, read) = match specifier {
                        ImportDeclarationSpecifier::ImportSpecifier(s) => {
                            if s.import_kind == ImportOrExportKind::Type {
                                continue;
                            }
                            let name = s.imported.name().to_string();
                            let read = format!("{module}[{name:?}]");
                            if let Some(require) = self.requires.last_mut() {
                                require.names.push(name);
                            }
                            (&s.local, read)
                        }
                        ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                            (&s.local, format!("{module}.default"))
                        }
                        ImportDeclarationSpecifier::ImportNamespaceSpecifier(s) => {
                            self.namespaces
                                .push((s.local.name.to_string(), module.clone()));
                            continue;
                        }
                    };
                    if let Some(symbol) = local.symbol_id.get() {
                        self.imported.push((symbol, local.name.to_string(), read));
                    }
                }
            }
            Statement::ExportDeclaration(export) => {
                // `export const a = …` → `const a = …`, and a getter for each name it binds.
                let declaration = export.declaration.span();
                self.replace.push((
                    Span::new(export.span.start, declaration.start),
                    String::new(),
                ));
                for name in declared_names(&export.declaration) {
                    self.exports.push((name.clone(), name));
                }
            }
            Statement::ExportDefaultDeclaration(export) => {
                let inner = export.declaration.span();
                let prefix = Span::new(export.span.start, inner.start);
                let named = match &export.declaration {
                    ExportDefaultDeclarationKind::FunctionDeclaration(f) => {
                        f.id.as_ref().map(|id| id.name.to_string())
                    }
                    ExportDefaultDeclarationKind::ClassDeclaration(c) => {
                        c.id.as_ref().map(|id| id.name.to_string())
                    }
                    _ => None,
                };
                match named {
                    Some(name) => {
                        self.replace.push((prefix, String::new()));
                        self.exports.push(("default".to_owned(), name));
                    }
                    None => {
                        // The expression in parentheses: `export default (a, b)` stays one.
                        self.replace.push((prefix, format!("const {DEFAULT} = (")));
                        self.replace
                            .push((Span::new(inner.end, export.span.end), ");".to_owned()));
                        self.exports
                            .push(("default".to_owned(), DEFAULT.to_owned()));
                    }
                }
            }
            Statement::ExportNamedDeclaration(export) => {
                // `export { a as b }`: the statement goes, the getters stay.
                self.remove(export.span);
                for specifier in &export.specifiers {
                    if specifier.export_kind == ImportOrExportKind::Type {
                        continue;
                    }
                    self.exports.push((
                        specifier.exported.name().to_string(),
                        specifier.local.name().to_string(),
                    ));
                }
            }
            Statement::ExportFromDeclaration(export) => {
                self.remove(export.span);
                let module = self.require(&export.source.value);
                for specifier in &export.specifiers {
                    if specifier.export_kind == ImportOrExportKind::Type {
                        continue;
                    }
                    let local = specifier.local.name().to_string();
                    self.exports.push((
                        specifier.exported.name().to_string(),
                        format!("{module}[{local:?}]"),
                    ));
                    if let Some(require) = self.requires.last_mut() {
                        require.names.push(local);
                    }
                }
            }
            Statement::ExportAllDeclaration(export) => {
                self.remove(export.span);
                let module = self.require(&export.source.value);
                match &export.exported {
                    Some(name) => self.exports.push((name.name().to_string(), module)),
                    None => self.stars.push(module),
                }
            }
            _ => {}
        }
    }

    /// Every use of an imported binding reads its module instead (as `(0, m["x"])`, so a call
    /// gets no `this`, as a call of an imported function has none); an export of one
    /// re-exports what it reads.
    fn rebind_imports(&mut self, semantic: &Semantic<'_>) {
        let nodes = semantic.nodes();
        for (symbol, _, read) in &self.imported {
            for reference in semantic.scoping().get_resolved_references(*symbol) {
                let node = reference.node_id();
                let AstKind::IdentifierReference(identifier) = nodes.kind(node) else {
                    continue;
                };
                let replacement = match nodes.parent_kind(node) {
                    // Inside `export { x }`, which is removed: its getter reads the module.
                    AstKind::ExportSpecifier(_) => continue,
                    AstKind::ObjectProperty(property) if property.shorthand => {
                        format!("{}: {read}", identifier.name)
                    }
                    _ => format!("(0, {read})"),
                };
                self.replace.push((identifier.span, replacement));
            }
        }
        for (_, reads) in &mut self.exports {
            if let Some((_, _, read)) = self.imported.iter().find(|(_, name, _)| name == reads) {
                reads.clone_from(read);
            }
        }
    }

    fn apply(mut self, js: &str) -> Rewritten {
        self.replace.sort_by_key(|(span, _)| (span.start, span.end));
        let mut body = String::with_capacity(js.len() + 256);
        let mut at = 0usize;
        for (span, replacement) in &self.replace {
            let (start, end) = (span.start as usize, span.end as usize);
            if start < at {
                // Inside an edit already made (cannot happen for the statements above).
                continue;
            }
            body.push_str(&js[at..start]);
            body.push_str(replacement);
            at = end;
        }
        body.push_str(&js[at..]);
        Rewritten {
            exports: self.exports,
            requires: self.requires,
            namespaces: self.namespaces,
            stars: self.stars,
            body,
        }
    }
}

/// The names a declaration binds (`const {a, b: [c]} = …` binds `a` and `c`).
fn declared_names(declaration: &Declaration<'_>) -> Vec<String> {
    match declaration {
        Declaration::VariableDeclaration(variables) => variables
            .declarations
            .iter()
            .flat_map(|d| d.id.get_binding_identifiers())
            .map(|id| id.name.to_string())
            .collect(),
        other => other
            .id()
            .map(|id| id.name.to_string())
            .into_iter()
            .collect(),
    }
}
