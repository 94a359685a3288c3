//! The compiled vulnerability index: OSV records from directories and per-ecosystem `all.zip`
//! dumps, reduced to [`Advisory`] rows keyed by (ecosystem with release, package) in one SQLite
//! file, so that matching an image is one indexed lookup per package instead of a walk over
//! every record (osv-scanner needed ~10 GB for Ubuntu when it loaded whole dumps; Eraser's
//! scanner is limited to 2 GiB).
//!
//! - [`build`] reads every source, skips withdrawn records (they are counted), keeps one copy of
//!   a record seen twice (the newest `modified` wins, ties keep the first), and stores per
//!   (ecosystem, package) the reduced advisory: `ECOSYSTEM` ranges, `versions`, grouping keys
//!   (CVE IDs from the ID, `aliases` and `upstream`) and the vendor and CVSS severities. Only the
//!   ecosystems Drydock matches are indexed ([`crate::ecosystem::ecosystem_scheme`]: the OS
//!   families and languages of the registry); records of other ecosystems are counted but not
//!   stored. Each record's own rating of its CVEs ([`crate::severity::record_rating`]) is kept
//!   by CVE, whatever its ecosystem, so that a finding no record of its ecosystem rates gets
//!   the rating another record gives the same CVE (as Trivy falls back to NVD). Unknown fields and newer `schema_version`s are
//!   read (the fields matching needs are stable). A record that cannot be read (bad JSON, a
//!   field of the wrong type, too large, a damaged zip entry) is skipped, counted and named
//!   (inside a zip: `all.zip:ID.json`), as osv-scanner does, so one odd record upstream does
//!   not stop every refresh; the build fails only when more than [`MAX_UNREADABLE_PER_MILLE`]
//!   of a source (or of one zip dump in it) is unreadable, naming the first few: then the
//!   data, not a record, is broken, and an index missing that much would hide
//!   vulnerabilities. The skipped records are kept in the index's meta table for
//!   [`Index::info`].
//! - The index is written to a temporary file next to `out` and renamed over it, so readers see
//!   the old index or the new one, never half of one.
//! - [`Index::open`] checks the SQLite `application_id` and `user_version`: a corrupt file, a
//!   foreign SQLite database or another schema version is an [`Error::Index`] naming the file.
//! - [`Index::records_for`] parses versions once per lookup; [`Index::match_packages`] looks each
//!   name up once per image and gives exactly the findings of [`crate::match_packages`] over the
//!   same records.
//!
//! An [`Index`] wraps one SQLite connection and a bounded cache of parsed lookups (images on a
//! node share most packages): it is `Send` but not `Sync`; scan concurrently with one `Index`
//! per worker.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

mod zipdir;

use crate::advisory::{StoredAdvisory, ecosystem_scheme};
use crate::inventory::language::{LanguageEcosystem, LanguagePackage, lookup_name};
use crate::matching::{lookup_key, match_advisories};
use crate::osv::OsvRecord;
use crate::severity::{Severity, record_rating};
use crate::{Advisory, Error, Finding, Os, Package, Result};

/// The index layout version; bump it on any change to the tables or the stored advisory, so
/// an old index is rejected with "rebuild" instead of misread.
/// Version 2 stores each record's ID and grouping keys once (not in every advisory row) and
/// ecosystems and records as integer keys (decision record 013). Version 3 adds the `ratings`
/// of CVEs by record.
pub const SCHEMA_VERSION: i64 = 3;

/// SQLite `application_id` of a Drydock index (`DRYV` in ASCII), which tells it apart from any
/// other SQLite database.
const APPLICATION_ID: i64 = 0x4452_5956;

/// The largest OSV record read from a source. Real records are at most a few MB (kernel
/// records listing many versions); anything bigger is not a record.
const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes read past an entry's compressed data for its local header: 30 fixed bytes plus a name
/// and an extra field of at most 64 KiB each.
const LOCAL_HEADER_ALLOWANCE: u64 = 30 + 2 * 65_535;

/// Parsed (ecosystem, package) lookups an [`Index`] keeps, so that images sharing base
/// packages (most images on a node) skip SQLite and parsing. Beyond this many the cache is
/// cleared: 4096 packages of ~50 advisories is a few tens of MB at most.
const MAX_CACHED_LOOKUPS: usize = 4096;

/// SQLite's page cache during a build, in KiB: the build's memory is this plus one record
/// and a zip's directory, whatever the data's size (dirty pages beyond it spill to the file,
/// which is only renamed into place when complete). 2 MiB is SQLite's own default, made
/// explicit because the manager's container has 30 MiB in all (Eraser's chart).
const BUILD_CACHE_KIB: u32 = 2048;

/// Meta keys.
const META_BUILT_AT: &str = "built_at";
const META_BUILDER: &str = "builder";
/// JSON list of [`Unreadable`] (absent in indexes built before it existed: nothing skipped).
const META_UNREADABLE: &str = "unreadable";

/// Unreadable records a source (or one zip dump in it) may hold before the build fails, per
/// thousand records read from it. 50 ‰ (one in twenty): upstream dumps have carried a few odd
/// records at a time (a field of a new type, a truncated entry), which are noise to skip;
/// beyond one in twenty the dump itself or this parser is broken, and an index silently
/// missing that share of a distro's advisories would pass vulnerable images.
pub const MAX_UNREADABLE_PER_MILLE: u64 = 50;

