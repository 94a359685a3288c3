//! RPM package databases. Read today: the Mariner / Azure Linux distroless manifest
//! `var/lib/rpmmanifest/container-manifest-2` (no rpmdb in those images). Recognised but not
//! read: Berkeley DB (`var/lib/rpm/Packages`) and NDB (`Packages.db`) rpmdbs, which fail with
//! [`crate::Error::UnsupportedPackageDb`] until page-format readers exist, and sqlite rpmdbs
//! (`rpmdb.sqlite`), which fail with [`crate::Error::RpmSqliteNotImplemented`] until the sqlite
//! reader lands.

use std::fmt;

use super::{Package, corrupt, utf8};
use crate::{Error, Result};

/// Tab-separated fields per manifest line: `NAME VERSION-RELEASE INSTALLTIME BUILDTIME VENDOR
/// (none) SIZE ARCH EPOCHNUM SOURCERPM` (Trivy `rpmqa.go`).
const MANIFEST_FIELDS: usize = 10;

/// Berkeley DB magic numbers at byte offset 12 of the first page (hash and btree databases),
/// native and byte-swapped.
const BDB_MAGICS: [u32; 2] = [0x0006_1561, 0x0005_3162];

/// Offset of the Berkeley DB magic in the metadata page header.
const BDB_MAGIC_OFFSET: usize = 12;

/// rpm's NDB backend starts its `Packages.db` with this magic ("RpmP" little-endian).
const NDB_MAGIC: &[u8; 4] = b"RpmP";

/// Every sqlite 3 database starts with this header string.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The on-disk format of an rpm database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpmDbFormat {
    /// Berkeley DB `Packages` (RHEL/CentOS ≤ 8, Amazon Linux 2, Oracle ≤ 8).
    BerkeleyDb,
    /// rpm's NDB `Packages.db` (SUSE).
    Ndb,
    /// sqlite `rpmdb.sqlite` (RHEL 9 family, Fedora, Amazon 2023, Azure Linux, Mariner 2).
    Sqlite,
}

impl fmt::Display for RpmDbFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BerkeleyDb => "Berkeley DB",
            Self::Ndb => "NDB",
            Self::Sqlite => "sqlite",
        })
    }
}

/// Recognises an rpm database by its magic bytes.
pub fn detect_rpmdb_format(bytes: &[u8]) -> Option<RpmDbFormat> {
    if bytes.starts_with(SQLITE_MAGIC) {
        return Some(RpmDbFormat::Sqlite);
    }
    if bytes.starts_with(NDB_MAGIC) {
        return Some(RpmDbFormat::Ndb);
    }
    let magic = bytes.get(BDB_MAGIC_OFFSET..BDB_MAGIC_OFFSET + 4)?;
    let magic: [u8; 4] = magic.try_into().ok()?;
    let (le, be) = (u32::from_le_bytes(magic), u32::from_be_bytes(magic));
    BDB_MAGICS
        .iter()
        .any(|m| *m == le || *m == be)
        .then_some(RpmDbFormat::BerkeleyDb)
}

/// Reads an rpm database.
///
/// # Errors
///
/// Always, for now: [`Error::UnsupportedPackageDb`] for Berkeley DB and NDB,
/// [`Error::RpmSqliteNotImplemented`] for sqlite, and [`Error::CorruptPackageDb`] when the
/// bytes are none of these.
pub fn parse_rpmdb(input: &str, bytes: &[u8]) -> Result<Vec<Package>> {
    match detect_rpmdb_format(bytes) {
        Some(RpmDbFormat::Sqlite) => Err(Error::RpmSqliteNotImplemented {
            input: input.to_owned(),
        }),
        Some(format) => Err(Error::UnsupportedPackageDb {
            input: input.to_owned(),
            format,
        }),
        None => Err(corrupt(
            input,
            0,
            "not a Berkeley DB, NDB or sqlite rpm database",
        )),
    }
}

