//! Layering: the pure decision modules of the reboot crate import no IO and no command-line
//! parser, checked on their source rather than hoped for. They may use `crate::Error`, which
//! therefore must not carry a `clap` type either (flag errors are `config::Error`).

use std::path::PathBuf;

/// The modules that decide without IO: time, the environment and the cluster are arguments.
const PURE_MODULES: [&str; 7] = [
    "lock.rs",
    "machine.rs",
    "window.rs",
    "health.rs",
    "forecast.rs",
    "request.rs",
    "gocompat.rs",
];

/// Paths a pure module must not name: the Kubernetes client and types, the async runtime,
/// RPC, HTTP, the command-line parser, the file system, the process environment, processes
/// and sockets, and this crate's own IO layers.
const FORBIDDEN: [&str; 15] = [
    "kube::",
    "k8s_openapi::",
    "tokio::",
    "tonic::",
    "reqwest::",
    "clap::",
    "std::fs",
    "std::env",
    "std::process",
    "std::net",
    "crate::config",
    "crate::k8s",
    "crate::host",
    "crate::daemon",
    "crate::admin",
];

fn source(file: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "src", file].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The module's code without its unit tests and comments (tests may use a runtime).
fn production_code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `use a::{b, c}` is written `a::` too, so a prefix search over the code finds every import
/// and every qualified path; a `use kube;` alone is caught as `use kube`.
fn forbidden_in(code: &str) -> Vec<&'static str> {
    FORBIDDEN
        .iter()
        .copied()
        .filter(|path| {
            let bare = path.trim_end_matches("::");
            code.contains(path) || code.contains(&format!("use {bare};"))
        })
        .collect()
}

#[test]
fn pure_modules_import_no_io_and_no_command_line_parser() {
    for module in PURE_MODULES {
        let found = forbidden_in(&production_code(&source(module)));
        assert!(found.is_empty(), "src/{module} names {found:?}");
    }
}

#[test]
fn the_crate_error_that_pure_modules_return_carries_no_clap_type() {
    let lib = production_code(&source("lib.rs"));
    let error = lib
        .split("pub enum Error")
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .unwrap_or_else(|| panic!("no `pub enum Error` in src/lib.rs"));
    assert!(!error.contains("clap"), "crate::Error names clap: {error}");
}

#[test]
fn the_check_finds_what_it_forbids() {
    let code = production_code("use tokio::sync::Notify;\nfn f() { clap::Command::new(\"x\"); }");
    assert_eq!(forbidden_in(&code), vec!["tokio::", "clap::"]);
    assert!(forbidden_in(&production_code("// tokio:: in a comment\nfn f() {}")).is_empty());
}
