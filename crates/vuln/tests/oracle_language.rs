//! Language-ecosystem comparators vs the reference implementations, installed from Debian:
//! PEP 440 vs Python's `packaging` (python3-packaging), SemVer vs npm's `semver`
//! (node-semver), Go versions vs `golang.org/x/mod/semver` (golang-golang-x-mod-dev, run with
//! Debian's Go), gem versions vs Ruby's `Gem::Version` (ruby), Maven versions vs Maven's
//! `ComparableVersion` (libmaven3-core-java, run with Debian's JDK), Composer versions vs
//! `Composer\Semver` (`VersionParser::normalize`, then `Comparator`; php-composer-semver, run
//! with php-cli). For each: 10,000 generated pairs compared in one process of the reference,
//! the tricky table checked by us and by the reference, and 10,000 near-valid strings on which
//! we must accept exactly what it accepts (Maven accepts every string, so it has no validity
//! run). NuGet's comparer is .NET code with no runnable reference here: its tables are unit
//! tests of `version::nuget`.

mod common;

use std::cmp::Ordering;
use std::process::Command;

use drydock_vuln::VersionScheme;
use proptest::prelude::*;

use common::{
    ORACLE_PAIRS, SYSTEM_PYTHON, assert_agrees, assert_covers_all_orderings, generate, table_pairs,
};

/// Debian's directory of Node modules (node-semver installs `semver` there); a Node from
/// another source does not search it by default.
const DEBIAN_NODE_PATH: &str = "/usr/share/nodejs";

/// Debian's Go source tree (golang-golang-x-mod-dev installs `golang.org/x/mod` there).
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// The oracle's answer for one line of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Order(Ordering),
    /// The reference refused one side of the pair (or, for validity runs, the string).
    Invalid,
    Valid,
}

/// Runs `command`, feeding `lines` on stdin, and parses one answer per line: `-1`, `0`, `1`,
/// `x` (invalid) or `v` (valid).
fn run(command: Command, lines: &[String], install: &str) -> Vec<Answer> {
    let output = common::run_oracle(command, lines, &format!("apt-get install {install}"));
    let answers: Vec<Answer> = output
        .split_whitespace()
        .map(|word| match word {
            "x" => Answer::Invalid,
            "v" => Answer::Valid,
            n => Answer::Order(n.parse::<i64>().expect("oracle prints integers").cmp(&0)),
        })
        .collect();
    assert_eq!(answers.len(), lines.len(), "one answer per input line");
    answers
}

/// One reference implementation and how to ask it.
struct Oracle {
    scheme: VersionScheme,
    name: &'static str,
    install: &'static str,
    /// Builds the command; `mode` is `cmp` (tab-separated pairs) or `valid` (one string).
    command: fn(&str) -> Command,
}

// === impl Oracle ===