/// Unreadable records named (in the logs, the report and the index) per source; the rest
/// are counted. Enough to find the pattern, bounded so a broken dump does not flood the logs.
pub const NAMED_UNREADABLE: usize = 5;

/// Tables, created in one transaction by [`build`].
const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sources (position INTEGER PRIMARY KEY, path TEXT NOT NULL);
CREATE TABLE records (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source INTEGER NOT NULL,
    entry TEXT NOT NULL,
    modified TEXT,
    withdrawn INTEGER NOT NULL,
    keys TEXT NOT NULL
);
CREATE TABLE ecosystems (eid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE record_ecosystems (
    record INTEGER NOT NULL,
    ecosystem INTEGER NOT NULL,
    PRIMARY KEY (record, ecosystem)
) WITHOUT ROWID;
CREATE TABLE advisories (
    ecosystem INTEGER NOT NULL,
    package TEXT NOT NULL,
    record INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (ecosystem, package, record, seq)
) WITHOUT ROWID;
CREATE TABLE ratings (
    cve TEXT NOT NULL,
    record INTEGER NOT NULL,
    severity TEXT NOT NULL,
    PRIMARY KEY (cve, record)
) WITHOUT ROWID;
";

/// Computed at the end of [`build`], read by [`Index::info`].
const COUNTS: &str = "
CREATE TABLE advisory_ratings AS
    SELECT ecosystem, COUNT(*) AS advisories, SUM(own) AS rated,
           SUM(own = 0 AND lent) AS rated_by_cve
    FROM (SELECT a.ecosystem AS ecosystem,
                 (json_extract(a.data, '$.s') IS NOT NULL
                  OR json_extract(a.data, '$.c') IS NOT NULL) AS own,
                 EXISTS (SELECT 1 FROM records r, json_each(r.keys) k
                         JOIN ratings t ON t.cve = k.value WHERE r.rid = a.record) AS lent
          FROM advisories a)
    GROUP BY ecosystem;
CREATE TABLE ecosystem_counts AS
    SELECT e.name AS ecosystem,
           SUM(r.withdrawn = 0) AS records,
           SUM(r.withdrawn) AS withdrawn,
           COALESCE(MAX(x.advisories), 0) AS advisories,
           COALESCE(MAX(x.rated), 0) AS rated,
           COALESCE(MAX(x.rated_by_cve), 0) AS rated_by_cve
    FROM record_ecosystems re JOIN records r ON r.rid = re.record
        JOIN ecosystems e ON e.eid = re.ecosystem
        LEFT JOIN advisory_ratings x ON x.ecosystem = e.eid
    GROUP BY e.name ORDER BY e.name;
DROP TABLE advisory_ratings;
CREATE TABLE source_counts AS
    SELECT s.position AS position, s.path AS path,
           COUNT(r.id) - COALESCE(SUM(r.withdrawn), 0) AS records,
           COALESCE(SUM(r.withdrawn), 0) AS withdrawn,
           MAX(r.modified) AS newest
    FROM sources s LEFT JOIN records r ON r.source = s.position
    GROUP BY s.position ORDER BY s.position;
";

/// What [`build`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    /// The index written.
    pub out: PathBuf,
    /// The build time (the `now` given to [`build`]).
    pub built_at: Timestamp,
    /// Per source, in the order given.
    pub sources: Vec<SourceCount>,
    /// Per ecosystem, sorted by name. A record affecting several ecosystems counts in each.
    pub ecosystems: Vec<EcosystemCount>,
    /// Records kept (not withdrawn), over all sources.
    pub records: u64,
    /// Withdrawn records skipped.
    pub withdrawn: u64,
    /// Records seen again under the same ID and not kept (an older or equal `modified`).
    pub duplicates: u64,
    /// Stored (record, package) advisories.
    pub advisories: u64,
    /// Unreadable records skipped, over all sources.
    pub skipped: u64,
    /// Per source with unreadable records: how many, and the first few named.
    pub unreadable: Vec<Unreadable>,
}

/// The unreadable records of one source, skipped by [`build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreadable {
    /// The source as given to [`build`].
    pub source: String,
    /// Records skipped.
    pub skipped: u64,
    /// Records read from the source, readable or not.
    pub read: u64,
    /// The first [`NAMED_UNREADABLE`], in reading order.
    pub first: Vec<SkippedRecord>,
}

/// One unreadable record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SkippedRecord {
    /// The record's file (`all.zip:ID.json` inside a zip).
    pub name: String,
    /// Why it could not be read.
    pub reason: String,
}

/// Record counts of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceCount {
    /// The source as given to [`build`].
    pub path: String,
    /// Records kept from it.
    pub records: u64,
    /// Withdrawn records in it.
    pub withdrawn: u64,
    /// The newest `modified` of its records, withdrawn ones included (as written; absent when
    /// no record has one): a refresh fetches only records modified after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_modified: Option<String>,
}