/// Parses the Mariner / Azure Linux distroless manifest `container-manifest-2`.
///
/// The version is `[epoch:]version-release` (epoch only when non-zero); the source name and
/// version come from `SOURCERPM` (`name-version-release.src.rpm`, split from the right) with the
/// package's epoch, as Trivy does.
///
/// # Errors
///
/// [`Error::CorruptPackageDb`] naming `input` for non-UTF-8 bytes, a line without exactly ten
/// tab-separated fields, an empty name or version, or a bad epoch.
pub fn parse_mariner_manifest(input: &str, bytes: &[u8]) -> Result<Vec<Package>> {
    let text = utf8(input, bytes)?;
    let mut packages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [
            name,
            version_release,
            _,
            _,
            _,
            _,
            _,
            arch,
            epoch,
            source_rpm,
        ] = fields[..]
        else {
            return Err(corrupt(
                input,
                line_no,
                format!(
                    "expected {MANIFEST_FIELDS} tab-separated fields, found {}",
                    fields.len()
                ),
            ));
        };
        if name.is_empty() || version_release.is_empty() {
            return Err(corrupt(input, line_no, "empty name or version"));
        }
        let epoch = match epoch {
            "" | "(none)" | "0" => None,
            e if e.bytes().all(|b| b.is_ascii_digit()) => Some(e),
            _ => {
                return Err(corrupt(
                    input,
                    line_no,
                    format!("package {name}: bad epoch"),
                ));
            }
        };
        let with_epoch = |v: &str| match epoch {
            Some(e) => format!("{e}:{v}"),
            None => v.to_owned(),
        };
        let (source_name, source_version) = split_source_rpm(source_rpm).map_or_else(
            || (name.to_owned(), with_epoch(version_release)),
            |(n, v)| (n, with_epoch(&v)),
        );
        packages.push(Package {
            name: name.to_owned(),
            version: with_epoch(version_release),
            source_name,
            source_version,
            arch: Some(arch.to_owned()).filter(|a| !a.is_empty() && a != "(none)"),
        });
    }
    Ok(packages)
}

/// `openssl-3.1.4-3.cm2.src.rpm` → (`openssl`, `3.1.4-3.cm2`); `None` when it has no such shape.
fn split_source_rpm(source_rpm: &str) -> Option<(String, String)> {
    let stem = source_rpm.strip_suffix(".rpm")?;
    let (stem, _arch) = stem.rsplit_once('.')?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then(|| (name.to_owned(), format!("{version}-{release}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "\
filesystem\t1.1-20.cm2\t1700000000\t1690000000\tMicrosoft Corporation\t(none)\t7496\tx86_64\t0\tfilesystem-1.1-20.cm2.src.rpm
openssl-libs\t1.1.1k-28.cm2\t1700000000\t1690000000\tMicrosoft Corporation\t(none)\t4409432\tx86_64\t0\topenssl-1.1.1k-28.cm2.src.rpm
tzdata\t2023c-1.cm2\t1700000000\t1690000000\tMicrosoft Corporation\t(none)\t1900000\tnoarch\t2\ttzdata-2023c-1.cm2.src.rpm
";

    #[test]
    fn mariner_manifest_lines_become_packages_with_source_rpm_names() {
        let packages = parse_mariner_manifest(
            "var/lib/rpmmanifest/container-manifest-2",
            MANIFEST.as_bytes(),
        )
        .unwrap();
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[1].name, "openssl-libs");
        assert_eq!(packages[1].source_name, "openssl");
        assert_eq!(packages[1].source_version, "1.1.1k-28.cm2");
        assert_eq!(packages[2].version, "2:2023c-1.cm2");
        assert_eq!(packages[2].source_version, "2:2023c-1.cm2");
        assert_eq!(packages[2].arch.as_deref(), Some("noarch"));
    }

    #[test]
    fn manifest_with_missing_fields_is_corrupt() {
        let err = parse_mariner_manifest("container-manifest-2", b"a\tb\tc\n").unwrap_err();
        assert!(
            err.to_string().contains("container-manifest-2 (line 1)"),
            "{err}"
        );
    }

    #[test]
    fn berkeley_db_and_ndb_rpmdbs_fail_as_unsupported() {
        let mut bdb = vec![0_u8; 64];
        bdb[12..16].copy_from_slice(&0x0006_1561_u32.to_le_bytes());
        let err = parse_rpmdb("var/lib/rpm/Packages", &bdb).unwrap_err();
        assert!(matches!(
            err,
            Error::UnsupportedPackageDb {
                format: RpmDbFormat::BerkeleyDb,
                ..
            }
        ));
        assert!(
            err.to_string()
                .contains("unsupported package database var/lib/rpm/Packages")
        );
        let err = parse_rpmdb("var/lib/rpm/Packages.db", b"RpmP\x00\x00").unwrap_err();
        assert!(matches!(
            err,
            Error::UnsupportedPackageDb {
                format: RpmDbFormat::Ndb,
                ..
            }
        ));
    }

    #[test]
    fn sqlite_rpmdb_fails_as_not_implemented_yet() {
        let err = parse_rpmdb("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0rest").unwrap_err();
        assert!(matches!(err, Error::RpmSqliteNotImplemented { .. }));
    }

    #[test]
    fn unrecognised_rpmdb_bytes_are_corrupt() {
        assert!(matches!(
            parse_rpmdb("var/lib/rpm/Packages", b"short"),
            Err(Error::CorruptPackageDb { .. })
        ));
    }
}
