//! Keeping a local copy of one OSV dump current while fetching only what changed.
//!
//! OSV publishes, next to each ecosystem's `all.zip`, `modified_id.csv` (one
//! `<modified>,<ID>` line per record, newest first) and each record as `<ID>.json`. A source
//! URL of that layout (`…/<Ecosystem>/all.zip`, OSV's bucket or a mirror of it) is kept in its
//! own directory:
//!
//! - `all.zip`, downloaded whole the first time (and revalidated with `If-None-Match` /
//!   `If-Modified-Since` when a whole download is needed again);
//! - `changes/<ID>.json`, the records changed since, fetched one by one;
//! - `since`: records modified after it are not in `all.zip` or `changes/` yet. After a whole
//!   download it is the newest `modified` built from the dump ([`set_since`]), after a refresh
//!   of changes the list's newest entry.
//!
//! A refresh reads the list only down to `since` (it is newest first; the rest is not
//! downloaded), fetches the records modified after it into `changes/` and moves `since`
//! forward. The index is
//! built from the whole directory: `all.zip` is read first and a record in `changes/` replaces
//! its older copy (the newest `modified` wins, [`drydock_vuln::index::build`]), so the index
//! holds what a build of the current dump would hold. A source that does not list its changes
//! (another URL layout, no `modified_id.csv`), a list that cannot be read, more than
//! [`MAX_CHANGES_PER_REFRESH`] changes or more than [`MAX_KEPT_CHANGES`] kept records fall back
//! to a whole (conditional) download, which empties `changes/`. Records deleted upstream (not
//! withdrawn: gone) stay until that next whole download.
//!
//! A mounted directory needs none of this: the build reads it where it is, and a directory
//! holding `all.zip` next to newer `<ID>.json` records is read the same way.
//!
//! The list's parsing and the refresh plan are pure functions; the rest is thin IO.

use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use jiff::Timestamp;
use tracing::{info, warn};

use crate::{Error, Result};

/// The dump's file name in OSV's layout, and in the kept directory.
pub const DUMP_FILE: &str = "all.zip";
/// OSV's per-ecosystem list of records by modification time, newest first.
pub const MODIFIED_LIST: &str = "modified_id.csv";
/// The kept directory's subdirectory of records fetched one by one.
pub const CHANGES_DIR: &str = "changes";
/// The kept directory's file holding the time the list is read down to.
pub const SINCE_FILE: &str = "since";

/// Records fetched one by one in one refresh, at most; beyond this a whole download is fewer
/// requests and comparable bytes (a record is ~2 KiB as JSON, ~600 bytes compressed in the
/// zip, so 5,000 records are ~10 MiB, the size of a mid-size ecosystem's whole dump).
pub const MAX_CHANGES_PER_REFRESH: usize = 5_000;
/// Records kept in `changes/` before the next refresh downloads the dump whole again: each one
/// is read twice by every build (its old copy in the zip, then itself), and a whole download
/// also drops records deleted upstream. 20,000 is a few weeks of Debian's daily changes.
pub const MAX_KEPT_CHANGES: usize = 20_000;
/// Records fetched at once: enough to hide the round trips to a mirror, few enough not to look
/// like a flood to it.
const FETCH_CONCURRENCY: usize = 8;
/// The largest record fetched (as in the index's reader: kernel records with many versions are
/// a few MB).
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// The largest share of a list read (the whole list of the largest ecosystem is ~5 MB).
const MAX_LIST_BYTES: u64 = 256 * 1024 * 1024;

/// One line of `modified_id.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modified {
    /// The record's `modified` time.
    pub at: Timestamp,
    /// The record's ID.
    pub id: String,
}

/// Parses line `number` (1-based) of the list at `url`: `<RFC 3339 time>,<ID>`. The ID must
/// be usable as a file and URL path name ([`valid_id`]).
///
/// # Errors
/// [`Error::Input`] naming the list and the line.
pub fn parse_line(line: &str, url: &str, number: usize) -> Result<Modified> {
    let bad = |message: String| Error::Input {
        source_name: format!("{url} line {number}"),
        message,
    };
    let line = line.trim_end_matches('\r');
    let Some((at, id)) = line.split_once(',') else {
        return Err(bad(format!("expected `<modified>,<ID>`, got {line:?}")));
    };
    let at = at
        .trim()
        .parse::<Timestamp>()
        .map_err(|e| bad(format!("bad time {at:?}: {e}")))?;
    let id = id.trim();
    if !valid_id(id) {
        return Err(bad(format!("unusable record ID {id:?}")));
    }
    Ok(Modified {
        at,
        id: id.to_owned(),
    })
}