impl Oracle {
    fn ours(&self, a: &str, b: &str) -> Ordering {
        self.scheme
            .compare(a, b)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    fn orderings(&self, pairs: &[(String, String)]) -> Vec<Ordering> {
        let lines: Vec<String> = pairs.iter().map(|(a, b)| format!("{a}\t{b}")).collect();
        run((self.command)("cmp"), &lines, self.install)
            .into_iter()
            .zip(pairs)
            .map(|(answer, pair)| match answer {
                Answer::Order(order) => order,
                other => panic!("{} answered {other:?} for {pair:?}", self.name),
            })
            .collect()
    }

    fn check_generated(
        &self,
        strategy: impl Strategy<Value = String> + Clone,
        equal: fn(&str) -> String,
    ) {
        let pairs: Vec<(String, String)> = generate(pair(strategy, equal), ORACLE_PAIRS)
            .into_iter()
            .filter(|(a, b)| self.scheme.validate(a).is_ok() && self.scheme.validate(b).is_ok())
            .collect();
        assert!(
            pairs.len() > ORACLE_PAIRS * 3 / 4,
            "the generator makes valid versions"
        );
        let oracle = self.orderings(&pairs);
        assert_covers_all_orderings(&oracle);
        assert_agrees(self.name, &pairs, |a, b| self.ours(a, b), &oracle);
    }

    fn check_table(&self, text: &str) {
        let (pairs, expected) = table_pairs(text);
        assert_agrees("the table", &pairs, |a, b| self.ours(a, b), &expected);
        assert_agrees(
            self.name,
            &pairs,
            |a, b| self.ours(a, b),
            &self.orderings(&pairs),
        );
    }

    fn check_validity(&self, strategy: impl Strategy<Value = String>) {
        let strings: Vec<String> = generate(strategy, ORACLE_PAIRS);
        let answers = run((self.command)("valid"), &strings, self.install);
        let accepted = answers.iter().filter(|a| **a == Answer::Valid).count();
        assert!(
            accepted > strings.len() / 10 && accepted < strings.len() * 9 / 10,
            "the generator mixes valid and invalid strings ({accepted} valid)"
        );
        let disagreements: Vec<String> = strings
            .iter()
            .zip(&answers)
            .filter(|(s, answer)| self.scheme.validate(s).is_ok() != (**answer == Answer::Valid))
            .map(|(s, answer)| format!("{s:?}: {} says {answer:?}", self.name))
            .take(20)
            .collect();
        assert!(
            disagreements.is_empty(),
            "validity differs:\n{}",
            disagreements.join("\n")
        );
    }
}

/// Pairs where the second side is often a small edit of the first: another version, the
/// same one spelled differently (`equal`), or one digit changed.
fn pair(
    version: impl Strategy<Value = String> + Clone,
    equal: fn(&str) -> String,
) -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (version.clone(), version.clone()),
        version.clone().prop_map(move |a| (a.clone(), equal(&a))),
        (version, any::<prop::sample::Index>(), 0_u8..10).prop_map(|(a, at, digit)| {
            let digits: Vec<usize> = a
                .match_indices(|c: char| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            let mut b = a.clone();
            if !digits.is_empty() {
                let i = digits[at.index(digits.len())];
                b.replace_range(i..=i, &digit.to_string());
            }
            (a, b)
        }),
    ]
}

/// Valid versions from `version`, most of them then edited once (a character of `alphabet`
/// inserted or substituted, or one removed): strings on both sides of the grammar's edge.
fn near_valid(
    version: impl Strategy<Value = String>,
    alphabet: Vec<char>,
) -> impl Strategy<Value = String> {
    (
        version,
        any::<prop::sample::Index>(),
        prop::sample::select(alphabet),
        0_u8..4,
    )
        .prop_map(|(mut s, at, c, edit)| {
            let i = at.index(s.len() + 1);
            let at_char = i < s.len() && s.is_char_boundary(i);
            match edit {
                0 => s.insert(i.min(s.len()), c),
                1 if at_char => s.replace_range(i..=i, &c.to_string()),
                2 if at_char => {
                    s.remove(i);
                }
                _ => {}
            }
            s
        })
}

fn number() -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(vec!["0", "1", "2", "9", "10", "11", "100"])
}

// --- PEP 440 -------------------------------------------------------------------------------

const PEP440_SCRIPT: &str = r#"
import sys
from packaging.version import Version, InvalidVersion
def parse(s):
    try:
        return Version(s)
    except InvalidVersion:
        return None
out = []
for line in sys.stdin.read().split("\n")[:-1]:
    if sys.argv[1] == "valid":
        out.append("v" if parse(line) is not None else "x")
        continue
    a, b = (parse(s) for s in line.split("\t"))
    out.append("x" if a is None or b is None else str((a > b) - (a < b)))
print("\n".join(out))
"#;

fn pep440_oracle() -> Oracle {
    Oracle {
        scheme: VersionScheme::Pep440,
        name: "packaging",
        install: "python3 python3-packaging",
        command: |mode| {
            let mut c = Command::new(SYSTEM_PYTHON);
            c.args(["-c", PEP440_SCRIPT, mode]);
            c
        },
    }
}

