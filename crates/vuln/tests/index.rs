//! The compiled index: built from the OSV fixture directories and from a zip made of them,
//! record counts, withdrawn records, lookups, findings identical to the in-memory matcher, and
//! the files it must refuse.

use std::io::Write;
use std::path::{Path, PathBuf};

use drydock_vuln::index::{self, Index};
use drydock_vuln::{
    Error, OsvRecord, Package, ReleaseFiles, detect_os, match_packages, parse_osv_record,
};
use jiff::Timestamp;

mod common;

use common::debian::{self, OSV_FIXTURES as FIXTURES};

/// Records in `debian12/` (all Debian:12, none withdrawn).
const DEBIAN12_RECORDS: u64 = 17;
/// Records in `handwritten/` that are not withdrawn, and the withdrawn one.
const HANDWRITTEN_RECORDS: u64 = 4;
const HANDWRITTEN_WITHDRAWN: u64 = 1;

fn fixture(dir: &str) -> PathBuf {
    Path::new(FIXTURES).join(dir)
}

fn built_at() -> Timestamp {
    "2026-11-22T10:00:00Z".parse().expect("valid timestamp")
}

fn load(dirs: &[&str]) -> Vec<OsvRecord> {
    dirs.iter().flat_map(|d| debian::records(d)).collect()
}

/// Writes every `*.json` of the fixture dirs into one zip, as an OSV `all.zip`.
/// The index of the `debian12` and `handwritten` fixtures, opened, with its directory.
fn debian_index() -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("vuln.db");
    index::build(
        &[fixture("debian12"), fixture("handwritten")],
        &out,
        built_at(),
    )
    .expect("index builds");
    let index = Index::open(&out).expect("index opens");
    (dir, index)
}

fn write_zip(path: &Path, dirs: &[&str], extra: &[(&str, &str)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("zip is writable"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for dir in dirs {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
            .expect("fixture dir exists")
            .map(|e| e.expect("readable").path())
            .collect();
        entries.sort();
        for path in entries
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let name = path
                .file_name()
                .expect("named")
                .to_string_lossy()
                .into_owned();
            zip.start_file(name, options).expect("entry starts");
            zip.write_all(&std::fs::read(&path).expect("readable"))
                .expect("entry written");
        }
    }
    for (name, text) in extra {
        zip.start_file(*name, options).expect("entry starts");
        zip.write_all(text.as_bytes()).expect("entry written");
    }
    zip.finish().expect("zip finishes");
}

#[test]
fn index_from_directories_counts_records_per_source_and_ecosystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("vuln.db");
    let report = index::build(
        &[fixture("debian12"), fixture("handwritten")],
        &out,
        built_at(),
    )
    .expect("index builds");
    assert_eq!(report.records, DEBIAN12_RECORDS + HANDWRITTEN_RECORDS);
    assert_eq!(report.withdrawn, HANDWRITTEN_WITHDRAWN);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.sources.len(), 2);
    assert_eq!(report.sources[0].records, DEBIAN12_RECORDS);
    assert_eq!(report.sources[1].records, HANDWRITTEN_RECORDS);
    assert_eq!(report.sources[1].withdrawn, HANDWRITTEN_WITHDRAWN);
    let counts: Vec<(&str, u64, u64)> = report
        .ecosystems
        .iter()
        .map(|e| (e.ecosystem.as_str(), e.records, e.withdrawn))
        .collect();
    assert_eq!(
        counts,
        [("Debian:11", 2, 0), ("Debian:12", DEBIAN12_RECORDS + 3, 1)]
    );

    let info = Index::open(&out)
        .expect("index opens")
        .info()
        .expect("info reads");
    assert_eq!(info.records, report.records);
    assert_eq!(info.withdrawn, report.withdrawn);
    assert_eq!(info.sources, report.sources);
    assert_eq!(info.ecosystems, report.ecosystems);
    assert_eq!(info.built_at, built_at());
    let later: Timestamp = "2026-11-25T10:00:00Z".parse().expect("valid");
    assert_eq!(info.age(later).as_hours(), 72);
}

