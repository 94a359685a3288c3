//! containerd's snapshots service, over the same socket as CRI: the scanner asks for a read-only
//! `View` of an image's committed snapshot chain to learn the unpacked layer directories when
//! containerd discarded the layer blobs, then `Remove`s the view. Nothing else of containerd's
//! API is spoken, and nothing here decides what to scan.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Uri};

use crate::{Endpoint, Error, Result};

/// The generated snapshots protocol (`proto/snapshots.proto`, only `View` and `Remove`).
#[allow(missing_docs, clippy::all, clippy::pedantic)] // generated code: not ours to document or lint
pub mod proto {
    tonic::include_proto!("containerd.services.snapshots.v1");
}

use proto::snapshots_client::SnapshotsClient as RawClient;
use proto::{Mount, RemoveSnapshotRequest, ViewSnapshotRequest};

/// The gRPC metadata header naming the containerd namespace of a call.
pub const NAMESPACE_HEADER: &str = "containerd-namespace";
/// The containerd namespace the CRI plugin (and so Kubernetes) keeps its images in.
pub const K8S_NAMESPACE: &str = "k8s.io";
/// The CRI plugin's default snapshotter, the one whose directories Drydock can read.
pub const OVERLAYFS: &str = "overlayfs";
/// Deadline of one snapshots call: both are metadata operations that take milliseconds; a
/// runtime that does not answer in this time is treated as unavailable.
pub const SNAPSHOT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected snapshots client for one containerd namespace.
#[derive(Debug, Clone)]
pub struct SnapshotsClient {
    endpoint: String,
    namespace: String,
    raw: RawClient<Channel>,
}

// === impl SnapshotsClient ===

impl SnapshotsClient {
    /// Connects to containerd's socket `endpoint`, for calls in `namespace`.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when nothing answers.
    pub async fn connect(endpoint: &Endpoint, namespace: &str) -> Result<Self> {
        let name = endpoint.to_string();
        let path = endpoint.path().to_owned();
        // The URI is required by tonic but unused: the connector always dials the socket.
        let channel = tonic::transport::Endpoint::from_static("http://[::1]:50051")
            .connect_timeout(SNAPSHOT_CALL_TIMEOUT)
            .timeout(SNAPSHOT_CALL_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { UnixStream::connect(path).await.map(TokioIo::new) }
            }))
            .await
            .map_err(|e| Error::Unreachable {
                endpoint: name.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            endpoint: name,
            namespace: namespace.to_owned(),
            raw: RawClient::new(channel),
        })
    }

    /// Creates the read-only view `key` of the committed snapshot `parent` and returns its
    /// mounts. The caller must [`SnapshotsClient::remove`] the view when done.
    ///
    /// # Errors
    /// [`Error::Call`] with containerd's message (e.g. `not found` when `parent` does not exist).
    pub async fn view(&mut self, snapshotter: &str, key: &str, parent: &str) -> Result<Vec<Mount>> {
        let request = self.request(ViewSnapshotRequest {
            snapshotter: snapshotter.to_owned(),
            key: key.to_owned(),
            parent: parent.to_owned(),
            labels: std::collections::HashMap::new(),
        })?;
        let response = self
            .raw
            .view(request)
            .await
            .map_err(|status| self.call_error("Snapshots.View", &status))?;
        Ok(response.into_inner().mounts)
    }

    /// Removes the snapshot (here: the view) `key`.
    ///
    /// # Errors
    /// [`Error::Call`] with containerd's message.
    pub async fn remove(&mut self, snapshotter: &str, key: &str) -> Result<()> {
        let request = self.request(RemoveSnapshotRequest {
            snapshotter: snapshotter.to_owned(),
            key: key.to_owned(),
        })?;
        self.raw
            .remove(request)
            .await
            .map_err(|status| self.call_error("Snapshots.Remove", &status))?;
        Ok(())
    }

    fn request<T>(&self, message: T) -> Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        let namespace =
            MetadataValue::try_from(self.namespace.as_str()).map_err(|_| Error::Call {
                call: "Snapshots",
                endpoint: self.endpoint.clone(),
                message: format!("invalid containerd namespace {:?}", self.namespace),
            })?;
        request.metadata_mut().insert(NAMESPACE_HEADER, namespace);
        request.set_timeout(SNAPSHOT_CALL_TIMEOUT);
        Ok(request)
    }

    fn call_error(&self, call: &'static str, status: &tonic::Status) -> Error {
        Error::Call {
            call,
            endpoint: self.endpoint.clone(),
            message: format!("{:?}: {}", status.code(), status.message()),
        }
    }
}

/// The layer directories of a view's mounts, lowest layer first: an overlay mount's `lowerdir`
/// list (which overlay writes top first), or a bind mount's source (a one-layer image, or a
/// snapshotter that keeps whole copies).
///
/// # Errors
/// A reason, when the mounts are not one overlay or bind mount with at least one directory.
pub fn layer_dirs(mounts: &[Mount]) -> std::result::Result<Vec<PathBuf>, String> {
    let [mount] = mounts else {
        return Err(format!("expected one mount, got {}", mounts.len()));
    };
    let bind = mount.r#type == "bind" || mount.options.iter().any(|o| o == "bind" || o == "rbind");
    if bind {
        if mount.source.is_empty() {
            return Err("bind mount without a source".to_owned());
        }
        return Ok(vec![PathBuf::from(&mount.source)]);
    }
    if mount.r#type != "overlay" {
        return Err(format!("unsupported mount type {:?}", mount.r#type));
    }
    let lower = mount
        .options
        .iter()
        .find_map(|o| o.strip_prefix("lowerdir="))
        .ok_or_else(|| "overlay mount without lowerdir".to_owned())?;
    let mut dirs: Vec<PathBuf> = lower.split(':').rev().map(PathBuf::from).collect();
    // A view has no upper directory; were one given, it is the topmost layer.
    if let Some(upper) = mount
        .options
        .iter()
        .find_map(|o| o.strip_prefix("upperdir="))
    {
        dirs.push(PathBuf::from(upper));
    }
    if dirs.iter().any(|d| d.as_os_str().is_empty()) {
        return Err(format!("empty directory in lowerdir={lower}"));
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: &str, source: &str, options: &[&str]) -> Mount {
        Mount {
            r#type: kind.to_owned(),
            source: source.to_owned(),
            target: String::new(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn overlay_lowerdirs_come_back_lowest_first() {
        let dirs = layer_dirs(&[mount(
            "overlay",
            "overlay",
            &["index=off", "lowerdir=/s/3/fs:/s/2/fs:/s/1/fs"],
        )])
        .unwrap();
        assert_eq!(
            dirs,
            ["/s/1/fs", "/s/2/fs", "/s/3/fs"]
                .map(PathBuf::from)
                .to_vec()
        );
    }

    #[test]
    fn a_bind_mount_is_one_directory() {
        let dirs = layer_dirs(&[mount("bind", "/s/1/fs", &["ro", "rbind"])]).unwrap();
        assert_eq!(dirs, vec![PathBuf::from("/s/1/fs")]);
    }

    #[test]
    fn other_mounts_are_refused_with_a_reason() {
        assert!(layer_dirs(&[]).unwrap_err().contains("one mount"));
        assert!(
            layer_dirs(&[mount("overlay", "overlay", &["index=off"])])
                .unwrap_err()
                .contains("lowerdir")
        );
        assert!(
            layer_dirs(&[mount("zfs", "pool/x", &[])])
                .unwrap_err()
                .contains("zfs")
        );
    }
}
