//! `drydock rebootd` as a process: kured's flags, the `kured` program name, the metrics
//! endpoint on a real port and a clean stop on SIGTERM.
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use drydock_testkit::http::{UNREACHABLE_KUBECONFIG, free_port, get};
use drydock_testkit::process::{first_line_containing, stop_with_sigterm};

const BIN: &str = env!("CARGO_BIN_EXE_drydock");

fn rebootd(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("rebootd")
        .args(args)
        .env_remove("KUBECONFIG")
        .env("KURED_NODE_ID", "n1")
        .output()
        .unwrap()
}

#[test]
fn each_bad_flag_exits_non_zero_naming_the_flag() {
    let cases: [(&[&str], &str); 7] = [
        (&["--no-such-flag"], "--no-such-flag"),
        (&["--period=-1h"], "--period"),
        (&["--reboot-days=funday"], "--reboot-days"),
        (&["--start-time=25:99"], "--start-time"),
        (&["--reboot-method=kexec"], "--reboot-method"),
        (&["--notify-url=carrier-pigeon://x"], "--notify-url"),
        (&["--alert-filter-regexp=*"], "--alert-filter-regexp"),
    ];
    for (args, flag) in cases {
        let out = rebootd(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[test]
fn the_environment_overrides_the_command_line_as_in_kured() {
    let out = Command::new(BIN)
        .args(["rebootd", "--period=1h"])
        .env("KURED_NODE_ID", "n1")
        .env("KURED_PERIOD", "-5m")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KURED_PERIOD"));
}

#[test]
fn invoked_as_kured_through_a_symlink_it_is_rebootd() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("kured");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = Command::new(&link).arg("--help").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("Usage: kured"), "{stdout}");
    for flag in [
        "--reboot-sentinel",
        "--lock-ttl",
        "--notify-url",
        "--metrics-port",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from {stdout}");
    }
}

#[test]
fn metrics_are_served_on_a_real_port_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, UNREACHABLE_KUBECONFIG).unwrap();
    let sentinel = dir.path().join("reboot-required");
    std::fs::write(&sentinel, "").unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["rebootd", "--metrics-host=127.0.0.1", "--log-format=json"])
        .arg(format!("--metrics-port={port}"))
        .arg(format!("--reboot-sentinel={}", sentinel.display()))
        .env("KUBECONFIG", &kubeconfig)
        .env("KURED_NODE_ID", "n1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Wait for the line logged once the socket is bound (no sleeping).
    let serving = first_line_containing(&mut stderr, "serving /metrics");
    assert!(
        serving.is_some_and(|l| l.starts_with('{')),
        "no JSON start-up line"
    );

    // The sentinel is read before the first turn; wait for that turn (it fails: no API server).
    let turn = first_line_containing(&mut stderr, "turn failed");
    assert!(turn.is_some());
    let metrics = get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("kured_reboot_required{node=\"n1\"} 1"),
        "{metrics}"
    );
    assert!(get(port, "/healthz").starts_with("HTTP/1.1 200"));
    // Not ready: the API server was never reached.
    assert!(get(port, "/readyz").starts_with("HTTP/1.1 503"));

    let pid = child.id().to_string();
    let status = stop_with_sigterm(&mut child);
    assert!(status.success(), "{status:?}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || status.code() == Some(0));
}

