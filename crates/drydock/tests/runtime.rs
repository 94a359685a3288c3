//! The real-runtime tier: the `drydock` binary against a private containerd + runc (one per
//! test), with real images, pod sandboxes and containers. Needs root and the Debian packages
//! `containerd`, `runc`, `busybox-static` (`scripts/test.sh` installs them).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Stages, drydock, tags};
use drydock_cri::ImageRuntime;
use drydock_testkit::Containerd;
use drydock_testkit::containerd::{Left, PAUSE_IMAGE, run_pod};
use serde_json::Value;

/// How long a test waits for another process to create a pipe before failing. Real processes
/// do it in milliseconds; the bound only turns a hang into a failure.
const PROCESS_DEADLINE: Duration = Duration::from_secs(30);

fn socket(ctrd: &Containerd) -> String {
    ctrd.endpoint().to_string()
}

fn clean_json(ctrd: &Containerd, extra: &[&str]) -> Value {
    let endpoint = socket(ctrd);
    let mut args = vec!["clean", "--runtime-endpoint", &endpoint, "-o", "json"];
    args.extend_from_slice(extra);
    let output = drydock(&args);
    assert!(
        output.status.success(),
        "clean failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

fn action_of<'a>(report: &'a Value, image: &str) -> &'a str {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["image"] == image)
        .and_then(|entry| entry["action"].as_str())
        .unwrap_or_else(|| panic!("{image} not in report {report:#}"))
}

fn wait_for_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < PROCESS_DEADLINE,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A containerd with `localhost/demo/running:1` running in a pod, `localhost/demo/unused:1`
/// and the `extra` images unused.
async fn running_and_unused(extra: &[&str]) -> Containerd {
    let ctrd = Containerd::start();
    ctrd.add_image("localhost/demo/running:1", &[]);
    ctrd.add_image("localhost/demo/unused:1", &[]);
    for name in extra {
        ctrd.add_image(name, &[]);
    }
    let client = ctrd.client().await;
    run_pod(
        &client,
        "running",
        "localhost/demo/running:1",
        Left::Running,
    )
    .await;
    ctrd
}

#[tokio::test]
async fn images_used_by_running_exited_created_containers_and_the_sandbox_are_never_removed() {
    let ctrd = running_and_unused(&["localhost/demo/exited:1", "localhost/demo/created:1"]).await;
    let client = ctrd.client().await;
    run_pod(&client, "exited", "localhost/demo/exited:1", Left::Exited).await;
    run_pod(
        &client,
        "created",
        "localhost/demo/created:1",
        Left::Created,
    )
    .await;

    let report = clean_json(&ctrd, &[]);

    assert_eq!(action_of(&report, "localhost/demo/unused:1"), "removed");
    for kept in [
        "localhost/demo/running:1",
        "localhost/demo/exited:1",
        "localhost/demo/created:1",
        PAUSE_IMAGE,
    ] {
        assert_eq!(action_of(&report, kept), "kept", "{kept}");
    }
    let remaining = tags(&ctrd).await;
    assert!(!remaining.contains(&"localhost/demo/unused:1".to_owned()));
    for kept in [
        "localhost/demo/running:1",
        "localhost/demo/exited:1",
        "localhost/demo/created:1",
        PAUSE_IMAGE,
    ] {
        assert!(
            remaining.contains(&kept.to_owned()),
            "{kept} was removed: {remaining:?}"
        );
    }
}

#[tokio::test]
async fn removing_one_tag_of_an_image_with_several_tags_removes_the_image() {
    let ctrd = Containerd::start();
    ctrd.add_image("localhost/demo/multi:1", &[]);
    ctrd.tag("localhost/demo/multi:1", "localhost/demo/multi:2");
    ctrd.add_image("localhost/demo/other:1", &[]);

    let report = clean_json(&ctrd, &["--image", "localhost/demo/multi:2"]);

    assert_eq!(report["totals"]["removed"], 1);
    let remaining = tags(&ctrd).await;
    assert!(
        !remaining
            .iter()
            .any(|t| t.starts_with("localhost/demo/multi")),
        "{remaining:?}"
    );
    assert!(
        remaining.contains(&"localhost/demo/other:1".to_owned()),
        "only the named image goes"
    );
}

