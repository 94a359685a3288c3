//! The node side of the vulnerability index's distribution: the scanner's fetch into the node
//! cache, revalidated against the manager with `If-None-Match`, verified against the ETag's
//! sha256 before it replaces the cache, under a lock file (see the [parent module](super)).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{StatusCode, header};
use drydock_vuln::index::Index;
use tracing::warn;

use crate::download::{
    INDEX_FILE, http_client, parse_etag, status_error, stream_to_file, valid_digest,
};
use crate::{Error, Result};

/// The node cache's record of the cached index's ETag (`sha256:<hex>`, no quotes).
pub const ETAG_FILE: &str = "index.etag";
/// The node cache's lock file: one fetch at a time per node.
const LOCK_FILE: &str = ".lock";
/// The largest index a scanner downloads: indexes of all OS ecosystems are a few hundred MB.
pub const MAX_INDEX_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Time allowed for a scanner's index download inside the cluster, body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The scanner flag naming the manager's endpoint, named in errors.
const URL_FLAG: &str = "--vulndb-url";

/// How a scanner obtained its index.
#[derive(Debug)]
pub enum Outcome {
    /// A new index was downloaded, verified and cached.
    Downloaded,
    /// The cached index is current (the manager answered 304).
    NotModified,
    /// The manager could not be used (unreachable, not ready, or it sent bytes that do not
    /// match their ETag); the cached index is used as it is.
    Stale {
        /// Why the manager could not be used.
        cause: Box<Error>,
    },
}

/// The index a scanner uses.
#[derive(Debug)]
pub struct Fetched {
    /// The cached index file.
    pub index: PathBuf,
    /// Its digest, when known.
    pub digest: Option<String>,
    /// How it was obtained.
    pub outcome: Outcome,
}

/// The HTTP client scanners use for [`fetch`].
///
/// # Errors
/// [`Error::Fetch`] when it cannot be built.
pub fn fetch_client() -> Result<reqwest::Client> {
    http_client(FETCH_TIMEOUT)
}

/// Brings the node cache in `cache_dir` up to date with the manager's index at `url` and
/// returns the index to scan with. One fetch per node at a time (a lock file); a download
/// lands in a temporary file, must match the ETag's sha256 and must open as an index before
/// it replaces the cache. When the manager cannot be used, an existing cache is used
/// ([`Outcome::Stale`]).
///
/// # Errors
/// [`Error::Input`] for a malformed `url`, [`Error::Io`] when the cache directory is unusable,
/// and the manager's failure ([`Error::Fetch`], [`Error::Integrity`], [`Error::Index`]) when
/// there is no cache to fall back on.
pub async fn fetch(http: &reqwest::Client, url: &str, cache_dir: &Path) -> Result<Fetched> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::Input {
        source_name: format!("{URL_FLAG}={url:?}"),
        message: format!("not a URL: {e}"),
    })?;
    tokio::fs::create_dir_all(cache_dir)
        .await
        .map_err(|e| Error::io(cache_dir, e))?;
    let _lock = lock(cache_dir).await?;
    let index = cache_dir.join(INDEX_FILE);
    let etag_path = cache_dir.join(ETAG_FILE);
    // A cached index this build cannot open (an older schema left by the previous version, a
    // damaged file) is no cache: falling back on it while the manager is away would fail the
    // scan, where waiting for the manager's index would not.
    let has_cache = index.is_file() && drydock_vuln::Index::open(&index).is_ok();
    let cached = if has_cache {
        tokio::fs::read_to_string(&etag_path)
            .await
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| valid_digest(s))
    } else {
        None
    };
    match revalidate(http, parsed, cache_dir, cached.as_deref()).await {
        Ok(Revalidated::NotModified) if has_cache => Ok(Fetched {
            index,
            digest: cached,
            outcome: Outcome::NotModified,
        }),
        Ok(Revalidated::NotModified) => Err(Error::Fetch {
            url: url.to_owned(),
            message: "answered 304 Not Modified to a request without a cached ETag".to_owned(),
        }),
        Ok(Revalidated::Downloaded { temp, digest }) => {
            // The ETag goes first: a crash between the two steps leaves an index without an
            // ETag, which is revalidated by downloading again, never a mismatched pair.
            match tokio::fs::remove_file(&etag_path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(&etag_path, e));
                }
                _ => {}
            }
            temp.persist(&index)
                .map_err(|e| Error::io(&index, e.error))?;
            write_atomically(cache_dir, &etag_path, digest.as_bytes())?;
            Ok(Fetched {
                index,
                digest: Some(digest),
                outcome: Outcome::Downloaded,
            })
        }
        Err(cause) if has_cache => Ok(Fetched {
            index,
            digest: cached,
            outcome: Outcome::Stale {
                cause: Box::new(cause),
            },
        }),
        Err(cause) => Err(cause),
    }
}

/// How long a scanner with no cached index keeps asking the manager for its first one. A run
/// can start before the manager's pod is Ready (its Service has no endpoint yet: the request
/// fails to connect) or before its first build is done (503); failing at once would fail that
/// run on every node of a fresh install. Five minutes covers a manager's start and a first
/// build from mounted or mirrored OSV data; past it the scanner fails, and removes nothing.
/// The scanner's `--vulndb-wait` default (`5m`) says the same.
pub const FIRST_INDEX_PATIENCE: Duration = Duration::from_secs(5 * 60);
/// The first wait between two asks for the first index; doubled per ask up to
/// [`FIRST_INDEX_RETRY_MAX`].
pub const FIRST_INDEX_RETRY_INITIAL: Duration = Duration::from_secs(2);
/// The longest wait between two asks for the first index: the scanner starts within this long
/// of the index becoming available.
pub const FIRST_INDEX_RETRY_MAX: Duration = Duration::from_secs(30);

