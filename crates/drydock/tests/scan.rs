//! The scanner end to end: `drydock vulndb build` over the OSV fixtures, `drydock scan` over an
//! OCI archive built here, `drydock clean --vulndb` and the collector → scanner → remover
//! pipeline against a private containerd. The sample images are Debian 12 with libssl3
//! 3.0.11-1~deb12u2 (source openssl), which the fixtures make vulnerable (CVE-2099-0001, LOW,
//! unfixed); the clean image's dpkg status holds only `base-files`, which no record names.
//! Needs root and `containerd`, `runc`, `busybox-static` (`scripts/test.sh` installs them).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    CLEAN, Stages, VULNERABLE, clean_status, drydock, eraser_config,
    only_the_vulnerable_image_is_gone, run_pod, succeeded, tags, vulnerable_and_clean,
};
use drydock_cri::ImageRuntime;
use drydock_testkit::Containerd;
use drydock_testkit::containerd::{PAUSE_IMAGE, repo_root};
use serde_json::Value;

/// Builds the fixture index into `dir` with `drydock vulndb build`.
fn build_index(dir: &Path) -> PathBuf {
    let fixtures = repo_root().join("crates/vuln/tests/fixtures/osv");
    let db = dir.join("vuln.db");
    let output = drydock(&[
        "vulndb",
        "build",
        "--osv",
        fixtures.join("debian12").to_str().unwrap(),
        "--osv",
        fixtures.join("handwritten").to_str().unwrap(),
        "--vulndb",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    succeeded(&output, "vulndb build");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["records"].as_u64().unwrap() > 0, "{report}");
    db
}

#[test]
fn vulndb_info_describes_the_index_it_built() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let output = drydock(&["vulndb", "info", db.to_str().unwrap(), "--format", "json"]);
    succeeded(&output, "vulndb info");
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    let debian12 = info["ecosystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ecosystem"] == "Debian:12")
        .unwrap_or_else(|| panic!("no Debian:12 in {info}"));
    assert!(debian12["records"].as_u64().unwrap() > 0, "{info}");
    assert_eq!(
        info["withdrawn"], 1,
        "the handwritten withdrawn record is skipped: {info}"
    );
    let table = drydock(&["vulndb", "info", db.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("Debian:12"));
}

/// Writes `total` Debian 12 records into `dir`, those at `bad` positions with an integer
/// `modified` (what a real dump once carried).
fn write_records(dir: &Path, total: usize, bad: impl Fn(usize) -> bool) {
    std::fs::create_dir_all(dir).unwrap();
    for n in 0..total {
        let text = if bad(n) {
            format!(r#"{{"id":"DEBIAN-CVE-2099-{n}","modified":5}}"#)
        } else {
            format!(
                r#"{{"id":"DEBIAN-CVE-2099-{n}","schema_version":"9.0.0","affected":[{{"package":{{"ecosystem":"Debian:12","name":"pkg{n}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}]}}]}}"#
            )
        };
        std::fs::write(dir.join(format!("DEBIAN-CVE-2099-{n:03}.json")), text).unwrap();
    }
}

#[test]
fn vulndb_build_skips_and_names_a_bad_record_and_fails_once_on_a_bad_source() {
    let dir = tempfile::tempdir().unwrap();
    let (mostly_good, half_bad) = (dir.path().join("good"), dir.path().join("bad"));
    write_records(&mostly_good, 100, |n| n == 42);
    write_records(&half_bad, 100, |n| n % 2 == 0);
    let db = dir.path().join("vuln.db");
    let db = db.to_str().unwrap();

    let output = drydock(&[
        "vulndb",
        "build",
        "--osv",
        mostly_good.to_str().unwrap(),
        "--vulndb",
        db,
    ]);
    succeeded(&output, "vulndb build");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("skipped 1 unreadable record(s) of 100"),
        "{table}"
    );
    assert!(
        table.contains("DEBIAN-CVE-2099-042.json: invalid type: integer `5`"),
        "{table}"
    );
    let info = drydock(&["vulndb", "info", db, "--format", "json"]);
    succeeded(&info, "vulndb info");
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["skipped"], 1, "{info:#}");
    assert_eq!(info["records"], 99, "{info:#}");

    let output = drydock(&[
        "vulndb",
        "build",
        "--osv",
        half_bad.to_str().unwrap(),
        "--vulndb",
        db,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("50 of 100 records unreadable"), "{stderr}");
    assert!(stderr.contains("DEBIAN-CVE-2099-000.json"), "{stderr}");
    let failure = stderr
        .lines()
        .find(|l| l.contains("\"failed\""))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(
        failure.matches("50 of 100").count(),
        1,
        "the error is said once: {failure}"
    );
    // The failed build left the previous index in place.
    let info = drydock(&["vulndb", "info", db, "--format", "json"]);
    succeeded(&info, "vulndb info after a failed build");
}

