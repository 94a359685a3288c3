//! The command line as users meet it: help, flags, and errors for bad input, without a runtime.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

use std::process::Command;

fn drydock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(args)
        .output()
        .expect("drydock runs")
}

#[test]
fn a_wrong_endpoint_is_a_one_line_error_with_a_non_zero_exit() {
    let output = drydock(&[
        "clean",
        "--log-format",
        "text",
        "--runtime-endpoint",
        "unix:///nonexistent/containerd.sock",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("drydock: error: cannot reach the container runtime at unix:///nonexistent/containerd.sock"), "{stderr}");
}

#[test]
fn endpoints_of_other_schemes_are_refused_before_connecting() {
    let output = drydock(&[
        "clean",
        "--log-format",
        "text",
        "--runtime-endpoint",
        "tcp://127.0.0.1:1",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(
            "invalid runtime endpoint \"tcp://127.0.0.1:1\": only unix:// sockets are supported"
        ),
        "{stderr}"
    );
}

#[test]
fn invalid_exclusion_patterns_name_the_flag() {
    let output = drydock(&[
        "clean",
        "--log-format",
        "text",
        "--exclude",
        "ng*nx",
        "--runtime-endpoint",
        "/nonexistent.sock",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("invalid exclusion pattern \"ng*nx\" in --exclude"),
        "{stderr}"
    );
}

#[test]
fn eraser_worker_flags_are_accepted() {
    for args in [
        vec!["collector", "--help"],
        vec![
            "remover",
            "--imagelist=/run/eraser.sh/imagelist/images",
            "--log-level=info",
            "--enable-pprof=false",
            "--pprof-port=6060",
            "--help",
        ],
        vec![
            "collector",
            "--scan-disabled=true",
            "--enable-pprof=false",
            "--pprof-port=6060",
            "--help",
        ],
    ] {
        let output = drydock(&args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn help_explains_the_clean_command() {
    let output = drydock(&["clean", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--dry-run",
        "--exclude",
        "--image",
        "CONTAINER_RUNTIME_ENDPOINT",
        "--output",
    ] {
        assert!(help.contains(needle), "{needle} missing from help");
    }
}

#[test]
fn manifests_print_the_crds_committed_in_deploy() {
    let output = drydock(&["manifests", "crds"]);
    assert!(output.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/crds/eraser.sh.yaml"
    ))
    .expect("deploy/crds/eraser.sh.yaml exists");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        committed,
        "deploy/crds/eraser.sh.yaml is stale: run `drydock manifests crds > deploy/crds/eraser.sh.yaml`"
    );
}

#[test]
fn invoked_as_remover_it_runs_the_remover_stage_like_erasers_entrypoint() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("remover");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_drydock"), &link).unwrap();
    let output = Command::new(&link).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(help.contains("--imagelist"), "{help}");
}

#[test]
fn flags_only_with_erasers_otel_service_name_run_that_stage() {
    // Eraser's manager starts its workers with no command: the image's entrypoint, flags only,
    // and the role in OTEL_SERVICE_NAME.
    for (service, only_in_that_help) in [
        ("trivy-scanner", "--vulndb-url"),
        ("collector", "--scan-disabled"),
        ("remover", "--imagelist"),
        ("eraser-manager", "--vulndb-source"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_drydock"))
            .env("OTEL_SERVICE_NAME", service)
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{service}");
        assert!(help.contains(only_in_that_help), "{service}: {help}");
    }
}

#[test]
fn invoked_as_erasers_manager_it_runs_the_manager_and_names_itself_drydock() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("manager");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_drydock"), &link).unwrap();
    let output = Command::new(&link).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(help.contains("Usage: drydock manager"), "{help}");
}
