//! The CRI client: a tonic channel over the runtime's unix socket, with the handful of calls
//! Drydock needs behind the [`ImageRuntime`] trait (so the cleaning pipeline can also run
//! against an in-memory runtime in unit tests).

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Uri};
use tonic::{Code, Status};

use crate::created::proto::images_client::ImagesClient;
use crate::created::{NamedRecord, from_wire};
use crate::inuse::{ContainerRecord, ContainerState, ImageRecord, Snapshot};
use crate::proto::image_service_client::ImageServiceClient;
use crate::proto::runtime_service_client::RuntimeServiceClient;
use crate::proto::{
    ImageSpec, ListContainersRequest, ListImagesRequest, RemoveImageRequest, StatusRequest,
    VersionRequest,
};
use crate::snapshots::{K8S_NAMESPACE, NAMESPACE_HEADER};
use crate::{Endpoint, Error, Result};

/// How long to wait for the socket to accept and answer `Version`. A healthy runtime answers
/// in milliseconds; kubelet's own CRI connection timeout is of the same order.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-call deadline. `RemoveImage` of a large image on a slow disk can take tens of seconds;
/// kubelet uses 2 minutes for image operations.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest CRI message accepted. `ListImages` on a node with thousands of images exceeds
/// gRPC's 4 MiB default; kubelet raised its own limit to 16 MiB for the same reason.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// The CRI API version string sent in `Version`.
const CRI_API_VERSION: &str = "v1";

/// What happened to an image removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// The runtime removed it.
    Removed,
    /// It was already gone (removed by someone else between listing and removal).
    NotFound,
}

/// The runtime operations the cleaning pipeline needs.
pub trait ImageRuntime {
    /// All images.
    fn list_images(&mut self) -> impl Future<Output = Result<Vec<ImageRecord>>> + Send;
    /// All containers in every state.
    fn list_containers(&mut self) -> impl Future<Output = Result<Vec<ContainerRecord>>> + Send;
    /// The runtime's configured pod sandbox image, when it reports one.
    fn sandbox_image(&mut self) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Removes an image by ID (every tag and digest of it goes).
    fn remove_image(&mut self, id: &str) -> impl Future<Output = Result<RemoveOutcome>> + Send;
    /// The runtime's image records with their creation times (containerd's own images API;
    /// CRI has no such call). Asked only when a minimum image age is configured.
    fn image_records(&mut self) -> impl Future<Output = Result<Vec<NamedRecord>>> + Send;
}

/// Lists images, containers and the sandbox image in one go.
///
/// # Errors
/// The first failing call.
pub async fn snapshot<R: ImageRuntime>(runtime: &mut R) -> Result<Snapshot> {
    // Containers first: an image pulled for a container that starts after this listing is
    // then listed as an image *and* as in use, never as an unused image.
    let containers = runtime.list_containers().await?;
    let images = runtime.list_images().await?;
    let sandbox_image = runtime.sandbox_image().await?;
    Ok(Snapshot {
        images,
        containers,
        sandbox_image,
    })
}

/// A connected CRI client.
#[derive(Debug, Clone)]
pub struct CriClient {
    endpoint: String,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    /// containerd's own images service on the same socket (answers only on containerd).
    records: ImagesClient<Channel>,
    runtime_name: String,
    runtime_version: String,
}

// === impl CriClient ===

impl CriClient {
    /// Connects to `endpoint` and checks that it speaks CRI `runtime.v1`.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when nothing answers, [`Error::NotCri`] when the socket serves
    /// something else (Eraser's `unknown service runtime.v1.RuntimeService` case).
    pub async fn connect(endpoint: &Endpoint) -> Result<Self> {
        let name = endpoint.to_string();
        let unreachable = |message: String| Error::Unreachable {
            endpoint: name.clone(),
            message,
        };
        let path = endpoint.path().to_owned();
        // The URI is required by tonic but unused: the connector below always dials the socket.
        let channel = tonic::transport::Endpoint::from_static("http://[::1]:50051")
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { UnixStream::connect(path).await.map(TokioIo::new) }
            }))
            .await
            .map_err(|e| unreachable(source_chain(&e)))?;
        let mut runtime =
            RuntimeServiceClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let images =
            ImageServiceClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let records = ImagesClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let request = VersionRequest {
            version: CRI_API_VERSION.to_owned(),
        };
        let version = tokio::time::timeout(CONNECT_TIMEOUT, runtime.version(request))
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|status| match status.code() {
                Code::Unimplemented => Error::NotCri {
                    endpoint: name.clone(),
                    message: status.message().to_owned(),
                },
                Code::Unavailable | Code::Unknown => unreachable(status.message().to_owned()),
                _ => Error::NotCri {
                    endpoint: name.clone(),
                    message: status.message().to_owned(),
                },
            })?
            .into_inner();
        Ok(Self {
            endpoint: name,
            runtime,
            images,
            records,
            runtime_name: version.runtime_name,
            runtime_version: version.runtime_version,
        })
    }

    /// The endpoint this client talks to.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `name version` of the runtime, e.g. `containerd 1.6.20~ds1`.
    #[must_use]
    pub fn runtime(&self) -> String {
        format!("{} {}", self.runtime_name, self.runtime_version)
    }

    /// The raw generated clients, for tests and tools that need other CRI calls.
    #[must_use]
    pub fn raw(&self) -> (RuntimeServiceClient<Channel>, ImageServiceClient<Channel>) {
        (self.runtime.clone(), self.images.clone())
    }

    fn call_error(&self, call: &'static str, status: &Status) -> Error {
        Error::Call {
            call,
            endpoint: self.endpoint.clone(),
            message: status.message().to_owned(),
        }
    }
}