#[test]
fn lookups_return_the_advisories_of_one_release_and_package() {
    let (_dir, index) = debian_index();

    let perl12 = index.records_for("Debian:12", "perl").expect("lookup");
    let ids: Vec<&str> = perl12.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "DEBIAN-CVE-2023-47038",
            "DEBIAN-CVE-2024-56406",
            "DEBIAN-CVE-2099-0003"
        ]
    );
    let perl11 = index.records_for("Debian:11", "perl").expect("lookup");
    assert_eq!(perl11.len(), 1);
    assert_eq!(
        perl11[0].vendor_severity,
        Some(drydock_vuln::Severity::Medium)
    );

    let openssl = index.records_for("Debian:12", "openssl").expect("lookup");
    assert!(
        openssl.iter().all(|a| a.id != "DEBIAN-CVE-2099-0002"),
        "withdrawn is skipped"
    );
    assert!(openssl.iter().any(|a| a.id == "DSA-9001-1"));
    assert!(
        index
            .records_for("Debian:12", "no-such-package")
            .expect("lookup")
            .is_empty()
    );
    assert!(
        index
            .records_for("PyPI", "openssl")
            .expect("lookup")
            .is_empty()
    );
}

#[test]
fn matching_with_the_index_equals_matching_the_records() {
    let (_dir, index) = debian_index();
    let os = debian::debian12();
    let packages = debian::packages();
    let direct = match_packages(&os, &packages, &load(&["debian12", "handwritten"]));
    let indexed = index
        .match_packages(&os, &packages)
        .expect("matching succeeds");
    assert!(
        direct.len() > 20,
        "the fixture produces findings: {}",
        direct.len()
    );
    assert_eq!(indexed, direct);
}

#[test]
fn matching_other_ecosystems_with_the_index_equals_matching_the_records() {
    let records = [
        r#"{"id":"ALPINE-CVE-2023-5678","upstream":["CVE-2023-5678"],
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}],
            "affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"openssl"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.4-r1"}]}]}]}"#,
        r#"{"id":"RLSA-2024:0001","aliases":["CVE-2024-0001"],
            "affected":[{"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-25.el9"}]}],
               "database_specific":{"severity":"Important"}},
              {"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"bad version"}]}]}]}"#,
        r#"{"id":"RLSA-2024:0002","aliases":["CVE-2024-0001"],
            "affected":[{"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-26.el9"}]}],
               "versions":["1:3.0.7-24.el9"]}]}"#,
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = dir.path().join("records");
    std::fs::create_dir(&sources).expect("mkdir");
    let parsed: Vec<OsvRecord> = records
        .iter()
        .enumerate()
        .map(|(i, text)| {
            std::fs::write(sources.join(format!("{i}.json")), text).expect("written");
            parse_osv_record("inline", text.as_bytes()).expect("valid")
        })
        .collect();
    let out = dir.path().join("vuln.db");
    index::build(&[&sources], &out, built_at()).expect("index builds");
    let index = Index::open(&out).expect("index opens");

    let alpine = detect_os(&ReleaseFiles {
        os_release: Some("ID=alpine\nVERSION_ID=3.18.4\n"),
        ..Default::default()
    })
    .expect("alpine");
    let apk = drydock_vuln::inventory::apk::parse_installed(
        "lib/apk/db/installed",
        b"P:libcrypto3\nV:3.1.4-r0\no:openssl\n\nP:musl\nV:1.2.4-r2\no:musl\n",
    )
    .expect("apk db parses");
    let rocky = detect_os(&ReleaseFiles {
        os_release: Some("ID=\"rocky\"\nVERSION_ID=\"9.3\"\n"),
        ..Default::default()
    })
    .expect("rocky");
    let rpm = vec![Package {
        name: "openssl-libs".into(),
        version: "1:3.0.7-24.el9".into(),
        source_name: "openssl".into(),
        source_version: "1:3.0.7-24.el9".into(),
        arch: Some("x86_64".into()),
    }];
    for (os, packages) in [(alpine, apk), (rocky, rpm)] {
        let direct = match_packages(&os, &packages, &parsed);
        assert!(!direct.is_empty(), "{os:?} has findings");
        assert_eq!(
            index.match_packages(&os, &packages).expect("matches"),
            direct
        );
    }
}

