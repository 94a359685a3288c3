//! The rpmdb readers vs the real rpm 4.18: `testdata/rpm/make-rpmdb.sh` builds tiny rpms
//! with rpmbuild and registers them in a fresh sqlite rpmdb; Drydock's inventory of that file
//! must equal what `rpm -qa` reports from it. The same headers are then written as a Berkeley
//! DB rpmdb (`make-bdb-rpmdb.sh`, db_load) and as an NDB one (`make-ndb-rpmdb.sh`, rpm built
//! from Debian's source with its NDB backend), each compared with that rpm's `-qa`. Damaged
//! copies of the real files must fail with an error naming the input, never panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_vuln::inventory::rpm::{self, read_sqlite_headers};
use drydock_vuln::inventory::rpm_header::RpmHeader;

/// rpm's `--qf` for the rows of [`qa_rows`] with the vendor column.
const QA_FORMAT: &str =
    "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{VENDOR}\\n";

/// `headers` as rpm's `-qa --qf` prints them (tab-separated, `(none)` where a tag is missing),
/// sorted: name, epoch, version, release, arch, source rpm, and the vendor when `vendor`.
fn qa_rows(headers: &[RpmHeader], vendor: bool) -> Vec<String> {
    let none = |tag: Option<&str>| tag.unwrap_or("(none)").to_owned();
    let mut rows: Vec<String> = headers
        .iter()
        .map(|h| {
            let mut row = format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                h.name,
                h.epoch.map_or("(none)".to_owned(), |e| e.to_string()),
                h.version,
                h.release,
                none(h.arch.as_deref()),
                none(h.source_rpm.as_deref()),
            );
            if vendor {
                row = format!("{row}\t{}", none(h.vendor.as_deref()));
            }
            row
        })
        .collect();
    rows.sort();
    rows
}

fn make_rpmdb(dir: &Path) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rpm/make-rpmdb.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .status()
        .expect("bash runs");
    assert!(status.success(), "{} failed", script.display());
    std::fs::read(dir.join("rpmdb.sqlite")).unwrap_or_else(|e| panic!("rpmdb.sqlite: {e}"))
}

/// `rpm -qa --qf format` on the rpmdb in `dir`, sorted; `backend` names rpm's database
/// backend when it is not the default (sqlite). rpm warns on stderr about the index databases
/// a converted rpmdb lacks; it reads `Packages` all the same.
fn rpm_qa(dir: &Path, backend: Option<&str>, format: &str) -> Vec<String> {
    let mut command = Command::new("rpm");
    if let Some(backend) = backend {
        command.args(["--define", &format!("_db_backend {backend}")]);
    }
    qa_lines(command, dir, format)
}

/// `COMMAND --dbpath dir -qa --qf format`, its lines sorted.
fn qa_lines(mut command: Command, dir: &Path, format: &str) -> Vec<String> {
    command.arg("--dbpath").arg(dir);
    let output = command
        .args(["-qa", "--qf", format])
        .output()
        .expect("rpm runs (install-deps installs it)");
    assert!(output.status.success(), "{output:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn sqlite_rpmdb_inventory_equals_rpm_qa() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().to_path_buf();
    let bytes = make_rpmdb(&db);

    let headers = read_sqlite_headers("rpmdb.sqlite", &bytes).unwrap();
    let ours = qa_rows(&headers, true);
    let theirs = rpm_qa(&db, None, QA_FORMAT);
    assert_eq!(ours.len(), 4, "{ours:?}");
    assert_eq!(ours, theirs);

    let mut packages: Vec<String> = rpm::parse_rpmdb("var/lib/rpm/rpmdb.sqlite", &bytes)
        .unwrap()
        .into_iter()
        .map(|p| {
            format!(
                "{} {} {} {}",
                p.name, p.version, p.source_name, p.source_version
            )
        })
        .collect();
    packages.sort();
    assert_eq!(
        packages,
        [
            "bash 5.1.8-9.el9 bash 5.1.8-9.el9",
            "openssl 1:3.0.7-24.el9 openssl 1:3.0.7-24.el9",
            "openssl-libs 1:3.0.7-24.el9 openssl 1:3.0.7-24.el9",
            "tzdata 2024a-1.el9 tzdata 2024a-1.el9",
        ]
    );
}

/// Truncations at `cuts` and single-byte flips every `flip_step` bytes of `bytes`: every
/// copy parses or fails naming `input`, never panics, and at least five fail.
fn assert_damaged_copies_fail_cleanly(bytes: &[u8], input: &str, cuts: &[usize], flip_step: usize) {
    let mut damaged: Vec<Vec<u8>> = cuts.iter().map(|n| bytes[..*n].to_vec()).collect();
    for at in (0..bytes.len()).step_by(flip_step) {
        let mut copy = bytes.to_vec();
        copy[at] ^= 0xff;
        damaged.push(copy);
    }
    let mut failures = 0;
    for copy in &damaged {
        if let Err(error) = rpm::parse_rpmdb(input, copy) {
            failures += 1;
            assert!(error.to_string().contains(input), "{error}");
        }
    }
    assert!(failures >= 5, "only {failures} damaged copies failed");
}

#[test]
fn damaged_copies_of_a_real_rpmdb_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = make_rpmdb(dir.path());
    // Truncations at page boundaries and in the middle, and single-byte flips every 997 bytes
    // (a prime, so the flips walk through headers, b-tree pages and blobs).
    let cuts = [100, 4096, 8192, bytes.len() / 2, bytes.len() - 1];
    assert_damaged_copies_fail_cleanly(&bytes, "var/lib/rpm/rpmdb.sqlite", &cuts, 997);
}

