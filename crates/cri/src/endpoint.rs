//! Runtime endpoints as kubelet and Eraser write them: `unix:///run/containerd/containerd.sock`,
//! or a bare absolute path (deprecated in kubelet, still common in scripts). `tcp://` is refused:
//! Eraser accepts it but then mounts only the URL path, so it can never have worked.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::Error;

/// containerd's default CRI socket.
pub const DEFAULT_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";

/// A CRI endpoint: always a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    path: PathBuf,
}

// === impl Endpoint ===

impl Endpoint {
    /// The socket path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let fail = |reason| Error::Endpoint {
            input: input.to_owned(),
            reason,
        };
        let path = if let Some(rest) = input.strip_prefix("unix://") {
            rest
        } else if input.contains("://") {
            return Err(fail("only unix:// sockets are supported"));
        } else {
            input
        };
        if path.is_empty() {
            return Err(fail("the socket path is empty"));
        }
        if !path.starts_with('/') {
            return Err(fail("the socket path must be absolute"));
        }
        Ok(Self {
            path: PathBuf::from(path),
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unix://{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unix_urls_and_bare_paths() {
        let e: Endpoint = "unix:///run/containerd/containerd.sock".parse().unwrap();
        assert_eq!(e.path(), Path::new("/run/containerd/containerd.sock"));
        assert_eq!(e.to_string(), DEFAULT_ENDPOINT);
        let e: Endpoint = "/run/k3s/containerd/containerd.sock".parse().unwrap();
        assert_eq!(e.to_string(), "unix:///run/k3s/containerd/containerd.sock");
    }

    #[test]
    fn refuses_other_schemes_and_relative_paths() {
        for bad in [
            "tcp://127.0.0.1:1234",
            "http://x",
            "",
            "unix://",
            "unix://relative.sock",
            "run/x.sock",
        ] {
            let err = bad.parse::<Endpoint>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid runtime endpoint {bad:?}")),
                "{err}"
            );
        }
    }
}
