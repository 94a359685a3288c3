//! Download plumbing shared by the manager (OSV dumps) and the node (the index from the
//! manager): one HTTP client set-up, bodies streamed to a file under a size limit with their
//! digest, `ETag` digests, and HTTP errors that say whether asking again can help.

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{Error, Result};

/// The index file, in the manager's data directory and in the node cache.
pub const INDEX_FILE: &str = "index.sqlite";
/// Time allowed to connect to a source or to the manager: an answer inside a cluster or from a
/// mirror comes in milliseconds; beyond this the peer is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error body a scanner quotes in its error.
const MAX_ERROR_BODY_CHARS: usize = 200;
/// The digest an `ETag` value announces: `"sha256:<64 lowercase hex>"`, else `None`.
#[must_use]
pub fn parse_etag(value: &str) -> Option<String> {
    let digest = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    valid_digest(digest).then(|| digest.to_owned())
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits.
#[must_use]
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An HTTP client with the ring provider and the given overall timeout.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    drydock_kube::client::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("drydock/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Fetch {
            url: String::new(),
            message: format!("cannot build the HTTP client: {e}"),
        })
}

/// Streams a response body into `file`, at most `limit` bytes; returns the digest and size.
pub async fn stream_to_file(
    response: &mut reqwest::Response,
    file: &mut tokio::fs::File,
    path: &Path,
    url: &str,
    limit: u64,
) -> Result<(String, u64)> {
    let too_big = || Error::Fetch {
        url: url.to_owned(),
        message: format!("larger than the limit of {limit} bytes"),
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_big());
    }
    let mut hasher = Sha256::new();
    let mut total = 0_u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::Fetch {
        url: url.to_owned(),
        message: format!("reading the body: {e}"),
    })? {
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_big());
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io(path, e))?;
    }
    file.sync_all().await.map_err(|e| Error::io(path, e))?;
    Ok((
        format!("sha256:{}", drydock_imagefs::hex(&hasher.finalize())),
        total,
    ))
}

/// A non-success status as an error, quoting the start of the body.
pub async fn status_error(response: reqwest::Response, url: &str) -> Error {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(MAX_ERROR_BODY_CHARS).collect();
    let url = url.to_owned();
    let message = if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    };
    if is_final(status) {
        Error::Refused { url, message }
    } else {
        Error::Fetch { url, message }
    }
}

/// Whether an HTTP status says the request itself is wrong, so that asking again cannot help:
/// a client error, except 408 (the server gave up waiting) and 429 (asked too often), which
/// pass with time. Server errors (the manager's 503 before its first build) may pass too.
fn is_final(status: StatusCode) -> bool {
    status.is_client_error()
        && status != StatusCode::REQUEST_TIMEOUT
        && status != StatusCode::TOO_MANY_REQUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_sha256_etags_are_accepted_for_verification() {
        assert_eq!(
            parse_etag(&format!("\"{DIGEST}\"")).as_deref(),
            Some(DIGEST)
        );
        assert_eq!(parse_etag(DIGEST), None);
        assert_eq!(parse_etag("\"sha256:ABC\""), None);
        assert_eq!(parse_etag(&format!("W/\"{DIGEST}\"")), None);
        assert_eq!(parse_etag(&format!("\"{}\"", DIGEST.to_uppercase())), None);
    }
}