/// Builds the sqlite rpmdb, then a Berkeley DB one of its headers (`copies` times each) at
/// `page_size` with db_load; the `Packages` bytes and their directory.
fn make_bdb_rpmdb(dir: &Path, page_size: u32, copies: u32) -> (Vec<u8>, PathBuf) {
    make_rpmdb(&dir.join("sqlite"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rpm/make-bdb-rpmdb.sh");
    let out = dir.join(format!("bdb-{page_size}"));
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir.join("sqlite"))
        .arg(&out)
        .arg(page_size.to_string())
        .arg(copies.to_string())
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "{} failed (apt-get install db5.3-util)",
        script.display()
    );
    let bytes = std::fs::read(out.join("Packages")).expect("db_load wrote Packages");
    (bytes, out)
}

#[test]
fn berkeley_db_rpmdb_inventory_equals_rpm_qa_at_every_page_size() {
    let format = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n";
    // 512-byte pages put every header on a chain of overflow pages; 50 copies of each header
    // make the hash table split over many pages; 64 KiB pages keep headers on the page.
    for (page_size, copies) in [(512, 50), (4096, 50), (65536, 3)] {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, db) = make_bdb_rpmdb(dir.path(), page_size, copies);
        let headers = rpm::read_bdb_headers("Packages", &bytes).unwrap();
        let ours = qa_rows(&headers, false);
        assert_eq!(ours.len(), 4 * copies as usize, "page size {page_size}");
        assert_eq!(
            ours,
            rpm_qa(&db, Some("bdb_ro"), format),
            "page size {page_size}"
        );
        let packages = rpm::parse_rpmdb("var/lib/rpm/Packages", &bytes).unwrap();
        assert_eq!(packages.len(), 4 * copies as usize);
    }
}

#[test]
fn damaged_copies_of_a_berkeley_db_rpmdb_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = make_bdb_rpmdb(dir.path(), 512, 5);
    // 512-byte pages: the cuts end inside the metadata page, at page boundaries and midway;
    // flips every 97 bytes (a prime) walk through page headers, item offsets and overflow data.
    let cuts = [100, 512, 1024, bytes.len() / 2, bytes.len() - 1];
    assert_damaged_copies_fail_cleanly(&bytes, "var/lib/rpm/Packages", &cuts, 97);
}

/// The NDB script: `testdata/rpm/make-ndb-rpmdb.sh`.
fn ndb_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rpm/make-ndb-rpmdb.sh")
}

/// Builds rpm with its NDB backend (cached in the target directory) and an NDB rpmdb in `dir`
/// holding the four test packages `copies` times; the `Packages.db` bytes.
fn make_ndb_rpmdb(dir: &Path, copies: u32) -> Vec<u8> {
    let status = Command::new("bash")
        .arg(ndb_script())
        .arg(dir)
        .arg(copies.to_string())
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "make-ndb-rpmdb.sh failed (scripts/lib/install-deps.sh installs what it needs)"
    );
    std::fs::read(dir.join("Packages.db")).expect("rpm wrote Packages.db")
}

/// The NDB file's slot page count (a little-endian u32 at offset 12).
fn ndb_slot_pages(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"))
}

#[test]
fn ndb_rpmdb_inventory_equals_rpm_qa() {
    // 80 copies of the four packages: 320 slots, more than the 254 of the first slot page, so
    // rpm added a slot page and moved the blobs that were in its way.
    let copies = 80;
    let dir = tempfile::tempdir().unwrap();
    let bytes = make_ndb_rpmdb(dir.path(), copies);
    assert!(ndb_slot_pages(&bytes) >= 2, "{}", ndb_slot_pages(&bytes));

    let headers = rpm::read_ndb_headers("Packages.db", &bytes).unwrap();
    let ours = qa_rows(&headers, true);
    let mut built_rpm = Command::new("bash");
    built_rpm.arg(ndb_script()).arg("--rpm");
    let theirs = qa_lines(built_rpm, dir.path(), QA_FORMAT);
    assert_eq!(ours.len(), 4 * copies as usize);
    assert_eq!(ours, theirs);

    let mut packages: Vec<String> = rpm::parse_rpmdb("usr/lib/sysimage/rpm/Packages.db", &bytes)
        .unwrap()
        .into_iter()
        .map(|p| format!("{} {} {}", p.name, p.version, p.source_name))
        .collect();
    packages.sort();
    packages.dedup();
    assert_eq!(
        packages,
        [
            "bash 5.1.8-9.el9 bash",
            "openssl 1:3.0.7-24.el9 openssl",
            "openssl-libs 1:3.0.7-24.el9 openssl",
            "tzdata 2024a-1.el9 tzdata",
        ]
    );
}

#[test]
fn damaged_copies_of_an_ndb_rpmdb_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = make_ndb_rpmdb(dir.path(), 5);
    // Cuts inside the file header, at the end of the slot page, on block boundaries every 37
    // blocks (through blob heads, bodies and tails) and one byte short; flips every 97 bytes (a
    // prime) walk through slots, blob heads, headers and tails.
    let mut cuts = vec![20, 4096, bytes.len() - 1];
    cuts.extend((4096..bytes.len()).step_by(16 * 37));
    assert_damaged_copies_fail_cleanly(&bytes, "usr/lib/sysimage/rpm/Packages.db", &cuts, 97);
}