/// Whether `id` is a plausible OSV ID that is safe as a file name and a URL path segment:
/// letters, digits and `-._:`, not starting with a dot, at most 200 bytes.
#[must_use]
pub fn valid_id(id: &str) -> bool {
    /// Far beyond any real ID (the longest are ~40 bytes), short of file name limits.
    const MAX_ID_BYTES: usize = 200;
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'))
}

/// The directory URL of a dump in OSV's layout (`…/<Ecosystem>/all.zip` → `…/<Ecosystem>/`),
/// `None` for any other URL (no query, the last segment `all.zip`).
#[must_use]
pub fn layout_base(url: &reqwest::Url) -> Option<reqwest::Url> {
    if url.query().is_some() || !url.path().ends_with(&format!("/{DUMP_FILE}")) {
        return None;
    }
    url.join(".").ok()
}

/// What a refresh of one kept dump does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Download the dump (conditionally when one is kept) and read the list's newest entry.
    Whole,
    /// Read the list down to `since` and fetch those records.
    Changes {
        /// Where the list is read down to.
        since: Timestamp,
    },
}

/// The plan for a kept dump: changes only when the source lists them (`listed`), a dump is
/// kept with a `since`, and fewer than [`MAX_KEPT_CHANGES`] records are kept beside it.
#[must_use]
pub fn plan(listed: bool, dump_kept: bool, since: Option<Timestamp>, kept_changes: usize) -> Plan {
    match since {
        Some(since) if listed && dump_kept && kept_changes < MAX_KEPT_CHANGES => {
            Plan::Changes { since }
        }
        _ => Plan::Whole,
    }
}

/// What [`sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Body bytes downloaded (list, records, dump).
    pub bytes: u64,
    /// Records fetched one by one.
    pub records: usize,
    /// Whether the dump was downloaded (or revalidated) whole.
    pub whole: bool,
    /// Whether the source lists its changes (OSV's layout): after a whole download, set its
    /// `since` to the newest record built from it ([`set_since`]).
    pub listed: bool,
}

/// The entries of a list read down to a time.
#[derive(Debug, Default)]
struct ListRead {
    /// The newest entry's time (the first line), if any.
    newest: Option<Timestamp>,
    /// The entries after the time read down to, newest first.
    changed: Vec<Modified>,
    /// Body bytes read.
    bytes: u64,
}

/// Brings the kept copy of the dump at `url` in `dir` (as `dir/<file>`) up to date (see the
/// module's doc) and returns what was downloaded. `dir` then is the build's input for this
/// source.
///
/// # Errors
/// [`Error::Fetch`] when the dump cannot be downloaded, [`Error::Io`] for `dir`.
pub async fn sync(
    http: &reqwest::Client,
    url: &reqwest::Url,
    dir: &Path,
    file: &str,
) -> Result<Synced> {
    let changes = dir.join(CHANGES_DIR);
    tokio::fs::create_dir_all(&changes)
        .await
        .map_err(|e| Error::io(&changes, e))?;
    let base = layout_base(url);
    let dump = dir.join(file);
    let since = read_since(dir).await;
    let kept = count_records(&changes).await?;
    if let (Plan::Changes { since }, Some(base)) = (
        plan(base.is_some(), dump.is_file(), since, kept),
        base.as_ref(),
    ) {
        match fetch_changes(http, base, since, &changes).await {
            Ok(Some((synced, newest))) => {
                write_since(dir, newest.unwrap_or(since)).await?;
                info!(url = %url, records = synced.records, bytes = synced.bytes, "OSV data: only the records changed since the last refresh fetched");
                return Ok(synced);
            }
            Ok(None) => {
                info!(url = %url, limit = MAX_CHANGES_PER_REFRESH, "OSV data: more records changed than are worth fetching one by one; downloading the dump");
            }
            Err(error) => {
                warn!(url = %url, %error, "OSV data: the changed records cannot be fetched; downloading the dump");
            }
        }
    }
    let downloaded = crate::manager::vulndist::download_source(http, url, &dump).await?;
    if downloaded > 0 {
        // A new dump holds every change so far; its own newest record sets `since` once it
        // is built ([`set_since`]).
        tokio::fs::remove_dir_all(&changes)
            .await
            .map_err(|e| Error::io(&changes, e))?;
        tokio::fs::create_dir_all(&changes)
            .await
            .map_err(|e| Error::io(&changes, e))?;
        remove_since(dir).await?;
    }
    Ok(Synced {
        bytes: downloaded,
        records: 0,
        whole: true,
        listed: base.is_some(),
    })
}

