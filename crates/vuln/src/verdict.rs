//! The per-image verdict, decided the way Eraser's trivy-scanner decides (`ImageScanner.Scan`):
//! an image is non-compliant when its OS is end-of-life and `deleteEOLImages` is set, or when
//! any finding survives the filters (`severities`, `ignoredStatuses` / `ignoreUnfixed`); an
//! image that could not be scanned has failed, and is deleted only with `deleteFailedImages`.
//!
//! Unlike Trivy, an image whose OS is not detected is not a failure: it has no OS packages to
//! match, so it is `Ok` (Trivy reports "unsupported OS" and no vulnerabilities, which Eraser
//! also treats as compliant).

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{ScannerConfig, Status};
use crate::eol::{self, EolStatus};
use crate::index::Index;
use crate::inventory::language::LanguagePackage;
use crate::{Finding, Os, Package};

/// What to do with one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Verdict {
    /// Nothing counts against the image.
    Ok,
    /// The image is vulnerable or end-of-life.
    NonCompliant {
        /// The findings that passed the filters, sorted by package and ID.
        findings: Vec<Finding>,
        /// Whether the OS is end-of-life (and `deleteEOLImages` made that count).
        eol: bool,
    },
    /// The image could not be scanned.
    Failed {
        /// Why, for logs and reports.
        reason: String,
    },
    /// The image's layers are not where the scanner reads them (containerd discarded the layer
    /// blobs after unpacking, `discard_unpacked_layers`). Unlike [`Verdict::Failed`], never
    /// deleted: the image is intact, only this scanner cannot read it yet.
    Unscannable {
        /// Why, for logs and reports.
        reason: String,
    },
}

/// A verdict with what led to it, for reports (`drydock scan --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The OS's support status, `None` when no OS was detected.
    pub eol_status: Option<EolStatus>,
    /// Findings before filtering (all severities and statuses).
    pub matched: usize,
}

// === impl Verdict ===

impl Verdict {
    /// A failed verdict.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed {
            reason: reason.into(),
        }
    }

    /// Whether the image is to be deleted under `config`: non-compliant images always,
    /// failed images when `deleteFailedImages` is set, unscannable ones never.
    pub fn should_delete(&self, config: &ScannerConfig) -> bool {
        match self {
            Self::Ok | Self::Unscannable { .. } => false,
            Self::NonCompliant { .. } => true,
            Self::Failed { .. } => config.delete_failed_images,
        }
    }
}

/// Decides one image from its OS (`None` when not detected) and packages, matching against
/// `index` at `now`. An index error fails the image.
pub fn assess(
    os: Option<&Os>,
    packages: &[Package],
    index: &Index,
    config: &ScannerConfig,
    now: Timestamp,
) -> Assessment {
    assess_image(os, packages, &[], index, config, now)
}

/// [`assess`] with the image's language packages too, matched when `config` scans `library`
/// packages. An image with no detected OS is judged on its language packages alone.
pub fn assess_image(
    os: Option<&Os>,
    packages: &[Package],
    language: &[LanguagePackage],
    index: &Index,
    config: &ScannerConfig,
    now: Timestamp,
) -> Assessment {
    let eol_status = os.map(|os| eol::status(os, now, &config.eol_dates));
    let failed = |error: crate::Error| Assessment {
        verdict: Verdict::failed(error.to_string()),
        eol_status,
        matched: 0,
    };
    let mut findings = Vec::new();
    if let Some(os) = os
        && config.scans_os_vulnerabilities()
    {
        match index.match_packages(os, packages) {
            Ok(found) => findings = found,
            Err(error) => return failed(error),
        }
    }
    if config.scans_library_vulnerabilities() && !language.is_empty() {
        match index.match_language(language) {
            Ok(found) => findings.extend(found),
            Err(error) => return failed(error),
        }
    }
    let matched = findings.len();
    let eol = eol_status.as_ref().is_some_and(|s| s.is_eol());
    Assessment {
        verdict: decide(findings, eol, config),
        eol_status,
        matched,
    }
}

/// [`assess`], keeping only the verdict.
pub fn verdict(
    os: Option<&Os>,
    packages: &[Package],
    index: &Index,
    config: &ScannerConfig,
    now: Timestamp,
) -> Verdict {
    assess(os, packages, index, config, now).verdict
}

/// Filters `findings` by `config` and decides: non-compliant when any remain, or when the OS is
/// end-of-life and `deleteEOLImages` is set.
pub fn decide(findings: Vec<Finding>, eol: bool, config: &ScannerConfig) -> Verdict {
    let ignored = config.ignored_statuses();
    let findings: Vec<Finding> = findings
        .into_iter()
        .filter(|f| config.counts_severity(f.severity))
        .filter(|f| !ignored.contains(&Status::of(f.status)))
        .collect();
    let eol = eol && config.delete_eol_images;
    if findings.is_empty() && !eol {
        Verdict::Ok
    } else {
        Verdict::NonCompliant { findings, eol }
    }
}