/// Record counts of one ecosystem (`Debian:12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcosystemCount {
    /// The ecosystem with release.
    pub ecosystem: String,
    /// Records kept.
    pub records: u64,
    /// Withdrawn records skipped.
    pub withdrawn: u64,
    /// Stored (record, package) advisories: the findings-to-be.
    pub advisories: u64,
    /// Advisories with a severity of their own (vendor rating or CVSS vector).
    pub rated: u64,
    /// Advisories without one whose CVE another record rates (the fallback).
    pub rated_by_cve: u64,
}

/// What an index holds and when it was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexInfo {
    /// The index file.
    pub path: PathBuf,
    /// Its layout version ([`SCHEMA_VERSION`]).
    pub schema_version: i64,
    /// When it was built.
    pub built_at: Timestamp,
    /// The Drydock version that built it.
    pub builder: String,
    /// Per source.
    pub sources: Vec<SourceCount>,
    /// Per ecosystem.
    pub ecosystems: Vec<EcosystemCount>,
    /// Records kept.
    pub records: u64,
    /// Withdrawn records skipped.
    pub withdrawn: u64,
    /// Unreadable records skipped at build time.
    pub skipped: u64,
    /// Per source with unreadable records: how many, and the first few named.
    pub unreadable: Vec<Unreadable>,
}

// === impl IndexInfo ===

impl IndexInfo {
    /// How old the index is at `now` (negative when built in the future, e.g. clock skew).
    pub fn age(&self, now: Timestamp) -> SignedDuration {
        now.duration_since(self.built_at)
    }
}

/// Compiles OSV records from `sources` into an index at `out`, replacing it atomically.
///
/// A source is a directory (searched recursively for `*.json` records and `*.zip` dumps, in
/// name order, as in osv-scanner's `<dir>/<Ecosystem>/all.zip` layout), a `.zip` file or one
/// `.json` record.
///
/// # Errors
///
/// [`Error::OsvSource`] for an unreadable source or zip, [`Error::TooManyUnreadable`] when
/// more than [`MAX_UNREADABLE_PER_MILLE`] of a source's records cannot be read (naming the
/// first few, inside a zip `all.zip:ID.json`), [`Error::Index`]/[`Error::IndexDb`] when the
/// index cannot be written.
pub fn build(sources: &[impl AsRef<Path>], out: &Path, now: Timestamp) -> Result<BuildReport> {
    let out_name = out.display().to_string();
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = out
        .file_name()
        .map_or_else(|| "index".into(), |n| n.to_string_lossy().into_owned());
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| index_error(&out_name, format!("cannot create a temporary file: {e}")))?;
    let db = |source| Error::IndexDb {
        path: out_name.clone(),
        source,
    };
    let mut conn = Connection::open(temp.path()).map_err(db)?;
    // The file is renamed into place only when complete: no journal or fsync per statement.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         PRAGMA cache_size = -{BUILD_CACHE_KIB}; PRAGMA temp_store = FILE;
         PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(db)?;
    let tx = conn.transaction().map_err(db)?;
    tx.execute_batch(SCHEMA).map_err(db)?;
    let mut builder = Builder {
        tx: &tx,
        out: &out_name,
        duplicates: 0,
        advisories: 0,
        by_record_index: false,
        source_tally: Tally::default(),
        zip_tally: None,
        ecosystems: HashMap::new(),
    };
    let mut unreadable = Vec::new();
    for (position, source) in sources.iter().enumerate() {
        let position = to_i64(position);
        let source = source.as_ref();
        let name = source.display().to_string();
        tx.execute(
            "INSERT INTO sources (position, path) VALUES (?1, ?2)",
            params![position, name],
        )
        .map_err(db)?;
        builder.source_tally = Tally::default();
        builder.source(position, source)?;
        let tally = std::mem::take(&mut builder.source_tally);
        tally.check(&name)?;
        if tally.skipped > 0 {
            tracing::warn!(
                source = %name,
                skipped = tally.skipped,
                read = tally.read,
                "unreadable OSV records skipped"
            );
            unreadable.push(tally.into_unreadable(name));
        }
    }
    let (duplicates, advisories) = (builder.duplicates, builder.advisories);
    tx.execute_batch(COUNTS).map_err(db)?;
    let unreadable_json = serde_json::to_string(&unreadable)
        .map_err(|e| index_error(&out_name, format!("cannot encode the skipped records: {e}")))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2), (?3, ?4), (?5, ?6)",
        params![
            META_BUILT_AT,
            now.to_string(),
            META_BUILDER,
            concat!("drydock-vuln ", env!("CARGO_PKG_VERSION")),
            META_UNREADABLE,
            unreadable_json,
        ],
    )
    .map_err(db)?;
    let (sources, ecosystems) = (source_counts(&tx), ecosystem_counts(&tx));
    let (sources, ecosystems) = (sources.map_err(db)?, ecosystems.map_err(db)?);
    tx.commit().map_err(db)?;
    conn.close().map_err(|(_, e)| db(e))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| index_error(&out_name, format!("cannot sync: {e}")))?;
    temp.persist(out)
        .map_err(|e| index_error(&out_name, format!("cannot rename into place: {}", e.error)))?;
    Ok(BuildReport {
        out: out.to_path_buf(),
        built_at: now,
        records: sources.iter().map(|s| s.records).sum(),
        withdrawn: sources.iter().map(|s| s.withdrawn).sum(),
        sources,
        ecosystems,
        duplicates,
        advisories,
        skipped: unreadable.iter().map(|u| u.skipped).sum(),
        unreadable,
    })
}

