//! Package inventories parsed from package-database bytes: dpkg `status` and distroless
//! `status.d/*`, apk `installed`, sqlite rpmdbs and the Mariner / Azure Linux distroless
//! manifest, Berkeley DB rpmdbs (`bdb`), NDB rpmdbs (`ndb`), and language packages (`language`,
//! Java archives in `java`, cargo-auditable Rust binaries in `rust`, Composer's `installed.json`
//! in `php`, .NET `*.deps.json` in `dotnet`).
//!
//! Every parser takes the input's name (its path in the image, used in errors) and its bytes.
//! Corrupt input yields [`crate::Error::CorruptPackageDb`], never a panic. Versions are kept as
//! written; the matcher validates them with the OS's comparator.

pub mod apk;
pub mod bdb;
pub mod dotnet;
pub mod dpkg;
pub mod java;
pub mod language;
pub mod ndb;
pub mod php;
pub mod rpm;
pub mod rpm_header;
pub mod rust;

pub use rpm::RpmDbFormat;

/// An installed OS package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The binary package name (`libssl3`).
    pub name: String,
    /// The binary package version (`3.0.11-1~deb12u2`; rpm: `[epoch:]version-release`).
    pub version: String,
    /// The source package name (`openssl`); the binary name when the database names none.
    pub source_name: String,
    /// The source package version; the binary version when the database names none.
    pub source_version: String,
    /// The architecture, when recorded.
    pub arch: Option<String>,
}

/// Splits bytes into UTF-8 text, or reports the input as corrupt.
pub(crate) fn utf8<'a>(input: &str, bytes: &'a [u8]) -> crate::Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes[..error.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        corrupt(input, line, "not valid UTF-8")
    })
}

/// A [`crate::Error::CorruptPackageDb`] for `input` at `line`.
pub(crate) fn corrupt(input: &str, line: usize, reason: impl Into<String>) -> crate::Error {
    crate::Error::CorruptPackageDb {
        input: input.to_owned(),
        line,
        reason: reason.into(),
    }
}