#[test]
fn host_exec_runs_the_command_in_the_named_mount_namespace() {
    // Entering the namespace this process is already in needs CAP_SYS_ADMIN, like entering
    // the host's: the test runs as root (as CI does).
    let out = Command::new(BIN)
        .args(["__host-exec", "--mount-ns", "/proc/self/ns/mnt", "--"])
        .args(["/bin/sh", "-c", "echo ok; exit 3"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "the command's own exit status");
}

#[test]
fn host_exec_with_a_bad_namespace_fails_naming_it() {
    let out = Command::new(BIN)
        .args([
            "__host-exec",
            "--mount-ns",
            "/nonexistent/ns/mnt",
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("/nonexistent/ns/mnt"), "{stderr}");
}

#[test]
fn host_exec_of_a_missing_program_exits_127_and_is_not_in_the_help() {
    let out = Command::new(BIN)
        .args([
            "__host-exec",
            "--mount-ns=/proc/self/ns/mnt",
            "--",
            "/nonexistent/prog",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{stderr}");
    assert!(stderr.contains("/nonexistent/prog"), "{stderr}");

    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("host-exec"));
}

#[test]
fn a_sentinel_command_runs_through_drydock_itself_in_pid_1s_mount_namespace() {
    // The daemon re-executes this binary (`__host-exec --mount-ns /proc/1/ns/mnt`). Where PID
    // 1's namespace can be entered (root, as in CI) the command's exit 0 reads "required";
    // where it cannot (a sandbox hiding PID 1), the helper exits 125 and the check is reported
    // and counts as "not required", never as a reason to reboot.
    let enterable = std::fs::File::open("/proc/1/ns/mnt").is_ok();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, UNREACHABLE_KUBECONFIG).unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["rebootd", "--metrics-host=127.0.0.1"])
        .arg(format!("--metrics-port={port}"))
        .arg("--reboot-sentinel-command=/bin/sh -c 'exit 0'")
        .env("KUBECONFIG", &kubeconfig)
        .env("KURED_NODE_ID", "n1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    // Kept open until the end: a closed pipe would fail the daemon's next log line.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("turn failed");
        seen.push(line);
        if done {
            break;
        }
    }
    let metrics = get(port, "/metrics");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(lines);
    let log = seen.join("\n");
    if enterable {
        assert!(
            metrics.contains("kured_reboot_required{node=\"n1\"} 1"),
            "{metrics}\n{log}"
        );
    } else {
        assert!(
            metrics.contains("kured_reboot_required{node=\"n1\"} 0"),
            "{metrics}"
        );
        assert!(
            log.contains("sentinel check failed") && log.contains("__host-exec"),
            "{log}"
        );
        assert!(log.contains("exited with 125"), "{log}");
    }
}

/// A self-signed CA certificate (test data; its key was not kept), base64-encoded PEM as a
/// kubeconfig's `certificate-authority-data` carries it: with it the Kubernetes client needs
/// no system roots, as in a pod (the service account's `ca.crt`).
const TEST_CA_DATA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJpekNDQVRHZ0F3SUJBZ0lVVWxzMmZ2WnA5THk5YzZFSHRINVFNb0tGTTBVd0NnWUlLb1pJemowRUF3SXcKR2pFWU1CWUdBMVVFQXd3UFpISjVaRzlqYXkxMFpYTjBMV05oTUNBWERUSTJNVEl3TmpFME1UazBObG9ZRHpJeApNall4TVRFeU1UUXhPVFEyV2pBYU1SZ3dGZ1lEVlFRRERBOWtjbmxrYjJOckxYUmxjM1F0WTJFd1dUQVRCZ2NxCmhrak9QUUlCQmdncWhrak9QUU1CQndOQ0FBU1VHS21MUE5UMEFFbERITnVzQVRXSEdicmJhVGk0bzAxRmFFZVkKSjJBY01WNWVzR1YvNHloeEhVSzJPWDRUR1BqSUJFY0pqWWc5OFk0RWNzdTFhN1ZubzFNd1VUQWRCZ05WSFE0RQpGZ1FVTnlheHlnZEpnV2VqcncxVjRzazF5Mit6b1VNd0h3WURWUjBqQkJnd0ZvQVVOeWF4eWdkSmdXZWpydzFWCjRzazF5Mit6b1VNd0R3WURWUjBUQVFIL0JBVXdBd0VCL3pBS0JnZ3Foa2pPUFFRREFnTklBREJGQWlFQXBLdFcKTTJITXplNHJzQnNNUXd3SG43MThsSU1xMVN1N0JCa1dqRk1lVS9vQ0lHWWs2cE5GS2J3RVFQYnRuN0QwNHR5dgpqWTRlMmVCUUpmM28wbHQzbERrNgotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";

/// The unreachable API server, trusted through [`TEST_CA_DATA`] only.
fn kubeconfig_with_own_ca(dir: &Path) -> std::path::PathBuf {
    let text = UNREACHABLE_KUBECONFIG.replace(
        "    server: https://127.0.0.1:1\n",
        &format!(
            "    server: https://127.0.0.1:1\n    certificate-authority-data: {TEST_CA_DATA}\n"
        ),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    path
}

/// `drydock rebootd` with no system CA certificates: `SSL_CERT_FILE` (an empty file) and
/// `SSL_CERT_DIR` (an empty directory) replace the system's, as rustls-native-certs reads them.
fn rebootd_without_ca_certificates(dir: &Path, flags: &[&str]) -> Command {
    let empty_file = dir.join("no-certs.pem");
    std::fs::write(&empty_file, "").unwrap();
    let empty_dir = dir.join("no-certs.d");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("rebootd")
        .args(flags)
        .arg(format!(
            "--reboot-sentinel={}",
            dir.join("reboot-required").display()
        ))
        .env("KUBECONFIG", kubeconfig_with_own_ca(dir))
        .env("KURED_NODE_ID", "n1")
        .env("SSL_CERT_FILE", empty_file)
        .env("SSL_CERT_DIR", empty_dir)
        .stderr(Stdio::piped());
    command
}

#[test]
fn without_ca_certificates_and_without_a_url_the_daemon_starts_and_works() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("reboot-required"), "").unwrap();
    let port = free_port();
    let mut child = rebootd_without_ca_certificates(
        dir.path(),
        &[
            "--metrics-host=127.0.0.1",
            &format!("--metrics-port={port}"),
        ],
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Its first turn is taken (and fails only because no API server answers).
    let turn = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.contains("turn failed") || line.contains("stopped"));
    assert!(
        turn.as_deref().is_some_and(|l| l.contains("turn failed")),
        "{turn:?}"
    );
    let metrics = get(port, "/metrics");
    assert!(
        metrics.contains("kured_reboot_required{node=\"n1\"} 1"),
        "{metrics}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn without_ca_certificates_a_url_needing_https_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = rebootd_without_ca_certificates(
        dir.path(),
        &["--prometheus-url=https://prometheus.example.com:9090"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--prometheus-url https://prometheus.example.com:9090"),
        "{stderr}"
    );
    assert!(stderr.contains("CA certificates"), "{stderr}");
}
