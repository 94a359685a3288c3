//! Content digests and platforms.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::{Error, Result};

/// Hex digits of a sha256 digest.
const SHA256_HEX_LEN: usize = 64;
/// Hex digits of a sha512 digest.
const SHA512_HEX_LEN: usize = 128;

/// A validated content digest, `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase. Validation
/// matters beyond tidiness: a digest becomes a path (`blobs/sha256/<hex>`), so nothing but hex
/// may reach the filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// A hash algorithm this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha256,
    Sha512,
}

/// An OS/architecture pair (with optional variant) used to pick a manifest from an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct Platform {
    /// `GOOS`-style OS, e.g. `linux`.
    pub os: String,
    /// `GOARCH`-style architecture, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// CPU variant, e.g. `v8` for arm64; `None` matches any.
    #[serde(default)]
    pub variant: Option<String>,
}

// === impl Digest ===

impl Digest {
    /// Parses and validates `algorithm:hex`.
    ///
    /// # Errors
    /// [`Error::InvalidDigest`] for another algorithm, a wrong length or non-lowercase-hex.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidDigest {
            input: input.chars().take(200).collect(),
            reason,
        };
        let (algorithm, hex) = input
            .split_once(':')
            .ok_or_else(|| invalid("missing ':'"))?;
        let len = match algorithm {
            "sha256" => SHA256_HEX_LEN,
            "sha512" => SHA512_HEX_LEN,
            _ => return Err(invalid("algorithm is neither sha256 nor sha512")),
        };
        if hex.len() != len {
            return Err(invalid("wrong length"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("not lowercase hex"));
        }
        Ok(Digest(input.to_owned()))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Digest(format!("sha256:{}", hex(&sha2::Sha256::digest(bytes))))
    }

    /// The whole digest, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm part, `sha256` or `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    pub(crate) fn kind(&self) -> Algorithm {
        if self.algorithm() == "sha512" {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Digest::parse(s)
    }
}

/// The chain IDs of a layer stack given its diff IDs, lowest first: the first layer's chain ID
/// is its diff ID, and each next one is the sha256 of the text `<chain ID below> <diff ID>`
/// (the OCI image spec's ChainID). containerd names each committed snapshot of an unpacked
/// image by its chain ID.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chain: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(below) => Digest::sha256_of(format!("{below} {diff_id}").as_bytes()),
        };
        chain.push(next);
    }
    chain
}

/// Lowercase hex of `bytes` (digests, tokens).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

// === impl Platform ===

impl Platform {
    /// `linux/amd64`, the default.
    pub fn linux_amd64() -> Self {
        Platform {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }
    }

    /// Whether an index entry (or image config) for `other` can run as `self`. A missing
    /// variant on either side matches any variant.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform::linux_amd64()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::InvalidPlatform {
            input: s.to_owned(),
        };
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty()).ok_or_else(invalid)?;
        let architecture = parts.next().filter(|p| !p.is_empty()).ok_or_else(invalid)?;
        let variant = parts.next().map(str::to_owned);
        if parts.next().is_some() || variant.as_deref() == Some("") {
            return Err(invalid());
        }
        Ok(Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_accepts_sha256_and_rejects_path_like_input() {
        let ok = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(Digest::parse(&ok).unwrap().hex(), "ab".repeat(32));
        for bad in [
            "sha256:../../etc/passwd",
            "md5:abcd",
            "sha256:ABCD",
            "nocolon",
            &format!("sha256:{}", "AB".repeat(32)),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        use sha2::Digest as _;
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let c = format!("sha256:{}", "c".repeat(64));
        let ids: Vec<Digest> = [&a, &b, &c]
            .iter()
            .map(|d| Digest::parse(d).unwrap())
            .collect();
        let sha = |text: String| format!("sha256:{}", hex(&sha2::Sha256::digest(text.as_bytes())));
        let second = sha(format!("{a} {b}"));
        let third = sha(format!("{second} {c}"));
        let chain: Vec<String> = chain_ids(&ids).iter().map(ToString::to_string).collect();
        assert_eq!(chain, [a.clone(), second, third]);
        assert_eq!(chain_ids(&ids[..1])[0].as_str(), a);
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn platform_parses_and_matches_missing_variant_as_any() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(p.matches(&"linux/arm64".parse().unwrap()));
        assert!(!p.matches(&"linux/arm64/v7".parse().unwrap()));
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
    }
}