fn pep440() -> impl Strategy<Value = String> + Clone {
    let sep = prop::sample::select(vec!["", "", ".", "-", "_"]);
    let opt_num = prop::option::of(number());
    let pre = prop::option::weighted(
        0.4,
        (
            sep.clone(),
            prop::sample::select(vec![
                "a", "b", "rc", "c", "alpha", "beta", "pre", "preview", "RC",
            ]),
            sep.clone(),
            opt_num.clone(),
        ),
    );
    let post = prop::option::weighted(
        0.3,
        prop_oneof![
            number().prop_map(|n| format!("-{n}")),
            (
                sep.clone(),
                prop::sample::select(vec!["post", "rev", "r", "POST"]),
                opt_num.clone()
            )
                .prop_map(|(s, l, n)| format!("{s}{l}{}", n.unwrap_or(""))),
        ],
    );
    let dev = prop::option::weighted(
        0.3,
        (sep, opt_num).prop_map(|(s, n)| format!("{s}dev{}", n.unwrap_or(""))),
    );
    let local = prop::option::weighted(
        0.2,
        prop::collection::vec(
            prop::sample::select(vec!["1", "2", "01", "a", "ubuntu", "Z"]),
            1..4,
        )
        .prop_map(|segs| format!("+{}", segs.join("."))),
    );
    (
        prop::sample::select(vec!["", "", "", "v", "1!", "2!"]),
        prop::collection::vec(number(), 1..5),
        pre,
        post,
        dev,
        local,
    )
        .prop_map(|(prefix, release, pre, post, dev, local)| {
            let mut v = format!("{prefix}{}", release.join("."));
            if let Some((s1, letter, s2, n)) = pre {
                v.push_str(&format!("{s1}{letter}"));
                if let Some(n) = n {
                    v.push_str(&format!("{s2}{n}"));
                }
            }
            v.push_str(&post.unwrap_or_default());
            v.push_str(&dev.unwrap_or_default());
            v.push_str(&local.unwrap_or_default());
            v
        })
}

const PEP440_TRICKY: &str = "
1.0.dev0 < 1.0a0
1.0a1.dev1 < 1.0a1
1.0a1 < 1.0a1.post1.dev1
1.0a1.post1 < 1.0b1
1.0rc1 < 1.0
1.0 < 1.0+local
1.0+local < 1.0.post0.dev0
1.0.post0.dev0 < 1.0.post0
1.0 = 1.0.0
1.0c1 = 1.0rc1
1.0-1 = 1.0.post1
1.0.post = 1.0.post0
1!0.1 > 2.0
v1.0 = 1.0
1.0+abc < 1.0+1
1.0+1.a < 1.0+1.0
1.0+abc.1 > 1.0+abc
1.0ALPHA1 = 1.0a1
1.0-preview.2 = 1.0rc2
1.01 = 1.1
1.0.0.0.1 > 1.0
";

#[test]
fn pep440_pairs_compare_exactly_like_packaging() {
    pep440_oracle().check_generated(pep440(), |a| a.replace('1', "01"));
}

#[test]
fn pep440_table_holds_for_us_and_for_packaging() {
    pep440_oracle().check_table(PEP440_TRICKY);
}

#[test]
fn pep440_accepts_exactly_what_packaging_accepts() {
    pep440_oracle().check_validity(near_valid(
        pep440(),
        "0123.-_!+vabcrpostdevRC x".chars().collect(),
    ));
}

// --- SemVer (npm) ---------------------------------------------------------------------------

const SEMVER_SCRIPT: &str = r#"
const semver = require('semver');
const mode = process.argv[1];
const lines = require('fs').readFileSync(0, 'utf8').split('\n').slice(0, -1);
const parse = (s) => { try { return new semver.SemVer(s); } catch (e) { return null; } };
console.log(lines.map((line) => {
  if (mode === 'valid') return parse(line) === null ? 'x' : 'v';
  const [a, b] = line.split('\t').map(parse);
  return a === null || b === null ? 'x' : String(a.compare(b));
}).join('\n'));
"#;

fn semver_oracle() -> Oracle {
    Oracle {
        scheme: VersionScheme::SemVer,
        name: "npm semver",
        install: "nodejs node-semver",
        command: |mode| {
            let mut c = Command::new("node");
            c.env("NODE_PATH", DEBIAN_NODE_PATH)
                .args(["-e", SEMVER_SCRIPT, mode]);
            c
        },
    }
}

