//! Drydock's shared Kubernetes plumbing: what every Drydock process that talks to the API
//! server needs, and no domain logic.
//!
//! - [`client`]: installs the ring crypto provider (the only one linked; no OpenSSL, no
//!   aws-lc-rs) and builds a [`kube::Client`] from the pod's service account or a kubeconfig.
//! - [`admin`]: the admin HTTP server (`/metrics` in the Prometheus text format, `/healthz`,
//!   `/readyz`) on axum, stopped by a shutdown future.
//! - [`events`]: core/v1 Events about a Node, as kubelet writes them, so `kubectl describe
//!   node` shows them.
//! - [`status`]: sorting a [`kube::Error`] into conflict, not found, too many requests, or
//!   anything else.
//! - `mock` (feature `mock`): the tower-test API server used by the adapters' tests.
//!
//! This crate decides nothing: the reboot and cleaner domains call it.

pub mod admin;
pub mod client;
pub mod events;
#[cfg(feature = "mock")]
pub mod mock;
pub mod status;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Kubernetes configuration could be found or loaded (in-cluster or kubeconfig).
    #[error("cannot load the Kubernetes configuration: {0}")]
    Config(String),

    /// The client could not be built from the configuration.
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),

    /// A Kubernetes API call failed.
    #[error("Kubernetes API call failed: {0}")]
    Api(#[from] kube::Error),

    /// The admin server could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The admin server failed while serving.
    #[error("admin server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