#[test]
fn scan_reports_an_oci_archive_as_vulnerable_and_exits_zero_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let archive = dir.path().join("vulnerable.tar");
    let built = Command::new(repo_root().join("scripts/lib/build-image.sh"))
        .arg(&archive)
        .arg(VULNERABLE)
        .output()
        .unwrap();
    succeeded(&built, "build-image.sh");
    let archive = archive.to_str().unwrap();
    let db = db.to_str().unwrap();

    let output = drydock(&["scan", "--db", db, archive, "--format", "json"]);
    succeeded(&output, "scan");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let image = &report["images"][0];
    assert_eq!(image["verdict"], "nonCompliant", "{report:#}");
    assert_eq!(image["os"]["family"], "debian");
    assert_eq!(image["os"]["release"], "12");
    assert_eq!(image["packages"], 2);
    assert_eq!(image["findings"][0]["id"], "CVE-2099-0001", "{report:#}");
    assert_eq!(image["findings"][0]["severity"], "LOW", "{report:#}");
    assert_eq!(image["findings"][0]["status"], "affected", "{report:#}");
    assert!(image["timings"]["readMs"].as_f64().is_some());

    // The real Debian records (from changelogs) carry no urgency and no CVSS: their findings
    // are UNKNOWN, which Eraser's default severities leave out. Asked for, they appear with
    // the changelog's fixed versions.
    let output = drydock(&[
        "scan",
        "--db",
        db,
        archive,
        "--format",
        "json",
        "--severity",
        "UNKNOWN",
    ]);
    succeeded(&output, "scan --severity UNKNOWN");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["images"][0]["findings"].as_array().unwrap();
    let finding = |id: &str| {
        findings
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {report:#}"))
    };
    for (id, fixed) in [
        ("CVE-2023-5678", "3.0.13-1~deb12u1"),
        ("CVE-2024-0727", "3.0.13-1~deb12u1"),
    ] {
        assert_eq!(finding(id)["package"], "libssl3");
        assert_eq!(finding(id)["sourcePackage"], "openssl");
        assert_eq!(finding(id)["fixed"], fixed);
        assert_eq!(finding(id)["severity"], "UNKNOWN");
        let aliases = finding(id)["aliases"].as_array().unwrap().clone();
        assert!(
            aliases.contains(&Value::from(format!("DEBIAN-{id}"))),
            "{aliases:?}"
        );
    }
    assert!(
        findings.iter().all(|f| f["severity"] == "UNKNOWN"),
        "{report:#}"
    );

    let flagged = drydock(&["scan", "--db", db, archive, "--exit-code", "5"]);
    assert_eq!(flagged.status.code(), Some(5));
    let table = String::from_utf8_lossy(&flagged.stdout);
    assert!(table.contains("NON-COMPLIANT"), "{table}");
    assert!(table.contains("CVE-2099-0001"), "{table}");

    // The only counted finding is LOW: asking for HIGH and above makes the image compliant.
    let high = drydock(&[
        "scan",
        "--db",
        db,
        archive,
        "--severity",
        "HIGH,CRITICAL",
        "--exit-code",
        "5",
    ]);
    assert_eq!(
        high.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&high.stdout)
    );
}

/// Builds a sample image archive with `scripts/lib/build-image.sh`; `status` replaces the
/// default dpkg status (libssl3 + zlib1g).
fn build_archive(dir: &Path, file: &str, name: &str, status: Option<&Path>) -> PathBuf {
    let archive = dir.join(file);
    let mut command = Command::new(repo_root().join("scripts/lib/build-image.sh"));
    command.arg(&archive).arg(name);
    if let Some(status) = status {
        command.env("STATUS_FILE", status);
    }
    succeeded(&command.output().unwrap(), "build-image.sh");
    archive
}