/// Records read from one source or zip dump, and the unreadable ones among them.
#[derive(Debug, Default)]
struct Tally {
    read: u64,
    skipped: u64,
    first: Vec<SkippedRecord>,
}

// === impl Tally ===

impl Tally {
    fn readable(&mut self) {
        self.read += 1;
    }

    fn unreadable(&mut self, name: &str, reason: &str) {
        self.read += 1;
        self.skipped += 1;
        if self.first.len() < NAMED_UNREADABLE {
            self.first.push(SkippedRecord {
                name: name.to_owned(),
                reason: reason.to_owned(),
            });
        }
    }

    /// Fails when more than [`MAX_UNREADABLE_PER_MILLE`] of the records read are unreadable.
    fn check(&self, input: &str) -> Result<()> {
        if !too_many_unreadable(self.skipped, self.read) {
            return Ok(());
        }
        let first = self
            .first
            .iter()
            .map(|r| format!("{}: {}", r.name, r.reason))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::TooManyUnreadable {
            input: input.to_owned(),
            skipped: self.skipped,
            read: self.read,
            limit_per_mille: MAX_UNREADABLE_PER_MILLE,
            first,
        })
    }

    fn into_unreadable(self, source: String) -> Unreadable {
        Unreadable {
            source,
            skipped: self.skipped,
            read: self.read,
            first: self.first,
        }
    }
}

/// Whether `skipped` of `read` records is more than [`MAX_UNREADABLE_PER_MILLE`].
pub fn too_many_unreadable(skipped: u64, read: u64) -> bool {
    skipped.saturating_mul(1000) > read.saturating_mul(MAX_UNREADABLE_PER_MILLE)
}

/// Ingests records into the transaction of one build.
struct Builder<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    out: &'a str,
    duplicates: u64,
    advisories: u64,
    /// Whether the index on `advisories(record)` exists (created at the first replacement).
    by_record_index: bool,
    /// Records of the source being read.
    source_tally: Tally,
    /// Records of the zip dump being read, if any.
    zip_tally: Option<Tally>,
    /// Ecosystem names and their keys (a few dozen: one per distribution release).
    ecosystems: HashMap<String, i64>,
}

// === impl Builder ===

