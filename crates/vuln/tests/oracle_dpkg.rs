//! dpkg comparator vs the real tools: python3-apt's `apt_pkg.version_compare` over
//! proptest-generated pairs (one Python process), and `dpkg --compare-versions` over the
//! reference's tricky table.

mod common;

use std::cmp::Ordering;
use std::process::Command;

use drydock_vuln::version::dpkg::DpkgVersion;
use proptest::prelude::*;

use common::{
    ORACLE_PAIRS, assert_agrees, assert_agrees_with_python, generate, table, table_pairs,
};

/// Measured with dpkg 1.21.22 and python3-apt 2.6.0 (reference §4.1), plus Debian-specific
/// shapes seen in the Debian 12 fixtures.
const TRICKY: &str = "
1.0~rc1 < 1.0
1.0~~ < 1.0~
1.0~ < 1.0
1.0 < 1.0+b1
1.0-1 < 1.0-1+deb12u1
1.0-1~bpo12+1 < 1.0-1
1:0.9 > 2.0
0:1.0 = 1.0
1.0a > 1.0
1.0 < 1.0.0
1.0-0 = 1.0
1.0-1 > 1.0
2.36-9+deb12u4 < 2.36-9+deb12u10
3.0.11-1~deb12u2 < 3.0.11-1
1.2.13.dfsg-1 > 1.2.13-1
1.0+dfsg > 1.0
1.0-1ubuntu0.1 > 1.0-1
1.0-1build1 < 1.0-1ubuntu1
1.01 = 1.1
1.001 = 1.1
1.0a < 1.0+
1.0. > 1.0
1:9.2p1-2+deb12u3 < 1:9.2p1-2+deb12u10
2.9.14+dfsg-1.3~deb12u1 > 2.9.14+dfsg-1.2
252.39-1~deb12u1 < 252.39-1
a1.0 > 1.0
";

const APT_SCRIPT: &str = r#"
import sys
try:
    import apt_pkg
except ImportError:
    sys.exit(3)
apt_pkg.init_system()
out = []
for line in sys.stdin.read().splitlines():
    a, b = line.split("\t")
    r = apt_pkg.version_compare(a, b)
    out.append("-1" if r < 0 else ("1" if r > 0 else "0"))
print("\n".join(out))
"#;

fn ours(a: &str, b: &str) -> Ordering {
    DpkgVersion::parse(a)
        .expect("generated versions parse")
        .cmp(&DpkgVersion::parse(b).expect("generated versions parse"))
}

/// A version built from a small vocabulary, so that pairs often share prefixes and hit `~`,
/// leading zeros, letters against symbols, and empty parts.
fn version() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "0", "1", "2", "9", "10", "01", "001", "a", "b", "z", "A", "Z", "~", "~~", ".", "+", "rc",
        "dfsg", "deb12u", "ubuntu", "~bpo", "+b",
    ]);
    let part = prop::collection::vec(piece, 0..6).prop_map(|p| p.concat());
    let first_digit = prop::sample::select(vec!["0", "1", "2", "10"]);
    (
        prop::option::weighted(0.15, 0_u32..3),
        first_digit,
        part.clone(),
        prop::option::weighted(0.6, (prop::sample::select(vec!["0", "1", "2", "1a"]), part)),
    )
        .prop_map(|(epoch, first, upstream, revision)| {
            let mut v = String::new();
            if let Some(e) = epoch {
                v.push_str(&format!("{e}:"));
            }
            v.push_str(first);
            v.push_str(&upstream);
            if let Some((head, tail)) = revision {
                v.push('-');
                v.push_str(head);
                v.push_str(&tail);
            }
            v
        })
}

/// Pairs where the second side is often a small edit of the first.
fn pair() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (version(), version()),
        (version(), version()).prop_map(|(a, b)| {
            let cut = a.len() / 2;
            let b = format!(
                "{}{}",
                &a[..cut],
                &b[b.find(|c: char| c.is_ascii_digit()).unwrap_or(0)..]
            );
            (a, b)
        }),
        // Spellings dpkg treats as equal: padded digit runs, an explicit zero epoch.
        version().prop_map(|a| {
            let padded = a.replace('1', "01");
            let b = if padded.contains(':') {
                padded
            } else {
                format!("0:{padded}")
            };
            (a, b)
        }),
    ]
    .prop_filter("both sides parse", |(a, b)| {
        DpkgVersion::parse(a).is_ok() && DpkgVersion::parse(b).is_ok()
    })
}

#[test]
fn generated_pairs_compare_exactly_like_apt_pkg() {
    let pairs = generate(pair(), ORACLE_PAIRS);
    assert_agrees_with_python("apt_pkg", APT_SCRIPT, "python3-apt", &pairs, ours);
}

#[test]
fn tricky_table_holds_for_us_and_for_apt_pkg() {
    let (pairs, expected) = table_pairs(TRICKY);
    assert_agrees("the reference table", &pairs, ours, &expected);
    assert_agrees_with_python("apt_pkg", APT_SCRIPT, "python3-apt", &pairs, ours);
}

#[test]
fn tricky_table_holds_for_dpkg_compare_versions() {
    for (a, b, expected) in table(TRICKY) {
        let holds = |op: &str| {
            Command::new("dpkg")
                .args(["--compare-versions", &a, op, &b])
                .output()
                .unwrap_or_else(|e| panic!("cannot run dpkg ({e}): apt-get install dpkg"))
                .status
                .success()
        };
        let dpkg = if holds("lt") {
            Ordering::Less
        } else if holds("eq") {
            Ordering::Equal
        } else {
            Ordering::Greater
        };
        assert_eq!(dpkg, expected, "dpkg on {a} vs {b}");
    }
}
