//! The scanner's side of the cluster's verdict cache ([`crate::verdicts`]): one lookup for the
//! node's candidate images at the start of a run, one more for each image just before it
//! would be scanned (another node may have reported it meanwhile), the verdicts made so far
//! reported with that lookup, and whatever is left reported at the end, re-sent with backoff
//! until it is acknowledged, refused, or [`REPORT_PATIENCE`] has passed. Images are scanned in
//! an order of the node's own ([`Remote::with_order_seed`]), so nodes started together
//! rarely scan the same image at the same time.
//!
//! The cache is a saving, never a dependency: a manager that cannot be reached or refuses
//! means the images are scanned here, as without the cache, and a run never waits on another
//! node (two nodes that reach the same unscanned image at once both scan it). After the first
//! failed request of a run the manager is not asked per image again; only the report is
//! re-sent at the end.
//!
//! [`Remote`] holds the protocol's decisions; [`Http`] is its transport in the scanner, and
//! tests put the manager's service behind another one.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};

use crate::node::scan::VerdictCache;
use crate::verdicts::{Answer, Known, LOOKUP_PATH, Lookup, REPORT_PATH, Report};

/// Time allowed for one lookup or report: the manager answers from memory (a report after
/// a ConfigMap write) in milliseconds; a scan must not wait long on a saving.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an unacknowledged report is re-sent after the scan: long enough to ride out a
/// manager restart (its pod is back within a minute), short enough that a pod does not
/// outlive its job for long.
pub const REPORT_PATIENCE: Duration = Duration::from_secs(3 * 60);
/// The first wait before a report is sent again; doubled per attempt up to
/// [`REPORT_RETRY_MAX`].
pub const REPORT_RETRY_INITIAL: Duration = Duration::from_secs(1);
/// The longest wait between two sends of a report.
pub const REPORT_RETRY_MAX: Duration = Duration::from_secs(30);

/// The wait after the `attempt`-th failed send (1 for the first).
#[must_use]
pub fn report_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(u32::BITS - 1);
    REPORT_RETRY_INITIAL
        .checked_mul(1_u32 << doublings)
        .map_or(REPORT_RETRY_MAX, |d| d.min(REPORT_RETRY_MAX))
}

/// How one send of a report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Acknowledged: the verdicts are persisted.
    Acknowledged,
    /// Refused for good (a bad token, an ended job, another index): not sent again.
    Refused(String),
    /// Not acknowledged for now (unreachable, not written): sent again.
    Failed(String),
}

/// How requests reach the manager.
pub trait Transport: Send {
    /// Sends a lookup; `Err` says why there is no answer.
    fn lookup(&mut self, body: &Lookup) -> impl Future<Output = Result<Answer, String>> + Send;
    /// Sends a report.
    fn report(&mut self, body: &Report) -> impl Future<Output = Sent> + Send;
    /// Where the requests go, for logs.
    fn describe(&self) -> String;
}

/// The manager's endpoints over HTTP, with the job's bearer token.
#[derive(Debug, Clone)]
pub struct Http {
    http: reqwest::Client,
    base: String,
    token: String,
}

// === impl Http ===

impl Http {
    /// The cache at `base` (`http://host:port`), asked with `token`.
    ///
    /// # Errors
    /// [`crate::Error::Fetch`] when the HTTP client cannot be built.
    pub fn new(base: &str, token: &str) -> crate::Result<Self> {
        drydock_kube::client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("drydock/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::Fetch {
                url: base.to_owned(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        })
    }
}