#[test]
fn scan_exits_1_naming_why_for_a_truncated_archive_and_0_for_a_clean_image() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let status = clean_status(dir.path());
    let clean = build_archive(dir.path(), "clean.tar", CLEAN, Some(&status));
    let vulnerable = build_archive(dir.path(), "vulnerable.tar", VULNERABLE, None);
    let bytes = std::fs::read(&vulnerable).unwrap();
    let truncated = dir.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.tar");
    std::fs::write(&garbage, b"not an image at all").unwrap();
    let (db, clean) = (db.to_str().unwrap(), clean.to_str().unwrap());

    let output = drydock(&["scan", "--db", db, clean, "--exit-code", "5"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    for broken in [&truncated, &garbage] {
        let broken = broken.to_str().unwrap();
        // With the clean image alongside, and with --exit-code for findings: still 1.
        for extra in [&[][..], &["--exit-code", "5"][..]] {
            let mut args = vec!["scan", "--db", db, clean, broken];
            args.extend_from_slice(extra);
            let output = drydock(&args);
            let (stdout, stderr) = (
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
            assert!(stdout.contains("FAILED"), "{stdout}");
            let why = stderr
                .lines()
                .find(|line| line.contains(broken))
                .unwrap_or_else(|| panic!("stderr does not name {broken}: {stderr}"));
            assert!(why.contains("not scanned"), "{why}");
            assert!(
                why.contains("not an OCI archive"),
                "the reason is given: {why}"
            );
            assert_eq!(stderr.matches(broken).count(), 1, "said once: {stderr}");
        }
    }
}

/// `drydock clean --vulndb db` over `ctrd`; returns its JSON report.
fn clean_with_vulndb(ctrd: &Containerd, db: &Path) -> Value {
    let endpoint = ctrd.endpoint().to_string();
    let output = drydock(&[
        "clean",
        "--runtime-endpoint",
        &endpoint,
        "--vulndb",
        db.to_str().unwrap(),
        "--containerd-root",
        ctrd.root().to_str().unwrap(),
        "-o",
        "json",
    ]);
    succeeded(&output, "clean --vulndb");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn clean_with_a_vulndb_removes_the_vulnerable_image_and_keeps_the_clean_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let ctrd = vulnerable_and_clean(dir.path());

    let report = clean_with_vulndb(&ctrd, &db);
    let entry = |name: &str| {
        report["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["image"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in {report:#}"))
    };
    assert_eq!(entry(VULNERABLE)["action"], "removed", "{report:#}");
    assert!(
        entry(VULNERABLE)["reason"]
            .as_str()
            .unwrap()
            .starts_with("vulnerable"),
        "{report:#}"
    );
    assert_eq!(entry(CLEAN)["action"], "kept");
    assert_eq!(entry(CLEAN)["reason"], "not vulnerable");
    only_the_vulnerable_image_is_gone(&ctrd).await;
}

#[tokio::test]
async fn collector_scanner_and_remover_remove_only_the_vulnerable_image() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let ctrd = vulnerable_and_clean(dir.path());
    // A scanner config that keeps failures.
    let (logs, _, summary) = worker_pod(
        &ctrd,
        dir.path(),
        &db,
        "deleteFailedImages: false\nvulnerabilities:\n  ignoreUnfixed: false\n",
        &[],
    );
    assert!(
        logs.contains("\"message\":\"scanning image with id\""),
        "{logs}"
    );
    assert!(
        logs.contains("\"message\":\"vulnerable image found\""),
        "{logs}"
    );
    assert!(
        logs.contains("\"message\":\"scanning complete, waiting for remover to finish...\""),
        "{logs}"
    );
    assert_eq!(
        summary["removedImages"],
        serde_json::json!([VULNERABLE]),
        "{summary}"
    );
    only_the_vulnerable_image_is_gone(&ctrd).await;
}

/// The three stages of a worker pod against `ctrd`, with `scanner_config` as the EraserConfig's
/// `components.scanner.config` and `collector_flags` added to the collector. Returns the
/// scanner's logs, its termination message (when it wrote one) and the remover's.
fn worker_pod(
    ctrd: &Containerd,
    dir: &Path,
    db: &Path,
    scanner_config: &str,
    collector_flags: &[&str],
) -> (String, Option<Value>, Value) {
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    let config = eraser_config(dir, scanner_config);
    let scanner_termination = dir.join("scanner-termination-log");
    let remover_termination = dir.join("remover-termination-log");
    let pod = run_pod(
        &Stages::new(ctrd, &shared),
        collector_flags,
        &[
            "--config",
            config.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--termination-log",
            scanner_termination.to_str().unwrap(),
        ],
        &["--termination-log", remover_termination.to_str().unwrap()],
    );
    let scanner = pod.scanner;
    let read = |path: &Path| -> Option<Value> {
        std::fs::read(path)
            .ok()
            .map(|bytes| serde_json::from_slice(&bytes).unwrap())
    };
    (
        String::from_utf8_lossy(&scanner.stderr).into_owned(),
        read(&scanner_termination),
        read(&remover_termination).unwrap(),
    )
}

