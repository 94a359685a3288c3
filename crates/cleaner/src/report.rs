//! What a clean did, per image: JSON for machines, a table for people, and a compact summary
//! that fits in a container's termination message (read back by the manager).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Kubernetes truncates termination messages at 4096 bytes (kubelet's limit); the summary must
/// fit or the manager would read broken JSON.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// What happened to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Removed.
    Removed,
    /// Would be removed (dry run).
    WouldRemove,
    /// Gone before we removed it (someone else removed it): counts as success.
    AlreadyGone,
    /// Kept (in use or excluded).
    Kept,
    /// A requested image that is not on this node.
    NotOnNode,
    /// Removal failed.
    Failed,
}

/// One image's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageResult {
    /// A readable name: the first tag, a digest, or the ID.
    pub image: String,
    /// The image ID, when the image exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What was asked for, when the request named images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given: Option<String>,
    /// What happened.
    pub action: Action,
    /// Why.
    pub reason: String,
    /// The runtime's size of the image (removed or would-be-removed images only).
    pub bytes: u64,
}

/// Totals of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Images removed.
    pub removed: usize,
    /// Images that would be removed (dry run).
    pub would_remove: usize,
    /// Images already gone at removal time.
    pub already_gone: usize,
    /// Images kept.
    pub kept: usize,
    /// Requested images not on the node.
    pub not_on_node: usize,
    /// Failed removals.
    pub failed: usize,
    /// Bytes of the removed (or would-be-removed) images, as the runtime sizes them; layers
    /// shared with kept images are counted too, so the disk may gain less.
    pub bytes_reclaimed: u64,
}

/// The full result of a clean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The runtime endpoint.
    pub endpoint: String,
    /// `name version` of the runtime.
    pub runtime: String,
    /// Whether nothing was removed on purpose.
    pub dry_run: bool,
    /// Per-image results.
    pub images: Vec<ImageResult>,
    /// Totals.
    pub totals: Totals,
}

/// The remover's termination message: counts plus as many removed names as fit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
    /// Names of removed images, possibly truncated.
    pub removed_images: Vec<String>,
    /// Names of failed images, possibly truncated.
    pub failed_images: Vec<String>,
    /// True when some names were left out to fit the limit.
    pub truncated: bool,
    /// A dry run: nothing was removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Names of the images a dry run would have removed, possibly truncated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_remove_images: Vec<String>,
    /// A dry run's kept images with why (`name: reason`), possibly truncated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_images: Vec<String>,
}

// === impl Totals ===

impl Totals {
    /// Adds up results.
    #[must_use]
    pub fn of(results: &[ImageResult]) -> Self {
        let mut totals = Self::default();
        for result in results {
            match result.action {
                Action::Removed => totals.removed += 1,
                Action::WouldRemove => totals.would_remove += 1,
                Action::AlreadyGone => totals.already_gone += 1,
                Action::Kept => totals.kept += 1,
                Action::NotOnNode => totals.not_on_node += 1,
                Action::Failed => totals.failed += 1,
            }
            if matches!(result.action, Action::Removed | Action::WouldRemove) {
                totals.bytes_reclaimed += result.bytes;
            }
        }
        totals
    }
}

// === impl Report ===

/// Formats a byte count for people (`1.5 MiB`).
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl Action {
    /// The label shown in tables.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Removed => "removed",
            Self::WouldRemove => "would remove",
            Self::AlreadyGone => "already gone",
            Self::Kept => "kept",
            Self::NotOnNode => "not on node",
            Self::Failed => "FAILED",
        }
    }
}

impl Report {
    /// A table for people: one row per image, then the totals.
    #[must_use]
    pub fn table(&self) -> String {
        let headers = ["ACTION", "IMAGE", "SIZE", "REASON"];
        let rows: Vec<[String; 4]> = self
            .images
            .iter()
            .map(|r| {
                let size = if r.bytes > 0 {
                    human_bytes(r.bytes)
                } else {
                    "-".to_owned()
                };
                [
                    r.action.label().to_owned(),
                    r.image.clone(),
                    size,
                    r.reason.clone(),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: [&str; 4]| {
            let text = format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(headers);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3]]);
        }
        let t = &self.totals;
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        let count = if self.dry_run {
            t.would_remove
        } else {
            t.removed + t.already_gone
        };
        let _ = writeln!(
            out,
            "\n{verb} {count} image(s), {} reclaimed; kept {}, not on node {}, failed {}{}",
            human_bytes(t.bytes_reclaimed),
            t.kept,
            t.not_on_node,
            t.failed,
            if self.dry_run {
                " (dry run: nothing was removed)"
            } else {
                ""
            }
        );
        out
    }

