//! When the runtime created each image: containerd's image records (`Images.List` of its own
//! API, served on the same socket as CRI) carry a `created_at` that CRI's `ListImages` does not
//! report. containerd keeps one record per name of an image: each tag, each repo digest and,
//! for images the CRI plugin pulled, the ID itself (`sha256:<config digest>`). A record is
//! created when the name first appears (a pull or an import) and keeps that time across
//! re-pulls of the same content.
//!
//! This module reads those records and joins them to CRI's image list by name; it decides
//! nothing about what is old enough.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::ImageRecord;

/// The generated images protocol (`proto/images.proto`, only `List`).
#[allow(missing_docs, clippy::all, clippy::pedantic)] // generated code: not ours to document or lint
pub mod proto {
    tonic::include_proto!("containerd.services.images.v1");
}

/// One of containerd's image records: a name and when it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRecord {
    /// The record's name: a reference (`docker.io/library/nginx:1`, `…@sha256:…`) or an ID.
    pub name: String,
    /// When containerd created the record.
    pub created: Timestamp,
}

/// Converts the wire records; a record without a valid `created_at` is left out (its image is
/// then dated by its other names, or not at all).
#[must_use]
pub fn from_wire(images: Vec<proto::Image>) -> Vec<NamedRecord> {
    images
        .into_iter()
        .filter_map(|image| {
            let at = image.created_at?;
            let created = Timestamp::new(at.seconds, at.nanos).ok()?;
            Some(NamedRecord {
                name: image.name,
                created,
            })
        })
        .collect()
}

/// When each image (by CRI ID) was created: the **newest** record among its names (its ID, tags
/// and repo digests). The newest, because a name added a moment ago (a new tag pulled for a pod
/// that has not started yet) is what a minimum age must protect, even when other names of the
/// same content are old. Images with no record are absent from the map.
#[must_use]
pub fn creation_times(
    images: &[ImageRecord],
    records: &[NamedRecord],
) -> HashMap<String, Timestamp> {
    let by_name: HashMap<&str, Timestamp> = records
        .iter()
        .map(|record| (record.name.as_str(), record.created))
        .collect();
    images
        .iter()
        .filter_map(|image| {
            let newest = std::iter::once(&image.id)
                .chain(&image.repo_tags)
                .chain(&image.repo_digests)
                .filter_map(|name| by_name.get(name.as_str()).copied())
                .max()?;
            Some((image.id.clone(), newest))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn record(name: &str, seconds: i64) -> NamedRecord {
        NamedRecord {
            name: name.to_owned(),
            created: at(seconds),
        }
    }

    #[test]
    fn an_image_is_as_new_as_its_newest_name() {
        let images = vec![
            ImageRecord {
                id: "sha256:aa".into(),
                repo_tags: vec![
                    "docker.io/library/a:1".into(),
                    "docker.io/library/a:2".into(),
                ],
                repo_digests: vec!["docker.io/library/a@sha256:11".into()],
                ..ImageRecord::default()
            },
            ImageRecord {
                id: "sha256:bb".into(),
                repo_tags: vec!["docker.io/library/b:1".into()],
                ..ImageRecord::default()
            },
            ImageRecord {
                id: "sha256:cc".into(),
                repo_tags: vec!["docker.io/library/unrecorded:1".into()],
                ..ImageRecord::default()
            },
        ];
        let records = vec![
            record("sha256:aa", 100),
            record("docker.io/library/a:1", 100),
            record("docker.io/library/a@sha256:11", 100),
            record("docker.io/library/a:2", 5_000),
            record("docker.io/library/b:1", 300),
            record("docker.io/library/other:1", 9_000),
        ];
        let times = creation_times(&images, &records);
        assert_eq!(times.get("sha256:aa"), Some(&at(5_000)));
        assert_eq!(times.get("sha256:bb"), Some(&at(300)));
        assert_eq!(times.get("sha256:cc"), None);
        assert_eq!(times.len(), 2);
    }

    #[test]
    fn records_without_a_valid_time_are_left_out() {
        let wire = vec![
            proto::Image {
                name: "a".into(),
                created_at: Some(proto::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 5,
                }),
                ..proto::Image::default()
            },
            proto::Image {
                name: "no-time".into(),
                ..proto::Image::default()
            },
            proto::Image {
                name: "garbage".into(),
                created_at: Some(proto::Timestamp {
                    seconds: i64::MAX,
                    nanos: -1,
                }),
                ..proto::Image::default()
            },
        ];
        let records = from_wire(wire);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].name, "a");
        assert_eq!(
            records[0].created,
            Timestamp::new(1_700_000_000, 5).unwrap()
        );
    }
}
