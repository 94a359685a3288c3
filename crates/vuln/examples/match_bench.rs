//! Measures matching time per image with the compiled index open.
//!
//! Builds a synthetic Debian index shaped like the real one (each source package has tens of
//! `DEBIAN-CVE` records with an urgency and a CVSS vector, half of them also listed in a DSA, all
//! affecting Debian 11 and 12), then matches a Debian-12-sized image (100 binary packages from 60
//! source packages) against it repeatedly.
//!
//! ```text
//! cargo run --release -p drydock-vuln --example match_bench [SOURCE_PACKAGES] [RECORDS_PER_PACKAGE]
//! ```
//!
//! Defaults: 2000 source packages × 40 records (80 000 CVE records plus 40 000 advisories).

use std::io::Write;
use std::time::{Duration, Instant};

use drydock_vuln::{Index, Package, ReleaseFiles, detect_os};

/// Source packages in the default synthetic index.
const DEFAULT_SOURCES: usize = 2000;
/// Records per source package by default (Debian 12's openssl has ~250, zlib ~10).
const DEFAULT_RECORDS: usize = 40;
/// Source packages of the matched image (debootstrap minbase Debian 12 has ~60).
const IMAGE_SOURCES: usize = 60;
/// Binary packages of the matched image (debootstrap minbase Debian 12 has 88).
const IMAGE_PACKAGES: usize = 100;
/// Timed repetitions after the first (cold) match.
const ROUNDS: usize = 50;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let sources: usize = args.next().map_or(Ok(DEFAULT_SOURCES), |a| a.parse())?;
    let per_package: usize = args.next().map_or(Ok(DEFAULT_RECORDS), |a| a.parse())?;

    let dir = tempfile::tempdir()?;
    let zip_path = dir.path().join("all.zip");
    let started = Instant::now();
    write_zip(&zip_path, sources, per_package)?;
    println!(
        "wrote {} records to all.zip in {:?}",
        sources * per_package * 3 / 2,
        started.elapsed()
    );

    let out = dir.path().join("vuln.db");
    let started = Instant::now();
    let report = drydock_vuln::index::build(&[&zip_path], &out, jiff::Timestamp::UNIX_EPOCH)?;
    let size = std::fs::metadata(&out)?.len();
    println!(
        "built index: {} records, {} advisories, {} MiB in {:?}",
        report.records,
        report.advisories,
        size / (1024 * 1024),
        started.elapsed()
    );

    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=debian\nVERSION_ID=\"12\"\n"),
        ..Default::default()
    })
    .ok_or("Debian 12 is detected")?;
    let packages: Vec<Package> = (0..IMAGE_PACKAGES)
        .map(|i| {
            let source = format!("src{}", (i % IMAGE_SOURCES) * (sources / IMAGE_SOURCES));
            Package {
                name: format!("bin{i}"),
                version: "1.5-1".into(),
                source_name: source,
                source_version: "1.5-1".into(),
                arch: Some("amd64".into()),
            }
        })
        .collect();

    // Uncached: a fresh `Index` per image, so every lookup goes to SQLite and is parsed (the
    // file itself is in the page cache after the build, as it is on a node after the first scan).
    let mut uncached: Vec<Duration> = Vec::with_capacity(ROUNDS);
    let mut findings = 0;
    for _ in 0..ROUNDS {
        let index = Index::open(&out)?;
        let started = Instant::now();
        findings = index.match_packages(&os, &packages)?.len();
        uncached.push(started.elapsed());
    }
    // Cached: the same `Index` for every image, as one scanner run keeps it.
    let index = Index::open(&out)?;
    index.match_packages(&os, &packages)?;
    let mut cached: Vec<Duration> = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let again = index.match_packages(&os, &packages)?;
        cached.push(started.elapsed());
        assert_eq!(again.len(), findings);
    }
    uncached.sort();
    cached.sort();
    println!("{findings} findings per image; {ROUNDS} rounds each");
    println!(
        "per image, uncached lookups: median {:?}, max {:?}",
        uncached[ROUNDS / 2],
        uncached[ROUNDS - 1]
    );
    println!(
        "per image, cached lookups:   median {:?}, max {:?}",
        cached[ROUNDS / 2],
        cached[ROUNDS - 1]
    );
    Ok(())
}

/// Writes the synthetic dump: per source package, `per_package` DEBIAN-CVE records, and one
/// DSA per two of them.
fn write_zip(
    path: &std::path::Path,
    sources: usize,
    per_package: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut cve = 0usize;
    for s in 0..sources {
        for r in 0..per_package {
            cve += 1;
            // Fixes spread around the image's 1.5-1: about half the records match.
            let fixed = format!("1.{}-1", r % 10);
            let record = format!(
                r#"{{"id":"DEBIAN-CVE-2024-{cve}","modified":"2026-11-01T00:00:00Z","upstream":["CVE-2024-{cve}"],
"severity":[{{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],
"affected":[{{"package":{{"ecosystem":"Debian:12","name":"src{s}"}},
 "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}],
 "ecosystem_specific":{{"urgency":"medium"}}}},
{{"package":{{"ecosystem":"Debian:11","name":"src{s}"}},
 "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}],
 "ecosystem_specific":{{"urgency":"low"}}}}]}}"#
            );
            zip.start_file(format!("DEBIAN-CVE-2024-{cve}.json"), options)?;
            zip.write_all(record.as_bytes())?;
            if r % 2 == 0 {
                let dsa = format!(
                    r#"{{"id":"DSA-{cve}-1","upstream":["CVE-2024-{cve}"],
"affected":[{{"package":{{"ecosystem":"Debian:12","name":"src{s}"}},
 "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#
                );
                zip.start_file(format!("DSA-{cve}-1.json"), options)?;
                zip.write_all(dsa.as_bytes())?;
            }
        }
    }
    zip.finish()?;
    Ok(())
}