impl Builder<'_> {
    fn db(&self, source: rusqlite::Error) -> Error {
        Error::IndexDb {
            path: self.out.to_owned(),
            source,
        }
    }

    fn source(&mut self, position: i64, path: &Path) -> Result<()> {
        let meta = std::fs::metadata(path).map_err(|e| source_error(path, e))?;
        if meta.is_dir() {
            self.directory(position, path)
        } else if has_extension(path, "zip") {
            self.zip(position, path)
        } else {
            let bytes = read_limited(File::open(path).map_err(|e| source_error(path, e))?)
                .map_err(|e| source_error(path, e))?;
            let name = path.display().to_string();
            self.record(position, &name, &bytes)
        }
    }

    fn directory(&mut self, position: i64, dir: &Path) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| source_error(dir, e))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| source_error(dir, e))?;
        entries.sort();
        for path in entries {
            let meta = std::fs::metadata(&path).map_err(|e| source_error(&path, e))?;
            if meta.is_dir() {
                self.directory(position, &path)?;
            } else if has_extension(&path, "zip") {
                self.zip(position, &path)?;
            } else if has_extension(&path, "json") {
                let bytes = read_limited(File::open(&path).map_err(|e| source_error(&path, e))?)
                    .map_err(|e| source_error(&path, e))?;
                self.record(position, &path.display().to_string(), &bytes)?;
            }
        }
        Ok(())
    }

    fn zip(&mut self, position: i64, path: &Path) -> Result<()> {
        let mut file = File::open(path).map_err(|e| source_error(path, e))?;
        let len = file.metadata().map_err(|e| source_error(path, e))?.len();
        // Offsets, sizes and CRCs only (24 bytes an entry), not the zip crate's whole directory:
        // the build's memory does not grow with the dump.
        let entries = zipdir::read(&mut file, len).map_err(|reason| Error::OsvSource {
            input: path.display().to_string(),
            reason: format!("not a readable zip: {reason}"),
        })?;
        self.zip_tally = Some(Tally::default());
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{}:#{i}", path.display());
            if let Err(e) = file.seek(SeekFrom::Start(entry.offset)) {
                self.skip(&at, &e.to_string());
                continue;
            }
            let mut reader = BufReader::new((&file).take(entry.compressed.saturating_add(
                // The local header (30 bytes, the name, the extra field) precedes the data.
                LOCAL_HEADER_ALLOWANCE,
            )));
            let options = zip::ZipReadOptions::new()
                .override_compressed_size(entry.compressed)
                .override_crc(entry.crc);
            let mut entry =
                match zip::read::read_zipfile_from_stream_with_options(&mut reader, options) {
                    Ok(Some(entry)) => entry,
                    Ok(None) => {
                        self.skip(&at, "no local header at the directory's offset");
                        continue;
                    }
                    Err(e) => {
                        self.skip(&at, &e.to_string());
                        continue;
                    }
                };
            let entry_name = match entry.name() {
                Ok(entry_name) => entry_name.into_owned(),
                Err(e) => {
                    self.skip(&at, &format!("bad entry name: {e}"));
                    continue;
                }
            };
            let name = format!("{}:{entry_name}", path.display());
            if entry.is_dir() || !entry_name.ends_with(".json") {
                continue;
            }
            let mut bytes = Vec::new();
            if let Err(e) = (&mut entry)
                .take(MAX_RECORD_BYTES + 1)
                .read_to_end(&mut bytes)
            {
                self.skip(&name, &e.to_string());
                continue;
            }
            if bytes.len() as u64 > MAX_RECORD_BYTES {
                self.skip(&name, &format!("larger than {MAX_RECORD_BYTES} bytes"));
                continue;
            }
            drop(entry);
            self.record(position, &name, &bytes)?;
        }
        let tally = self.zip_tally.take().unwrap_or_default();
        tally.check(&path.display().to_string())
    }

    /// Counts an unreadable record in the source and the zip being read, logging the first
    /// few of the source.
    fn skip(&mut self, name: &str, reason: &str) {
        if self.source_tally.first.len() < NAMED_UNREADABLE {
            tracing::warn!(
                record = name,
                error = reason,
                "unreadable OSV record skipped"
            );
        }
        self.source_tally.unreadable(name, reason);
        if let Some(zip) = &mut self.zip_tally {
            zip.unreadable(name, reason);
        }
    }

    fn record(&mut self, position: i64, name: &str, bytes: &[u8]) -> Result<()> {
        let record = match serde_json::from_slice::<OsvRecord>(bytes) {
            Ok(record) => record,
            Err(e) => {
                self.skip(name, &e.to_string());
                return Ok(());
            }
        };
        self.source_tally.readable();
        if let Some(zip) = &mut self.zip_tally {
            zip.readable();
        }
        // Looked up in the records table, not a map in memory: the build's memory stays
        // bounded by SQLite's page cache whatever the number of records.
        let previous: Option<(i64, Option<String>)> = self
            .tx
            .prepare_cached("SELECT rid, modified FROM records WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([&record.id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.db(e))?;
        if let Some((rid, previous)) = previous {
            // RFC 3339 timestamps in UTC order as strings; a missing `modified` is oldest.
            if record.modified <= previous {
                self.duplicates += 1;
                return Ok(());
            }
            self.remove(rid)?;
            self.duplicates += 1;
        }
        self.insert(position, name, &record)
    }

    fn remove(&mut self, rid: i64) -> Result<()> {
        if !self.by_record_index {
            self.tx
                .execute_batch(
                    "CREATE INDEX advisories_by_record ON advisories (record);
                     CREATE INDEX ratings_by_record ON ratings (record);",
                )
                .map_err(|e| self.db(e))?;
            self.by_record_index = true;
        }
        for table in [
            "DELETE FROM records WHERE rid = ?1",
            "DELETE FROM record_ecosystems WHERE record = ?1",
            "DELETE FROM advisories WHERE record = ?1",
            "DELETE FROM ratings WHERE record = ?1",
        ] {
            let removed = self.tx.execute(table, [rid]).map_err(|e| self.db(e))?;
            if table.contains("advisories") {
                self.advisories -= removed as u64;
            }
        }
        Ok(())
    }

    fn insert(&mut self, position: i64, name: &str, record: &OsvRecord) -> Result<()> {
        let entry = name.rsplit(['/', ':']).next().unwrap_or(name);
        let keys = serde_json::to_string(&crate::advisory::group_keys(record))
            .unwrap_or_else(|_| "[]".into());
        self.tx
            .prepare_cached(
                "INSERT INTO records (id, source, entry, modified, withdrawn, keys)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    record.id,
                    position,
                    entry,
                    record.modified,
                    record.is_withdrawn(),
                    keys
                ])
            })
            .map_err(|e| self.db(e))?;
        let rid = self.tx.last_insert_rowid();
        let ecosystems: BTreeSet<&str> = record
            .affected
            .iter()
            .filter_map(|a| a.package.as_ref())
            .map(|p| p.ecosystem.as_str())
            .collect();
        for ecosystem in ecosystems {
            let eid = self.ecosystem_id(ecosystem)?;
            self.tx
                .prepare_cached("INSERT INTO record_ecosystems (record, ecosystem) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![rid, eid]))
                .map_err(|e| self.db(e))?;
        }
        if record.is_withdrawn() {
            return Ok(());
        }
        if let Some(rating) = record_rating(record) {
            for cve in record.cve_ids() {
                self.tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO ratings (cve, record, severity) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![cve, rid, rating.to_string()]))
                    .map_err(|e| self.db(e))?;
            }
        }
        for (seq, affected) in record.affected.iter().enumerate() {
            let Some(package) = affected
                .package
                .as_ref()
                .filter(|p| ecosystem_scheme(&p.ecosystem).is_some())
            else {
                continue;
            };
            let stored = StoredAdvisory::compile(record, affected);
            let data = serde_json::to_string(&stored).map_err(|e| Error::OsvSource {
                input: name.to_owned(),
                reason: format!("cannot encode advisory: {e}"),
            })?;
            let eid = self.ecosystem_id(&package.ecosystem)?;
            self.tx
                .prepare_cached(
                    "INSERT INTO advisories (ecosystem, package, record, seq, data)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        eid,
                        lookup_name(&package.ecosystem, &package.name),
                        rid,
                        to_i64(seq),
                        data
                    ])
                })
                .map_err(|e| self.db(e))?;
            self.advisories += 1;
        }
        Ok(())
    }

    /// The integer key of `ecosystem`, added at its first use.
    fn ecosystem_id(&mut self, ecosystem: &str) -> Result<i64> {
        if let Some(&eid) = self.ecosystems.get(ecosystem) {
            return Ok(eid);
        }
        self.tx
            .prepare_cached("INSERT INTO ecosystems (name) VALUES (?1)")
            .and_then(|mut s| s.execute([ecosystem]))
            .map_err(|e| self.db(e))?;
        let eid = self.tx.last_insert_rowid();
        self.ecosystems.insert(ecosystem.to_owned(), eid);
        Ok(eid)
    }
}

