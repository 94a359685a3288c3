//! The node's container runtime, seen through CRI: a `runtime.v1` client over a unix socket,
//! image references (parse, normalise), exclusion patterns, and the set of images in use; and,
//! on containerd, the two calls of containerd's own API CRI lacks (image creation times,
//! snapshot views).
//!
//! This crate talks to exactly one thing, the CRI socket, and decides nothing about what to
//! remove: it answers "what is on this node", "what is in use", "does this pattern match".
//! The cleaning decisions live in `drydock-cleaner`.

pub mod client;
pub mod created;
pub mod endpoint;
pub mod exclude;
pub mod inuse;
pub mod reference;
pub mod snapshots;

/// The CRI protocol, generated at build time from the vendored `proto/api.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)] // generated code: not ours to document or lint
pub mod proto {
    tonic::include_proto!("runtime.v1");
}

pub use client::{CriClient, ImageRuntime, RemoveOutcome};
pub use created::NamedRecord;
pub use endpoint::Endpoint;
pub use exclude::{ExclusionSet, Pattern};
pub use inuse::{ContainerRecord, ImageRecord, Snapshot};
pub use reference::Reference;

/// Everything that can go wrong talking to the runtime or reading references and patterns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint string is not `unix:///path` or an absolute path.
    #[error("invalid runtime endpoint {input:?}: {reason}")]
    Endpoint {
        /// The rejected text.
        input: String,
        /// Why.
        reason: &'static str,
    },
    /// Nothing answers on the socket.
    #[error("cannot reach the container runtime at {endpoint}: {message}")]
    Unreachable {
        /// The endpoint tried.
        endpoint: String,
        /// The transport's message.
        message: String,
    },
    /// Something answers, but it does not speak CRI `runtime.v1`.
    #[error(
        "{endpoint} does not serve CRI runtime.v1 ({message}); is this the runtime's CRI socket?"
    )]
    NotCri {
        /// The endpoint tried.
        endpoint: String,
        /// The server's answer.
        message: String,
    },
    /// A CRI call failed.
    #[error("CRI {call} on {endpoint} failed: {message}")]
    Call {
        /// The RPC name.
        call: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The status message.
        message: String,
    },
    /// An image reference is malformed.
    #[error("invalid image reference {input:?}: {reason}")]
    Reference {
        /// The rejected text.
        input: String,
        /// Why.
        reason: String,
    },
    /// An exclusion pattern is malformed.
    #[error("invalid exclusion pattern {pattern:?} in {source_name}: {reason}")]
    Pattern {
        /// The rejected pattern.
        pattern: String,
        /// The file or flag it came from.
        source_name: String,
        /// Why.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
