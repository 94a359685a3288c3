//! CVSS v4.0 base scores vs Red Hat's Python `cvss` library (PyPI `cvss`, installed by
//! `scripts/lib/install-deps.sh`), which implements FIRST's specification and lookup table: every
//! one of the 104,976 base vectors is scored by both in one process of the reference, and the
//! scores and their bands must be equal. FIRST's published calculator values are checked in
//! the unit tests of `severity`.

mod common;

use std::process::Command;

use drydock_vuln::severity::{band, cvss4_base_score};

/// The Python `scripts/lib/pip-install.sh` installs PyPI packages for: the first on `PATH`.
const PYTHON: &str = "python3";

/// The PyPI package and version of the reference.
const ORACLE_PACKAGE: &str = "cvss==3.6";

/// Values of each CVSS v4.0 base metric, in the specification's order.
const BASE_METRICS: [(&str, &[&str]); 11] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
];

/// Reads one vector a line and prints its base score; exits 3 when the module is missing.
const SCRIPT: &str = r#"
import sys
try:
    from cvss import CVSS4
except ImportError:
    sys.exit(3)
out = []
for line in sys.stdin:
    line = line.strip()
    if line:
        out.append("%s" % CVSS4(line).base_score)
print("\n".join(out))
"#;

/// Every base vector: the cartesian product of [`BASE_METRICS`].
fn every_base_vector() -> Vec<String> {
    let mut vectors = vec!["CVSS:4.0".to_owned()];
    for (metric, values) in BASE_METRICS {
        vectors = vectors
            .iter()
            .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}/{metric}:{v}")))
            .collect();
    }
    vectors
}

#[test]
fn every_cvss4_base_vector_scores_as_the_reference_does() {
    let vectors = every_base_vector();
    assert_eq!(vectors.len(), 104_976);
    let mut command = Command::new(PYTHON);
    command.arg("-c").arg(SCRIPT);
    let install = format!("pip install {ORACLE_PACKAGE} (scripts/lib/install-deps.sh)");
    let output = common::run_oracle(command, &vectors, &install);
    let expected: Vec<f64> = output
        .split_whitespace()
        .map(|s| s.parse().expect("the oracle prints scores"))
        .collect();
    assert_eq!(expected.len(), vectors.len(), "one score per vector");
    let mut differences = Vec::new();
    for (vector, want) in vectors.iter().zip(&expected) {
        let got = cvss4_base_score(vector);
        if got != Some(*want) || got.and_then(band) != band(*want) {
            differences.push(format!("{vector}: ours {got:?}, reference {want}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} vectors differ, e.g. {:?}",
        differences.len(),
        vectors.len(),
        &differences[..differences.len().min(10)]
    );
}
