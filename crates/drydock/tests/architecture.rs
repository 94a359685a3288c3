//! The architecture's rules, checked on the sources rather than hoped for:
//!
//! - **Short functions.** No function outside tests runs past [`MAX_FUNCTION_LINES`] lines
//!   (signature to closing brace, comments included). The few that still do are listed in
//!   [`TOO_LONG_FOR_NOW`] with their current length; the list may only shrink, and the test fails
//!   when a listed function got short (so the list is kept exact) or a new one got long.
//! - **Pure modules stay pure.** The modules in [`PURE_MODULES`] decide; they name no IO crate
//!   ([`IO_CRATES`]) and no IO part of `std` ([`IO_STD_MODULES`]) anywhere in their code, tests
//!   included (a pure module's tests need no IO either).
//! - **Layers.** Each crate depends only on what its layer may ([`LAYER_RULES`]), read from
//!   `cargo metadata` (normal dependencies: what ships).
//! - **The Image Cleaner's seam.** Its node half (`crates/cleaner/src/node`) and its manager
//!   half (`crates/cleaner/src/manager`) never import each other, and the shared modules at
//!   its root import neither ([`CLEANER_SRC`]).
//!
//! The sources are read as Rust syntax (`syn`), so strings, comments and macros cannot fool the
//! counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use syn::visit::Visit;

/// The longest a function may be. 120 lines is what fits two screens; longer ones are several
/// steps that deserve names.
const MAX_FUNCTION_LINES: usize = 120;

/// Functions that are still longer than [`MAX_FUNCTION_LINES`], as `(file, function, lines)`.
/// Splitting one removes its row; the test says so when a row is stale.
const TOO_LONG_FOR_NOW: &[(&str, &str, usize)] = &[];

/// The decision modules: pure functions over what the IO code observed.
const PURE_MODULES: &[&str] = &[
    "crates/cleaner/src/manager/admin.rs",
    "crates/cleaner/src/manager/breaker.rs",
    "crates/cleaner/src/node/decide.rs",
    "crates/cleaner/src/manager/fold.rs",
    "crates/cleaner/src/manager/history.rs",
    "crates/cleaner/src/manager/plan.rs",
    "crates/cleaner/src/manager/podspec.rs",
    "crates/cleaner/src/manager/schedule.rs",
    "crates/drydock/src/dispatch.rs",
    "crates/reboot/src/forecast.rs",
    "crates/reboot/src/health.rs",
    "crates/reboot/src/lock.rs",
    "crates/reboot/src/machine.rs",
    "crates/vuln/src/matching.rs",
    "crates/vuln/src/os.rs",
];

/// The Image Cleaner's sources: `node/` and `manager/` are its two halves, the rest is shared.
const CLEANER_SRC: &str = "crates/cleaner/src";

/// Crates whose mere naming means IO (a client, a runtime, sockets, a database) or the CLI.
const IO_CRATES: &[&str] = &[
    "axum",
    "clap",
    "hyper",
    "hyper_util",
    "kube",
    "reqwest",
    "rusqlite",
    "rustix",
    "tokio",
    "tonic",
    "tracing_subscriber",
];

/// The parts of `std` that touch the world outside the process.
const IO_STD_MODULES: &[&str] = &["env", "fs", "net", "process", "time"];

/// What each crate's layer must not depend on (normal dependencies).
const LAYER_RULES: &[(&str, &[&str])] = &[
    // Shared names and types: no IO at all.
    (
        "drydock-api",
        &["tokio", "reqwest", "tonic", "clap", "axum"],
    ),
    // Image bytes: no cluster, no network, no CLI.
    (
        "drydock-imagefs",
        &["kube", "k8s-openapi", "tokio", "reqwest", "tonic", "clap"],
    ),
    // Libraries never see the CLI; only the binary parses arguments.
    ("drydock-cri", &["kube", "k8s-openapi", "clap"]),
    ("drydock-cleaner", &["clap", "tracing-subscriber"]),
    ("drydock-kube", &["clap", "tracing-subscriber"]),
    ("drydock-testkit", &["kube", "k8s-openapi", "clap"]),
];

