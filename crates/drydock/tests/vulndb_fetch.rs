//! The scanner stage with `--vulndb-url`: the index comes from the manager's endpoint (the
//! real `drydock_cleaner::manager::vulndist` router on a loopback port) through the node cache, and a
//! scanner that can get no index removes nothing, even with `deleteFailedImages: true`.
//! Needs root and `containerd`, `runc`, `busybox-static` (`scripts/test.sh` installs them).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

mod common;

use std::path::Path;
use std::process::{Child, Command, Output};

use common::{
    CLEAN, Stages, VULNERABLE, eraser_config, only_the_vulnerable_image_is_gone, tags,
    vulnerable_and_clean,
};
use drydock_cleaner::download::INDEX_FILE;
use drydock_cleaner::manager::vulndist::{self, Settings, Source, VulnDb};
use drydock_cleaner::node::fetch::ETAG_FILE;
use drydock_testkit::Containerd;
use drydock_testkit::containerd::repo_root;
use serde_json::Value;

async fn wait(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// The three stages of a worker pod, the scanner fetching from `url` into `cache`.
struct Pod {
    collector: Child,
    scanner: Child,
    remover: Child,
}

fn start_pod(ctrd: &Containerd, dir: &Path, url: &str, cache: &Path) -> Pod {
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    // An EraserConfig as the manager mounts it; failed images would be removed.
    let config = eraser_config(dir, "deleteFailedImages: true\n");
    let stages = Stages::new(ctrd, &shared);
    let termination = dir.join("termination-log");
    Pod {
        collector: stages.collector(&[]),
        scanner: stages.scanner(&[
            "--config",
            config.to_str().unwrap(),
            "--vulndb-url",
            url,
            "--vulndb-cache",
            cache.to_str().unwrap(),
            // A node without a cache gives up at once (the default waits for a manager that
            // is still starting).
            "--vulndb-wait",
            "0s",
        ]),
        remover: stages.remover(&["--termination-log", termination.to_str().unwrap()]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanners_fetch_the_index_from_the_manager_and_remove_only_the_vulnerable_image() {
    let dir = tempfile::tempdir().unwrap();
    let db = VulnDb::new(Settings {
        sources: vec![Source::Path(repo_root().join("testdata/osv"))],
        dir: dir.path().join("manager"),
        refresh: vulndist::DEFAULT_REFRESH,
        built_by: None,
    })
    .unwrap();
    let mut status = db.subscribe();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        vulndist::PATH
    );
    // The manager's call: serve, building the index at once.
    tokio::spawn(vulndist::serve_on(listener, db, std::future::pending()));
    let published = status
        .wait_for(|s| s.attempts > 0)
        .await
        .unwrap()
        .published
        .clone()
        .expect("the fixture index builds");

    let ctrd = vulnerable_and_clean(dir.path());
    let cache = dir.path().join("node-cache");
    let pod = start_pod(&ctrd, dir.path(), &url, &cache);
    let remover = wait(pod.remover).await;
    let scanner = wait(pod.scanner).await;
    let collector = wait(pod.collector).await;
    let logs = String::from_utf8_lossy(&scanner.stderr);
    assert!(scanner.status.success(), "{logs}");
    assert!(remover.status.success());
    assert!(collector.status.success());
    assert!(
        logs.contains("downloaded the vulnerability index"),
        "{logs}"
    );
    assert_eq!(
        std::fs::read_to_string(cache.join(ETAG_FILE)).unwrap(),
        published.digest
    );
    assert!(cache.join(INDEX_FILE).is_file());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("termination-log")).unwrap())
            .unwrap();
    assert_eq!(
        summary["removedImages"],
        serde_json::json!([VULNERABLE]),
        "{summary}"
    );
    only_the_vulnerable_image_is_gone(&ctrd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_with_no_index_from_the_manager_and_no_cache_removes_nothing_and_lets_the_pod_end()
 {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{}", closed.local_addr().unwrap(), vulndist::PATH);
    drop(closed);

    let ctrd = vulnerable_and_clean(dir.path());
    let cache = dir.path().join("node-cache");
    let pod = start_pod(&ctrd, dir.path(), &url, &cache);
    let scanner = wait(pod.scanner).await;
    let logs = String::from_utf8_lossy(&scanner.stderr);
    assert!(!scanner.status.success(), "{logs}");
    assert!(logs.contains("no vulnerability index"), "{logs}");
    assert!(logs.contains(&url), "{logs}");
    assert!(!cache.join(INDEX_FILE).exists());
    // The collector and remover still end: the remover got an empty list and removed nothing,
    // so the pod ends (Failed, by the scanner) instead of holding its requests.
    let remover = wait(pod.remover).await;
    let collector = wait(pod.collector).await;
    assert!(remover.status.success());
    assert!(collector.status.success());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("termination-log")).unwrap())
            .unwrap();
    assert_eq!(summary["removedImages"], serde_json::json!([]), "{summary}");
    let remaining = tags(&ctrd).await;
    assert!(remaining.contains(&CLEAN.to_owned()), "{remaining:?}");
    assert!(remaining.contains(&VULNERABLE.to_owned()), "{remaining:?}");
}

#[test]
fn the_manager_url_and_a_local_index_are_exclusive() {
    let output = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args([
            "scanner",
            "--db",
            "/var/lib/drydock/vuln.db",
            "--vulndb-url",
            "http://manager/v1/vulndb",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--vulndb-url"), "{stderr}");
}