/// Reads the list at `base` down to `since` and fetches those records into `changes`;
/// `None` when more than [`MAX_CHANGES_PER_REFRESH`] changed. Returns the list's newest time.
async fn fetch_changes(
    http: &reqwest::Client,
    base: &reqwest::Url,
    since: Timestamp,
    changes: &Path,
) -> Result<Option<(Synced, Option<Timestamp>)>> {
    let list = read_list(http, &list_url(base)?, Some(since)).await?;
    if list.changed.len() > MAX_CHANGES_PER_REFRESH {
        return Ok(None);
    }
    let mut ids: Vec<String> = list.changed.into_iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let count = ids.len();
    // Owned IDs: the futures then borrow nothing but the client, the URL and the directory.
    let fetched: Vec<Result<u64>> = futures::stream::iter(ids)
        .map(|id| async move { fetch_record(http, base, &id, changes).await })
        .buffer_unordered(FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut bytes = list.bytes;
    for result in fetched {
        bytes += result?;
    }
    Ok(Some((
        Synced {
            bytes,
            records: count,
            whole: false,
            listed: true,
        },
        list.newest,
    )))
}

/// `<base><ID>.json`. The `./` keeps an ID with a colon (`ALSA-2024:0001`) a path: joined
/// bare, `ALSA-2024:` would read as a URL scheme.
///
/// # Errors
/// [`Error::Fetch`] when no URL can be made of it.
pub fn record_url(base: &reqwest::Url, id: &str) -> Result<reqwest::Url> {
    base.join(&format!("./{id}.json"))
        .map_err(|e| Error::Fetch {
            url: format!("{base}{id}.json"),
            message: e.to_string(),
        })
}

fn list_url(base: &reqwest::Url) -> Result<reqwest::Url> {
    base.join(MODIFIED_LIST).map_err(|e| Error::Fetch {
        url: base.to_string(),
        message: format!("cannot name its {MODIFIED_LIST}: {e}"),
    })
}

/// Reads the list at `url` (newest first) down to the first entry not newer than `since`, or
/// only its first line without `since`, and stops downloading there.
async fn read_list(
    http: &reqwest::Client,
    url: &reqwest::Url,
    since: Option<Timestamp>,
) -> Result<ListRead> {
    let name = url.as_str();
    let fetch_error = |e: reqwest::Error| Error::Fetch {
        url: name.to_owned(),
        message: e.to_string(),
    };
    let mut response = http.get(url.clone()).send().await.map_err(fetch_error)?;
    if !response.status().is_success() {
        return Err(Error::Fetch {
            url: name.to_owned(),
            message: format!("HTTP {}", response.status()),
        });
    }
    let mut read = ListRead::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut number = 0_usize;
    loop {
        let chunk = response.chunk().await.map_err(fetch_error)?;
        let last = chunk.is_none();
        if let Some(chunk) = chunk {
            read.bytes += chunk.len() as u64;
            if read.bytes > MAX_LIST_BYTES {
                return Err(Error::Fetch {
                    url: name.to_owned(),
                    message: format!("larger than {MAX_LIST_BYTES} bytes"),
                });
            }
            pending.extend_from_slice(&chunk);
        } else if !pending.is_empty() {
            pending.push(b'\n');
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            number += 1;
            let text = String::from_utf8_lossy(&line[..end]);
            if text.trim().is_empty() {
                continue;
            }
            let entry = parse_line(&text, name, number)?;
            read.newest.get_or_insert(entry.at);
            match since {
                Some(since) if entry.at > since => read.changed.push(entry),
                // Older than `since`, or only the newest wanted: the rest is not needed.
                _ => return Ok(read),
            }
        }
        if last {
            return Ok(read);
        }
    }
}

/// Fetches `<base><ID>.json` into `changes/<ID>.json` (written aside and renamed). Returns its
/// size.
async fn fetch_record(
    http: &reqwest::Client,
    base: &reqwest::Url,
    id: &str,
    changes: &Path,
) -> Result<u64> {
    let file = format!("{id}.json");
    let url = record_url(base, id)?;
    let fetch_error = |e: reqwest::Error| Error::Fetch {
        url: url.to_string(),
        message: e.to_string(),
    };
    let response = http.get(url.clone()).send().await.map_err(fetch_error)?;
    if !response.status().is_success() {
        return Err(Error::Fetch {
            url: url.to_string(),
            message: format!("HTTP {}", response.status()),
        });
    }
    let body = response.bytes().await.map_err(fetch_error)?;
    if body.len() > MAX_RECORD_BYTES {
        return Err(Error::Fetch {
            url: url.to_string(),
            message: format!("larger than {MAX_RECORD_BYTES} bytes"),
        });
    }
    let path = changes.join(&file);
    let partial = changes.join(format!(".{file}.partial"));
    tokio::fs::write(&partial, &body)
        .await
        .map_err(|e| Error::io(&partial, e))?;
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(|e| Error::io(&path, e))?;
    Ok(body.len() as u64)
}

async fn count_records(changes: &Path) -> Result<usize> {
    let mut entries = tokio::fs::read_dir(changes)
        .await
        .map_err(|e| Error::io(changes, e))?;
    let mut count = 0;
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| Error::io(changes, e))?
    {
        if entry.file_name().to_string_lossy().ends_with(".json") {
            count += 1;
        }
    }
    Ok(count)
}

