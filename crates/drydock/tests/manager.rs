//! `drydock manager` as a process: a bad configuration at start exits naming the key; the admin
//! endpoints on real ports (Eraser's metric names, health, readiness that waits for the API
//! server); a clean stop on SIGTERM.
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::io::BufReader;
use std::process::{Command, Stdio};

use drydock_testkit::http::{UNREACHABLE_KUBECONFIG, free_port, get};
use drydock_testkit::process::{first_line_containing, stop_with_sigterm};

const BIN: &str = env!("CARGO_BIN_EXE_drydock");

#[test]
fn a_bad_configuration_at_start_exits_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("controller_manager_config.yaml");
    std::fs::write(
        &config,
        "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\nmanager:\n  scheduling:\n    repeatInterval: weekly\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["manager", "--log-format=text"])
        .arg(format!("--config={}", config.display()))
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("controller_manager_config.yaml"),
        "{stderr}"
    );
    assert!(stderr.contains("repeatInterval"), "{stderr}");
}

#[test]
fn admin_endpoints_on_real_ports_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, UNREACHABLE_KUBECONFIG).unwrap();
    let config = dir.path().join("controller_manager_config.yaml");
    std::fs::write(
        &config,
        "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\n",
    )
    .unwrap();
    let (metrics, health, vulndb) = (free_port(), free_port(), free_port());
    let mut child = Command::new(BIN)
        .args(["manager", "--log-format=json"])
        .arg(format!("--config={}", config.display()))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--metrics-addr=127.0.0.1:{metrics}"))
        .arg(format!("--health-addr=127.0.0.1:{health}"))
        .arg(format!("--vulndb-addr=127.0.0.1:{vulndb}"))
        .arg(format!(
            "--vulndb-dir={}",
            dir.path().join("vulndb").display()
        ))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Wait for the readiness check to have failed once (no sleeping).
    let unready = first_line_containing(&mut stderr, "not ready");
    assert!(unready.is_some_and(|l| l.starts_with('{')), "no JSON line");

    let body = get(metrics, "/metrics");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for name in [
        "imagejob_run_total 0",
        "pods_completed_run_total 0",
        "pods_failed_run_total 0",
        "imagejob_duration_run_seconds_count 0",
    ] {
        assert!(body.contains(name), "{name} missing from {body}");
    }
    assert!(get(health, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(get(health, "/readyz").starts_with("HTTP/1.1 503"));

    let status = stop_with_sigterm(&mut child);
    assert!(status.success(), "{status:?}");
}
