//! Set-up shared by the `drydock` binary's test files (each includes it as `mod common;`): the
//! binary run as a process, the demo images in a private containerd, and the three stages of
//! a worker pod (collector, scanner, remover) spawned against it.
// Each test file uses a part of this module; the rest is dead code in that file's crate.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use drydock_cri::ImageRuntime;
use drydock_testkit::Containerd;

/// The demo image the fixtures make vulnerable (libssl3 3.0.11-1~deb12u2: CVE-2099-0001).
pub const VULNERABLE: &str = "localhost/demo/vulnerable:1";
/// The demo image with [`CLEAN_STATUS`] as its dpkg status.
pub const CLEAN: &str = "localhost/demo/clean:1";

/// A dpkg status naming no package the fixtures have records for.
pub const CLEAN_STATUS: &str = "Package: base-files\nStatus: install ok installed\n\
Architecture: amd64\nVersion: 12.4+deb12u5\n\n";

/// The `drydock` binary with `args`, logging JSON, run to its end.
pub fn drydock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(args)
        .env("DRYDOCK_LOG_FORMAT", "json")
        .output()
        .expect("drydock runs")
}

/// The `drydock` binary with `args`, logging JSON, started: its stderr (the log) piped, its
/// stdout dropped.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(args)
        .env("DRYDOCK_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Fails the test, with `what` and the process's log, unless it exited 0.
pub fn succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every name of every image in `ctrd` (tags and digests), sorted.
pub async fn tags(ctrd: &Containerd) -> Vec<String> {
    let mut client = ctrd.client().await;
    let mut tags: Vec<String> = client
        .list_images()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|image| image.repo_tags.into_iter().chain(image.repo_digests))
        .collect();
    tags.sort();
    tags
}

/// Fails the test unless `ctrd` still holds [`CLEAN`] and no longer [`VULNERABLE`].
pub async fn only_the_vulnerable_image_is_gone(ctrd: &Containerd) {
    let remaining = tags(ctrd).await;
    assert!(remaining.contains(&CLEAN.to_owned()), "{remaining:?}");
    assert!(!remaining.contains(&VULNERABLE.to_owned()), "{remaining:?}");
}

/// Writes [`CLEAN_STATUS`] into `dir` and returns its path.
pub fn clean_status(dir: &Path) -> PathBuf {
    let path = dir.join("clean-status");
    std::fs::write(&path, CLEAN_STATUS).unwrap();
    path
}

/// A private containerd holding [`VULNERABLE`] and [`CLEAN`] (its dpkg status written into
/// `dir`).
pub fn vulnerable_and_clean(dir: &Path) -> Containerd {
    let ctrd = Containerd::start();
    ctrd.add_image(VULNERABLE, &[]);
    ctrd.add_image_with_status(CLEAN, &[], Some(&clean_status(dir)));
    ctrd
}

/// Writes an EraserConfig as the manager mounts it into `dir`, with the scanner enabled and
/// `scanner_config` (YAML) as its `components.scanner.config`; returns its path.
pub fn eraser_config(dir: &Path, scanner_config: &str) -> PathBuf {
    let config = dir.join("controller_manager_config.yaml");
    let indented: String = scanner_config
        .lines()
        .map(|line| format!("      {line}\n"))
        .collect();
    std::fs::write(
        &config,
        format!(
            "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\ncomponents:\n  scanner:\n    enabled: true\n    config: |\n{indented}"
        ),
    )
    .unwrap();
    config
}

/// The stages of a worker pod on one node: `ctrd`'s runtime, pipes (and exclusion lists) in
/// one shared directory.
pub struct Stages {
    endpoint: String,
    pipes: String,
    root: String,
}

impl Stages {
    /// Stages against `ctrd`, sharing `pipes`.
    pub fn new(ctrd: &Containerd, pipes: &Path) -> Stages {
        Stages {
            endpoint: ctrd.endpoint().to_string(),
            pipes: pipes.to_str().unwrap().to_owned(),
            root: ctrd.root().to_str().unwrap().to_owned(),
        }
    }

    /// The flags the collector and the remover share: the runtime, the pipe and exclusion
    /// directory.
    fn shared(&self) -> [&str; 6] {
        [
            "--runtime-endpoint",
            &self.endpoint,
            "--pipe-dir",
            &self.pipes,
            "--exclusion-dir",
            &self.pipes,
        ]
    }

    /// Starts `drydock collector` with `extra` flags.
    pub fn collector(&self, extra: &[&str]) -> Child {
        spawn(&[&["collector"][..], &self.shared(), extra].concat())
    }

    /// Starts `drydock scanner` (reading images from containerd's root) with `extra` flags.
    pub fn scanner(&self, extra: &[&str]) -> Child {
        let own = [
            "scanner",
            "--pipe-dir",
            &self.pipes,
            "--containerd-root",
            &self.root,
        ];
        spawn(&[&own[..], extra].concat())
    }

    /// Starts `drydock remover` with `extra` flags.
    pub fn remover(&self, extra: &[&str]) -> Child {
        spawn(&[&["remover"][..], &self.shared(), extra].concat())
    }
}

/// What the three stages of a pod left: their outputs, each checked to have exited 0.
pub struct Finished {
    /// The collector's.
    pub collector: Output,
    /// The scanner's.
    pub scanner: Output,
    /// The remover's.
    pub remover: Output,
}

/// Runs collector, scanner and remover over `stages`, each with its extra flags, and waits for
/// each, the remover first: each stage ends by itself once the remover has written `complete`,
/// and the remover's completion pipes give up after 10 s, so the waits are bounded.
pub fn run_pod(
    stages: &Stages,
    collector: &[&str],
    scanner: &[&str],
    remover: &[&str],
) -> Finished {
    let collector = stages.collector(collector);
    let scanner = stages.scanner(scanner);
    let remover = stages.remover(remover);
    let remover = remover.wait_with_output().unwrap();
    let scanner = scanner.wait_with_output().unwrap();
    let collector = collector.wait_with_output().unwrap();
    succeeded(&remover, "remover");
    succeeded(&scanner, "scanner");
    succeeded(&collector, "collector");
    Finished {
        collector,
        scanner,
        remover,
    }
}
