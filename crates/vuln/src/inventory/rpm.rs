//! RPM package databases, each a store of rpm headers ([`super::rpm_header`]): sqlite rpmdbs
//! (`rpmdb.sqlite`: RHEL 9 family, Fedora, Amazon Linux 2023, Azure Linux, Mariner 2), whose
//! `Packages` rows hold them, Berkeley DB rpmdbs (`var/lib/rpm/Packages`, [`super::bdb`]) and
//! NDB rpmdbs (`Packages.db`, SUSE, [`super::ndb`]); and the Mariner / Azure Linux distroless
//! manifest `var/lib/rpmmanifest/container-manifest-2` (no rpmdb in those images).
//!
//! The sqlite file is opened in memory (sqlite's deserialize), read-only, so nothing is written
//! to disk and the image's bytes never leave this process.

use std::fmt;
use std::io::Read;

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::rpm_header::{RpmHeader, parse_header};
use super::{Package, corrupt, utf8};
use crate::Result;

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

/// Offset of the sqlite header's file-format write and read versions (one byte each); 2 means
/// WAL mode, 1 legacy journal mode.
const SQLITE_FORMAT_VERSIONS: usize = 18;
/// Legacy (rollback journal) file format: what an in-memory copy must claim, because sqlite
/// cannot open a deserialized database in WAL mode. rpm writes its sqlite rpmdb in WAL mode
/// and checkpoints on close, so the main file holds every committed row.
const SQLITE_LEGACY_FORMAT: [u8; 2] = [1, 1];

/// The pseudo-package rpm stores imported signing keys as; not software, skipped as Trivy does.
const GPG_PUBKEY: &str = "gpg-pubkey";

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

/// Reads an rpm database: the installed packages of a sqlite, Berkeley DB or NDB rpmdb,
/// without `gpg-pubkey`.
///
/// Versions are `[epoch:]version-release` (epoch only when set); the source name and version
/// come from `SOURCERPM` (split from the right) with the package's epoch, as Trivy does.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when the bytes are none of the three formats,
/// the database cannot be read, or a header in it is corrupt.
pub fn parse_rpmdb(input: &str, bytes: &[u8]) -> Result<Vec<Package>> {
    let headers = match detect_rpmdb_format(bytes) {
        Some(RpmDbFormat::Sqlite) => read_sqlite_headers(input, bytes)?,
        Some(RpmDbFormat::BerkeleyDb) => read_bdb_headers(input, bytes)?,
        Some(RpmDbFormat::Ndb) => read_ndb_headers(input, bytes)?,
        None => {
            return Err(corrupt(
                input,
                0,
                "not a Berkeley DB, NDB or sqlite rpm database",
            ));
        }
    };
    Ok(headers
        .iter()
        .filter(|header| header.name != GPG_PUBKEY)
        .map(package_of_header)
        .collect())
}

/// The rpm headers of an NDB rpmdb (`Packages.db`), in file order as rpm lists them.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` (and the package index) when the file or a
/// header in it is corrupt.
pub fn read_ndb_headers(input: &str, bytes: &[u8]) -> Result<Vec<RpmHeader>> {
    crate::inventory::ndb::package_blobs(input, bytes)?
        .iter()
        .map(|b| parse_header(&format!("{input} (package {})", b.pkgidx), b.blob))
        .collect()
}

/// The rpm headers of a Berkeley DB rpmdb (`Packages`), in page order.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when the hash database or a header in it is
/// corrupt.
pub fn read_bdb_headers(input: &str, bytes: &[u8]) -> Result<Vec<RpmHeader>> {
    crate::inventory::bdb::hash_values(input, bytes)?
        .iter()
        .enumerate()
        .map(|(n, blob)| parse_header(&format!("{input} (value {n})"), blob))
        .collect()
}