/// What an index holds about its records, whatever the order they were read in and the keys
/// they got: two builds from the same records have equal contents ([`Index::contents`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// Every record kept or withdrawn, by ID.
    pub records: Vec<RecordRow>,
    /// Every stored advisory, by (ecosystem, package, record ID, position in the record).
    pub advisories: Vec<AdvisoryRow>,
}

/// One record of [`Contents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The record's ID.
    pub id: String,
    /// Its `modified` as written.
    pub modified: Option<String>,
    /// Whether it is withdrawn.
    pub withdrawn: bool,
    /// Its grouping keys (JSON).
    pub keys: String,
    /// The ecosystems it names, sorted, comma-separated.
    pub ecosystems: String,
}

/// One stored advisory of [`Contents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryRow {
    /// Ecosystem with release.
    pub ecosystem: String,
    /// Package name.
    pub package: String,
    /// The record's ID.
    pub record: String,
    /// The `affected` entry's position in the record.
    pub seq: i64,
    /// The stored advisory (JSON).
    pub data: String,
}

/// Parsed advisories by (ecosystem, package).
type LookupCache = HashMap<(String, String), Arc<[Advisory]>>;

/// An open, read-only vulnerability index.
#[derive(Debug)]
pub struct Index {
    path: PathBuf,
    conn: Connection,
    /// (ecosystem, package) → parsed advisories, bounded by [`MAX_CACHED_LOOKUPS`].
    cache: RefCell<LookupCache>,
}

// === impl Index ===

