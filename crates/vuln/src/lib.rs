//! Drydock's vulnerability-scanner core: OS detection from release files, package inventories
//! parsed from package-database bytes (dpkg, apk, the Mariner distroless manifest), exact
//! version comparators (dpkg, rpm, apk-tools), OSV record reading, and the pure matcher that
//! turns (OS, packages, OSV records) into findings with Trivy-compatible defaults.
//!
//! This crate is sans-IO: every function takes bytes or strings that the caller has already
//! read from an image filesystem and returns plain data. It must not open files, spawn
//! processes, talk to containerd or the network, or depend on an async runtime; layer walking
//! and whiteouts belong to `imagefs`, and the compiled vulnerability index is later work. Hostile
//! input (corrupt databases, garbage versions) yields an [`Error`] naming the input, never a
//! panic.

pub mod advisory;
pub mod inventory;
pub mod matching;
pub mod os;
pub mod osv;
pub mod severity;
pub mod version;

pub use advisory::Advisory;
pub use inventory::{Package, RpmDbFormat};
pub use matching::{Finding, FixStatus, match_packages};
pub use os::{Os, OsFamily, ReleaseFiles, detect_os};
pub use osv::{OsvRecord, parse_osv_record};
pub use severity::Severity;
pub use version::{Version, VersionScheme};

/// Everything that can go wrong in this crate. Each variant names the input it failed on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version string is not valid for its scheme.
    #[error("invalid {scheme} version {input:?}: {reason}")]
    InvalidVersion {
        /// The versioning scheme the string was parsed as.
        scheme: VersionScheme,
        /// The rejected version string.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A package database could not be parsed.
    #[error("corrupt package database {input} (line {line}): {reason}")]
    CorruptPackageDb {
        /// The database, usually its path inside the image.
        input: String,
        /// The 1-based line where parsing failed (0 when not line-oriented).
        line: usize,
        /// What was wrong.
        reason: String,
    },

    /// A package database in a format this crate does not read (BDB and NDB rpmdbs).
    #[error("unsupported package database {input}: {format} rpmdb")]
    UnsupportedPackageDb {
        /// The database, usually its path inside the image.
        input: String,
        /// The detected on-disk format.
        format: RpmDbFormat,
    },

    /// A sqlite rpmdb: supported by the contract but not implemented yet in this crate.
    #[error("rpm sqlite database {input} is not read yet (sqlite rpmdb support is pending)")]
    RpmSqliteNotImplemented {
        /// The database, usually its path inside the image.
        input: String,
    },

    /// An OSV record is not valid JSON or does not follow the schema.
    #[error("invalid OSV record {input}: {source}")]
    InvalidOsvRecord {
        /// The record, usually its file name.
        input: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
