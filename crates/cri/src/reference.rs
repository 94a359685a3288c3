//! Image references, parsed and normalised the way the Docker/OCI distribution rules do, so
//! that `nginx`, `library/nginx`, `docker.io/library/nginx:latest` and
//! `index.docker.io/library/nginx` are one image, and `myreg:5000/app` has a registry port, not
//! a tag.
//!
//! Rules: the first path component is a registry domain when it contains `.` or `:`, is
//! `localhost`, or has an upper-case letter; otherwise the domain is `docker.io`, and a
//! single-component name on `docker.io` gets `library/`. A tag follows the last `:` after the
//! last `/`; a digest follows `@`. Without tag and digest the tag is `latest`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";
/// Legacy Docker Hub domain, folded into [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// Namespace of Docker Hub's official images.
const OFFICIAL_NAMESPACE: &str = "library";
/// The implicit tag.
pub const DEFAULT_TAG: &str = "latest";
/// Longest tag the distribution spec allows.
const MAX_TAG_LEN: usize = 128;
/// Longest repository name (`domain/path`, normalised), from the distribution spec.
const MAX_NAME_LEN: usize = 255;
/// Longest input looked at: a maximal name, tag and sha512 digest fit well within it; anything
/// longer is rejected before any work is done on it.
const MAX_REFERENCE_LEN: usize = 1024;

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

// === impl Reference ===

impl Reference {
    /// Parses and normalises `input`.
    ///
    /// # Errors
    /// [`Error::Reference`] when the text is not a valid reference (a bare digest such as
    /// `sha256:…` is an image ID, not a reference: use [`is_digest`] first).
    pub fn parse(input: &str) -> Result<Self, Error> {
        let fail = |reason: &str| Error::Reference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(fail("empty"));
        }
        if input.len() > MAX_REFERENCE_LEN {
            return Err(fail("too long"));
        }
        if is_digest(input) {
            return Err(fail("a bare digest is an image ID, not a name"));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                if !is_digest(digest) {
                    return Err(fail(
                        "the part after @ is not a digest such as sha256:<64 hex>",
                    ));
                }
                (name, Some(digest.to_owned()))
            }
            None => (input, None),
        };
        let last_slash = name_and_tag.rfind('/');
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                let tag = &name_and_tag[colon + 1..];
                if !is_valid_tag(tag) {
                    return Err(fail(
                        "invalid tag (letters, digits, _ . - up to 128, not starting with . or -)",
                    ));
                }
                (&name_and_tag[..colon], Some(tag.to_owned()))
            }
            _ => (name_and_tag, None),
        };
        let (domain, path) = split_domain(name);
        if !is_valid_domain(&domain) {
            return Err(fail("invalid registry domain"));
        }
        if !is_valid_path(&path) {
            return Err(fail(
                "invalid repository path (lower-case letters, digits and . _ - separators)",
            ));
        }
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(fail("repository name longer than 255 characters"));
        }
        Ok(Self {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry domain, e.g. `docker.io` or `myreg:5000`.
    #[must_use]
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// `domain/path`, e.g. `docker.io/library/nginx`.
    #[must_use]
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if one was written (`latest` is implied only in [`fmt::Display`]).
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if one was written.
    #[must_use]
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        Self::parse(input)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        match (&self.tag, &self.digest) {
            (Some(tag), _) => write!(f, ":{tag}")?,
            (None, None) => write!(f, ":{DEFAULT_TAG}")?,
            (None, Some(_)) => {}
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits `name` into a normalised domain and path, following the distribution rules.
pub(crate) fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if looks_like_domain(first) => (first.to_owned(), rest.to_owned()),
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    let domain = if domain == DOCKER_HUB_LEGACY {
        DOCKER_HUB.to_owned()
    } else {
        domain
    };
    let path = if domain == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL_NAMESPACE}/{path}")
    } else {
        path
    };
    (domain, path)
}

/// True when the first path component names a registry rather than a namespace.
pub(crate) fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