/// The rpm headers of a sqlite rpmdb's `Packages` table, in `hnum` order.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` (and the row's `hnum`) when sqlite rejects the
/// file, `Packages` is missing or not a table, or a header is corrupt.
pub fn read_sqlite_headers(input: &str, bytes: &[u8]) -> Result<Vec<RpmHeader>> {
    let fail = |error: rusqlite::Error| corrupt(input, 0, format!("sqlite: {error}"));
    if bytes.len() <= SQLITE_FORMAT_VERSIONS + SQLITE_LEGACY_FORMAT.len() {
        return Err(corrupt(input, 0, "sqlite file shorter than its header"));
    }
    let mut db = Connection::open_with_flags(
        ":memory:",
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    let after = SQLITE_FORMAT_VERSIONS + SQLITE_LEGACY_FORMAT.len();
    let image = bytes[..SQLITE_FORMAT_VERSIONS]
        .chain(&SQLITE_LEGACY_FORMAT[..])
        .chain(&bytes[after..]);
    db.deserialize_read_exact(MAIN_DB, image, bytes.len(), true)
        .map_err(fail)?;
    // A hostile file could make `Packages` a view over an endless recursive query; only a
    // plain table is read.
    let kind: Option<String> = db
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'",
            [],
            |row| row.get(0),
        )
        .map_or_else(
            |error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(fail(other)),
            },
            |kind| Ok(Some(kind)),
        )?;
    if kind.as_deref() != Some("table") {
        return Err(corrupt(input, 0, "sqlite rpmdb has no Packages table"));
    }
    let mut statement = db
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(fail)?;
    let mut rows = statement.query([]).map_err(fail)?;
    let mut headers = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let hnum: i64 = row.get(0).map_err(fail)?;
        let blob = row.get_ref(1).map_err(fail)?;
        let row_input = format!("{input} (hnum {hnum})");
        let blob = blob
            .as_blob()
            .map_err(|_| corrupt(&row_input, 0, "Packages.blob is not a BLOB"))?;
        headers.push(parse_header(&row_input, blob)?);
    }
    Ok(headers)
}