#[tokio::test]
async fn excluded_images_stay_for_every_pattern_form() {
    let ctrd = Containerd::start();
    for name in [
        "localhost/keep/exact:1",
        "localhost/keep/under/a:1",
        "localhost/keep/anytag:7",
        "localhost:5000/team/app:1",
        "localhost/gone/unused:1",
    ] {
        ctrd.add_image(name, &[]);
    }
    let by_digest = ctrd.add_image_by_digest("localhost/keep/dig");
    let digest = by_digest.split_once('@').unwrap().1.to_owned();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.json");
    std::fs::write(&file, r#"{"excluded": ["localhost/keep/under/*"]}"#).unwrap();

    let report = clean_json(
        &ctrd,
        &[
            "--exclude",
            "localhost/keep/exact:1",
            "--exclude",
            "localhost/keep/anytag:*",
            "--exclude",
            "localhost:5000/team/app:*",
            "--exclude",
            &digest,
            "--exclude-file",
            file.to_str().unwrap(),
        ],
    );

    assert_eq!(report["totals"]["removed"], 1, "{report:#}");
    assert_eq!(action_of(&report, "localhost/gone/unused:1"), "removed");
    let remaining = tags(&ctrd).await;
    for kept in [
        "localhost/keep/exact:1",
        "localhost/keep/under/a:1",
        "localhost/keep/anytag:7",
        "localhost:5000/team/app:1",
        by_digest.as_str(),
    ] {
        assert!(
            remaining.contains(&kept.to_owned()),
            "{kept} was removed: {remaining:?}"
        );
    }

    let everything = clean_json(&ctrd, &["--exclude", "*"]);
    assert_eq!(everything["totals"]["removed"], 0);
}

#[tokio::test]
async fn dry_run_removes_nothing() {
    let ctrd = Containerd::start();
    ctrd.add_image("localhost/demo/unused:1", &[]);
    let before = tags(&ctrd).await;

    let report = clean_json(&ctrd, &["--dry-run"]);

    assert_eq!(report["dryRun"], true);
    assert_eq!(
        action_of(&report, "localhost/demo/unused:1"),
        "would-remove"
    );
    assert_eq!(tags(&ctrd).await, before);
}

#[tokio::test]
async fn collector_and_remover_pipeline_removes_unused_images_and_reports_to_the_manager() {
    let ctrd = running_and_unused(&["localhost/demo/vanishing:1"]).await;
    let shared = tempfile::tempdir().unwrap();
    let stages = Stages::new(&ctrd, shared.path());

    let collector = stages.collector(&["--scan-disabled=true"]);
    // The collector has listed the runtime once its pipe exists; now an image vanishes before
    // the remover gets to it.
    wait_for_file(&shared.path().join("scanErase"));
    let mut client = ctrd.client().await;
    let vanishing = client
        .list_images()
        .await
        .unwrap()
        .into_iter()
        .find(|i| {
            i.repo_tags
                .contains(&"localhost/demo/vanishing:1".to_owned())
        })
        .unwrap();
    client.remove_image(&vanishing.id).await.unwrap();

    let termination = shared.path().join("termination-log");
    let remover = stages
        .remover(&["--termination-log", termination.to_str().unwrap()])
        .wait_with_output()
        .unwrap();
    let collected = collector.wait_with_output().unwrap();

    assert!(
        remover.status.success(),
        "{}",
        String::from_utf8_lossy(&remover.stderr)
    );
    assert!(
        collected.status.success(),
        "{}",
        String::from_utf8_lossy(&collected.stderr)
    );
    let logs = String::from_utf8_lossy(&remover.stderr);
    assert!(logs.contains("\"message\":\"removed image\""), "{logs}");
    assert!(
        logs.contains("\"message\":\"image is not on node\""),
        "{logs}"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&termination).unwrap()).unwrap();
    assert_eq!(summary["removed"], 1, "{summary}");
    assert_eq!(
        summary["notOnNode"], 1,
        "the vanished image is a success, not a failure"
    );
    assert_eq!(summary["failed"], 0);
    assert_eq!(
        summary["removedImages"],
        serde_json::json!(["localhost/demo/unused:1"])
    );
    let remaining = tags(&ctrd).await;
    assert!(remaining.contains(&"localhost/demo/running:1".to_owned()));
    assert!(!remaining.contains(&"localhost/demo/unused:1".to_owned()));
}

