//! What is on the node and what is in use, as plain data.
//!
//! An image is in use when any container in **any** state (running, created, exited but not
//! yet collected) refers to it by `image.image` *or* `image_ref`, when it is the runtime's pod
//! sandbox (pause) image, when the runtime pins it, or when it matches a protected reference
//! (Drydock's own image). Eraser looked only at `image.image` of containers, so pause images
//! were removable (eraser #1107); this module is the fix.
//!
//! References are resolved against every spelling an image has: its ID, each repo tag and
//! repo digest (normalised, so `nginx` finds `docker.io/library/nginx:latest`), and each bare
//! digest.

use std::collections::HashMap;
use std::fmt;

use crate::reference::{Reference, is_digest};

/// One image as the runtime lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRecord {
    /// The runtime's image ID (containerd: the config digest).
    pub id: String,
    /// Repo tags, e.g. `docker.io/library/nginx:latest`.
    pub repo_tags: Vec<String>,
    /// Repo digests, e.g. `docker.io/library/nginx@sha256:…`.
    pub repo_digests: Vec<String>,
    /// Size in bytes as the runtime reports it (layers shared with other images included).
    pub size: u64,
    /// Whether the runtime pinned the image (never garbage-collected).
    pub pinned: bool,
}

/// State of a container, as CRI reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Exited, not yet removed.
    Exited,
    /// The runtime does not know.
    Unknown,
}

/// One container, in any state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    /// Container ID.
    pub id: String,
    /// Container name (from its metadata).
    pub name: String,
    /// `image.image`: the image as the pod spec or the runtime named it.
    pub image: String,
    /// `image_ref`: the image ID or digest the runtime resolved.
    pub image_ref: String,
    /// Its state.
    pub state: ContainerState,
}

/// Why an image counts as in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Use {
    /// A container (in any state) refers to it.
    Container {
        /// The container's name.
        name: String,
        /// Its state.
        state: ContainerState,
    },
    /// It is the runtime's pod sandbox (pause) image.
    Sandbox,
    /// The runtime pinned it.
    Pinned,
    /// It matches a protected reference (Drydock's own image).
    Protected(String),
}

/// Everything the runtime said about images and containers at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// All images.
    pub images: Vec<ImageRecord>,
    /// All containers, every state.
    pub containers: Vec<ContainerRecord>,
    /// The sandbox image the runtime is configured with, when it says.
    pub sandbox_image: Option<String>,
}

/// Finds images by any of their spellings.
#[derive(Debug, Default)]
pub struct ImageIndex {
    by_key: HashMap<String, usize>,
}

// === impl ImageRecord ===

impl ImageRecord {
    /// Bare digests (`sha256:…`) of the repo digests, de-duplicated, in order.
    #[must_use]
    pub fn bare_digests(&self) -> Vec<String> {
        let mut digests: Vec<String> = Vec::new();
        for full in &self.repo_digests {
            let bare = full
                .rsplit_once('@')
                .map_or(full.as_str(), |(_, digest)| digest);
            if !digests.iter().any(|d| d == bare) {
                digests.push(bare.to_owned());
            }
        }
        digests
    }

    /// The record as Eraser's pipe JSON carries it.
    #[must_use]
    pub fn to_pipe(&self) -> drydock_api::Image {
        drydock_api::Image {
            image_id: self.id.clone(),
            names: self.repo_tags.clone(),
            digests: self.bare_digests(),
            in_use: false,
        }
    }

    /// A name for people: the first tag, else the first repo digest, else the ID.
    #[must_use]
    pub fn display_name(&self) -> &str {
        self.repo_tags
            .first()
            .or(self.repo_digests.first())
            .unwrap_or(&self.id)
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Exited => "exited",
            Self::Unknown => "unknown",
        })
    }
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Container { name, state } => write!(f, "used by {state} container {name}"),
            Self::Sandbox => f.write_str("the runtime's pod sandbox image"),
            Self::Pinned => f.write_str("pinned by the runtime"),
            Self::Protected(pattern) => write!(f, "protected ({pattern})"),
        }
    }
}

// === impl ImageIndex ===

impl ImageIndex {
    /// Indexes every spelling of every image.
    #[must_use]
    pub fn new(images: &[ImageRecord]) -> Self {
        let mut by_key = HashMap::with_capacity(images.len() * 4);
        for (position, image) in images.iter().enumerate() {
            by_key.insert(image.id.clone(), position);
            for name in image.repo_tags.iter().chain(&image.repo_digests) {
                by_key.insert(name.clone(), position);
                if let Ok(reference) = Reference::parse(name) {
                    by_key.insert(reference.to_string(), position);
                }
            }
            for digest in image.bare_digests() {
                by_key.entry(digest).or_insert(position);
            }
        }
        Self { by_key }
    }

    /// The position of the image that `spelling` names: an ID, a bare digest, or a reference
    /// in any form (short names are normalised).
    #[must_use]
    pub fn find(&self, spelling: &str) -> Option<usize> {
        if let Some(found) = self.by_key.get(spelling) {
            return Some(*found);
        }
        if is_digest(spelling) {
            return None;
        }
        let normalised = Reference::parse(spelling).ok()?.to_string();
        self.by_key.get(&normalised).copied()
    }
}