/// The inventory package of an rpm header.
fn package_of_header(header: &RpmHeader) -> Package {
    // Epoch 0 is the same as none and is not written (Trivy's `FormatVersion`).
    let with_epoch = |v: &str| match header.epoch.filter(|e| *e != 0) {
        Some(e) => format!("{e}:{v}"),
        None => v.to_owned(),
    };
    let version = with_epoch(&format!("{}-{}", header.version, header.release));
    let (source_name, source_version) = header
        .source_rpm
        .as_deref()
        .and_then(split_source_rpm)
        .map_or_else(
            || (header.name.clone(), version.clone()),
            |(n, v)| (n, with_epoch(&v)),
        );
    Package {
        name: header.name.clone(),
        version,
        source_name,
        source_version,
        arch: header.arch.clone().filter(|a| !a.is_empty()),
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
/// [`crate::Error::CorruptPackageDb`] naming `input` for non-UTF-8 bytes, a line without exactly
/// ten tab-separated fields, an empty name or version, or a bad epoch.
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
    use crate::Error;

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
    fn a_damaged_berkeley_db_or_ndb_is_corrupt_and_named() {
        let mut bdb = vec![0_u8; 64];
        bdb[12..16].copy_from_slice(&0x0006_1561_u32.to_le_bytes());
        let err = parse_rpmdb("var/lib/rpm/Packages", &bdb).unwrap_err();
        assert!(matches!(err, Error::CorruptPackageDb { .. }), "{err}");
        assert!(err.to_string().contains("var/lib/rpm/Packages"), "{err}");
        let err = parse_rpmdb("var/lib/rpm/Packages.db", b"RpmP\x00\x00").unwrap_err();
        assert!(matches!(err, Error::CorruptPackageDb { .. }), "{err}");
        assert!(err.to_string().contains("var/lib/rpm/Packages.db"), "{err}");
    }

    #[test]
    fn ndb_rpmdb_blobs_become_packages_without_gpg_pubkey() {
        use super::super::ndb::tests::ndb_file;
        use super::super::rpm_header::tests::{header_blob, int, s};
        let openssl = header_blob(&[
            s(1000, "openssl-libs"),
            s(1001, "3.0.8"),
            s(1002, "150500.5.8.1"),
            int(1003, 1),
            s(1022, "x86_64"),
            s(1044, "openssl-3-3.0.8-150500.5.8.1.src.rpm"),
        ]);
        let key = header_blob(&[s(1000, "gpg-pubkey"), s(1001, "3dbdc284"), s(1002, "1")]);
        let bytes = ndb_file(&[&openssl, &key]);
        let packages = parse_rpmdb("usr/lib/sysimage/rpm/Packages.db", &bytes).unwrap();
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].name, "openssl-libs");
        assert_eq!(packages[0].version, "1:3.0.8-150500.5.8.1");
        assert_eq!(packages[0].source_name, "openssl-3");
        assert_eq!(packages[0].arch.as_deref(), Some("x86_64"));
        let bad = ndb_file(&[&openssl, &[0, 0, 0, 1]]);
        let err = parse_rpmdb("usr/lib/sysimage/rpm/Packages.db", &bad).unwrap_err();
        assert!(
            err.to_string()
                .contains("usr/lib/sysimage/rpm/Packages.db (package 2)"),
            "{err}"
        );
    }

    #[test]
    fn truncated_sqlite_rpmdb_is_corrupt_and_named() {
        let err = parse_rpmdb("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0rest").unwrap_err();
        assert!(matches!(err, Error::CorruptPackageDb { .. }), "{err}");
        assert!(
            err.to_string().contains("var/lib/rpm/rpmdb.sqlite"),
            "{err}"
        );
    }

    /// An in-memory sqlite rpmdb with the given blobs, serialised to bytes.
    fn sqlite_rpmdb(schema: &str, blobs: &[Vec<u8>]) -> Vec<u8> {
        let mut db = Connection::open_in_memory().unwrap();
        db.execute_batch(schema).unwrap();
        for blob in blobs {
            db.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob])
                .unwrap();
        }
        db.serialize(MAIN_DB).unwrap().to_vec()
    }

    const RPM_SCHEMA: &str = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, \
                              blob BLOB NOT NULL);";

    #[test]
    fn sqlite_rpmdb_rows_become_packages_without_gpg_pubkey() {
        use super::super::rpm_header::tests::{header_blob, int, s};
        let bytes = sqlite_rpmdb(
            RPM_SCHEMA,
            &[
                header_blob(&[
                    s(1000, "openssl-libs"),
                    s(1001, "3.0.7"),
                    s(1002, "24.el9"),
                    int(1003, 1),
                    s(1022, "x86_64"),
                    s(1044, "openssl-3.0.7-24.el9.src.rpm"),
                ]),
                header_blob(&[s(1000, "gpg-pubkey"), s(1001, "fd431d51"), s(1002, "1")]),
                header_blob(&[s(1000, "tzdata"), s(1001, "2024a"), s(1002, "1.el9")]),
            ],
        );
        let packages = parse_rpmdb("var/lib/rpm/rpmdb.sqlite", &bytes).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "openssl-libs");
        assert_eq!(packages[0].version, "1:3.0.7-24.el9");
        assert_eq!(packages[0].source_name, "openssl");
        assert_eq!(packages[0].source_version, "1:3.0.7-24.el9");
        assert_eq!(packages[0].arch.as_deref(), Some("x86_64"));
        assert_eq!(packages[1].source_name, "tzdata");
        assert_eq!(packages[1].version, "2024a-1.el9");
        assert_eq!(packages[1].arch, None);
    }

    #[test]
    fn a_corrupt_header_names_the_database_and_row() {
        let bytes = sqlite_rpmdb(RPM_SCHEMA, &[vec![0, 0, 0, 1]]);
        let err = parse_rpmdb("usr/lib/sysimage/rpm/rpmdb.sqlite", &bytes).unwrap_err();
        assert!(
            err.to_string()
                .contains("usr/lib/sysimage/rpm/rpmdb.sqlite (hnum 1)"),
            "{err}"
        );
    }

    #[test]
    fn a_sqlite_file_without_a_packages_table_is_corrupt() {
        let bytes = sqlite_rpmdb(
            "CREATE TABLE Other (x); CREATE VIEW Packages AS SELECT 1 AS hnum, x'00' AS blob;",
            &[],
        );
        let err = parse_rpmdb("rpmdb.sqlite", &bytes).unwrap_err();
        assert!(err.to_string().contains("no Packages table"), "{err}");
    }

    #[test]
    fn unrecognised_rpmdb_bytes_are_corrupt() {
        assert!(matches!(
            parse_rpmdb("var/lib/rpm/Packages", b"short"),
            Err(Error::CorruptPackageDb { .. })
        ));
    }
}
