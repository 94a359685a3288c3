//! The Image Cleaner, in two halves along the seam the pods draw:
//!
//! - [`node`]: what runs on every node. Which images to remove and why (pure decisions over a
//!   runtime snapshot, [`node::decide`]), the Eraser worker stages `collector`, `scanner` and
//!   `remover` speaking Eraser's pipe contract byte for byte ([`node::stages`],
//!   [`node::pipes`]), scanning images for them ([`node::inventory`], [`node::language`],
//!   [`node::scan`]), the scanner's clients of the manager (the index, [`node::fetch`]; the
//!   verdict cache, [`node::verdict_client`]) and the node-local `drydock clean`.
//! - [`manager`]: what runs in the manager's pod. The controllers ([`manager::controller`])
//!   over a pure core (node planning, worker pod construction, status folding, the persisted
//!   schedule and history), the index service and the verdict cache, the `vulndb-builder`'s
//!   OSV refresh, metrics, and the admin commands' decisions ([`manager::admin`]).
//!
//! What both halves say to each other is in the shared modules: the removal report
//! ([`report`]), the vulnerability report ([`vulnreport`]), Eraser-style exclusion lists
//! ([`exclusions`]) and the verdict cache's wire types ([`verdicts`]). Neither half imports
//! the other (a test in `crates/drydock/tests/architecture.rs` checks it).

pub mod download;
pub mod exclusions;
pub mod manager;
pub mod node;
pub mod report;
pub mod verdicts;
pub mod vulnreport;

/// Everything that can go wrong on the node side of the Image Cleaner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime failed (unreachable, wrong API, a call failed).
    #[error(transparent)]
    Runtime(#[from] drydock_cri::Error),
    /// A wire payload (pipe JSON) is malformed.
    #[error(transparent)]
    Wire(#[from] drydock_api::Error),
    /// A file or pipe could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or pipe.
        path: String,
        /// What failed (for failures that are not the system's, an [`std::io::Error::other`]
        /// saying what).
        #[source]
        source: std::io::Error,
    },
    /// An input (image list, exclusion list, pipe payload) is malformed.
    #[error("{source_name}: {message}")]
    Input {
        /// The file, pipe or flag.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The peer on a completion pipe sent something other than `complete`.
    #[error("{pipe}: expected \"complete\", got {got:?}")]
    Protocol {
        /// The pipe.
        pipe: String,
        /// What arrived.
        got: String,
    },
    /// A Kubernetes API call of the manager failed.
    #[error("cannot {action}: {source}")]
    Kube {
        /// What the call was for.
        action: String,
        /// The client's error (boxed: it is large).
        #[source]
        source: Box<kube::Error>,
    },
    /// A Kubernetes object the manager reads is missing or malformed.
    #[error("{object}: {message}")]
    Object {
        /// The object (`Kind name`).
        object: String,
        /// What is wrong.
        message: String,
    },
    /// A download (an OSV source, or the index from the manager) failed.
    #[error("fetching {url}: {message}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// What failed (connection, HTTP status with the start of the body, size limit).
        message: String,
    },
    /// The server refused the request itself (an HTTP client error other than 408 and 429: a
    /// wrong path, a missing file, no access). Asking again cannot help.
    #[error("fetching {url}: {message}")]
    Refused {
        /// What was fetched.
        url: String,
        /// The HTTP status with the start of the body.
        message: String,
    },
    /// Downloaded bytes do not match the digest they were announced with.
    #[error("{url}: the body's digest is {actual}, its ETag announced {expected}; not used")]
    Integrity {
        /// Where the bytes came from.
        url: String,
        /// The digest in the ETag.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// The vulnerability index could not be built or read.
    #[error(transparent)]
    Index(#[from] drydock_vuln::Error),
    /// A server could not listen or failed while serving.
    #[error("serving on {addr}: {source}")]
    Serve {
        /// The listen address.
        addr: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Maps a failed Kubernetes call to [`Error::Kube`], naming what it was for.
    pub(crate) fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Kube {
            action,
            source: Box::new(source),
        }
    }

    /// An [`Error::Io`] on `path` (a file, a pipe, or what else was being read or written),
    /// keeping `source` as the cause.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_io_error_says_its_path_and_keeps_its_cause() {
        let error = Error::io(
            "/run/eraser.sh/shared-data/scanErase",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(
            error.to_string(),
            "/run/eraser.sh/shared-data/scanErase: entity not found"
        );
        let cause = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind);
        assert_eq!(cause, Some(std::io::ErrorKind::NotFound));
    }
}