// === impl Snapshot ===

impl Snapshot {
    /// Why each in-use image is in use, keyed by image ID. `protected` are references that must
    /// never be removed (Drydock's own image), matched like any other spelling.
    #[must_use]
    pub fn in_use(&self, index: &ImageIndex, protected: &[String]) -> HashMap<String, Use> {
        let mut uses: HashMap<String, Use> = HashMap::new();
        let mut mark = |position: usize, why: Use| {
            if let Some(image) = self.images.get(position) {
                uses.entry(image.id.clone()).or_insert(why);
            }
        };
        for container in &self.containers {
            for spelling in [&container.image, &container.image_ref] {
                if let Some(position) = index.find(spelling) {
                    mark(
                        position,
                        Use::Container {
                            name: container.name.clone(),
                            state: container.state,
                        },
                    );
                }
            }
        }
        if let Some(position) = self.sandbox_image.as_deref().and_then(|s| index.find(s)) {
            mark(position, Use::Sandbox);
        }
        for (position, image) in self.images.iter().enumerate() {
            if image.pinned {
                mark(position, Use::Pinned);
            }
        }
        for reference in protected {
            if let Some(position) = index.find(reference) {
                mark(position, Use::Protected(reference.clone()));
            }
        }
        uses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, tags: &[&str], digests: &[&str]) -> ImageRecord {
        ImageRecord {
            id: id.to_owned(),
            repo_tags: tags.iter().map(|s| (*s).to_owned()).collect(),
            repo_digests: digests.iter().map(|s| (*s).to_owned()).collect(),
            size: 1,
            pinned: false,
        }
    }

    fn container(
        name: &str,
        image: &str,
        image_ref: &str,
        state: ContainerState,
    ) -> ContainerRecord {
        ContainerRecord {
            id: format!("id-{name}"),
            name: name.to_owned(),
            image: image.to_owned(),
            image_ref: image_ref.to_owned(),
            state,
        }
    }

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn every_container_state_and_both_fields_mark_images_in_use() {
        let snapshot = Snapshot {
            images: vec![
                image("sha256:a", &["docker.io/library/nginx:latest"], &[]),
                image("sha256:b", &["docker.io/library/redis:7"], &[]),
                image(
                    "sha256:c",
                    &["localhost/app:1"],
                    &[&format!("localhost/app@{DIGEST}")],
                ),
                image("sha256:d", &["registry.k8s.io/pause:3.9"], &[]),
                image("sha256:e", &["docker.io/library/unused:1"], &[]),
                image("sha256:f", &["ghcr.io/drydock-dev/drydock:0.1.0"], &[]),
                ImageRecord {
                    pinned: true,
                    ..image("sha256:g", &["docker.io/library/pinned:1"], &[])
                },
            ],
            containers: vec![
                container("web", "nginx", "", ContainerState::Running),
                container("cache", "", "sha256:b", ContainerState::Exited),
                container("job", DIGEST, "", ContainerState::Created),
            ],
            sandbox_image: Some("registry.k8s.io/pause:3.9".to_owned()),
        };
        let index = ImageIndex::new(&snapshot.images);
        let uses = snapshot.in_use(&index, &["ghcr.io/drydock-dev/drydock:0.1.0".to_owned()]);
        assert!(matches!(
            uses["sha256:a"],
            Use::Container {
                state: ContainerState::Running,
                ..
            }
        ));
        assert!(matches!(
            uses["sha256:b"],
            Use::Container {
                state: ContainerState::Exited,
                ..
            }
        ));
        assert!(matches!(
            uses["sha256:c"],
            Use::Container {
                state: ContainerState::Created,
                ..
            }
        ));
        assert_eq!(uses["sha256:d"], Use::Sandbox);
        assert!(!uses.contains_key("sha256:e"));
        assert!(matches!(uses["sha256:f"], Use::Protected(_)));
        assert_eq!(uses["sha256:g"], Use::Pinned);
        assert_eq!(uses.len(), 6);
    }

    #[test]
    fn pipe_record_strips_repositories_from_digests_and_dedups() {
        let record = image(
            "sha256:x",
            &["localhost/a:1"],
            &[
                &format!("localhost/a@{DIGEST}"),
                &format!("localhost/b@{DIGEST}"),
            ],
        );
        let pipe = record.to_pipe();
        assert_eq!(pipe.digests, vec![DIGEST.to_owned()]);
        assert_eq!(pipe.names, vec!["localhost/a:1".to_owned()]);
    }

    #[test]
    fn unknown_and_garbage_spellings_find_nothing() {
        let images = vec![image("sha256:a", &["docker.io/library/nginx:latest"], &[])];
        let index = ImageIndex::new(&images);
        assert_eq!(index.find("nginx:latest"), Some(0));
        assert_eq!(index.find("redis"), None);
        assert_eq!(index.find("!!"), None);
        assert_eq!(index.find(DIGEST), None);
    }
}