fn pre_identifiers() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(
        prop::sample::select(vec![
            "alpha", "beta", "rc", "0", "1", "2", "10", "x-1", "1a", "A", "-",
        ]),
        1..4,
    )
    .prop_map(|ids| ids.join("."))
}

fn semver() -> impl Strategy<Value = String> + Clone {
    (
        prop::sample::select(vec!["", "", "v"]),
        (number(), number(), number()),
        prop::option::weighted(0.5, pre_identifiers()),
        prop::option::weighted(0.2, prop::sample::select(vec!["build.1", "001", "sha-abc"])),
    )
        .prop_map(|(v, (major, minor, patch), pre, build)| {
            let mut s = format!("{v}{major}.{minor}.{patch}");
            if let Some(pre) = pre {
                s.push_str(&format!("-{pre}"));
            }
            if let Some(build) = build {
                s.push_str(&format!("+{build}"));
            }
            s
        })
}

const SEMVER_TRICKY: &str = "
1.0.0-alpha < 1.0.0-alpha.1
1.0.0-alpha.1 < 1.0.0-alpha.beta
1.0.0-beta.2 < 1.0.0-beta.11
1.0.0-rc.1 < 1.0.0
1.0.0-1 < 1.0.0-a
1.0.0-a-1 > 1.0.0-a
1.0.0-A < 1.0.0-a
1.0.0+build = 1.0.0
v1.2.3 = 1.2.3
1.2.3-x.7.z.92 > 1.2.3-x.7.z.9
10.0.0 > 9.99.99
";

#[test]
fn semver_pairs_compare_exactly_like_npm_semver() {
    semver_oracle().check_generated(semver(), |a| {
        format!("{}+b.1", a.split('+').next().unwrap_or(a))
    });
}

#[test]
fn semver_table_holds_for_us_and_for_npm_semver() {
    semver_oracle().check_table(SEMVER_TRICKY);
}

#[test]
fn semver_accepts_exactly_what_npm_semver_accepts() {
    semver_oracle().check_validity(near_valid(semver(), "01.-+vaA= x".chars().collect()));
}

// --- Go -------------------------------------------------------------------------------------

const GO_PROGRAM: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/semver"
)

func v(s string) string {
	if strings.HasPrefix(s, "v") {
		return s
	}
	return "v" + s
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		line := in.Text()
		if os.Args[1] == "valid" {
			if semver.IsValid(v(line)) {
				fmt.Fprintln(out, "v")
			} else {
				fmt.Fprintln(out, "x")
			}
			continue
		}
		pair := strings.SplitN(line, "\t", 2)
		a, b := v(pair[0]), v(pair[1])
		if !semver.IsValid(a) || !semver.IsValid(b) {
			fmt.Fprintln(out, "x")
			continue
		}
		fmt.Fprintln(out, semver.Compare(a, b))
	}
}
"#;

/// Writes the Go oracle once per test process and returns `go run` for it.
fn go_command(mode: &str) -> Command {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("oracle.go"), GO_PROGRAM).expect("write the Go oracle");
        dir
    });
    let mut c = Command::new("go");
    c.env("GO111MODULE", "off")
        .env("GOPATH", DEBIAN_GOPATH)
        .env("GOFLAGS", "")
        .env("GOCACHE", dir.path().join("cache"))
        .arg("run")
        .arg(dir.path().join("oracle.go"))
        .arg(mode);
    c
}

fn go_oracle() -> Oracle {
    Oracle {
        scheme: VersionScheme::Go,
        name: "x/mod/semver",
        install: "golang-go golang-golang-x-mod-dev",
        command: go_command,
    }
}

fn go_version() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => semver(),
        1 => (prop::sample::select(vec!["", "v"]), number(), prop::option::of(number()))
            .prop_map(|(v, major, minor)| match minor {
                Some(minor) => format!("{v}{major}.{minor}"),
                None => format!("{v}{major}"),
            }),
        1 => (number(), number()).prop_map(|(a, b)| format!("{a}.{b}.0+incompatible")),
    ]
}