/// True for `algorithm:hex` digests (`sha256` needs 64 lower-case hex digits, `sha512` 128;
/// other algorithms at least 32 characters of `[A-Za-z0-9=_-]`).
#[must_use]
pub fn is_digest(text: &str) -> bool {
    let Some((algorithm, encoded)) = text.split_once(':') else {
        return false;
    };
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match algorithm {
        "sha256" => encoded.len() == 64 && lower_hex(encoded),
        "sha512" => encoded.len() == 128 && lower_hex(encoded),
        _ => {
            !algorithm.is_empty()
                && algorithm
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && encoded.len() >= 32
                && encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
        }
    }
}

fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    tag.len() <= MAX_TAG_LEN
        && (first.is_ascii_alphanumeric() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn is_valid_domain(domain: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = domain.strip_prefix('[') {
        // An IPv6 literal such as [::1]:5000.
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        let address_ok =
            !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (address_ok, port)
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (is_valid_host(host), Some(port)),
            None => (is_valid_host(domain), None),
        }
    };
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
    });
    host_ok && port_ok
}

fn is_valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn is_valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|component| {
            let bytes = component.as_bytes();
            let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
            !bytes.is_empty()
                && bytes.first().is_some_and(alnum)
                && bytes.last().is_some_and(alnum)
                && bytes.iter().all(|b| alnum(b) || b"._-".contains(b))
                // Separators: one '.', one or two '_', or any run of '-'.
                && !component.contains("..")
                && !component.contains("___")
                && !component.contains("._")
                && !component.contains("_.")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767";

    fn norm(input: &str) -> String {
        Reference::parse(input).unwrap().to_string()
    }

    #[test]
    fn short_names_normalise_to_docker_hub() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("library/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            norm("index.docker.io/library/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(norm("bitnami/redis:7"), "docker.io/bitnami/redis:7");
    }

    #[test]
    fn registries_ports_and_digests() {
        assert_eq!(norm("myreg:5000/app"), "myreg:5000/app:latest");
        assert_eq!(norm("myreg:5000/team/app:v2"), "myreg:5000/team/app:v2");
        assert_eq!(norm("localhost/test/busybox:1"), "localhost/test/busybox:1");
        assert_eq!(
            norm("127.0.0.1:5055/test/busybox:2"),
            "127.0.0.1:5055/test/busybox:2"
        );
        assert_eq!(norm("[::1]:5000/app:1"), "[::1]:5000/app:1");
        assert_eq!(
            norm(&format!("nginx@{D}")),
            format!("docker.io/library/nginx@{D}")
        );
        assert_eq!(
            norm(&format!("nginx:1@{D}")),
            format!("docker.io/library/nginx:1@{D}")
        );
        let r = Reference::parse("myreg:5000/app").unwrap();
        assert_eq!((r.domain(), r.tag()), ("myreg:5000", None));
        assert_eq!(r.repository(), "myreg:5000/app");
    }

    #[test]
    fn garbage_is_rejected_with_the_input_named() {
        for bad in [
            "",
            "app/UPPER",
            "nginx:",
            "nginx:-bad",
            "a//b",
            "nginx@sha256:abc",
            D,
            "ngi nx",
            "-x",
            "x:1:2",
            "reg:port/app",
            "a/b_.c",
        ] {
            let err = Reference::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid image reference {bad:?}")),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn long_names_are_limited_after_normalisation_so_normal_forms_reparse() {
        let path = "a".repeat(MAX_NAME_LEN - "docker.io/library/".len());
        let longest = Reference::parse(&path).unwrap();
        assert_eq!(longest.repository().len(), MAX_NAME_LEN);
        assert_eq!(
            Reference::parse(&longest.to_string()).unwrap().to_string(),
            longest.to_string()
        );
        let err = Reference::parse(&format!("{path}b"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than 255"), "{err}");
        assert!(Reference::parse(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn digests_are_recognised_strictly() {
        assert!(is_digest(D));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&D.to_uppercase()));
        assert!(!is_digest("nginx"));
    }

    proptest! {
        #[test]
        fn never_panics_and_normal_form_is_a_fixed_point(input in "[a-zA-Z0-9:/@._\\-\\[\\]]{0,40}") {
            if let Ok(reference) = Reference::parse(&input) {
                let once = reference.to_string();
                prop_assert_eq!(Reference::parse(&once).unwrap().to_string(), once);
            }
        }
    }
}
