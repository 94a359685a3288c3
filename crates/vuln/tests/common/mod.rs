//! Helpers shared by the tests: pair generation and one-process batch oracles for the oracle
//! tests, the Debian 12 fixture ([`debian`]) for the matching and index tests.
//!
//! Oracles are real tools installed from Debian packages. A missing tool fails the test with
//! the package to install; it never passes silently.

#![allow(dead_code)] // Each test binary uses a different subset of these helpers.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

pub mod debian;
pub mod records;

/// Pairs generated per ecosystem for the differential tests.
pub const ORACLE_PAIRS: usize = 10_000;

/// Debian's system interpreter: python3-apt and python3-rpm install their modules only for it,
/// not for a separately installed Python that may come first on `PATH`.
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Exit code the oracle scripts use when their Python module is missing.
const MISSING_MODULE_EXIT: i32 = 3;

/// Draws `count` values from `strategy` with proptest's deterministic runner, so a failure
/// reproduces on every machine.
pub fn generate<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("strategy generates a value")
                .current()
        })
        .collect()
}

/// Runs `command` with `lines` on its stdin, one a line, in one process, and returns what it
/// printed. A command that cannot start, exits with [`MISSING_MODULE_EXIT`] or fails, fails
/// the test saying to install `install` (an apt-get or pip command).
pub fn run_oracle(mut command: Command, lines: &[String], install: &str) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?} ({e}): {install}"));
    let mut input = lines.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("oracle reads its input");
    let output = child.wait_with_output().expect("oracle runs to completion");
    assert_ne!(
        output.status.code(),
        Some(MISSING_MODULE_EXIT),
        "oracle module missing: {install}"
    );
    assert!(
        output.status.success(),
        "oracle {command:?} failed ({install}): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `script` (which reads `a\tb` lines on stdin and prints one -1/0/1 per line) under the
/// system Python, once for all pairs.
pub fn python_oracle(
    script: &str,
    pairs: &[(String, String)],
    debian_package: &str,
) -> Vec<Ordering> {
    let lines: Vec<String> = pairs.iter().map(|(a, b)| format!("{a}\t{b}")).collect();
    let mut command = Command::new(SYSTEM_PYTHON);
    command.arg("-c").arg(script);
    let install = format!("apt-get install python3 {debian_package}");
    parse_orderings(&run_oracle(command, &lines, &install), pairs.len())
}

/// Parses whitespace-separated -1/0/1 results (any sign-carrying integers).
pub fn parse_orderings(text: &str, expected: usize) -> Vec<Ordering> {
    let results: Vec<Ordering> = text
        .split_whitespace()
        .map(|r| r.parse::<i64>().expect("oracle prints integers").cmp(&0))
        .collect();
    assert_eq!(
        results.len(),
        expected,
        "oracle printed one result per pair"
    );
    results
}

/// Compares our results with the oracle's and fails listing the first disagreements.
pub fn assert_agrees(
    name: &str,
    pairs: &[(String, String)],
    ours: impl Fn(&str, &str) -> Ordering,
    oracle: &[Ordering],
) {
    let disagreements: Vec<String> = pairs
        .iter()
        .zip(oracle)
        .filter(|((a, b), expected)| ours(a, b) != **expected)
        .map(|((a, b), expected)| {
            format!("{a:?} vs {b:?}: ours {:?}, {name} {expected:?}", ours(a, b))
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree with {name}, first ones:\n{}",
        disagreements.len(),
        pairs.len(),
        disagreements
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Parses a table of `a op b` lines (`<`, `=`, `>`) into pairs and expected orderings.
pub fn table(text: &str) -> Vec<(String, String, Ordering)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [a, op, b] = parts[..] else {
                panic!("bad table line {line:?}");
            };
            let expected = match op {
                "<" => Ordering::Less,
                "=" => Ordering::Equal,
                ">" => Ordering::Greater,
                _ => panic!("bad operator in {line:?}"),
            };
            (a.to_owned(), b.to_owned(), expected)
        })
        .collect()
}

/// [`table`] split into its pairs and their expected orderings.
pub fn table_pairs(text: &str) -> (Vec<(String, String)>, Vec<Ordering>) {
    table(text).into_iter().map(|(a, b, o)| ((a, b), o)).unzip()
}

/// Compares `pairs` with `ours` and with the Python `script` (see [`python_oracle`]); the
/// oracle must have seen every ordering.
pub fn assert_agrees_with_python(
    name: &str,
    script: &str,
    debian_package: &str,
    pairs: &[(String, String)],
    ours: impl Fn(&str, &str) -> Ordering,
) {
    let oracle = python_oracle(script, pairs, debian_package);
    assert_covers_all_orderings(&oracle);
    assert_agrees(name, pairs, ours, &oracle);
}

/// Fails unless the oracle saw each ordering at least a few times: a generator that only makes
/// unequal pairs would prove little.
pub fn assert_covers_all_orderings(oracle: &[Ordering]) {
    // At least 1% of pairs per outcome.
    let floor = oracle.len() / 100;
    for outcome in [Ordering::Less, Ordering::Equal, Ordering::Greater] {
        let seen = oracle.iter().filter(|o| **o == outcome).count();
        assert!(
            seen >= floor,
            "only {seen} {outcome:?} pairs of {}",
            oracle.len()
        );
    }
}