const GO_TRICKY: &str = "
v1 = v1.0.0
v1.2 = v1.2.0
1.2.0 < 1.2.1
2.0.0+incompatible = 2.0.0
1.21.0-rc.1 < 1.21.0
1.0.0-rc.1 < 1.0.0-rc.1.1
";

#[test]
fn go_pairs_compare_exactly_like_x_mod_semver() {
    go_oracle().check_generated(go_version(), |a| format!("v{}", a.trim_start_matches('v')));
}

#[test]
fn go_table_holds_for_us_and_for_x_mod_semver() {
    go_oracle().check_table(GO_TRICKY);
}

#[test]
fn go_accepts_exactly_what_x_mod_semver_accepts() {
    go_oracle().check_validity(near_valid(go_version(), "01.-+vaA x".chars().collect()));
}

// --- RubyGems -------------------------------------------------------------------------------

const RUBY_SCRIPT: &str = r#"
mode = ARGV[0]
out = STDIN.read.split("\n").map do |line|
  if mode == "valid"
    Gem::Version.correct?(line) ? "v" : "x"
  else
    a, b = line.split("\t", -1)
    if Gem::Version.correct?(a) && Gem::Version.correct?(b)
      (Gem::Version.new(a) <=> Gem::Version.new(b)).to_s
    else
      "x"
    end
  end
end
puts out.join("\n")
"#;

fn gem_oracle() -> Oracle {
    Oracle {
        scheme: VersionScheme::RubyGems,
        name: "Gem::Version",
        install: "ruby",
        command: |mode| {
            let mut c = Command::new("ruby");
            c.args(["-e", RUBY_SCRIPT, mode]);
            c
        },
    }
}

fn gem_version() -> impl Strategy<Value = String> + Clone {
    (
        number(),
        prop::collection::vec(
            prop::sample::select(vec!["0", "1", "2", "10", "a", "b1", "rc", "pre", "0a", "Z"]),
            0..4,
        ),
        prop::option::weighted(0.2, prop::sample::select(vec!["rc1", "beta.2", "x-y", "1"])),
    )
        .prop_map(|(first, rest, pre)| {
            let mut s = first.to_owned();
            for part in rest {
                s.push('.');
                s.push_str(part);
            }
            if let Some(pre) = pre {
                s.push('-');
                s.push_str(pre);
            }
            s
        })
}

const GEM_TRICKY: &str = "
1.0.a < 1.0
1.0-rc1 < 1.0
1.0.0.rc1 = 1.0.rc1
1.0 = 1
1.10 > 1.9
1.0.a10 > 1.0.a9
1.0.b > 1.0.a1
1.0.A < 1.0.a
0.9 < 1.0.a
";

#[test]
fn gem_pairs_compare_exactly_like_gem_version() {
    gem_oracle().check_generated(gem_version(), |a| a.replace('1', "01"));
}

#[test]
fn gem_table_holds_for_us_and_for_gem_version() {
    gem_oracle().check_table(GEM_TRICKY);
}

#[test]
fn gem_accepts_exactly_what_gem_version_accepts() {
    gem_oracle().check_validity(near_valid(gem_version(), "01.-+aZ _x".chars().collect()));
}

// --- Maven ----------------------------------------------------------------------------------

/// Debian's maven-artifact jar (libmaven3-core-java), which holds `ComparableVersion`.
const MAVEN_ARTIFACT_JAR: &str = "/usr/share/java/maven3-artifact.jar";

/// Maven accepts every string, so the oracle only compares (its `main` prints one pair per
/// call; this reads all pairs in one JVM).
const MAVEN_PROGRAM: &str = r#"
import java.io.*;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class Oracle {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out, "UTF-8")));
        String line;
        while ((line = in.readLine()) != null) {
            String[] pair = line.split("\t", -1);
            int c = new ComparableVersion(pair[0]).compareTo(new ComparableVersion(pair[1]));
            out.println(Integer.signum(c));
        }
        out.flush();
    }
}
"#;