/// The message of an error and of all its sources, so "connection refused" is not hidden
/// behind tonic's "transport error".
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

fn container_state(raw: i32) -> ContainerState {
    use crate::proto::ContainerState as Cri;
    match Cri::try_from(raw) {
        Ok(Cri::ContainerCreated) => ContainerState::Created,
        Ok(Cri::ContainerRunning) => ContainerState::Running,
        Ok(Cri::ContainerExited) => ContainerState::Exited,
        _ => ContainerState::Unknown,
    }
}

/// Finds the sandbox image in the runtime's verbose status: containerd reports its CRI
/// plugin config as JSON under `config` with `sandboxImage`; CRI-O uses `pause_image`.
fn sandbox_image_from_info(info: &std::collections::HashMap<String, String>) -> Option<String> {
    let config: serde_json::Value = serde_json::from_str(info.get("config")?).ok()?;
    ["sandboxImage", "pause_image", "pauseImage"]
        .iter()
        .find_map(|key| config.get(key).and_then(serde_json::Value::as_str))
        .filter(|image| !image.is_empty())
        .map(str::to_owned)
}

impl ImageRuntime for CriClient {
    async fn list_images(&mut self) -> Result<Vec<ImageRecord>> {
        let response = self
            .images
            .list_images(ListImagesRequest { filter: None })
            .await
            .map_err(|s| self.call_error("ListImages", &s))?;
        Ok(response
            .into_inner()
            .images
            .into_iter()
            .map(|image| ImageRecord {
                id: image.id,
                repo_tags: image.repo_tags,
                repo_digests: image.repo_digests,
                size: image.size,
                pinned: image.pinned,
            })
            .collect())
    }

    async fn list_containers(&mut self) -> Result<Vec<ContainerRecord>> {
        let response = self
            .runtime
            .list_containers(ListContainersRequest { filter: None })
            .await
            .map_err(|s| self.call_error("ListContainers", &s))?;
        Ok(response
            .into_inner()
            .containers
            .into_iter()
            .map(|container| ContainerRecord {
                name: container.metadata.map(|m| m.name).unwrap_or_default(),
                image: container.image.map(|i| i.image).unwrap_or_default(),
                image_ref: container.image_ref,
                state: container_state(container.state),
                id: container.id,
            })
            .collect())
    }

    async fn sandbox_image(&mut self) -> Result<Option<String>> {
        let response = self
            .runtime
            .status(StatusRequest { verbose: true })
            .await
            .map_err(|s| self.call_error("Status", &s))?;
        Ok(sandbox_image_from_info(&response.into_inner().info))
    }

    async fn remove_image(&mut self, id: &str) -> Result<RemoveOutcome> {
        let request = RemoveImageRequest {
            image: Some(ImageSpec {
                image: id.to_owned(),
                ..ImageSpec::default()
            }),
        };
        match self.images.remove_image(request).await {
            Ok(_) => Ok(RemoveOutcome::Removed),
            Err(status) if status.code() == Code::NotFound => Ok(RemoveOutcome::NotFound),
            Err(status) => Err(self.call_error("RemoveImage", &status)),
        }
    }

    async fn image_records(&mut self) -> Result<Vec<NamedRecord>> {
        let mut request =
            tonic::Request::new(crate::created::proto::ListImagesRequest { filters: vec![] });
        request.metadata_mut().insert(
            NAMESPACE_HEADER,
            tonic::metadata::MetadataValue::from_static(K8S_NAMESPACE),
        );
        match self.records.list(request).await {
            Ok(response) => Ok(from_wire(response.into_inner().images)),
            Err(status) if status.code() == Code::Unimplemented => Err(Error::Call {
                call: "containerd Images.List",
                endpoint: self.endpoint.clone(),
                message: format!(
                    "{} does not serve containerd's images API, which a minimum image age needs ({})",
                    self.runtime(),
                    status.message()
                ),
            }),
            Err(status) => Err(self.call_error("containerd Images.List", &status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_image_is_read_from_containerd_and_crio_status() {
        let mut info = std::collections::HashMap::new();
        info.insert(
            "config".to_owned(),
            r#"{"sandboxImage":"registry.k8s.io/pause:3.6","x":1}"#.to_owned(),
        );
        assert_eq!(
            sandbox_image_from_info(&info).as_deref(),
            Some("registry.k8s.io/pause:3.6")
        );
        info.insert(
            "config".to_owned(),
            r#"{"pause_image":"registry.k8s.io/pause:3.9"}"#.to_owned(),
        );
        assert_eq!(
            sandbox_image_from_info(&info).as_deref(),
            Some("registry.k8s.io/pause:3.9")
        );
        info.insert("config".to_owned(), "not json".to_owned());
        assert_eq!(sandbox_image_from_info(&info), None);
        assert_eq!(
            sandbox_image_from_info(&std::collections::HashMap::new()),
            None
        );
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_one_line_error_naming_the_endpoint() {
        let endpoint: Endpoint = "unix:///nonexistent/drydock-test.sock".parse().unwrap();
        let err = CriClient::connect(&endpoint).await.unwrap_err().to_string();
        assert!(
            err.starts_with(
                "cannot reach the container runtime at unix:///nonexistent/drydock-test.sock"
            ),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }
}