#[tokio::test]
async fn manual_mode_removes_only_the_images_of_the_list() {
    let ctrd = Containerd::start();
    ctrd.add_image("localhost/demo/listed:1", &[]);
    ctrd.add_image("localhost/demo/unlisted:1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images");
    std::fs::write(
        &list,
        r#"["localhost/demo/listed:1", "docker.io/library/alpine:3.7.3"]"#,
    )
    .unwrap();
    let output = Stages::new(&ctrd, dir.path())
        .remover(&[
            "--imagelist",
            list.to_str().unwrap(),
            "--termination-log",
            dir.path().join("t").to_str().unwrap(),
        ])
        .wait_with_output()
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let remaining = tags(&ctrd).await;
    assert!(!remaining.contains(&"localhost/demo/listed:1".to_owned()));
    assert!(remaining.contains(&"localhost/demo/unlisted:1".to_owned()));
}

/// The arguments of `drydock remover` on `endpoint` with its pipes in `pipe_dir`, its
/// exclusions in `exclusion_dir`, and `extra`.
fn remover_args<'a>(
    endpoint: &'a str,
    pipe_dir: &'a str,
    exclusion_dir: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "remover",
        "--runtime-endpoint",
        endpoint,
        "--pipe-dir",
        pipe_dir,
        "--exclusion-dir",
        exclusion_dir,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn bad_input_gives_a_clear_error_naming_it_and_removes_nothing() {
    let ctrd = Containerd::start();
    ctrd.add_image("localhost/demo/unused:1", &[]);
    let before = tags(&ctrd).await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = socket(&ctrd);
    let pipes = dir.path().to_str().unwrap();

    let bad_exclusions = dir.path().join("bad.json");
    std::fs::write(&bad_exclusions, r#"{"excluded": ["localhost/demo/*""#).unwrap();
    let garbage_list = dir.path().join("images");
    std::fs::write(&garbage_list, "localhost/demo/unused:1\n").unwrap();
    let mounted = dir.path().join("exclude-broken");
    std::fs::create_dir(&mounted).unwrap();
    std::fs::write(mounted.join("sample.json"), "{ nope").unwrap();
    let prune_all = dir.path().join("prune-all");
    std::fs::write(&prune_all, r#"["*"]"#).unwrap();
    let pipe_dir = tempfile::tempdir().unwrap();
    std::fs::write(pipe_dir.path().join("scanErase"), "[{\"image_id\": 42}]").unwrap();

    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec![
                "clean",
                "--runtime-endpoint",
                &endpoint,
                "--exclude-file",
                bad_exclusions.to_str().unwrap(),
            ],
            bad_exclusions.display().to_string(),
        ),
        (
            remover_args(
                &endpoint,
                pipes,
                "/nonexistent",
                &["--imagelist", garbage_list.to_str().unwrap()],
            ),
            garbage_list.display().to_string(),
        ),
        (
            remover_args(
                &endpoint,
                pipes,
                pipes,
                &["--imagelist", prune_all.to_str().unwrap()],
            ),
            mounted.join("sample.json").display().to_string(),
        ),
        (
            remover_args(
                &endpoint,
                pipe_dir.path().to_str().unwrap(),
                "/nonexistent",
                &[],
            ),
            pipe_dir.path().join("scanErase").display().to_string(),
        ),
    ];
    for (args, names) in cases {
        let output = drydock(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(&names),
            "{args:?}: error does not name {names}: {stderr}"
        );
        assert_eq!(tags(&ctrd).await, before, "{args:?} removed something");
    }
}

#[tokio::test]
async fn a_socket_that_is_not_cri_is_a_one_line_error() {
    let ctrd = Containerd::start();
    // containerd's ttrpc socket answers, but not with gRPC CRI.
    let ttrpc = format!("{}.ttrpc", ctrd.socket().display());
    let output = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args([
            "clean",
            "--log-format",
            "text",
            "--runtime-endpoint",
            &ttrpc,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&ttrpc), "{stderr}");
}