/// Writes the Java oracle once per test process and returns the source launcher for it.
fn maven_command(_mode: &str) -> Command {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("Oracle.java"), MAVEN_PROGRAM)
            .expect("write the Java oracle");
        dir
    });
    let mut c = Command::new("java");
    c.arg("-cp")
        .arg(MAVEN_ARTIFACT_JAR)
        .arg(dir.path().join("Oracle.java"));
    c
}

fn maven_oracle() -> Oracle {
    Oracle {
        scheme: VersionScheme::Maven,
        name: "ComparableVersion",
        install: "openjdk-17-jdk-headless libmaven3-core-java",
        command: maven_command,
    }
}

fn maven_version() -> impl Strategy<Value = String> + Clone {
    let part = prop::sample::select(vec![
        "0",
        "1",
        "2",
        "10",
        "01",
        "1234567890",
        "a",
        "b",
        "m",
        "alpha",
        "beta",
        "milestone",
        "rc",
        "cr",
        "snapshot",
        "SNAPSHOT",
        "ga",
        "final",
        "Final",
        "RELEASE",
        "sp",
        "foo",
        "",
        "x",
        "Z",
    ]);
    let sep = prop::sample::select(vec![".", ".", "-", ""]);
    (number(), prop::collection::vec((sep, part), 0..6)).prop_map(|(first, rest)| {
        let mut s = first.to_owned();
        for (sep, part) in rest {
            s.push_str(sep);
            s.push_str(part);
        }
        s
    })
}

const MAVEN_TRICKY: &str = "
1 = 1.0.0
1-ga = 1
1.0.0.Final = 1
1.RELEASE = 1
1-cr1 = 1-rc1
1-a1 = 1-alpha-1
1-b2 = 1-beta2
1-m3 = 1-milestone-3
1-alpha < 1-beta
1-beta < 1-milestone
1-milestone < 1-rc
1-rc < 1-SNAPSHOT
1-SNAPSHOT < 1
1 < 1-sp
1-sp < 1-abc
1-abc < 1-1
1-1 < 1.1
1.0-1 = 1-1
1.10 > 1.9
1.0.0-rc1 < 1.0.0
2.0.0.RC1 < 2.0.0
1.a > 1
1.alpha1 = 1-alpha-1
1.x = 1-x
1.x.0.y = 1.x-y
1x > 1
1..1 = 1.0.1
1-- = 1
9RELEASE.2 > 9.0
12345678901234567890 > 1234567890
2.13.4.2 > 2.13.4
";

#[test]
fn maven_pairs_compare_exactly_like_comparable_version() {
    maven_oracle().check_generated(maven_version(), |a| format!("{}.0", a.to_uppercase()));
}

#[test]
fn maven_table_holds_for_us_and_for_comparable_version() {
    maven_oracle().check_table(MAVEN_TRICKY);
}

// --- Composer (Packagist) ------------------------------------------------------------------

/// Debian's autoloader of `Composer\Semver` (php-composer-semver).
const COMPOSER_SEMVER_AUTOLOAD: &str = "/usr/share/php/Composer/Semver/autoload.php";

/// Normalises each side with `VersionParser::normalize` (a named branch, `dev-…`, counts as
/// refused: Composer never orders it against releases) and compares with `Comparator`.
const COMPOSER_SCRIPT: &str = r#"
$parser = new Composer\Semver\VersionParser();
$norm = function ($v) use ($parser) {
    try { $n = $parser->normalize($v); } catch (\Exception $e) { return null; }
    return strpos($n, 'dev-') === 0 ? null : $n;
};
$lines = explode("\n", stream_get_contents(STDIN));
array_pop($lines);
foreach ($lines as $line) {
    if ($argv[1] === 'valid') { echo $norm($line) === null ? "x\n" : "v\n"; continue; }
    [$a, $b] = explode("\t", $line);
    [$a, $b] = [$norm($a), $norm($b)];
    if ($a === null || $b === null) { echo "x\n"; continue; }
    $c = 'Composer\Semver\Comparator';
    echo $c::lessThan($a, $b) ? -1 : ($c::equalTo($a, $b) ? 0
        : ($c::greaterThan($a, $b) ? 1 : 'x')), "\n";
}
"#;