const VULNERABLE_UNUSED: &str = "localhost/demo/vulnerable-unused:1";

/// Two vulnerable images, one running in a pod, one unused, and a clean unused one.
async fn running_and_unused_images(dir: &Path) -> Containerd {
    let ctrd = Containerd::start();
    ctrd.add_image(VULNERABLE, &[]);
    ctrd.add_image(VULNERABLE_UNUSED, &[]);
    ctrd.add_image_with_status(CLEAN, &[], Some(&clean_status(dir)));
    let client = ctrd.client().await;
    drydock_testkit::containerd::run_pod(
        &client,
        "running",
        VULNERABLE,
        drydock_testkit::containerd::Left::Running,
    )
    .await;
    ctrd
}

#[tokio::test]
async fn with_report_in_use_the_vulnerable_image_in_use_is_reported_and_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let ctrd = running_and_unused_images(dir.path()).await;
    let running_id = {
        let mut client = ctrd.client().await;
        client
            .list_images()
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.repo_tags.contains(&VULNERABLE.to_owned()))
            .unwrap()
            .id
    };
    let (logs, report, removed) = worker_pod(
        &ctrd,
        dir.path(),
        &db,
        "deleteFailedImages: true\nreportInUse: true\n",
        &["--report-in-use"],
    );
    assert!(
        logs.contains("\"message\":\"vulnerable image in use\""),
        "{logs}"
    );
    let report = report.expect("the scanner wrote its in-use report");
    // In use: the running image and the sandbox's pause image, which the sample images'
    // vulnerable dpkg status makes vulnerable too. Both scanned, both reported, none failed.
    assert_eq!(report["inUseScanned"], 2, "{report}");
    assert_eq!(report["inUseFailed"], 0, "{report}");
    let images = report["images"].as_array().unwrap();
    let names: Vec<&Value> = images.iter().map(|i| &i["names"][0]).collect();
    assert_eq!(names.len(), 2, "{report}");
    assert!(names.contains(&&serde_json::json!(PAUSE_IMAGE)), "{report}");
    let running = images
        .iter()
        .find(|i| i["id"] == running_id.as_str())
        .unwrap_or_else(|| panic!("the running image is not reported: {report}"));
    assert_eq!(
        running["names"],
        serde_json::json!([VULNERABLE]),
        "{report}"
    );
    // CVE-2099-0001 in libssl3: LOW, no fix.
    assert_eq!(
        running["severities"],
        serde_json::json!({"LOW": 1}),
        "{report}"
    );
    assert_eq!(running["fixable"], false, "{report}");
    // Only the unused vulnerable image went.
    assert_eq!(
        removed["removedImages"],
        serde_json::json!([VULNERABLE_UNUSED]),
        "{removed}"
    );
    let remaining = tags(&ctrd).await;
    assert!(remaining.contains(&VULNERABLE.to_owned()), "{remaining:?}");
    assert!(remaining.contains(&CLEAN.to_owned()), "{remaining:?}");
}

#[tokio::test]
async fn without_report_in_use_the_stages_behave_as_erasers_and_write_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let ctrd = running_and_unused_images(dir.path()).await;
    let (logs, report, removed) =
        worker_pod(&ctrd, dir.path(), &db, "deleteFailedImages: true\n", &[]);
    assert_eq!(report, None, "no termination message without the key");
    assert!(!logs.contains("in use"), "{logs}");
    assert_eq!(
        removed["removedImages"],
        serde_json::json!([VULNERABLE_UNUSED]),
        "{removed}"
    );
    assert!(tags(&ctrd).await.contains(&VULNERABLE.to_owned()));
}

/// Deletes the layer blobs (everything but the JSON manifests, configs and indexes) from
/// containerd's content store, as `discard_unpacked_layers` does after unpacking.
fn discard_layer_blobs(root: &Path) -> usize {
    let blobs = root.join("io.containerd.content.v1.content/blobs/sha256");
    let mut removed = 0;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::read(&path).unwrap().first() != Some(&b'{') {
            std::fs::remove_file(&path).unwrap();
            removed += 1;
        }
    }
    removed
}

