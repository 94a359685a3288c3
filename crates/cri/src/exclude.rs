//! Exclusion patterns: images that are never removed.
//!
//! Four forms, all matched on **normalised** references (so `nginx` excludes
//! `docker.io/library/nginx:latest`), against an image's ID, every repo tag and every repo
//! digest:
//!
//! | pattern | matches |
//! |---|---|
//! | `*` | every image |
//! | `repo/*` | every image whose repository lies under `repo/` (path boundary respected) |
//! | `repo:*` | every tag and digest of exactly `repo` (a registry port is not a tag) |
//! | anything else | that exact reference, image ID or digest (`sha256:…`, `repo@sha256:…`) |
//!
//! Eraser compared raw strings: `docker.io/library/alpine:*` also matched `alpine-foo`, a
//! registry port cut `myreg:5000/app:*` down to `myreg`, and `nginx` never matched
//! `docker.io/library/nginx:latest`. Those are fixed here.

use crate::reference::{DOCKER_HUB, Reference, is_digest, looks_like_domain};
use crate::{Error, ImageRecord, Result};

/// One parsed exclusion pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `*`: everything.
    All,
    /// `repo/*`: the normalised repository prefix including the trailing `/`.
    Under(String),
    /// `repo:*`: the normalised repository.
    AnyTagOf(String),
    /// An exact reference.
    Exact(Reference),
    /// An image ID or bare digest.
    Digest(String),
}

/// A set of patterns, each remembered with the text it was written as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExclusionSet {
    patterns: Vec<(Pattern, String)>,
}

// === impl Pattern ===

impl Pattern {
    /// Parses one pattern; `source_name` names the file or flag in errors.
    ///
    /// # Errors
    /// [`Error::Pattern`] for an empty pattern, a wildcard anywhere but the forms above, or an
    /// invalid reference.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let fail = |reason: String| Error::Pattern {
            pattern: text.to_owned(),
            source_name: source_name.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(fail("empty pattern".to_owned()));
        }
        if trimmed == "*" {
            return Ok(Self::All);
        }
        if let Some(prefix) = trimmed.strip_suffix("/*") {
            check_no_wildcard(prefix).map_err(fail)?;
            return repository_prefix(prefix).map(Self::Under).map_err(fail);
        }
        if let Some(repository) = trimmed.strip_suffix(":*") {
            check_no_wildcard(repository).map_err(fail)?;
            let reference = Reference::parse(repository).map_err(|e| fail(e.to_string()))?;
            if reference.tag().is_some() || reference.digest().is_some() {
                return Err(fail(
                    "`repo:*` takes a repository without tag or digest".to_owned(),
                ));
            }
            return Ok(Self::AnyTagOf(reference.repository()));
        }
        check_no_wildcard(trimmed).map_err(fail)?;
        if is_digest(trimmed) {
            return Ok(Self::Digest(trimmed.to_owned()));
        }
        Reference::parse(trimmed)
            .map(Self::Exact)
            .map_err(|e| fail(e.to_string()))
    }

    /// True when the pattern matches the image.
    #[must_use]
    pub fn matches(&self, image: &ImageRecord) -> bool {
        let references = || {
            image
                .repo_tags
                .iter()
                .chain(&image.repo_digests)
                .filter_map(|r| Reference::parse(r).ok())
        };
        match self {
            Self::All => true,
            Self::Under(prefix) => {
                references().any(|r| r.repository().starts_with(prefix.as_str()))
            }
            Self::AnyTagOf(repository) => references().any(|r| r.repository() == *repository),
            Self::Digest(digest) => {
                image.id == *digest || image.bare_digests().iter().any(|d| d == digest)
            }
            Self::Exact(wanted) => references().any(|have| match wanted.digest() {
                Some(digest) => {
                    have.repository() == wanted.repository() && have.digest() == Some(digest)
                }
                None => have.digest().is_none() && have.to_string() == wanted.to_string(),
            }),
        }
    }
}

fn check_no_wildcard(text: &str) -> std::result::Result<(), String> {
    if text.contains('*') {
        Err("`*` is only allowed alone, as `repo/*` or as `repo:*`".to_owned())
    } else {
        Ok(())
    }
}

/// Normalises the part before `/*`: a registry alone (`gcr.io`), or a registry or Docker Hub
/// namespace path (`docker.io/library`, `library`, `myreg:5000/team`). No `library/` is added:
/// the user wrote a prefix, not an image name.
fn repository_prefix(prefix: &str) -> std::result::Result<String, String> {
    let first = prefix.split('/').next().unwrap_or_default();
    let normalised = if looks_like_domain(first) {
        let rest = &prefix[first.len()..];
        let domain = if first == "index.docker.io" {
            DOCKER_HUB
        } else {
            first
        };
        format!("{domain}{rest}")
    } else {
        format!("{DOCKER_HUB}/{prefix}")
    };
    // Validate by parsing as a repository with a dummy last component.
    Reference::parse(&format!("{normalised}/x")).map_err(|e| e.to_string())?;
    Ok(format!("{normalised}/"))
}

// === impl ExclusionSet ===

