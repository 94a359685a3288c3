//! Pure cleaning decisions: given what the runtime reports (a [`Snapshot`]), the exclusions and
//! the protected references, decide for each image whether it goes and why not.
//!
//! The rules, in order, for every image considered:
//! 1. not on the node (a requested spelling that resolves to nothing) → nothing to do;
//! 2. in use (any container in any state, the sandbox image, pinned, protected) → kept;
//! 3. matched by an exclusion pattern → kept;
//! 4. when a minimum age is configured ([`keep_young`]): created by the runtime less than that
//!    long ago, or at an unknown time → kept;
//! 5. otherwise → removed. Removal is by image ID, so every tag of the image goes with it.

use std::collections::{HashMap, HashSet};
use std::fmt;

use drydock_cri::inuse::{ImageIndex, Use};
use drydock_cri::{ExclusionSet, ImageRecord, Snapshot};
use jiff::{SignedDuration, Timestamp};

pub use drydock_api::imagelist::ALL_IMAGES;

/// What the caller asks to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Every image on the node (the collector, `clean` without `--image`, an ImageList `*`).
    All,
    /// These spellings: IDs, digests, references in any form.
    Named(Vec<String>),
}

/// Why an image is kept, or that it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Remove it.
    Remove,
    /// In use; never removed.
    InUse(Use),
    /// Matches this exclusion pattern.
    Excluded(String),
    /// A requested spelling that names no image on this node.
    NotOnNode,
    /// Unused, but kept because the scanner found nothing against it (`clean --vulndb`); the
    /// text says why (`not vulnerable`, or a scan failure kept by `deleteFailedImages: false`).
    Compliant(String),
    /// Unused, but the runtime created it less than the minimum age ago (`created`), or did
    /// not say when (`None`): an image pulled for a pod that has not started yet looks unused.
    Young {
        /// When the runtime created it, when known.
        created: Option<Timestamp>,
    },
}

/// The phrase of a [`Verdict::Young`], in logs and reports.
pub const YOUNG_REASON: &str = "newer than the minimum age";

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What the user or the previous stage asked for (`None` when the target was "all").
    pub given: Option<String>,
    /// The image, when it exists on the node.
    pub image: Option<ImageRecord>,
    /// The verdict.
    pub verdict: Verdict,
}

// === impl Targets ===

impl Targets {
    /// Builds targets from ImageList-style entries: `*` anywhere means all.
    #[must_use]
    pub fn from_entries(entries: Vec<String>) -> Self {
        if entries.iter().any(|entry| entry.trim() == ALL_IMAGES) {
            // `*` plus explicit entries is legal in Eraser and means the same as `*` alone.
            Self::All
        } else {
            Self::Named(entries)
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Remove => f.write_str("unused"),
            Self::InUse(why) => write!(f, "{why}"),
            Self::Excluded(pattern) => write!(f, "excluded by {pattern}"),
            Self::NotOnNode => f.write_str("not on this node"),
            Self::Compliant(why) => f.write_str(why),
            Self::Young {
                created: Some(created),
            } => write!(f, "{YOUNG_REASON} (created {created})"),
            Self::Young { created: None } => {
                write!(
                    f,
                    "{YOUNG_REASON} (the runtime has no creation time for it)"
                )
            }
        }
    }
}

// === decisions ===

/// Decides for every requested image. Each image appears at most once (two tags of one image
/// make one decision); requested spellings that match nothing are reported as
/// [`Verdict::NotOnNode`].
#[must_use]
pub fn decide(
    snapshot: &Snapshot,
    targets: &Targets,
    exclusions: &ExclusionSet,
    protected: &[String],
) -> Vec<Decision> {
    let index = ImageIndex::new(&snapshot.images);
    let uses = snapshot.in_use(&index, protected);
    let verdict_for = |image: &ImageRecord| -> Verdict {
        if let Some(why) = uses.get(&image.id) {
            return Verdict::InUse(why.clone());
        }
        match exclusions.matching(image) {
            Some(pattern) => Verdict::Excluded(pattern.to_owned()),
            None => Verdict::Remove,
        }
    };
    match targets {
        Targets::All => snapshot
            .images
            .iter()
            .map(|image| Decision {
                given: None,
                image: Some(image.clone()),
                verdict: verdict_for(image),
            })
            .collect(),
        Targets::Named(spellings) => {
            let mut seen: HashSet<usize> = HashSet::new();
            let mut decisions = Vec::with_capacity(spellings.len());
            for spelling in spellings {
                match index.find(spelling.trim()) {
                    Some(position) => {
                        if seen.insert(position) {
                            let image = &snapshot.images[position];
                            decisions.push(Decision {
                                given: Some(spelling.clone()),
                                image: Some(image.clone()),
                                verdict: verdict_for(image),
                            });
                        }
                    }
                    None => decisions.push(Decision {
                        given: Some(spelling.clone()),
                        image: None,
                        verdict: Verdict::NotOnNode,
                    }),
                }
            }
            decisions
        }
    }
}