impl Transport for Http {
    async fn lookup(&mut self, body: &Lookup) -> Result<Answer, String> {
        let response = self
            .http
            .post(format!("{}{LOOKUP_PATH}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status != StatusCode::OK {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("HTTP {status}: {}", text.trim()));
        }
        response.json().await.map_err(|e| e.to_string())
    }

    async fn report(&mut self, body: &Report) -> Sent {
        let response = self
            .http
            .post(format!("{}{REPORT_PATH}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await;
        match response {
            Err(error) => Sent::Failed(error.to_string()),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let said = format!("HTTP {status}: {}", text.trim());
                if status.is_success() {
                    Sent::Acknowledged
                } else if status.is_client_error()
                    && status != StatusCode::REQUEST_TIMEOUT
                    && status != StatusCode::TOO_MANY_REQUESTS
                {
                    Sent::Refused(said)
                } else {
                    Sent::Failed(said)
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

/// The cluster's verdict cache as one scanner run uses it. `sleep` waits between report
/// attempts (tokio's in the scanner; tests pass their own).
pub struct Remote<T, S> {
    transport: T,
    index: String,
    settings: String,
    patience: Duration,
    sleep: S,
    /// Mixed into the scan order's key ([`Remote::with_order_seed`]).
    seed: Option<String>,
    /// Verdicts made and not acknowledged yet.
    pending: BTreeMap<String, Known>,
    /// The manager failed a request this run: not asked again per image (the report is still
    /// re-sent at the end).
    down: bool,
    /// The manager refused a report: none is sent again.
    refused: bool,
    /// Requests sent so far (lookups, reports).
    requests: u64,
}

impl<T: Transport, S> std::fmt::Debug for Remote<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("to", &self.transport.describe())
            .field("index", &self.index)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

// === impl Remote ===

impl<T, S, F> Remote<T, S>
where
    T: Transport,
    S: FnMut(Duration) -> F + Send,
    F: Future<Output = ()> + Send,
{
    /// The cache behind `transport`, for verdicts under `index` (the digest of the scanner's
    /// vulnerability index) and `settings` ([`crate::verdicts::settings_digest`]).
    pub fn new(transport: T, index: &str, settings: &str, sleep: S) -> Self {
        Self {
            transport,
            index: index.to_owned(),
            settings: settings.to_owned(),
            patience: REPORT_PATIENCE,
            sleep,
            seed: None,
            pending: BTreeMap::new(),
            down: false,
            refused: false,
            requests: 0,
        }
    }

    /// Re-sends an unacknowledged report for at most `patience` instead of
    /// [`REPORT_PATIENCE`].
    #[must_use]
    pub fn with_patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Scans this node's images in an order of its own, keyed by `seed` (the node's name):
    /// nodes started together meet their shared images at different times.
    #[must_use]
    pub fn with_order_seed(mut self, seed: &str) -> Self {
        self.seed = Some(seed.to_owned());
        self
    }

    /// Requests sent so far.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    async fn send(&mut self, verdicts: BTreeMap<String, Known>) -> (Sent, BTreeMap<String, Known>) {
        self.requests += 1;
        let body = Report {
            index: self.index.clone(),
            settings: self.settings.clone(),
            verdicts,
        };
        let sent = self.transport.report(&body).await;
        (sent, body.verdicts)
    }

    /// Sends the pending verdicts once, before a lookup: acknowledged ones are forgotten, a
    /// refusal stops reporting, a failure keeps them for [`VerdictCache::finish`] and stops
    /// per-image asking.
    async fn flush_once(&mut self) {
        if self.pending.is_empty() || self.refused || self.down {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        match self.send(pending).await {
            (Sent::Acknowledged, _) => {}
            (Sent::Refused(reason), _) => {
                warn!(to = %self.transport.describe(), %reason, "the cluster's verdict cache refused the report; not sent again");
                self.refused = true;
            }
            (Sent::Failed(reason), pending) => {
                warn!(to = %self.transport.describe(), %reason, "verdict report not acknowledged; kept for the end of the scan");
                self.down = true;
                self.pending = pending;
            }
        }
    }
}

impl<T, S, F> VerdictCache for Remote<T, S>
where
    T: Transport,
    S: FnMut(Duration) -> F + Send,
    F: Future<Output = ()> + Send,
{
    async fn lookup(&mut self, images: &[String]) -> HashMap<String, Known> {
        self.flush_once().await;
        if images.is_empty() || self.down {
            return HashMap::new();
        }
        self.requests += 1;
        let body = Lookup {
            index: self.index.clone(),
            settings: self.settings.clone(),
            images: images.to_vec(),
        };
        match self.transport.lookup(&body).await {
            Ok(answer) => {
                // Only what was asked: a confused manager cannot add images to the run.
                let known: HashMap<String, Known> = answer
                    .verdicts
                    .into_iter()
                    .filter(|(id, _)| images.contains(id))
                    .collect();
                if images.len() > 1 {
                    info!(
                        candidates = images.len(),
                        known = known.len(),
                        "verdicts known to the cluster"
                    );
                }
                known
            }
            Err(error) => {
                warn!(to = %self.transport.describe(), %error, "the cluster's verdict cache is unavailable; scanning the remaining images here");
                self.down = true;
                HashMap::new()
            }
        }
    }

    fn record(&mut self, image: &str, verdict: Known) {
        if !self.refused {
            self.pending.insert(image.to_owned(), verdict);
        }
    }

    async fn finish(&mut self) {
        if self.pending.is_empty() || self.refused {
            return;
        }
        let mut verdicts = std::mem::take(&mut self.pending);
        let count = verdicts.len();
        let mut waited = Duration::ZERO;
        let mut attempt = 0_u32;
        loop {
            let (sent, back) = self.send(verdicts).await;
            verdicts = back;
            match sent {
                Sent::Acknowledged => {
                    info!(
                        verdicts = count,
                        attempt = attempt + 1,
                        "verdicts reported to the cluster"
                    );
                    return;
                }
                Sent::Refused(reason) => {
                    warn!(to = %self.transport.describe(), %reason, "the cluster's verdict cache refused the report; not sent again");
                    return;
                }
                Sent::Failed(reason) if waited < self.patience => {
                    attempt = attempt.saturating_add(1);
                    let delay = report_delay(attempt).min(self.patience.saturating_sub(waited));
                    warn!(to = %self.transport.describe(), %reason, attempt, retry_in_seconds = delay.as_secs(), "verdict report not acknowledged; sending it again");
                    (self.sleep)(delay).await;
                    waited = waited.saturating_add(delay);
                }
                Sent::Failed(reason) => {
                    warn!(to = %self.transport.describe(), %reason, verdicts = count, "verdict report never acknowledged; given up");
                    return;
                }
            }
        }
    }

    fn order_key(&self, image: &str) -> Option<u64> {
        let seed = self.seed.as_deref()?;
        let digest = Sha256::digest(format!("{seed}\n{image}").as_bytes());
        let mut first = [0_u8; 8];
        first.copy_from_slice(&digest[..8]);
        Some(u64::from_be_bytes(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_sent_again_after_doubling_waits_up_to_the_cap() {
        let waits: Vec<u64> = (1..=7).map(|n| report_delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(report_delay(u32::MAX), REPORT_RETRY_MAX);
    }
}