    /// The summary for the termination message, at most [`TERMINATION_MESSAGE_LIMIT`] bytes.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let names = |action: Action| -> Vec<String> {
            self.images
                .iter()
                .filter(|r| r.action == action)
                .map(|r| r.image.clone())
                .collect()
        };
        let kept = if self.dry_run {
            self.images
                .iter()
                .filter(|r| r.action == Action::Kept)
                .map(|r| format!("{}: {}", r.image, r.reason))
                .collect()
        } else {
            Vec::new()
        };
        let mut summary = Summary {
            totals: self.totals.clone(),
            removed_images: names(Action::Removed),
            failed_images: names(Action::Failed),
            truncated: false,
            dry_run: self.dry_run,
            would_remove_images: names(Action::WouldRemove),
            kept_images: kept,
        };
        while summary.encoded_len() > TERMINATION_MESSAGE_LIMIT {
            summary.truncated = true;
            // Keep failures visible longest: drop the kept reasons first, then the removed
            // (or would-be-removed) names.
            if summary.kept_images.pop().is_none()
                && summary.removed_images.pop().is_none()
                && summary.would_remove_images.pop().is_none()
                && summary.failed_images.pop().is_none()
            {
                break;
            }
        }
        summary
    }
}

impl Summary {
    fn encoded_len(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |bytes| bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(image: &str, action: Action, bytes: u64) -> ImageResult {
        ImageResult {
            image: image.into(),
            id: None,
            given: None,
            action,
            reason: "r".into(),
            bytes,
        }
    }

    #[test]
    fn totals_count_bytes_of_removed_images_only() {
        let results = vec![
            result("a", Action::Removed, 10),
            result("b", Action::Kept, 100),
            result("c", Action::WouldRemove, 5),
            result("d", Action::Failed, 7),
        ];
        let totals = Totals::of(&results);
        assert_eq!(
            (
                totals.removed,
                totals.kept,
                totals.would_remove,
                totals.failed
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(totals.bytes_reclaimed, 15);
    }

    #[test]
    fn summary_fits_the_termination_message_limit() {
        let images: Vec<_> = (0..500)
            .map(|i| {
                result(
                    &format!("docker.io/library/image-number-{i}:latest"),
                    Action::Removed,
                    1,
                )
            })
            .collect();
        let report = Report {
            endpoint: "e".into(),
            runtime: "r".into(),
            dry_run: false,
            totals: Totals::of(&images),
            images,
        };
        let summary = report.summary();
        assert!(summary.truncated);
        assert!(serde_json::to_vec(&summary).unwrap().len() <= TERMINATION_MESSAGE_LIMIT);
        assert_eq!(summary.totals.removed, 500);
        let decoded: Summary =
            serde_json::from_slice(&serde_json::to_vec(&summary).unwrap()).unwrap();
        assert_eq!(decoded, summary);
    }

    #[test]
    fn table_shows_each_image_and_the_totals() {
        let images = vec![
            result("docker.io/library/nginx:latest", Action::WouldRemove, 2048),
            result("pause", Action::Kept, 0),
        ];
        let report = Report {
            endpoint: "e".into(),
            runtime: "r".into(),
            dry_run: true,
            totals: Totals::of(&images),
            images,
        };
        let table = report.table();
        assert!(table.starts_with("ACTION"));
        assert!(
            table.contains("would remove  docker.io/library/nginx:latest  2.0 KiB  r"),
            "{table}"
        );
        assert!(
            table.contains("would remove 1 image(s), 2.0 KiB reclaimed"),
            "{table}"
        );
        assert!(table.contains("dry run"));
    }

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