#[test]
fn zip_dump_gives_the_same_index_as_the_directories_and_names_its_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zip_path = dir.path().join("all.zip");
    // Entries that are not records are skipped.
    write_zip(
        &zip_path,
        &["debian12", "handwritten"],
        &[("README.md", "not a record"), ("dir/", "")],
    );
    let from_zip = dir.path().join("zip.db");
    let report = index::build(&[&zip_path], &from_zip, built_at()).expect("zip index builds");
    assert_eq!(report.records, DEBIAN12_RECORDS + HANDWRITTEN_RECORDS);
    assert_eq!(report.withdrawn, HANDWRITTEN_WITHDRAWN);

    let index = Index::open(&from_zip).expect("index opens");
    let os = debian::debian12();
    let packages = debian::packages();
    let direct = match_packages(&os, &packages, &load(&["debian12", "handwritten"]));
    assert_eq!(
        index.match_packages(&os, &packages).expect("matches"),
        direct
    );
}

#[test]
fn zip_in_an_osv_scanner_layout_directory_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("osv-scanner").join("Debian");
    std::fs::create_dir_all(&layout).expect("mkdir");
    write_zip(&layout.join("all.zip"), &["debian12"], &[]);
    let report = index::build(
        &[dir.path().join("osv-scanner")],
        &dir.path().join("v.db"),
        built_at(),
    )
    .expect("index builds");
    assert_eq!(report.records, DEBIAN12_RECORDS);
}