/// Keeps the images the runtime created less than `minimum` before `now`: every
/// [`Verdict::Remove`] whose image `created` dates (by image ID) too recently, or not at all,
/// becomes [`Verdict::Young`]. Other verdicts are left as they are.
pub fn keep_young(
    decisions: &mut [Decision],
    created: &HashMap<String, Timestamp>,
    now: Timestamp,
    minimum: SignedDuration,
) {
    for decision in decisions {
        let Some(image) = &decision.image else {
            continue;
        };
        if decision.verdict != Verdict::Remove {
            continue;
        }
        let created = created.get(&image.id).copied();
        let old_enough = created.is_some_and(|at| now.duration_since(at) >= minimum);
        if !old_enough {
            decision.verdict = Verdict::Young { created };
        }
    }
}

/// The collector's output: the unused, non-excluded images, in runtime order.
#[must_use]
pub fn removable(decisions: &[Decision]) -> Vec<&ImageRecord> {
    decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Remove)
        .filter_map(|d| d.image.as_ref())
        .collect()
}

/// Counts decisions by verdict kind, for logs: (remove, in use, excluded, not on node).
#[must_use]
pub fn tally(decisions: &[Decision]) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for decision in decisions {
        let key = match decision.verdict {
            Verdict::Remove => "remove",
            Verdict::InUse(_) => "in_use",
            Verdict::Excluded(_) => "excluded",
            Verdict::NotOnNode => "not_on_node",
            Verdict::Compliant(_) => "compliant",
            Verdict::Young { .. } => "young",
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use drydock_cri::inuse::{ContainerRecord, ContainerState};

    use super::*;

    fn image(id: &str, tags: &[&str]) -> ImageRecord {
        ImageRecord {
            id: id.to_owned(),
            repo_tags: tags.iter().map(|s| (*s).to_owned()).collect(),
            size: 100,
            ..ImageRecord::default()
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            images: vec![
                image(
                    "sha256:nginx",
                    &[
                        "docker.io/library/nginx:latest",
                        "docker.io/library/nginx:1",
                    ],
                ),
                image("sha256:redis", &["docker.io/library/redis:7"]),
                image("sha256:alpine", &["docker.io/library/alpine:3.7.3"]),
                image("sha256:pause", &["registry.k8s.io/pause:3.9"]),
                image("sha256:kept", &["quay.io/team/kept:1"]),
            ],
            containers: vec![ContainerRecord {
                id: "c1".into(),
                name: "web".into(),
                image: "docker.io/library/redis:7".into(),
                image_ref: "sha256:redis".into(),
                state: ContainerState::Exited,
            }],
            sandbox_image: Some("registry.k8s.io/pause:3.9".into()),
        }
    }

    #[test]
    fn all_targets_remove_only_unused_unexcluded_images() {
        let exclusions = ExclusionSet::parse(["quay.io/team/*"], "test").unwrap();
        let decisions = decide(&snapshot(), &Targets::All, &exclusions, &[]);
        let removed: Vec<_> = removable(&decisions)
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(removed, vec!["sha256:nginx", "sha256:alpine"]);
        let counts = tally(&decisions);
        assert_eq!(
            (counts["remove"], counts["in_use"], counts["excluded"]),
            (2, 2, 1)
        );
    }

    #[test]
    fn naming_one_tag_decides_for_the_whole_image_once() {
        let targets = Targets::Named(vec!["nginx".into(), "docker.io/library/nginx:1".into()]);
        let decisions = decide(&snapshot(), &targets, &ExclusionSet::default(), &[]);
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].verdict, Verdict::Remove);
        assert_eq!(decisions[0].given.as_deref(), Some("nginx"));
    }

    #[test]
    fn named_images_in_use_excluded_or_absent_are_kept_with_a_reason() {
        let exclusions = ExclusionSet::parse(["alpine:*"], "test").unwrap();
        let targets = Targets::Named(vec![
            "redis:7".into(),
            "alpine:3.7.3".into(),
            "ghost:1".into(),
            "registry.k8s.io/pause:3.9".into(),
        ]);
        let decisions = decide(&snapshot(), &targets, &exclusions, &[]);
        assert!(matches!(
            decisions[0].verdict,
            Verdict::InUse(Use::Container { .. })
        ));
        assert_eq!(decisions[1].verdict, Verdict::Excluded("alpine:*".into()));
        assert_eq!(decisions[2].verdict, Verdict::NotOnNode);
        assert_eq!(decisions[3].verdict, Verdict::InUse(Use::Sandbox));
        assert!(removable(&decisions).is_empty());
    }

    #[test]
    fn star_among_entries_means_all() {
        assert_eq!(
            Targets::from_entries(vec!["nginx".into(), "*".into()]),
            Targets::All
        );
        assert_eq!(
            Targets::from_entries(vec!["nginx".into()]),
            Targets::Named(vec!["nginx".into()])
        );
    }

    #[test]
    fn images_younger_than_the_minimum_age_or_undated_are_kept() {
        let now = Timestamp::from_second(10_000).unwrap();
        let hour = SignedDuration::from_hours(1);
        let mut decisions = decide(&snapshot(), &Targets::All, &ExclusionSet::default(), &[]);
        let created: HashMap<String, Timestamp> = [
            // exactly the minimum age: old enough
            ("sha256:nginx", now - hour),
            // a second too young
            ("sha256:alpine", now - hour + SignedDuration::from_secs(1)),
            // in use: stays in use whatever its age
            ("sha256:redis", now),
        ]
        .into_iter()
        .map(|(id, at)| (id.to_owned(), at))
        .collect();
        keep_young(&mut decisions, &created, now, hour);
        let verdict = |id: &str| {
            decisions
                .iter()
                .find(|d| d.image.as_ref().is_some_and(|i| i.id == id))
                .map(|d| d.verdict.clone())
                .unwrap()
        };
        assert_eq!(verdict("sha256:nginx"), Verdict::Remove);
        assert_eq!(
            verdict("sha256:alpine"),
            Verdict::Young {
                created: Some(now - hour + SignedDuration::from_secs(1))
            }
        );
        assert!(
            verdict("sha256:alpine")
                .to_string()
                .starts_with(YOUNG_REASON)
        );
        assert!(matches!(verdict("sha256:redis"), Verdict::InUse(_)));
        // No record for it: its age is unknown, so it is kept.
        assert_eq!(verdict("sha256:kept"), Verdict::Young { created: None });
        assert_eq!(tally(&decisions)["young"], 2);
    }

    #[test]
    fn a_zero_minimum_age_keeps_nothing_for_age() {
        let now = Timestamp::from_second(10_000).unwrap();
        let mut decisions = decide(&snapshot(), &Targets::All, &ExclusionSet::default(), &[]);
        let created: HashMap<String, Timestamp> = snapshot()
            .images
            .iter()
            .map(|i| (i.id.clone(), now))
            .collect();
        let before = decisions.clone();
        keep_young(&mut decisions, &created, now, SignedDuration::ZERO);
        assert_eq!(decisions, before);
    }

    #[test]
    fn protected_references_are_never_removed() {
        let decisions = decide(
            &snapshot(),
            &Targets::All,
            &ExclusionSet::default(),
            &["quay.io/team/kept:1".to_owned()],
        );
        let kept = decisions
            .iter()
            .find(|d| d.image.as_ref().is_some_and(|i| i.id == "sha256:kept"))
            .unwrap();
        assert!(matches!(kept.verdict, Verdict::InUse(Use::Protected(_))));
    }
}
