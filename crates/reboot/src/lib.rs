//! The reboot domain of Drydock: the kured-compatible reboot coordinator's decisions.
//!
//! This crate owns the daemon's configuration (every kured flag and its `KURED_*` environment
//! form, validated once into an immutable [`config::Config`]), the maintenance window
//! ([`window`]), the kured lock annotation codec and lock policy ([`lock`]), and the per-node
//! state machine ([`machine`]) that turns observed facts into the next step. These modules are
//! pure: they import no kube, tokio or other IO, never read the clock (time is always an
//! argument) and never read the process environment (the environment is an argument too), so
//! they test in milliseconds.
//!
//! The thin loop that performs the steps ([`daemon`]) acts only through the ports in
//! [`cluster`] (the Kubernetes API, the host, the clock), so it runs unchanged against the
//! in-memory cluster of `memory`, in virtual time, for the simulation tests and the
//! hand-over benchmark (`cargo bench -p drydock-reboot --bench handover`). The simulator is
//! compiled only for them (the cargo feature `sim`, which this crate's dev-dependency on
//! itself turns on), so it is not part of the library the binary links.
//!
//! The IO adapters of the ports are here too, apart from the pure modules: [`k8s`] (the
//! Kubernetes API through kube), [`host`] (sentinel, reboot, alert blocker, notifications,
//! with [`alerts`] and [`webhook`]; host commands enter the host's mount namespace through
//! [`hostns`]) and [`metrics`] (kured's gauge and Drydock's, read off the
//! port calls). Shared Kubernetes plumbing (client, admin server, Events) is `drydock-kube`.

pub mod access;
pub mod admin;
pub mod alerts;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod forecast;
pub mod gocompat;
pub mod health;
pub mod host;
pub mod hostns;
pub mod k8s;
pub mod lock;
pub mod machine;
#[cfg(any(test, feature = "sim"))]
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod request;
/// Label selectors and node labels, shared with the Image Cleaner (they live in `drydock-api`).
pub use drydock_api::selector;
pub mod smtp;
pub mod watch;
pub mod webhook;
pub mod window;

/// Everything that can go wrong in this crate's decisions and its IO adapters.
///
/// Lock problems say what was found in the annotation. Flag problems are the configuration
/// layer's own error, [`config::Error`], so the pure modules ([`lock`], [`machine`],
/// [`window`], [`health`], [`request`]) return a type that knows nothing of the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lock annotation exists but is not a kured lock in either JSON shape.
    #[error("lock annotation is not a valid kured lock: {reason}")]
    LockDecode {
        /// What was wrong with it.
        reason: String,
    },

    /// The lock annotation holds the other JSON shape than this daemon's `--concurrency`
    /// selects. Writing would corrupt it for the other daemons, so Drydock refuses.
    #[error(
        "lock format mismatch: the annotation holds a {found} lock but this daemon's \
         --concurrency expects a {expected} lock; refusing to write it. Every node must run the \
         same --concurrency (1 for the single format, more for the multi format): fix the flag, \
         or clear the annotation once no node is rebooting"
    )]
    LockFormatMismatch {
        /// The format this daemon is configured for.
        expected: lock::LockFormat,
        /// The format found in the annotation.
        found: lock::LockFormat,
    },

    /// The lock could not be serialised (should not happen: every field is plain data).
    #[error("lock annotation could not be encoded: {0}")]
    LockEncode(#[source] serde_json::Error),

    /// A call to the Kubernetes API failed.
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),

    /// `drydock reboot pause` while nodes hold the lock.
    #[error(
        "the lock is held by {holders}; pause once they have finished (or their TTL ran out)",
        holders = holders.join(", ")
    )]
    PauseWhileHeld {
        /// The live holders.
        holders: Vec<String>,
    },

    /// The HTTP client for the alert blocker and the notifications cannot be built.
    #[error(
        "cannot build the HTTP client for {urls}: {reason} (HTTPS needs the system's CA \
         certificates in the image, or SSL_CERT_FILE / SSL_CERT_DIR pointing at some)"
    )]
    HttpClient {
        /// The URLs that need it (`--flag scheme://host`).
        urls: String,
        /// Why it failed.
        reason: String,
    },

    /// The flags of the daemons' DaemonSet, parsed as the daemons parse them, are refused.
    #[error("the flags of DaemonSet {daemonset} do not parse")]
    DaemonSetFlags {
        /// `namespace/name`.
        daemonset: String,
        /// The configuration layer's error ([`config::Error`]), boxed so that this type does
        /// not depend on the command-line parser.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An administrator command could not be carried out (the message says why).
    #[error("{0}")]
    Admin(String),

    /// A Node's reboot-request annotation is not a request.
    #[error(
        "reboot request annotation {value:?} is not a request ({reason}); expected \
         {{\"bootID\":…,\"requested\":…,\"force\":…}}"
    )]
    RequestDecode {
        /// The annotation's value.
        value: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A release or renewal was asked of a node that does not hold the lock.
    #[error("node {node} does not hold the lock")]
    NotLockHolder {
        /// The node that asked.
        node: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