/// The top snapshots (those with a parent) in containerd's `k8s.io` namespace.
fn top_snapshots(ctrd: &Containerd) -> Vec<String> {
    let output = Command::new("ctr")
        .arg("--address")
        .arg(ctrd.socket())
        .args(["--namespace", "k8s.io", "snapshots", "ls"])
        .output()
        .unwrap();
    succeeded(&output, "ctr snapshots ls");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() == 3).then(|| fields[0].to_owned())
        })
        .collect()
}

/// A scan entry without its timings, which differ from run to run.
fn without_timings(scan: &Value) -> Value {
    let mut scan = scan.clone();
    scan.as_object_mut().unwrap().remove("timings");
    scan
}

#[tokio::test]
async fn an_image_whose_layer_blobs_were_discarded_is_scanned_from_its_snapshots() {
    const GONE: &str = "localhost/demo/snapshot-gone:1";
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let ctrd = Containerd::start();
    ctrd.add_image(VULNERABLE, &[]);
    let tops = top_snapshots(&ctrd);
    ctrd.add_image(GONE, &[]);
    let gone_top: Vec<String> = top_snapshots(&ctrd)
        .into_iter()
        .filter(|key| !tops.contains(key))
        .collect();
    assert_eq!(gone_top.len(), 1, "{gone_top:?}");
    let endpoint = ctrd.endpoint().to_string();
    let root = ctrd.root();
    let root_arg = root.to_str().unwrap();
    // Exits 1 when an image could not be scanned (unscannable included), else 0.
    let scan = |images: &[&str], status: i32| {
        let output = drydock(
            &[
                &[
                    "scan",
                    "--db",
                    db.to_str().unwrap(),
                    "--runtime-endpoint",
                    &endpoint,
                    "--containerd-root",
                    root_arg,
                    "--format",
                    "json",
                ][..],
                images,
            ]
            .concat(),
        );
        assert_eq!(
            output.status.code(),
            Some(status),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let from_blobs = scan(&[VULNERABLE], 0);
    assert_eq!(
        from_blobs["images"][0]["verdict"], "nonCompliant",
        "{from_blobs:#}"
    );

    assert!(discard_layer_blobs(&root) > 0);
    // The second image loses its unpacked snapshot too: nothing is left to read it from.
    let removed = Command::new("ctr")
        .arg("--address")
        .arg(ctrd.socket())
        .args(["--namespace", "k8s.io", "snapshots", "rm", &gone_top[0]])
        .output()
        .unwrap();
    succeeded(&removed, "ctr snapshots rm");

    let report = scan(&[VULNERABLE, GONE], 1);
    assert_eq!(
        without_timings(&report["images"][0]),
        without_timings(&from_blobs["images"][0]),
        "the snapshots give the same findings as the blobs did: {report:#}"
    );
    let gone = &report["images"][1];
    assert_eq!(gone["verdict"], "unscannable", "{report:#}");
    let reason = gone["reason"].as_str().unwrap();
    assert!(reason.contains("not found"), "{reason}");
    assert!(reason.contains("unpacked snapshots"), "{reason}");
    let listing = Command::new("ctr")
        .arg("--address")
        .arg(ctrd.socket())
        .args(["--namespace", "k8s.io", "snapshots", "ls"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        !listing.contains("drydock-scan"),
        "views left behind: {listing}"
    );

    // deleteFailedImages is on by default: the vulnerable image goes, the unscannable stays.
    clean_with_vulndb(&ctrd, &db);
    let remaining = tags(&ctrd).await;
    assert!(!remaining.contains(&VULNERABLE.to_owned()), "{remaining:?}");
    assert!(remaining.contains(&GONE.to_owned()), "{remaining:?}");
}

/// The verdict cache's ConfigMaps, kept in memory by the test's manager.
#[derive(Clone, Default)]
struct Kept(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<usize, String>>>);

impl drydock_cleaner::manager::verdict_cache::Persist for Kept {
    async fn load(&self) -> drydock_cleaner::Result<Vec<String>> {
        Ok(self.0.lock().unwrap().values().cloned().collect())
    }

    async fn write(&self, n: usize, text: String) -> drydock_cleaner::Result<()> {
        self.0.lock().unwrap().insert(n, text);
        Ok(())
    }
}

/// The token of the one running job.
const JOB_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Honours [`JOB_TOKEN`] only.
struct OneRunningJob;

impl drydock_cleaner::manager::verdict_cache::Credentials for OneRunningJob {
    async fn check(&self, token: &str) -> drydock_cleaner::manager::verdict_cache::Access {
        if token == JOB_TOKEN {
            drydock_cleaner::manager::verdict_cache::Access::Granted {
                job: "imagejob-a".to_owned(),
            }
        } else {
            drydock_cleaner::manager::verdict_cache::Access::Refused("unknown token".to_owned())
        }
    }
}

/// Runs collector, scanner (with `scanner_args`) and a dry-run remover over `ctrd`; returns
/// the scanner's log and the remover's summary.
fn one_node_run(ctrd: &Containerd, dir: &Path, scanner_args: &[&str]) -> (String, Value) {
    let shared = tempfile::tempdir_in(dir).unwrap();
    let termination = shared.path().join("termination-log");
    let pod = run_pod(
        &Stages::new(ctrd, shared.path()),
        &[],
        scanner_args,
        &[
            "--dry-run",
            "--termination-log",
            termination.to_str().unwrap(),
        ],
    );
    let summary = serde_json::from_slice(&std::fs::read(&termination).unwrap()).unwrap();
    (
        String::from_utf8_lossy(&pod.scanner.stderr).into_owned(),
        summary,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_takes_the_first_nodes_verdicts_from_the_manager_and_scans_nothing() {
    use drydock_cleaner::manager::{verdict_cache, vulndist};
    let dir = tempfile::tempdir().unwrap();
    let db = build_index(dir.path());
    let ctrd = vulnerable_and_clean(dir.path());

    // The manager: serves the index (adopted from the file the builder would write) and the
    // verdict cache on the same port, as `drydock manager` does.
    let vulndb = vulndist::VulnDb::new(vulndist::Settings {
        sources: vec![],
        dir: dir.path().join("manager"),
        refresh: vulndist::DEFAULT_REFRESH,
        built_by: Some(db),
    })
    .unwrap();
    let kept = Kept::default();
    let service = verdict_cache::VerdictService::load(
        kept.clone(),
        OneRunningJob,
        vulndb.subscribe(),
        verdict_cache::MAX_ENTRIES,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(vulndist::serve_with(
        listener,
        vulndb,
        verdict_cache::router(service.clone()),
        std::future::pending(),
    ));
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{JOB_TOKEN}\n")).unwrap();
    let config = eraser_config(dir.path(), "vulnerabilities:\n  ignoreUnfixed: false\n");
    let index_url = format!("{base}{}", vulndist::PATH);
    // The stages run as processes; the test's thread waits on them while the manager is
    // served from the runtime's worker threads.
    let node = |name: &str, cache: PathBuf| {
        one_node_run(
            &ctrd,
            dir.path(),
            &[
                "--config",
                config.to_str().unwrap(),
                "--vulndb-url",
                &index_url,
                "--vulndb-cache",
                cache.to_str().unwrap(),
                "--verdicts-url",
                &base,
                "--verdicts-token",
                token.to_str().unwrap(),
                "--node-name",
                name,
            ],
        )
    };
    let scanned = |logs: &str| {
        logs.matches("\"message\":\"scanning image with id\"")
            .count()
    };
    let known = |logs: &str| {
        logs.matches("\"message\":\"verdict known to the cluster; not scanned again\"")
            .count()
    };

    let (logs, summary) = node("node-a", dir.path().join("cache-a"));
    assert_eq!((scanned(&logs), known(&logs)), (2, 0), "{logs}");
    assert_eq!(
        summary["wouldRemoveImages"],
        serde_json::json!([VULNERABLE]),
        "{summary}"
    );
    assert_eq!(service.len().await, 2, "both verdicts reported: {logs}");
    assert!(!kept.0.lock().unwrap().is_empty(), "and written");

    // Another node holding the same images (the same containerd here): both verdicts come
    // from the manager, nothing is scanned, and the decision is the same.
    let (logs, summary) = node("node-b", dir.path().join("cache-b"));
    assert_eq!((scanned(&logs), known(&logs)), (0, 2), "{logs}");
    assert_eq!(
        summary["wouldRemoveImages"],
        serde_json::json!([VULNERABLE]),
        "{summary}"
    );

    // A forged token: the cache refuses, the node scans everything itself, same decision.
    std::fs::write(&token, "forged\n").unwrap();
    let (logs, summary) = node("node-c", dir.path().join("cache-c"));
    assert_eq!((scanned(&logs), known(&logs)), (2, 0), "{logs}");
    assert!(logs.contains("403"), "{logs}");
    assert_eq!(
        summary["wouldRemoveImages"],
        serde_json::json!([VULNERABLE]),
        "{summary}"
    );
}