/// The workspace's root, two levels above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The shipped sources: `crates/*/src/**/*.rs`, as paths relative to the root.
fn shipped_sources(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let src = krate.expect("entry").path().join("src");
        if src.is_dir() {
            for file in rust_files(&src) {
                let rel = file.strip_prefix(root).expect("under the root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

fn parse(root: &Path, rel: &str) -> syn::File {
    let text = std::fs::read_to_string(root.join(rel)).expect("readable source");
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{rel}: not Rust syntax: {e}"))
}

/// Whether the attributes mark test-only code (`#[test]`, `#[cfg(test)]`, `#[tokio::test]`).
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let path = a.path();
        if path.is_ident("test") || path.segments.last().is_some_and(|s| s.ident == "test") {
            return true;
        }
        if path.is_ident("cfg") {
            let mut test = false;
            let _ = a.parse_nested_meta(|m| {
                test |= m.path.is_ident("test");
                Ok(())
            });
            return test;
        }
        false
    })
}

/// Collects `(name, lines)` of every function outside test-only code.
#[derive(Default)]
struct Lengths {
    found: Vec<(String, usize)>,
    owner: Vec<String>,
}

impl Lengths {
    fn record(&mut self, name: &syn::Ident, start: proc_macro2::Span, body: &syn::Block) {
        let first = start.start().line;
        let last = body.brace_token.span.close().end().line;
        let qualified = match self.owner.last() {
            Some(owner) => format!("{owner}::{name}"),
            None => name.to_string(),
        };
        self.found.push((qualified, last + 1 - first));
    }
}

impl<'ast> Visit<'ast> for Lengths {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            self.record(&f.sig.ident, f.sig.fn_token.span, &f.block);
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if is_test_only(&i.attrs) {
            return;
        }
        let owner = match &*i.self_ty {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map_or_else(String::new, |s| s.ident.to_string()),
            _ => String::from("_"),
        };
        self.owner.push(owner);
        syn::visit::visit_item_impl(self, i);
        self.owner.pop();
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            self.record(&f.sig.ident, f.sig.fn_token.span, &f.block);
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(body) = &f.default {
            self.record(&f.sig.ident, f.sig.fn_token.span, body);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

#[test]
fn no_function_outside_tests_runs_past_the_limit() {
    let root = root();
    let mut long = BTreeMap::new();
    for rel in shipped_sources(&root) {
        let mut lengths = Lengths::default();
        lengths.visit_file(&parse(&root, &rel));
        for (name, lines) in lengths.found {
            if lines > MAX_FUNCTION_LINES {
                long.insert((rel.clone(), name), lines);
            }
        }
    }
    let listed: BTreeMap<(String, String), usize> = TOO_LONG_FOR_NOW
        .iter()
        .map(|(f, n, l)| ((f.to_string(), n.to_string()), *l))
        .collect();
    let mut problems = Vec::new();
    for ((file, name), lines) in &long {
        match listed.get(&(file.clone(), name.clone())) {
            None => problems.push(format!(
                "{file}: `{name}` is {lines} lines (the limit is {MAX_FUNCTION_LINES}); split it into named steps"
            )),
            Some(was) if lines > was => problems.push(format!(
                "{file}: `{name}` grew from {was} to {lines} lines; it is listed to shrink, not grow"
            )),
            Some(_) => {}
        }
    }
    for ((file, name), was) in &listed {
        if !long.contains_key(&(file.clone(), name.clone())) {
            problems.push(format!(
                "{file}: `{name}` (listed at {was} lines) is now within the limit or gone: remove its row from TOO_LONG_FOR_NOW"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every path a file names (`use` trees and paths in code), as its segments.
#[derive(Default)]
struct Paths {
    found: Vec<Vec<String>>,
}

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                full.push(n.ident.to_string());
                self.found.push(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                full.push(r.ident.to_string());
                self.found.push(full);
            }
            syn::UseTree::Glob(_) => self.found.push(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.found
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // Macro bodies are tokens, not syntax: look for `crate ::` pairs in them too.
        let tokens: Vec<String> = m
            .tokens
            .clone()
            .into_iter()
            .map(|t| t.to_string())
            .collect();
        for w in tokens.windows(2) {
            if w[1] == ":" {
                self.found.push(vec![w[0].clone()]);
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

/// What in `path` makes a pure module impure, if anything.
fn io_in(path: &[String]) -> Option<String> {
    let first = path.first()?.trim_start_matches("::");
    if IO_CRATES.contains(&first) {
        return Some(first.to_owned());
    }
    if first == "std" {
        let second = path.get(1)?;
        if IO_STD_MODULES.contains(&second.as_str()) {
            return Some(format!("std::{second}"));
        }
    }
    None
}

#[test]
fn pure_modules_name_no_io_crate() {
    let root = root();
    let mut problems = Vec::new();
    for rel in PURE_MODULES {
        assert!(
            root.join(rel).is_file(),
            "{rel} is listed as pure but does not exist"
        );
        let mut paths = Paths::default();
        paths.visit_file(&parse(&root, rel));
        let mut seen: Vec<String> = paths.found.iter().filter_map(|p| io_in(p)).collect();
        seen.sort();
        seen.dedup();
        for what in seen {
            problems.push(format!("{rel} is a pure module but names `{what}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The halves of the cleaner a file of it may not name (`crate::node`, `crate::manager`).
fn cleaner_halves_forbidden_in(rel: &str) -> &'static [&'static str] {
    let inside = rel.strip_prefix(CLEANER_SRC).unwrap_or(rel);
    if inside.starts_with("/node/") {
        &["manager"]
    } else if inside.starts_with("/manager/") {
        &["node"]
    } else if inside == "/lib.rs" {
        &[]
    } else {
        &["node", "manager"]
    }
}

#[test]
fn the_cleaners_node_and_manager_halves_never_import_each_other() {
    let root = root();
    let files = rust_files(&root.join(CLEANER_SRC));
    let mut problems = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        let forbidden = cleaner_halves_forbidden_in(&rel);
        let mut paths = Paths::default();
        paths.visit_file(&parse(&root, &rel));
        for path in &paths.found {
            if let [first, second, ..] = &path[..]
                && first == "crate"
                && forbidden.contains(&second.as_str())
            {
                problems.push(format!("{rel} names `{}`", path.join("::")));
            }
        }
    }
    assert!(files.len() > 20, "the cleaner's sources were not found");
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_seam_rule_knows_which_half_a_file_is_in() {
    assert_eq!(
        cleaner_halves_forbidden_in("crates/cleaner/src/node/scan.rs"),
        ["manager"]
    );
    assert_eq!(
        cleaner_halves_forbidden_in("crates/cleaner/src/manager/controller/mod.rs"),
        ["node"]
    );
    assert_eq!(
        cleaner_halves_forbidden_in("crates/cleaner/src/report.rs"),
        ["node", "manager"]
    );
    assert!(cleaner_halves_forbidden_in("crates/cleaner/src/lib.rs").is_empty());
}

#[test]
fn io_in_recognises_what_it_must() {
    let p = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(io_in(&p("kube::Api")), Some("kube".into()));
    assert_eq!(io_in(&p("std::fs::read")), Some("std::fs".into()));
    assert_eq!(io_in(&p("std::collections::BTreeMap")), None);
    assert_eq!(io_in(&p("jiff::Timestamp")), None);
}

#[test]
fn crates_depend_only_on_what_their_layer_may() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let mut problems = Vec::new();
    for (krate, forbidden) in LAYER_RULES {
        let package = packages
            .iter()
            .find(|p| p["name"] == *krate)
            .unwrap_or_else(|| panic!("{krate} is in LAYER_RULES but not in the workspace"));
        for dep in package["dependencies"].as_array().expect("dependencies") {
            let normal = dep["kind"].is_null();
            let name = dep["name"].as_str().unwrap_or_default();
            if normal && forbidden.contains(&name) {
                problems.push(format!(
                    "{krate} depends on {name}, which its layer must not"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
