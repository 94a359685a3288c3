//! A private containerd with the CRI plugin, one per test.

use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_cri::proto::{
    ContainerConfig, ContainerMetadata, CreateContainerRequest, ImageSpec, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
};
use drydock_cri::{CriClient, Endpoint};

/// The sandbox (pause) image every test containerd is configured with.
pub const PAUSE_IMAGE: &str = "localhost/drydock/pause:1";

/// A running private containerd; stopped and deleted when dropped.
#[derive(Debug)]
pub struct Containerd {
    base: PathBuf,
    endpoint: Endpoint,
}

/// The repository root (tests run with the crate directory as working directory).
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script(name: &str) -> PathBuf {
    repo_root().join("scripts/lib").join(name)
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// === impl Containerd ===

impl Containerd {
    /// Starts a containerd under a fresh short temporary directory and imports the pause
    /// image.
    ///
    /// # Panics
    /// When containerd is not installed or does not start: the message says how to fix it.
    #[must_use]
    pub fn start() -> Self {
        let which = Command::new("sh")
            .args([
                "-c",
                "command -v containerd && command -v runc && test -x /bin/busybox",
            ])
            .output();
        assert!(
            which.is_ok_and(|o| o.status.success()),
            "containerd, runc and busybox-static are required: run scripts/test.sh (it installs them) \
             or apt-get install containerd runc busybox-static"
        );
        // Short path: unix socket paths are limited to ~104 bytes.
        let base = tempfile::Builder::new()
            .prefix("ctrd.")
            .tempdir_in("/tmp")
            .expect("a temporary directory")
            .keep();
        let sandbox = Self {
            endpoint: format!("unix://{}/run/containerd.sock", base.display())
                .parse()
                .expect("valid endpoint"),
            base,
        };
        run(Command::new(script("ctrd-up.sh"))
            .arg(&sandbox.base)
            .env("DRYDOCK_SANDBOX_IMAGE", PAUSE_IMAGE));
        sandbox.add_image(PAUSE_IMAGE, &["/bin/sleep", "86400"]);
        sandbox
    }

    /// The CRI endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The socket path.
    #[must_use]
    pub fn socket(&self) -> PathBuf {
        self.endpoint.path().to_owned()
    }

    /// A CRI client connected to this containerd.
    ///
    /// # Panics
    /// When the connection fails.
    pub async fn client(&self) -> CriClient {
        CriClient::connect(&self.endpoint)
            .await
            .expect("CRI connection to the test containerd")
    }

    fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", "k8s.io"]);
        command
    }

    /// Builds a sample image named `name` (distinct content per name) and imports it.
    pub fn add_image(&self, name: &str, cmd: &[&str]) {
        self.add_image_with_status(name, cmd, None);
    }

    /// Like [`Containerd::add_image`], with `status` (a dpkg status file) written as the
    /// image's `var/lib/dpkg/status` instead of the default (a vulnerable libssl3, zlib1g).
    pub fn add_image_with_status(&self, name: &str, cmd: &[&str], status: Option<&Path>) {
        let tar = self
            .base
            .join(format!("{}.tar", name.replace(['/', ':', '@'], "_")));
        let mut build = Command::new(script("build-image.sh"));
        build.arg(&tar).arg(name).args(cmd);
        if let Some(status) = status {
            build.env("STATUS_FILE", status);
        }
        run(&mut build);
        run(self.ctr().args(["images", "import"]).arg(&tar));
    }

    /// containerd's root directory (holding `io.containerd.content.v1.content`).
    #[must_use]
    pub fn root(&self) -> PathBuf {
        self.base.join("root")
    }

    /// Builds a sample image and imports it under `base_name@sha256:<manifest>` only (no
    /// tag), the way a by-digest pull looks. Returns the digest reference.
    pub fn add_image_by_digest(&self, base_name: &str) -> String {
        let tar = self
            .base
            .join(format!("{}.tar", base_name.replace(['/', ':'], "_")));
        run(Command::new(script("build-image.sh"))
            .arg(&tar)
            .arg(format!("{base_name}:import")));
        run(self
            .ctr()
            .args(["images", "import", "--base-name", base_name, "--digests"])
            .arg(&tar));
        let listing = run(self.ctr().args(["images", "ls", "-q"]));
        let reference = listing
            .lines()
            .find(|line| line.starts_with(&format!("{base_name}@sha256:")))
            .unwrap_or_else(|| panic!("no digest reference for {base_name} in {listing}"))
            .to_owned();
        // Drop the tag so only the digest names the image.
        run(self
            .ctr()
            .args(["images", "rm", &format!("{base_name}:import")]));
        reference
    }

    /// Adds another name for an existing image.
    pub fn tag(&self, existing: &str, new: &str) {
        run(self.ctr().args(["images", "tag", existing, new]));
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = Command::new(script("ctrd-down.sh"))
            .arg(&self.base)
            .arg("--rm")
            .status();
    }
}

/// What state a test container should be left in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Started, then stopped (exited, not removed).
    Exited,
}

/// Runs a host-network pod sandbox with one container from `image`, left in `state`.
/// Returns (sandbox ID, container ID).
///
/// # Panics
/// When a CRI call fails.
pub async fn run_pod(client: &CriClient, pod: &str, image: &str, state: Left) -> (String, String) {
    let (mut runtime, _) = client.raw();
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: pod.to_owned(),
            uid: format!("uid-{pod}"),
            namespace: "default".to_owned(),
            attempt: 0,
        }),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    pid: NamespaceMode::Pod as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..NamespaceOption::default()
                }),
                ..LinuxSandboxSecurityContext::default()
            }),
            ..LinuxPodSandboxConfig::default()
        }),
        ..PodSandboxConfig::default()
    };
    let sandbox_id = runtime
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .expect("RunPodSandbox")
        .into_inner()
        .pod_sandbox_id;
    let container_id = runtime
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox_id.clone(),
            config: Some(ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: format!("{pod}-app"),
                    attempt: 0,
                }),
                image: Some(ImageSpec {
                    image: image.to_owned(),
                    ..ImageSpec::default()
                }),
                command: vec!["/bin/sleep".to_owned(), "3600".to_owned()],
                ..ContainerConfig::default()
            }),
            sandbox_config: Some(sandbox_config),
        })
        .await
        .expect("CreateContainer")
        .into_inner()
        .container_id;
    if state != Left::Created {
        runtime
            .start_container(StartContainerRequest {
                container_id: container_id.clone(),
            })
            .await
            .expect("StartContainer");
    }
    if state == Left::Exited {
        // StopContainer returns once the process is gone: the container is EXITED, no polling.
        runtime
            .stop_container(StopContainerRequest {
                container_id: container_id.clone(),
                timeout: 0,
            })
            .await
            .expect("StopContainer");
    }
    (sandbox_id, container_id)
}