impl Index {
    /// Opens the index at `path` read-only and checks that it is a Drydock index of this
    /// schema version.
    ///
    /// # Errors
    ///
    /// [`Error::Index`] naming the file when it is missing, not an SQLite database (corrupt),
    /// another application's database, or of another schema version.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        if !path.is_file() {
            return Err(index_error(
                &name,
                "no such file; build it with `drydock vulndb build`",
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| index_error(&name, format!("cannot open: {e}")))?;
        let not_sqlite = |e: rusqlite::Error| {
            index_error(
                &name,
                format!("not a readable SQLite database (corrupt or not an index): {e}"),
            )
        };
        let application_id: i64 = conn
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .map_err(not_sqlite)?;
        // Reading the schema forces SQLite to parse the whole header and schema pages.
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(not_sqlite)?;
        if application_id != APPLICATION_ID {
            return Err(index_error(
                &name,
                "an SQLite database, but not a Drydock vulnerability index",
            ));
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(not_sqlite)?;
        if version != SCHEMA_VERSION {
            return Err(index_error(
                &name,
                format!(
                    "schema version {version}, this build reads {SCHEMA_VERSION}; rebuild it with `drydock vulndb build`"
                ),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn,
            cache: RefCell::new(HashMap::new()),
        })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sources, record counts and build time.
    ///
    /// # Errors
    ///
    /// [`Error::IndexDb`] or [`Error::Index`] when the index is damaged.
    pub fn info(&self) -> Result<IndexInfo> {
        let meta = |key: &str| -> Result<Option<String>> {
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(|e| self.db(e))
        };
        let built_at = meta(META_BUILT_AT)?
            .ok_or_else(|| self.corrupt("no build time recorded"))?
            .parse::<Timestamp>()
            .map_err(|e| self.corrupt(format!("bad build time: {e}")))?;
        let sources = source_counts(&self.conn).map_err(|e| self.db(e))?;
        let ecosystems = ecosystem_counts(&self.conn).map_err(|e| self.db(e))?;
        let unreadable: Vec<Unreadable> = match meta(META_UNREADABLE)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| self.corrupt(format!("bad list of skipped records: {e}")))?,
            None => Vec::new(),
        };
        Ok(IndexInfo {
            path: self.path.clone(),
            schema_version: SCHEMA_VERSION,
            built_at,
            builder: meta(META_BUILDER)?.unwrap_or_default(),
            records: sources.iter().map(|s| s.records).sum(),
            withdrawn: sources.iter().map(|s| s.withdrawn).sum(),
            sources,
            ecosystems,
            skipped: unreadable.iter().map(|u| u.skipped).sum(),
            unreadable,
        })
    }

    /// Every record and stored advisory, sorted, without build-order details (integer keys,
    /// sources): for checking that two builds (a whole one and an incremental one) agree.
    /// Reads the whole index into memory.
    ///
    /// # Errors
    ///
    /// [`Error::IndexDb`] when the index is damaged.
    pub fn contents(&self) -> Result<Contents> {
        let db = |e| self.db(e);
        let records = self
            .conn
            .prepare(
                "SELECT r.id, r.modified, r.withdrawn, r.keys,
                        COALESCE((SELECT group_concat(name, ',') FROM
                            (SELECT e.name AS name FROM record_ecosystems re
                             JOIN ecosystems e ON e.eid = re.ecosystem
                             WHERE re.record = r.rid ORDER BY e.name)), '')
                 FROM records r ORDER BY r.id",
            )
            .map_err(db)?
            .query_map([], |row| {
                Ok(RecordRow {
                    id: row.get(0)?,
                    modified: row.get(1)?,
                    withdrawn: row.get(2)?,
                    keys: row.get(3)?,
                    ecosystems: row.get(4)?,
                })
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        let advisories = self
            .conn
            .prepare(
                "SELECT e.name, a.package, r.id, a.seq, a.data FROM advisories a
                 JOIN ecosystems e ON e.eid = a.ecosystem JOIN records r ON r.rid = a.record
                 ORDER BY e.name, a.package, r.id, a.seq",
            )
            .map_err(db)?
            .query_map([], |row| {
                Ok(AdvisoryRow {
                    ecosystem: row.get(0)?,
                    package: row.get(1)?,
                    record: row.get(2)?,
                    seq: row.get(3)?,
                    data: row.get(4)?,
                })
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        Ok(Contents {
            records,
            advisories,
        })
    }

    /// The advisories for `package` in `ecosystem` (`Debian:12`, `openssl`), parsed under the
    /// ecosystem's version scheme; empty for unknown packages and non-OS ecosystems.
    ///
    /// # Errors
    ///
    /// [`Error::IndexDb`] or [`Error::Index`] when the index is damaged.
    pub fn records_for(&self, ecosystem: &str, package: &str) -> Result<Vec<Advisory>> {
        let Some(scheme) = ecosystem_scheme(ecosystem) else {
            return Ok(Vec::new());
        };
        Ok(self.advisories(ecosystem, package, scheme)?.to_vec())
    }

    /// Matches `packages` of an image running `os`: the same findings as
    /// [`crate::match_packages`] over the records the index was built from.
    ///
    /// # Errors
    ///
    /// [`Error::IndexDb`] or [`Error::Index`] when the index is damaged.
    pub fn match_packages(&self, os: &Os, packages: &[Package]) -> Result<Vec<Finding>> {
        let ecosystems = os.osv_ecosystems();
        if ecosystems.is_empty() {
            tracing::warn!(family = %os.family, "no data in OSV for this OS; nothing matched");
            return Ok(Vec::new());
        }
        let scheme = os.version_scheme();
        let mut fetched: HashMap<&str, Arc<[Advisory]>> = HashMap::new();
        for package in packages {
            let (name, _) = lookup_key(os, package);
            if fetched.contains_key(name) {
                continue;
            }
            let advisories = match ecosystems.as_slice() {
                [one] => self.advisories(one, name, scheme)?,
                several => {
                    let mut all = Vec::new();
                    for ecosystem in several {
                        all.extend(self.advisories(ecosystem, name, scheme)?.iter().cloned());
                    }
                    all.into()
                }
            };
            fetched.insert(name, advisories);
        }
        let mut findings = match_advisories(os, packages, |name| {
            fetched.get(name).filter(|a| !a.is_empty()).map(|a| &a[..])
        });
        self.lend_ratings(&mut findings)?;
        Ok(findings)
    }

    /// Gives each `UNKNOWN` finding the rating another record of the index gives its CVE
    /// ([`crate::matching::best_rating`] when several do); findings no record rates stay
    /// `UNKNOWN`.
    ///
    /// # Errors
    ///
    /// [`Error::IndexDb`] when the index is damaged.
    pub fn lend_ratings(&self, findings: &mut [Finding]) -> Result<()> {
        for finding in findings
            .iter_mut()
            .filter(|f| f.severity == Severity::Unknown)
        {
            if let Some(rating) = self.rating(&finding.id)? {
                finding.severity = rating;
            }
        }
        Ok(())
    }

    /// The rating the index's records give `cve`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::IndexDb`] when the index is damaged.
    pub fn rating(&self, cve: &str) -> Result<Option<Severity>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT r.id, t.severity FROM ratings t JOIN records r ON r.rid = t.record
                 WHERE t.cve = ?1",
            )
            .map_err(|e| self.db(e))?;
        let rows = statement
            .query_map([cve], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| self.db(e))?;
        let mut ratings = Vec::new();
        for row in rows {
            let (id, severity) = row.map_err(|e| self.db(e))?;
            if let Some(severity) = Severity::from_name(&severity) {
                ratings.push((id, severity));
            }
        }
        Ok(crate::matching::best_rating(
            ratings.iter().map(|(id, s)| (id.as_str(), *s)),
        ))
    }

    /// Matches language packages, each against its own ecosystem (`Go`, `PyPI`, `npm`) under
    /// that ecosystem's version scheme. A finding's package is the module or distribution name.
    ///
    /// # Errors
    ///
    /// [`Error::IndexDb`] or [`Error::Index`] when the index is damaged.
    pub fn match_language(&self, packages: &[LanguagePackage]) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let mut by_ecosystem: BTreeMap<LanguageEcosystem, Vec<Package>> = BTreeMap::new();
        for p in packages {
            by_ecosystem.entry(p.ecosystem).or_default().push(Package {
                name: p.name.clone(),
                version: p.version.clone(),
                source_name: p.name.clone(),
                source_version: p.version.clone(),
                arch: None,
            });
        }
        for (ecosystem, packages) in by_ecosystem {
            let scheme = ecosystem.scheme();
            let mut fetched: HashMap<&str, Arc<[Advisory]>> = HashMap::new();
            for package in &packages {
                if !fetched.contains_key(package.name.as_str()) {
                    let name = lookup_name(ecosystem.osv_name(), &package.name);
                    let advisories = self.advisories(ecosystem.osv_name(), &name, scheme)?;
                    fetched.insert(&package.name, advisories);
                }
            }
            findings.extend(crate::matching::match_by(
                scheme,
                &packages,
                |p| (&p.name, &p.version),
                |name| fetched.get(name).filter(|a| !a.is_empty()).map(|a| &a[..]),
            ));
        }
        self.lend_ratings(&mut findings)?;
        Ok(findings)
    }

    /// The parsed advisories for (ecosystem, package), from the cache or the database.
    fn advisories(
        &self,
        ecosystem: &str,
        package: &str,
        scheme: crate::VersionScheme,
    ) -> Result<Arc<[Advisory]>> {
        let key = (ecosystem.to_owned(), package.to_owned());
        if let Some(hit) = self.cache.borrow().get(&key) {
            return Ok(Arc::clone(hit));
        }
        let advisories: Arc<[Advisory]> = self.load(ecosystem, package, scheme)?.into();
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= MAX_CACHED_LOOKUPS {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&advisories));
        Ok(advisories)
    }

    fn load(
        &self,
        ecosystem: &str,
        package: &str,
        scheme: crate::VersionScheme,
    ) -> Result<Vec<Advisory>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT r.id, r.keys, a.data FROM advisories a
                 JOIN ecosystems e ON e.eid = a.ecosystem
                 JOIN records r ON r.rid = a.record
                 WHERE e.name = ?1 AND a.package = ?2
                 ORDER BY r.id, a.seq",
            )
            .map_err(|e| self.db(e))?;
        let rows = statement
            .query_map([ecosystem, package], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.db(e))?;
        let mut advisories = Vec::new();
        for row in rows {
            let (id, keys, data) = row.map_err(|e| self.db(e))?;
            let bad = |e: serde_json::Error| {
                self.corrupt(format!("bad advisory {id} for {ecosystem}/{package}: {e}"))
            };
            let mut stored: StoredAdvisory = serde_json::from_str(&data).map_err(bad)?;
            stored.group_keys = serde_json::from_str(&keys).map_err(bad)?;
            stored.id = id;
            advisories.push(Advisory::from_stored(stored, scheme));
        }
        Ok(advisories)
    }

    fn db(&self, source: rusqlite::Error) -> Error {
        Error::IndexDb {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        index_error(&self.path.display().to_string(), reason)
    }
}