/// The kept `since`, `None` when absent or unreadable (then the dump is revalidated whole).
async fn read_since(dir: &Path) -> Option<Timestamp> {
    tokio::fs::read_to_string(dir.join(SINCE_FILE))
        .await
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// Records in `dir` that the next refresh reads the list down to: the newest `modified` of the
/// records built from it, after a whole download (only records changed after it are fetched).
///
/// # Errors
/// [`Error::Io`] when it cannot be written.
pub async fn set_since(dir: &Path, since: Timestamp) -> Result<()> {
    write_since(dir, since).await
}

async fn write_since(dir: &Path, since: Timestamp) -> Result<()> {
    let path: PathBuf = dir.join(SINCE_FILE);
    let partial = dir.join(format!(".{SINCE_FILE}.partial"));
    tokio::fs::write(&partial, format!("{since}\n"))
        .await
        .map_err(|e| Error::io(&partial, e))?;
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(|e| Error::io(&path, e))
}

async fn remove_since(dir: &Path) -> Result<()> {
    let path = dir.join(SINCE_FILE);
    match tokio::fs::remove_file(&path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn list_lines_parse_and_garbage_is_named_with_its_line() {
        let url = "http://mirror/Debian/modified_id.csv";
        assert_eq!(
            parse_line("2026-03-01T10:00:00Z,DEBIAN-CVE-2026-0001\r", url, 1).unwrap(),
            Modified {
                at: at("2026-03-01T10:00:00Z"),
                id: "DEBIAN-CVE-2026-0001".to_owned()
            }
        );
        assert_eq!(
            parse_line(
                "2026-03-01T10:00:00.123456Z,openSUSE-SU-2024:0001-1",
                url,
                2
            )
            .unwrap()
            .id,
            "openSUSE-SU-2024:0001-1"
        );
        for (line, says) in [
            ("no comma", "expected"),
            ("yesterday,DSA-1", "bad time"),
            (
                "2026-03-01T10:00:00Z,../../etc/passwd",
                "unusable record ID",
            ),
            ("2026-03-01T10:00:00Z,", "unusable record ID"),
            ("2026-03-01T10:00:00Z,a/b", "unusable record ID"),
        ] {
            let error = parse_line(line, url, 7).unwrap_err().to_string();
            assert!(error.contains(url) && error.contains("line 7"), "{error}");
            assert!(error.contains(says), "{line}: {error}");
        }
    }

    #[test]
    fn a_record_id_with_a_colon_stays_in_the_path() {
        let base: reqwest::Url = "http://mirror/osv/AlmaLinux/".parse().unwrap();
        assert_eq!(
            record_url(&base, "ALSA-2024:0001").unwrap().as_str(),
            "http://mirror/osv/AlmaLinux/ALSA-2024:0001.json"
        );
        assert_eq!(
            record_url(&base, "DEBIAN-CVE-2024-1").unwrap().as_str(),
            "http://mirror/osv/AlmaLinux/DEBIAN-CVE-2024-1.json"
        );
    }

    #[test]
    fn only_urls_of_the_osv_layout_list_their_changes() {
        let base = |u: &str| layout_base(&u.parse().unwrap()).map(|b| b.to_string());
        assert_eq!(
            base("https://osv-vulnerabilities.storage.googleapis.com/Red%20Hat/all.zip"),
            Some("https://osv-vulnerabilities.storage.googleapis.com/Red%20Hat/".to_owned())
        );
        assert_eq!(base("http://mirror/osv/debian.zip"), None);
        assert_eq!(base("http://mirror/Debian/all.zip?sig=1"), None);
    }

    #[test]
    fn changes_are_fetched_only_over_a_kept_dump_with_a_since_and_few_kept_changes() {
        let since = at("2026-03-01T00:00:00Z");
        assert_eq!(plan(true, true, Some(since), 0), Plan::Changes { since });
        assert_eq!(plan(false, true, Some(since), 0), Plan::Whole, "not listed");
        assert_eq!(
            plan(true, false, Some(since), 0),
            Plan::Whole,
            "no dump yet"
        );
        assert_eq!(plan(true, true, None, 0), Plan::Whole, "no since");
        assert_eq!(
            plan(true, true, Some(since), MAX_KEPT_CHANGES),
            Plan::Whole,
            "time for a whole download"
        );
    }
}
