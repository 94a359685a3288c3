//! Building the Kubernetes client.
//!
//! Only the ring crypto provider is linked (kube's `ring` feature, rustls with `ring`); reqwest
//! is built with `rustls-no-provider`. With exactly one provider rustls could pick it by
//! itself, but a second one entering the graph later would make every TLS client panic at
//! construction, so each `main` installs ring explicitly, first thing ([`install_crypto_provider`]).

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::{Error, Result};

/// Installs ring as the process-wide rustls crypto provider. Idempotent: a second call (or a
/// provider installed by someone else first) is not an error.
pub fn install_crypto_provider() {
    // `Err` only means a provider is already installed, which is what we want.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// A client for the pod's service account (in a cluster) or the kubeconfig (`KUBECONFIG`, then
/// `~/.kube/config`), the way `kubectl` finds it; or for the kubeconfig at `kubeconfig` when
/// given.
///
/// # Errors
///
/// No configuration is found, it does not parse, or the client cannot be built from it.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client> {
    install_crypto_provider();
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    kube::Client::try_from(without_resends(config)).map_err(Error::Client)
}

/// `config` with kube's default retry layer off. That layer re-sends any request answered
/// 429, 503 or 504, POSTs included; after a 503 or 504 the API server may have acted already
/// ("may still be processing the request"), so a re-sent pod creation (worker pods have a
/// `generateName`) makes a second worker pod on the node, a re-sent Event a second Event.
/// Every caller retries on its own terms instead (controllers requeue the whole pass, after
/// their caches show what the first attempt did; the reboot daemon's loop runs again).
fn without_resends(mut config: kube::Config) -> kube::Config {
    config.default_retry = false;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kubeconfig_pointing_nowhere_still_builds_a_client() {
        let dir = std::env::temp_dir().join(format!("drydock-kube-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
        )
        .unwrap();
        let client = client(Some(&path)).await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(client.map_err(|e| e.to_string()).is_ok());
    }

    #[test]
    fn requests_are_never_resent_behind_the_callers_back() {
        let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        assert!(
            config.default_retry,
            "kube's default: re-send on 429/503/504"
        );
        assert!(!without_resends(config).default_retry);
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_is_a_config_error_naming_the_file() {
        let Err(err) = client(Some(Path::new("/nonexistent/kubeconfig"))).await else {
            panic!("a missing kubeconfig must fail");
        };
        assert!(matches!(err, Error::Config(ref m) if m.contains("/nonexistent/kubeconfig")));
    }
}
