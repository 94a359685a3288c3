//! Drydock's vulnerability-scanner core: OS detection from release files, package inventories
//! parsed from package-database bytes (dpkg, apk, sqlite rpmdbs, the Mariner distroless manifest), exact
//! version comparators (dpkg, rpm, apk-tools), OSV record reading, and the pure matcher that
//! turns (OS, packages, OSV records) into findings with Trivy-compatible defaults. Every
//! ecosystem (OS family or language) is declared once in [`ecosystem`], which the rest reads.
//!
//! Everything but [`index`] is sans-IO: functions take bytes or strings that the caller has
//! already read from an image filesystem and return plain data. [`index`] is the one module that
//! touches files: it compiles OSV sources into an SQLite index and reads it back. Nothing here
//! spawns processes, talks to containerd or the network, reads the clock (time is an argument)
//! or depends on an async runtime; layer walking and whiteouts belong to `imagefs`. Hostile input
//! (corrupt databases, garbage versions, foreign index files) yields an [`Error`] naming the
//! input, never a panic.

pub mod advisory;
pub mod config;
pub mod ecosystem;
pub mod eol;
pub mod index;
pub mod inventory;
pub mod matching;
pub mod os;
pub mod osv;
pub mod severity;
pub mod verdict;
pub mod version;

pub use advisory::Advisory;
pub use config::ScannerConfig;
pub use eol::EolStatus;
pub use index::{BuildReport, Index, IndexInfo};
pub use inventory::{Package, RpmDbFormat};
pub use matching::{Finding, FixStatus, match_packages};
pub use os::{Os, OsFamily, ReleaseFiles, detect_os};
pub use osv::{OsvRecord, parse_osv_record};
pub use severity::Severity;
pub use verdict::{Assessment, Verdict};
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

    /// An OSV record is not valid JSON or does not follow the schema.
    #[error("invalid OSV record {input}: {source}")]
    InvalidOsvRecord {
        /// The record, usually its file name (`all.zip:DSA-5532-1.json` inside a zip).
        input: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// More than [`index::MAX_UNREADABLE_PER_MILLE`] of a source's records cannot be read.
    #[error(
        "OSV source {input}: {skipped} of {read} records unreadable (more than {limit_per_mille} per thousand); first: {first}"
    )]
    TooManyUnreadable {
        /// The source, or the zip dump inside it.
        input: String,
        /// Unreadable records.
        skipped: u64,
        /// Records read, readable or not.
        read: u64,
        /// The limit, per thousand records.
        limit_per_mille: u64,
        /// The first few unreadable records with their reasons.
        first: String,
    },

    /// An OSV source (directory, zip or file) could not be read.
    #[error("OSV source {input}: {reason}")]
    OsvSource {
        /// The source, or the entry inside a zip (`all.zip:DSA-5532-1.json`).
        input: String,
        /// What went wrong.
        reason: String,
    },

    /// The vulnerability index is missing, corrupt, foreign or of another schema version.
    #[error("vulnerability index {path}: {reason}")]
    Index {
        /// The index file.
        path: String,
        /// What is wrong and what to do about it.
        reason: String,
    },

    /// SQLite failed while reading or writing the vulnerability index.
    #[error("vulnerability index {path}: {source}")]
    IndexDb {
        /// The index file.
        path: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// The scanner configuration (`components.scanner.config`) is invalid.
    #[error("scanner config: {key}: {reason}")]
    Config {
        /// The offending key (`vulnerabilities.severities[1]`), or `(document)`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
