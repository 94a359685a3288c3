//! dpkg `status` parser vs dpkg itself: `dpkg-query --admindir` over a real Debian 12 status
//! fixture lists the same installed packages with the same binary and source names and
//! versions and architectures.

use std::path::Path;
use std::process::Command;

use drydock_vuln::inventory::dpkg::parse_status;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dpkg/status");

/// dpkg states with no package files on disk, which the parser skips by design.
const NOT_INSTALLED_STATES: [&str; 2] = ["not-installed", "config-files"];

#[test]
fn installed_packages_match_dpkg_query_on_a_real_status_file() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let admindir = tempfile::tempdir().unwrap();
    std::fs::write(admindir.path().join("status"), &bytes).unwrap();

    let output = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.path().display()))
        .args([
            "-W",
            "-f=${Package}\t${Version}\t${source:Package}\t${source:Version}\t${Architecture}\t${db:Status-Status}\n",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run dpkg-query ({e}): apt-get install dpkg"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut expected: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (fields, state) = line.rsplit_once('\t')?;
            (!NOT_INSTALLED_STATES.contains(&state)).then(|| fields.to_owned())
        })
        .collect();
    expected.sort();

    let name = Path::new("var/lib/dpkg/status").display().to_string();
    let mut ours: Vec<String> = parse_status(&name, &bytes)
        .unwrap()
        .into_iter()
        .map(|p| {
            format!(
                "{}\t{}\t{}\t{}\t{}",
                p.name,
                p.version,
                p.source_name,
                p.source_version,
                p.arch.unwrap_or_default()
            )
        })
        .collect();
    ours.sort();

    assert_eq!(
        ours.len(),
        22,
        "20 real stanzas plus two installed hand-written ones"
    );
    assert_eq!(ours, expected);
}