fn composer_oracle() -> Oracle {
    Oracle {
        scheme: VersionScheme::Composer,
        name: "Composer\\Semver",
        install: "php-cli php-composer-semver",
        command: |mode| {
            let mut c = Command::new("php");
            c.args([
                "-r",
                &format!("require '{COMPOSER_SEMVER_AUTOLOAD}';\n{COMPOSER_SCRIPT}"),
                mode,
            ]);
            c
        },
    }
}

fn composer_version() -> impl Strategy<Value = String> + Clone {
    let classical = (
        prop::option::weighted(0.2, prop::sample::select(vec!["v", "V"])),
        number(),
        prop::collection::vec(number(), 0..4),
        prop::option::weighted(
            0.5,
            (
                prop::sample::select(vec!["", "-", ".", "_"]),
                prop::sample::select(vec![
                    "alpha", "a", "beta", "b", "Beta", "RC", "rc", "patch", "pl", "p", "stable",
                ]),
                prop::sample::select(vec!["", "", "1", "2", "10", ".1", "-2", "1.2", "01"]),
            ),
        ),
        prop::option::weighted(
            0.2,
            prop::sample::select(vec!["-dev", ".dev", "dev", "-DEV"]),
        ),
        prop::option::weighted(0.1, prop::sample::select(vec!["+build.1", "+2"])),
    )
        .prop_map(|(v, first, rest, modifier, dev, build)| {
            let mut s = format!("{}{first}", v.unwrap_or_default());
            for part in rest {
                s.push('.');
                s.push_str(part);
            }
            if let Some((sep, word, numbers)) = modifier {
                s.push_str(sep);
                s.push_str(word);
                s.push_str(numbers);
            }
            s.push_str(dev.unwrap_or_default());
            s.push_str(build.unwrap_or_default());
            s
        });
    let other = prop::sample::select(vec![
        "2023.01.15",
        "20230115",
        "2023-01-15-beta1",
        "2023.01.15.10.30",
        "1.x-dev",
        "1.2.x-dev",
        "v2.*-dev",
        "1.2.X-dev",
        "2.x-dev",
    ])
    .prop_map(str::to_owned);
    prop_oneof![8 => classical, 1 => other]
}

const COMPOSER_TRICKY: &str = "
v1.0.0 = 1.0.0
1.0 = 1.0.0.0
1.0.0.1 > 1.0
1.0.0-dev < 1.0.0-alpha1
1.0.0-alpha1 = 1.0.0-a1
1.0.0-alpha2 < 1.0.0-beta1
1.0.0-beta1 = 1.0.0b1
1.0.0-beta2 > 1.0.0-beta1
1.0.0-beta10 > 1.0.0-beta9
1.0.0-beta.10 > 1.0.0-beta.9
1.0.0-beta1 < 1.0.0-RC1
1.0.0-RC1 = 1.0.0-rc.1
1.0-RC < 1.0
1.0-stable = 1.0
1.0-patch1 > 1.0
1.0-pl1 = 1.0-patch1
1.0-p1 = 1.0-patch1
1.0-patch1 < 1.0.0.1
1.0-beta1-dev < 1.0-beta1
1.0-dev < 1.0
1.10 > 1.9
1.0+build.5 = 1.0
01.02 = 1.2
1.x-dev > 1.99
1.x-dev < 2.0-dev
2023.01.15 < 99999.0
1.0-STABLE < 1.0-stable
20230115 > 2023.01.15
";

#[test]
fn composer_pairs_compare_exactly_like_composer_semver() {
    composer_oracle().check_generated(composer_version(), |a| {
        a.strip_prefix(['v', 'V'])
            .map_or_else(|| format!("v{a}"), str::to_owned)
            .to_uppercase()
    });
}

#[test]
fn composer_table_holds_for_us_and_for_composer_semver() {
    composer_oracle().check_table(COMPOSER_TRICKY);
}

#[test]
fn composer_accepts_exactly_what_composer_semver_accepts() {
    composer_oracle().check_validity(near_valid(
        composer_version(),
        "01.-_+:vVabdepxX*z".chars().collect(),
    ));
}