/// The wait after the `attempt`-th failed ask (1 for the first):
/// [`FIRST_INDEX_RETRY_INITIAL`] doubled per ask, at most [`FIRST_INDEX_RETRY_MAX`].
#[must_use]
pub fn first_index_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(u32::BITS - 1);
    FIRST_INDEX_RETRY_INITIAL
        .checked_mul(1_u32 << doublings)
        .map_or(FIRST_INDEX_RETRY_MAX, |d| d.min(FIRST_INDEX_RETRY_MAX))
}

/// Whether a failed [`fetch`] may succeed if asked again: the manager unreachable or not
/// ready, or bytes that did not match their ETag (a build swapped in mid-download). A
/// malformed URL, a request the server refuses ([`Error::Refused`]: a wrong path answers 404
/// for ever) or an unusable cache directory will not get better.
fn worth_asking_again(error: &Error) -> bool {
    matches!(error, Error::Fetch { .. } | Error::Integrity { .. })
}

/// [`fetch`], asked again while it fails in a way that may pass and `patience` lasts (see
/// [`FIRST_INDEX_PATIENCE`]). Only a node with no cached index can fail here: with a cache,
/// [`fetch`] falls back on it at once. `sleep` waits (tokio's `sleep` in the scanner; time is
/// an argument, so tests pass their own).
///
/// # Errors
/// The last failure of [`fetch`], when it is not worth asking again or patience ran out.
pub async fn fetch_patiently<S, F>(
    http: &reqwest::Client,
    url: &str,
    cache_dir: &Path,
    patience: Duration,
    mut sleep: S,
) -> Result<Fetched>
where
    S: FnMut(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    let mut waited = Duration::ZERO;
    let mut attempt = 0_u32;
    loop {
        match fetch(http, url, cache_dir).await {
            Err(error) if worth_asking_again(&error) && waited < patience => {
                attempt = attempt.saturating_add(1);
                let delay = first_index_delay(attempt).min(patience.saturating_sub(waited));
                warn!(url, %error, attempt, retry_in_seconds = delay.as_secs(), "the manager's vulnerability index is not available yet; asking again");
                sleep(delay).await;
                waited = waited.saturating_add(delay);
            }
            outcome => return outcome,
        }
    }
}

enum Revalidated {
    NotModified,
    Downloaded {
        temp: tempfile::NamedTempFile,
        digest: String,
    },
}

async fn revalidate(
    http: &reqwest::Client,
    url: reqwest::Url,
    cache_dir: &Path,
    cached: Option<&str>,
) -> Result<Revalidated> {
    let name = url.to_string();
    let mut request = http.get(url);
    if let Some(digest) = cached {
        request = request.header(header::IF_NONE_MATCH, format!("\"{digest}\""));
    }
    let mut response = request.send().await.map_err(|e| Error::Fetch {
        url: name.clone(),
        message: e.to_string(),
    })?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(Revalidated::NotModified);
    }
    if response.status() != StatusCode::OK {
        return Err(status_error(response, &name).await);
    }
    let announced = response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_etag)
        .ok_or_else(|| Error::Fetch {
            url: name.clone(),
            message: "the response has no \"sha256:<hex>\" ETag to verify it with".to_owned(),
        })?;
    let temp = tempfile::Builder::new()
        .prefix(".index-")
        .suffix(".tmp")
        .tempfile_in(cache_dir)
        .map_err(|e| Error::io(cache_dir, e))?;
    let mut file = tokio::fs::File::from_std(temp.reopen().map_err(|e| Error::io(temp.path(), e))?);
    let (actual, _) = stream_to_file(
        &mut response,
        &mut file,
        temp.path(),
        &name,
        MAX_INDEX_BYTES,
    )
    .await?;
    drop(file);
    if actual != announced {
        return Err(Error::Integrity {
            url: name,
            expected: announced,
            actual,
        });
    }
    let check = temp.path().to_owned();
    tokio::task::spawn_blocking(move || Index::open(&check).map(drop))
        .await
        .map_err(|e| Error::Io {
            path: temp.path().display().to_string(),
            source: std::io::Error::other(format!("the check task failed: {e}")),
        })??;
    Ok(Revalidated::Downloaded {
        temp,
        digest: actual,
    })
}

/// Takes the cache's exclusive lock (released when the returned file is dropped, or when the
/// process dies).
async fn lock(cache_dir: &Path) -> Result<std::fs::File> {
    let path = cache_dir.join(LOCK_FILE);
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io(&path, e.into()))?;
        Ok(file)
    })
    .await
    .map_err(|e| Error::Io {
        path: cache_dir.display().to_string(),
        source: std::io::Error::other(format!("the lock task failed: {e}")),
    })?
}

/// Writes `path` through a temporary file in `dir` and a rename.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(".etag-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    std::io::Write::write_all(&mut temp, bytes).map_err(|e| Error::io(temp.path(), e))?;
    temp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_index_asks_double_their_wait_up_to_the_cap() {
        let waits: Vec<u64> = (1..=7).map(|n| first_index_delay(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(first_index_delay(0), FIRST_INDEX_RETRY_INITIAL);
        assert_eq!(first_index_delay(u32::MAX), FIRST_INDEX_RETRY_MAX);
    }
}