/// A Debian 12 record `DEBIAN-CVE-2099-<n>` for package `pkg<n>`, with fields of a newer
/// schema this reader does not know.
fn synthetic_record(n: usize) -> String {
    format!(
        r#"{{"schema_version":"9.9.0","id":"DEBIAN-CVE-2099-{n}","modified":"2026-01-01T00:00:00Z",
        "future_field":{{"nested":[1,2]}},
        "affected":[{{"package":{{"ecosystem":"Debian:12","name":"pkg{n}","purl":"pkg:deb/debian/pkg{n}"}},
        "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"1.0-1"}}]}}]}}]}}"#
    )
}

/// Writes a zip of `total` synthetic records, where those at `bad` positions have an integer
/// `modified` (the error a real dump produced).
fn write_synthetic_zip(path: &Path, total: usize, bad: impl Fn(usize) -> bool) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("zip is writable"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for n in 0..total {
        let text = if bad(n) {
            format!(r#"{{"id":"DEBIAN-CVE-2099-{n}","modified":5}}"#)
        } else {
            synthetic_record(n)
        };
        zip.start_file(format!("DEBIAN-CVE-2099-{n}.json"), options)
            .expect("entry starts");
        zip.write_all(text.as_bytes()).expect("entry written");
    }
    zip.finish().expect("zip finishes");
}

#[test]
fn a_zip_written_with_data_descriptors_reads_like_any_other() {
    // Go's zip writer (OSV's exporter) leaves sizes out of the local headers.
    let dir = tempfile::tempdir().expect("tempdir");
    let seekable = dir.path().join("seekable.zip");
    write_synthetic_zip(&seekable, 50, |_| false);
    let streamed = dir.path().join("streamed.zip");
    let mut zip = zip::ZipWriter::new_stream(std::fs::File::create(&streamed).expect("zip"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for n in 0..50 {
        zip.start_file(format!("DEBIAN-CVE-2099-{n}.json"), options)
            .expect("entry starts");
        zip.write_all(synthetic_record(n).as_bytes())
            .expect("entry written");
    }
    zip.finish().expect("zip finishes");
    let a = index::build(&[&seekable], &dir.path().join("a.db"), built_at()).expect("builds");
    let b = index::build(&[&streamed], &dir.path().join("b.db"), built_at()).expect("builds");
    assert_eq!((a.records, a.advisories, a.skipped), (50, 50, 0));
    assert_eq!((b.records, b.advisories, b.skipped), (50, 50, 0));
}

#[test]
fn one_bad_record_in_a_thousand_is_skipped_counted_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zip_path = dir.path().join("all.zip");
    write_synthetic_zip(&zip_path, 1000, |n| n == 437);
    let out = dir.path().join("vuln.db");
    let report = index::build(&[&zip_path], &out, built_at()).expect("one bad record is skipped");
    assert_eq!(
        report.records, 999,
        "newer schema_version and unknown fields are read"
    );
    assert_eq!(report.skipped, 1);
    let [unreadable] = &report.unreadable[..] else {
        panic!(
            "one source with unreadable records: {:?}",
            report.unreadable
        );
    };
    assert_eq!(unreadable.source, zip_path.display().to_string());
    assert_eq!((unreadable.skipped, unreadable.read), (1, 1000));
    let [skipped] = &unreadable.first[..] else {
        panic!("the bad record is named: {unreadable:?}");
    };
    assert!(
        skipped.name.ends_with("all.zip:DEBIAN-CVE-2099-437.json"),
        "{skipped:?}"
    );
    assert!(
        skipped.reason.contains("invalid type: integer `5`"),
        "{skipped:?}"
    );

    let index = Index::open(&out).expect("index opens");
    let info = index.info().expect("info");
    assert_eq!(info.skipped, 1);
    assert_eq!(
        info.unreadable, report.unreadable,
        "the index remembers what was skipped"
    );
    assert_eq!(
        index
            .records_for("Debian:12", "pkg437")
            .expect("lookup")
            .len(),
        0
    );
    assert_eq!(
        index
            .records_for("Debian:12", "pkg438")
            .expect("lookup")
            .len(),
        1
    );
}

#[test]
fn a_dump_with_half_its_records_bad_fails_naming_the_first_few() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zip_path = dir.path().join("all.zip");
    write_synthetic_zip(&zip_path, 1000, |n| n % 2 == 1);
    let out = dir.path().join("vuln.db");
    let err = index::build(&[&zip_path], &out, built_at()).expect_err("half bad fails");
    let Error::TooManyUnreadable {
        skipped,
        read,
        ref first,
        ..
    } = err
    else {
        panic!("not a TooManyUnreadable: {err}");
    };
    assert_eq!((skipped, read), (500, 1000));
    let text = err.to_string();
    for n in [1, 3, 5, 7, 9] {
        assert!(
            first.contains(&format!("all.zip:DEBIAN-CVE-2099-{n}.json")),
            "{text}"
        );
    }
    assert!(
        !first.contains("DEBIAN-CVE-2099-11.json"),
        "only the first few: {text}"
    );
    assert!(text.contains("500 of 1000"), "{text}");
    assert!(!out.exists(), "no index is left behind");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("readable").collect();
    assert_eq!(leftovers.len(), 1, "only the zip remains: {leftovers:?}");
}

#[test]
fn the_share_of_unreadable_records_fails_just_past_one_in_twenty() {
    assert!(!index::too_many_unreadable(50, 1000));
    assert!(index::too_many_unreadable(51, 1000));
    assert!(!index::too_many_unreadable(0, 0));
    assert!(
        index::too_many_unreadable(1, 1),
        "a lone bad record file fails"
    );
}

#[test]
fn one_bad_zip_among_good_sources_fails_on_its_own_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("osv");
    std::fs::create_dir_all(layout.join("Debian")).expect("mkdir");
    std::fs::create_dir_all(layout.join("Alpine")).expect("mkdir");
    write_synthetic_zip(&layout.join("Debian/all.zip"), 1000, |_| false);
    // 10 of 30 bad: a third of this dump, but 1 % of the directory.
    write_synthetic_zip(&layout.join("Alpine/all.zip"), 30, |n| n < 10);
    let err = index::build(&[&layout], &dir.path().join("v.db"), built_at())
        .expect_err("the broken dump fails");
    assert!(
        matches!(&err, Error::TooManyUnreadable { input, .. } if input.ends_with("Alpine/all.zip")),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_zip_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("all.zip");
    std::fs::write(&fake, b"not a zip").expect("written");
    let err = index::build(&[&fake], &dir.path().join("v.db"), built_at()).expect_err("fails");
    assert!(
        matches!(&err, Error::OsvSource { input, .. } if input.ends_with("all.zip")),
        "{err}"
    );
}

#[test]
fn newer_copy_of_a_record_replaces_the_older_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    for (path, modified, fixed) in [
        (&old, "2026-01-01T00:00:00Z", "1.0-1"),
        (&new, "2026-06-01T00:00:00Z", "2.0-1"),
    ] {
        std::fs::create_dir(path).expect("mkdir");
        std::fs::write(
            path.join("DEBIAN-CVE-2099-9.json"),
            format!(
                r#"{{"id":"DEBIAN-CVE-2099-9","modified":"{modified}","upstream":["CVE-2099-9"],
                "affected":[{{"package":{{"ecosystem":"Debian:12","name":"zlib"}},
                "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#
            ),
        )
        .expect("written");
    }
    let out = dir.path().join("v.db");
    // The newer one wins whichever order the sources come in.
    for sources in [[&new, &old], [&old, &new]] {
        let report = index::build(&sources, &out, built_at()).expect("builds");
        assert_eq!(
            (report.records, report.duplicates, report.advisories),
            (1, 1, 1)
        );
        let index = Index::open(&out).expect("opens");
        let advisories = index.records_for("Debian:12", "zlib").expect("lookup");
        assert_eq!(advisories.len(), 1);
        let drydock_vuln::advisory::Range::Events(events) = &advisories[0].ranges[0] else {
            panic!("range parses");
        };
        let fixed = events[1].version.as_ref().expect("fixed has a version");
        assert_eq!(fixed.raw, "2.0-1");
    }
}

#[test]
fn rebuilding_replaces_the_index_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("vuln.db");
    index::build(&[fixture("debian12")], &out, built_at()).expect("first build");
    let reader = Index::open(&out).expect("opens");
    index::build(
        &[fixture("debian12"), fixture("handwritten")],
        &out,
        built_at(),
    )
    .expect("second build");
    // A reader opened before the rename keeps the old index.
    assert_eq!(reader.info().expect("info").records, DEBIAN12_RECORDS);
    let fresh = Index::open(&out).expect("opens");
    assert_eq!(
        fresh.info().expect("info").records,
        DEBIAN12_RECORDS + HANDWRITTEN_RECORDS
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["vuln.db"]);
}

#[test]
fn missing_corrupt_foreign_and_other_version_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.db");
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, vec![0x5a_u8; 8192]).expect("written");
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);"))
        .expect("foreign db");
    let future = dir.path().join("future.db");
    rusqlite::Connection::open(&future)
        .and_then(|c| {
            c.execute_batch(
                "PRAGMA application_id = 1146247510; PRAGMA user_version = 99; CREATE TABLE t (x);",
            )
        })
        .expect("future db");
    let truncated = dir.path().join("truncated.db");
    index::build(&[fixture("debian12")], &truncated, built_at()).expect("builds");
    let bytes = std::fs::read(&truncated).expect("readable");
    std::fs::write(&truncated, &bytes[..100]).expect("truncated");

    for (path, expected) in [
        (&missing, "no such file"),
        (&corrupt, "not a readable SQLite database"),
        (&foreign, "not a Drydock vulnerability index"),
        (&future, "schema version 99"),
        (&truncated, "not a readable SQLite database"),
    ] {
        let err = Index::open(path).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(expected), "{text}");
    }
}
