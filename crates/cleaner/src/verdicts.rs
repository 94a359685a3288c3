//! What a scanner and the manager's verdict cache ([`crate::manager::verdict_cache`]) say to
//! each other over HTTP: a scanner asks once per run for the verdicts already known for its
//! node's candidate images ([`LOOKUP_PATH`], [`Lookup`] → [`Answer`]), scans only the rest and
//! reports its new verdicts ([`REPORT_PATH`], [`Report`]), with the job's token
//! ([`TOKEN_KEY`]). Shared by the node side ([`crate::node::verdict_client`]) and the manager.
//! Pure.

use std::collections::BTreeMap;

use drydock_vuln::Verdict;
use drydock_vuln::config::ScannerConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Where a scanner asks for the known verdicts of its candidate images.
pub const LOOKUP_PATH: &str = "/v1/verdicts/lookup";
/// Where a scanner reports its new verdicts.
pub const REPORT_PATH: &str = "/v1/verdicts";
/// The most image IDs one lookup or report may carry: a node holds hundreds of images, a
/// thousand is already rare; past this the request is malformed.
pub const MAX_IMAGES_PER_REQUEST: usize = 10_000;
/// The key of the token in a job's Secret, and the file name it is mounted as.
pub const TOKEN_KEY: &str = "token";

/// A verdict the cluster keeps: what a scanner needs to decide without scanning again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Known {
    /// Nothing counts against the image.
    Ok,
    /// Vulnerable or end-of-life.
    #[serde(rename_all = "camelCase")]
    NonCompliant {
        /// Whether the OS is end-of-life (and that counted).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        eol: bool,
        /// Findings per severity (`HIGH` → 3), after the configured filters.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        severities: BTreeMap<String, u32>,
        /// Whether any finding has a fixed version.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fixable: bool,
    },
}

// === impl Known ===

impl Known {
    /// The cacheable part of a scan's verdict; `None` for a failed or unscannable image.
    #[must_use]
    pub fn of(verdict: &Verdict) -> Option<Self> {
        match verdict {
            Verdict::Ok => Some(Self::Ok),
            Verdict::NonCompliant { findings, eol } => {
                let mut severities = BTreeMap::new();
                for finding in findings {
                    *severities.entry(finding.severity.to_string()).or_insert(0) += 1;
                }
                Some(Self::NonCompliant {
                    eol: *eol,
                    severities,
                    fixable: findings.iter().any(|f| f.fixed.is_some()),
                })
            }
            Verdict::Failed { .. } | Verdict::Unscannable { .. } => None,
        }
    }

    /// Whether the image goes to the remover.
    #[must_use]
    pub fn is_non_compliant(&self) -> bool {
        matches!(self, Self::NonCompliant { .. })
    }
}

/// The digest of the scanner settings that change a verdict (`deleteEOLImages`,
/// `vulnerabilities`, the end-of-life overrides): verdicts of scanners configured differently
/// are kept apart. The first 16 hex digits of a sha256: a key, not a proof.
#[must_use]
pub fn settings_digest(config: &ScannerConfig) -> String {
    /// Hex digits kept.
    const DIGITS: usize = 16;
    let relevant = serde_json::json!({
        "deleteEOLImages": config.delete_eol_images,
        "vulnerabilities": config.vulnerabilities,
        "eolDates": config.eol_dates,
    });
    let digest = drydock_imagefs::hex(&Sha256::digest(relevant.to_string().as_bytes()));
    digest[..DIGITS].to_owned()
}

/// A lookup: the node's candidate images, under the index and settings the scanner holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    /// The digest of the scanner's vulnerability index (`sha256:<hex>`).
    pub index: String,
    /// [`settings_digest`] of the scanner's configuration.
    pub settings: String,
    /// Image IDs.
    pub images: Vec<String>,
}

/// The answer to a [`Lookup`]: the verdicts known, by image ID (the others are unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// Known verdicts.
    #[serde(default)]
    pub verdicts: BTreeMap<String, Known>,
}

/// A report of new verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The digest of the index the images were scanned with.
    pub index: String,
    /// [`settings_digest`] of the scanner's configuration.
    pub settings: String,
    /// Verdicts by image ID.
    pub verdicts: BTreeMap<String, Known>,
}

#[cfg(test)]
mod tests {
    use drydock_vuln::Verdict;

    use super::*;

    #[test]
    fn failed_and_unscannable_images_are_not_verdicts_to_keep() {
        assert_eq!(Known::of(&Verdict::failed("x")), None);
        assert_eq!(
            Known::of(&Verdict::Unscannable {
                reason: "blobs discarded".to_owned()
            }),
            None
        );
        assert_eq!(Known::of(&Verdict::Ok), Some(Known::Ok));
        assert!(
            Known::of(&Verdict::NonCompliant {
                findings: vec![],
                eol: true
            })
            .unwrap()
            .is_non_compliant()
        );
    }

    #[test]
    fn settings_that_change_verdicts_change_the_digest() {
        let base = ScannerConfig::default();
        let mut eol = base.clone();
        eol.delete_eol_images = !eol.delete_eol_images;
        let mut timeout = base.clone();
        timeout.timeout.total = "1h".parse().unwrap();
        assert_ne!(settings_digest(&base), settings_digest(&eol));
        assert_eq!(settings_digest(&base), settings_digest(&timeout));
        assert_eq!(settings_digest(&base).len(), 16);
    }
}
