//! rpm comparator vs the real rpm 4.18: python3-rpm's `rpm.ver` ordering (full EVR strings,
//! `rpmverCmp`) over proptest-generated pairs in one Python process, and the rpm CLI's
//! `rpm.vercmp` (Lua) over the reference's tricky table in one `rpm --eval` call.

mod common;

use std::cmp::Ordering;
use std::process::Command;

use drydock_vuln::version::rpm::{Evr, rpmvercmp};
use proptest::prelude::*;

use common::{
    ORACLE_PAIRS, assert_agrees, assert_agrees_with_python, generate, parse_orderings,
    python_oracle, run_oracle, table_pairs,
};

/// Measured with rpm 4.18 `rpm.vercmp` and `rpm.labelCompare` (reference §4.2).
const TRICKY: &str = "
1.0~rc1 < 1.0
1.0~rc1 < 1.0~rc2
1.0^git1 > 1.0
1.0^git1 < 1.0.1
1.0^ > 1.0
1.0~rc1^git1 > 1.0~rc1
1.0a > 1.0
1.0 < 1.0.0
1.0.a < 1.0.1
1.01 = 1.1
1.0_1 = 1.0.1
2.0 = 2_0
1.0+ = 1.0
a < b
a < 1
1:1.0-1 > 2.0-1
0:1.0-1 = 1.0-1
1.0-1 < 1.0-1.el9
1.0-1.el9 < 1.0-1.el9_1
3.0.7-27.el9 < 3.0.7-28.el9
1.2.3-4.cm2 < 1.2.3-10.cm2
20230101 > 2023.01.01
1.0 < 1.0-1
";

const RPM_SCRIPT: &str = r#"
import sys
try:
    import rpm
except ImportError:
    sys.exit(3)
out = []
for line in sys.stdin.read().splitlines():
    a, b = line.split("\t")
    va, vb = rpm.ver(a), rpm.ver(b)
    out.append(str((va > vb) - (va < vb)))
print("\n".join(out))
"#;

/// Reads `a\tb` lines from stdin and prints rpm.vercmp for each, space-separated (rpm's Lua
/// `print` output is collected into the macro expansion).
const RPM_LUA: &str = r#"%{lua: local out = {} for l in io.lines() do local a, b = l:match("^(.-)\t(.*)$"); out[#out + 1] = tostring(rpm.vercmp(a, b)) end print(table.concat(out, " ")) }"#;

fn ours(a: &str, b: &str) -> Ordering {
    let parse = |v: &str| Evr::parse(v).expect("generated versions parse");
    parse(a).cmp(&parse(b))
}

/// A version/release field from a small vocabulary: digit runs with leading zeros, letters,
/// `~`, `^` and separators that rpm skips.
fn field() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "0", "1", "2", "9", "10", "01", "007", "a", "b", "Z", "rc", "git", "el", "cm", "~", "^",
        ".", "_", "+", "~~", "^^",
    ]);
    prop::collection::vec(piece, 1..7).prop_map(|p| p.concat())
}

fn evr() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.15, prop::sample::select(vec!["0", "1", "2", "01"])),
        field(),
        prop::option::weighted(0.6, field()),
    )
        .prop_map(|(epoch, version, release)| {
            let mut v = String::new();
            if let Some(e) = epoch {
                v.push_str(e);
                v.push(':');
            }
            v.push_str(&version);
            if let Some(r) = release {
                v.push('-');
                v.push_str(&r);
            }
            v
        })
}

fn pair() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (evr(), evr()),
        (evr(), field()).prop_map(|(a, tail)| {
            let cut = a.len() / 2;
            let b = format!("{}{}", &a[..cut], tail);
            (a, b)
        }),
        evr().prop_map(|a| (a.clone(), a.replace('.', "_"))),
    ]
    .prop_filter("both sides parse", |(a, b)| {
        Evr::parse(a).is_ok() && Evr::parse(b).is_ok()
    })
}

#[test]
fn generated_pairs_compare_exactly_like_python3_rpm() {
    let pairs = generate(pair(), ORACLE_PAIRS);
    assert_agrees_with_python("rpm.ver", RPM_SCRIPT, "python3-rpm", &pairs, ours);
}

#[test]
fn generated_fields_compare_exactly_like_rpmvercmp() {
    // Bare fields (no `-` or `:`), so rpm.ver compares exactly rpmvercmp(version) with no release.
    let pairs = generate((field(), field()), ORACLE_PAIRS);
    let oracle = python_oracle(RPM_SCRIPT, &pairs, "python3-rpm");
    assert_agrees("rpm.ver", &pairs, rpmvercmp, &oracle);
}

#[test]
fn tricky_table_holds_for_us_and_for_the_rpm_cli() {
    let (pairs, expected) = table_pairs(TRICKY);
    assert_agrees("the reference table", &pairs, ours, &expected);

    let lines: Vec<String> = pairs.iter().map(|(a, b)| format!("{a}\t{b}")).collect();
    let mut rpm = Command::new("rpm");
    rpm.args(["--eval", RPM_LUA]);
    let printed = run_oracle(rpm, &lines, "apt-get install rpm");
    let oracle = parse_orderings(&printed, pairs.len());
    assert_agrees("rpm.vercmp", &pairs, ours, &oracle);
}