/// Runs `drydock remover` in manual mode on `list` with extra flags; returns its JSON log.
fn manual_remover(ctrd: &Containerd, list: &[&str], extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("images");
    std::fs::write(&file, serde_json::to_vec(list).unwrap()).unwrap();
    let termination = dir.path().join("t");
    let mut args = vec![
        "--imagelist",
        file.to_str().unwrap(),
        "--termination-log",
        termination.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = Stages::new(ctrd, dir.path())
        .remover(&args)
        .wait_with_output()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{logs}");
    logs
}

#[tokio::test]
async fn containerd_dates_each_image_record_when_it_is_created() {
    let ctrd = Containerd::start();
    let before = jiff::Timestamp::now();
    ctrd.add_image("localhost/demo/dated:1", &[]);
    ctrd.tag("localhost/demo/dated:1", "localhost/demo/dated:2");
    let after = jiff::Timestamp::now();
    let mut client = ctrd.client().await;
    let images = client.list_images().await.unwrap();
    let records = client.image_records().await.unwrap();
    let times = drydock_cri::created::creation_times(&images, &records);
    let dated = images
        .iter()
        .find(|i| i.repo_tags.contains(&"localhost/demo/dated:1".to_owned()))
        .unwrap();
    let created = times[&dated.id];
    assert!(
        before <= created && created <= after,
        "{created} outside {before}..{after}"
    );
    // The image is as new as its newest name: the tag added last.
    let tag_time = |name: &str| records.iter().find(|r| r.name == name).unwrap().created;
    assert_eq!(created, tag_time("localhost/demo/dated:2"));
    assert!(tag_time("localhost/demo/dated:1") <= created);
}

#[tokio::test]
async fn the_remover_keeps_images_newer_than_the_minimum_age() {
    let ctrd = Containerd::start();
    ctrd.add_image("localhost/demo/fresh:1", &[]);
    let before = tags(&ctrd).await;

    let logs = manual_remover(&ctrd, &["*"], &["--minimum-age=1h"]);
    assert_eq!(tags(&ctrd).await, before, "{logs}");
    assert!(
        logs.contains("\"message\":\"image is newer than the minimum age\""),
        "{logs}"
    );
    assert!(logs.contains("localhost/demo/fresh:1"), "{logs}");

    // `0s` turns it off: the same image goes, as with Eraser.
    let logs = manual_remover(&ctrd, &["localhost/demo/fresh:1"], &["--minimum-age=0s"]);
    assert!(logs.contains("\"message\":\"removed image\""), "{logs}");
    assert!(
        !tags(&ctrd)
            .await
            .contains(&"localhost/demo/fresh:1".to_owned())
    );
}

#[tokio::test]
async fn the_collector_hands_on_no_image_newer_than_the_minimum_age() {
    let ctrd = Containerd::start();
    ctrd.add_image("localhost/demo/fresh:1", &[]);
    let before = tags(&ctrd).await;
    let shared = tempfile::tempdir().unwrap();
    let stages = Stages::new(&ctrd, shared.path());
    let collector = stages.collector(&["--scan-disabled=true", "--minimum-age=1h"]);
    let termination = shared.path().join("termination-log");
    let remover = stages
        .remover(&[
            "--minimum-age=1h",
            "--termination-log",
            termination.to_str().unwrap(),
        ])
        .wait_with_output()
        .unwrap();
    let collected = collector.wait_with_output().unwrap();
    let collector_logs = String::from_utf8_lossy(&collected.stderr);
    assert!(collected.status.success(), "{collector_logs}");
    assert!(
        remover.status.success(),
        "{}",
        String::from_utf8_lossy(&remover.stderr)
    );
    assert!(
        collector_logs.contains("\"message\":\"images collected\""),
        "{collector_logs}"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&termination).unwrap()).unwrap();
    assert_eq!(summary["removed"], 0, "{summary}");
    assert_eq!(tags(&ctrd).await, before);
}

#[tokio::test]
async fn a_dry_run_remover_removes_nothing_and_reports_what_and_why() {
    let ctrd = running_and_unused(&[]).await;
    let before = tags(&ctrd).await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images");
    std::fs::write(&list, r#"["*"]"#).unwrap();
    let termination = dir.path().join("termination-log");
    let output = Stages::new(&ctrd, dir.path())
        .remover(&[
            "--dry-run",
            "--imagelist",
            list.to_str().unwrap(),
            "--termination-log",
            termination.to_str().unwrap(),
        ])
        .wait_with_output()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{logs}");
    assert_eq!(tags(&ctrd).await, before, "a dry run removed something");
    assert!(
        logs.contains("\"message\":\"would remove image\""),
        "{logs}"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&termination).unwrap()).unwrap();
    assert_eq!(summary["dryRun"], true, "{summary}");
    assert_eq!(summary["removed"], 0, "{summary}");
    assert_eq!(
        summary["wouldRemoveImages"],
        serde_json::json!(["localhost/demo/unused:1"]),
        "{summary}"
    );
    let kept = summary["keptImages"].as_array().unwrap();
    assert!(
        kept.iter().any(|k| k
            .as_str()
            .unwrap()
            .starts_with("localhost/demo/running:1: ")),
        "{summary}"
    );
}
