//! Helpers shared by the oracle tests: pair generation and one-process batch oracles.
//!
//! Oracles are real tools installed from Debian packages. A missing tool fails the test with
//! the package to install; it never passes silently.

#![allow(dead_code)] // Each test binary uses a different subset of these helpers.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

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

/// Runs `script` (which reads `a\tb` lines on stdin and prints one -1/0/1 per line) under the
/// system Python, once for all pairs.
pub fn python_oracle(
    script: &str,
    pairs: &[(String, String)],
    debian_package: &str,
) -> Vec<Ordering> {
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let mut child = Command::new(SYSTEM_PYTHON)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {SYSTEM_PYTHON} ({e}): apt-get install python3 {debian_package}")
        });
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("oracle reads its input");
    let output = child.wait_with_output().expect("oracle runs to completion");
    if output.status.code() == Some(MISSING_MODULE_EXIT) {
        panic!("oracle module missing: apt-get install {debian_package}");
    }
    assert!(
        output.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_orderings(&String::from_utf8_lossy(&output.stdout), pairs.len())
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