fn source_counts(conn: &Connection) -> rusqlite::Result<Vec<SourceCount>> {
    let mut statement = conn
        .prepare("SELECT path, records, withdrawn, newest FROM source_counts ORDER BY position")?;
    statement
        .query_map([], |row| {
            Ok(SourceCount {
                path: row.get(0)?,
                records: count(row.get(1)?),
                withdrawn: count(row.get(2)?),
                newest_modified: row.get(3)?,
            })
        })?
        .collect()
}

fn ecosystem_counts(conn: &Connection) -> rusqlite::Result<Vec<EcosystemCount>> {
    let mut statement = conn.prepare(
        "SELECT ecosystem, records, withdrawn, advisories, rated, rated_by_cve
             FROM ecosystem_counts ORDER BY ecosystem",
    )?;
    statement
        .query_map([], |row| {
            Ok(EcosystemCount {
                ecosystem: row.get(0)?,
                records: count(row.get(1)?),
                withdrawn: count(row.get(2)?),
                advisories: count(row.get(3)?),
                rated: count(row.get(4)?),
                rated_by_cve: count(row.get(5)?),
            })
        })?
        .collect()
}

/// A position or sequence number as SQLite's integer.
fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count read back from SQLite (never negative in a sound index).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn index_error(path: &str, reason: impl Into<String>) -> Error {
    Error::Index {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn source_error(path: &Path, error: std::io::Error) -> Error {
    Error::OsvSource {
        input: path.display().to_string(),
        reason: error.to_string(),
    }
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

/// Reads a whole record file, refusing anything above [`MAX_RECORD_BYTES`].
fn read_limited(file: File) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_RECORD_BYTES} bytes"
        )));
    }
    Ok(bytes)
}