impl ExclusionSet {
    /// Parses every pattern; `source_name` names where they came from.
    ///
    /// # Errors
    /// The first invalid pattern, as [`Error::Pattern`].
    pub fn parse<'a>(
        patterns: impl IntoIterator<Item = &'a str>,
        source_name: &str,
    ) -> Result<Self> {
        let mut set = Self::default();
        set.extend(patterns, source_name)?;
        Ok(set)
    }

    /// Adds more patterns.
    ///
    /// # Errors
    /// The first invalid pattern, as [`Error::Pattern`]; nothing is added then.
    pub fn extend<'a>(
        &mut self,
        patterns: impl IntoIterator<Item = &'a str>,
        source_name: &str,
    ) -> Result<()> {
        let parsed = patterns
            .into_iter()
            .map(|text| Pattern::parse(text, source_name).map(|p| (p, text.to_owned())))
            .collect::<Result<Vec<_>>>()?;
        self.patterns.extend(parsed);
        Ok(())
    }

    /// The text of the first pattern that matches the image.
    #[must_use]
    pub fn matching(&self, image: &ImageRecord) -> Option<&str> {
        self.patterns
            .iter()
            .find(|(pattern, _)| pattern.matches(image))
            .map(|(_, text)| text.as_str())
    }

    /// Number of patterns.
    #[must_use]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// True when there are no patterns.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn image(id: &str, tags: &[&str], digests: &[&str]) -> ImageRecord {
        ImageRecord {
            id: id.to_owned(),
            repo_tags: tags.iter().map(|s| (*s).to_owned()).collect(),
            repo_digests: digests.iter().map(|s| (*s).to_owned()).collect(),
            ..ImageRecord::default()
        }
    }

    fn excluded(pattern: &str, image: &ImageRecord) -> bool {
        Pattern::parse(pattern, "test").unwrap().matches(image)
    }

    #[test]
    fn exact_patterns_match_normalised_references() {
        let nginx = image("sha256:a", &["docker.io/library/nginx:latest"], &[]);
        assert!(excluded("nginx", &nginx));
        assert!(excluded("nginx:latest", &nginx));
        assert!(excluded("docker.io/library/nginx:latest", &nginx));
        assert!(!excluded("nginx:1.25", &nginx));
    }

    #[test]
    fn prefix_patterns_respect_path_boundaries() {
        let alpine = image("sha256:a", &["docker.io/library/alpine:3.7.3"], &[]);
        let alpine_foo = image("sha256:b", &["docker.io/library/alpine-foo:1"], &[]);
        let team = image("sha256:c", &["myreg:5000/team/app:v1"], &[]);
        assert!(excluded("docker.io/library/*", &alpine));
        assert!(excluded("library/*", &alpine));
        assert!(excluded("docker.io/*", &alpine));
        assert!(!excluded("docker.io/lib/*", &alpine));
        assert!(excluded("myreg:5000/*", &team));
        assert!(excluded("myreg:5000/team/*", &team));
        assert!(!excluded("myreg:5001/*", &team));
        assert!(!excluded("myreg/*", &team));
        assert!(excluded("docker.io/library/alpine:*", &alpine));
        assert!(excluded("alpine:*", &alpine));
        assert!(
            !excluded("docker.io/library/alpine:*", &alpine_foo),
            "Eraser's prefix bug"
        );
    }

    #[test]
    fn registry_ports_are_not_tags() {
        let app = image("sha256:a", &["myreg:5000/app:v2"], &[]);
        let other = image("sha256:b", &["myreg:5000/other:v2"], &[]);
        assert!(excluded("myreg:5000/app:*", &app));
        assert!(
            !excluded("myreg:5000/app:*", &other),
            "Eraser cut this pattern down to `myreg`"
        );
        assert!(excluded("myreg:5000/app:v2", &app));
        assert!(!excluded("myreg:5000/app", &app), "no tag means :latest");
    }

    #[test]
    fn digest_patterns_match_ids_bare_and_repository_digests() {
        let img = image(
            "sha256:id",
            &["localhost/test/dig:1"],
            &[&format!("localhost/test/dig@{D1}")],
        );
        assert!(excluded(D1, &img));
        assert!(excluded(&format!("localhost/test/dig@{D1}"), &img));
        assert!(!excluded(&format!("localhost/test/other@{D1}"), &img));
        assert!(!excluded(D2, &img));
        let by_id = image(D2, &[], &[]);
        assert!(excluded(D2, &by_id));
    }

    #[test]
    fn star_matches_everything() {
        assert!(excluded("*", &image("sha256:a", &[], &[])));
    }

    #[test]
    fn bad_patterns_name_the_source() {
        for bad in [
            "",
            "ngi*nx",
            "*/foo",
            "docker.io/*/x/*",
            "UPPER:*",
            "nginx:1:*",
            "repo:*:*",
        ] {
            let err = Pattern::parse(bad, "exclude-excluded/sample.json")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("exclude-excluded/sample.json"),
                "{bad:?}: {err}"
            );
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
    }

    #[test]
    fn set_reports_the_first_matching_pattern_text() {
        let set = ExclusionSet::parse(["redis", "docker.io/library/*"], "flags").unwrap();
        let nginx = image("sha256:a", &["docker.io/library/nginx:latest"], &[]);
        assert_eq!(set.matching(&nginx), Some("docker.io/library/*"));
        assert_eq!(
            set.matching(&image("sha256:b", &["quay.io/x/y:1"], &[])),
            None
        );
        assert_eq!(set.len(), 2);
    }
}
