//! The Image Cleaner's admin commands end to end: `drydock image-cleaner enable | status | run |
//! disable` against a real API server, which checks what the mocks cannot: the rendered objects
//! are accepted by server-side apply, a re-enable keeps a configuration someone else edited,
//! and disable keeps it. Run with `DRYDOCK_E2E_KUBECONFIG` set:
//! `cargo test -p drydock-e2e -- --ignored`.
//!
//! The manager's namespace is the test's own; the cluster-scoped objects (CRDs, the manager's
//! ClusterRole and ClusterRoleBinding) are shared by name with any other install, so the
//! cluster must be dedicated to the tests, as for the other suites. No manager pod needs to run
//! (a bare control plane has no controllers): only the objects are checked.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test, with its backtrace"
)]

use std::process::{Command, Output};

use drydock_api::names::{self, state};
use drydock_e2e::{TestNamespace, client, drydock_bin, kubeconfig, kubectl};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

/// An operator's edit of the configuration, as `kubectl edit` would make it.
const EDITOR: &str = "kubectl-edit";

fn drydock(namespace: &str, args: &[&str]) -> Output {
    let config = kubeconfig().unwrap();
    let output = Command::new(drydock_bin())
        .args(args)
        .args(["--namespace", namespace, "--log-format", "text"])
        .arg("--kubeconfig")
        .arg(&config)
        .output()
        .unwrap();
    eprintln!(
        "drydock {}: {}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn succeeds(namespace: &str, args: &[&str]) -> String {
    let output = drydock(namespace, args);
    assert!(output.status.success(), "drydock {args:?} failed");
    String::from_utf8(output.stdout).unwrap()
}

async fn config_text(client: &Client, namespace: &str) -> String {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = cms.get(names::MANAGER_CONFIGMAP).await.unwrap();
    cm.data.unwrap()[names::MANAGER_CONFIG_KEY].clone()
}

#[tokio::test]
#[ignore = "needs a cluster: set DRYDOCK_E2E_KUBECONFIG"]
async fn enable_keeps_an_edited_config_run_asks_for_a_run_and_disable_keeps_the_config() {
    let client = client().await.unwrap();
    let test = TestNamespace::create(&client, "ic-admin").await.unwrap();
    let ns = test.name().to_owned();

    // A bad interval is refused before any call.
    let output = drydock(&ns, &["image-cleaner", "enable", "--interval-hours", "12"]);
    assert_eq!(output.status.code(), Some(2));

    // Enable: every object is accepted by the API server.
    let out = succeeds(&ns, &["image-cleaner", "enable", "--interval-hours", "48"]);
    assert!(out.contains("applied Deployment"), "{out}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = deployments.get(names::MANAGER_DEPLOYMENT).await.unwrap();
    assert_eq!(deployment.spec.unwrap().replicas, Some(1));
    Api::<Service>::namespaced(client.clone(), &ns)
        .get(state::MANAGER_SERVICE)
        .await
        .unwrap();
    Api::<Role>::namespaced(client.clone(), &ns)
        .get("eraser-manager-role")
        .await
        .unwrap();
    let worker = Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .get(names::WORKER_SERVICE_ACCOUNT)
        .await
        .unwrap();
    assert_eq!(worker.automount_service_account_token, Some(false));
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    for binding in bindings.items {
        for subject in binding.subjects.unwrap_or_default() {
            assert_ne!(subject.name, names::WORKER_SERVICE_ACCOUNT);
        }
    }
    let text = config_text(&client, &ns).await;
    assert!(text.contains("repeatInterval: 48h"), "{text}");
    // The spec's version check: `kubectl describe configmap -n <ns> eraser-manager-config |
    // grep tag -C 3` shows the component image tags.
    let described = kubectl(
        &["describe", "configmap", "-n", &ns, names::MANAGER_CONFIGMAP],
        "",
        &[],
    )
    .await
    .unwrap();
    let tags = described.lines().filter(|l| l.contains("tag:")).count();
    assert!(
        tags >= 3,
        "collector, scanner and remover tags: {described}"
    );

    // Someone edits the configuration; a plain re-enable keeps it byte for byte.
    let edited = text.replace(
        "    - eraser.sh/cleanup.filter",
        "    - eraser.sh/cleanup.filter\n    - pool=gpu",
    );
    assert_ne!(edited, text, "the edit must change something: {text}");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"data": {names::MANAGER_CONFIG_KEY: edited}});
    let params = PatchParams {
        field_manager: Some(EDITOR.to_owned()),
        ..PatchParams::default()
    };
    cms.patch(names::MANAGER_CONFIGMAP, &params, &Patch::Merge(&patch))
        .await
        .unwrap();
    succeeds(&ns, &["image-cleaner", "enable"]);
    assert_eq!(config_text(&client, &ns).await, edited);

    // A new interval changes only the interval.
    succeeds(&ns, &["image-cleaner", "enable", "--interval-hours", "72"]);
    let text = config_text(&client, &ns).await;
    assert!(text.contains("repeatInterval: 72h"), "{text}");
    assert!(text.contains("pool=gpu"), "{text}");

    // Status for machines; run sets the request.
    let status: Value =
        serde_json::from_str(&succeeds(&ns, &["image-cleaner", "status", "-o", "json"])).unwrap();
    assert_eq!(status["enabled"], json!(true));
    assert_eq!(status["interval"], json!("72h0m0s"));
    succeeds(&ns, &["image-cleaner", "run"]);
    let state_cm = cms.get(state::STATE_CONFIGMAP).await.unwrap();
    assert!(
        state_cm
            .metadata
            .annotations
            .unwrap()
            .contains_key(state::RUN_REQUESTED_ANNOTATION)
    );
    let history = succeeds(&ns, &["image-cleaner", "history"]);
    assert_eq!(history, "no finished run recorded\n");

    // Disable removes the manager, keeps the configuration, and can be repeated.
    succeeds(&ns, &["image-cleaner", "disable"]);
    assert!(
        deployments
            .get_opt(names::MANAGER_DEPLOYMENT)
            .await
            .unwrap()
            .is_none()
    );
    assert!(config_text(&client, &ns).await.contains("pool=gpu"));
    let again = succeeds(&ns, &["image-cleaner", "disable"]);
    assert!(again.contains("already absent"), "{again}");
    let output = drydock(&ns, &["image-cleaner", "run"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("disabled"));

    // The cluster-scoped grants point at this namespace's account: remove them with it.
    let _gone = Api::<ClusterRoleBinding>::all(client.clone())
        .delete("eraser-manager-rolebinding", &DeleteParams::default())
        .await;
    let _gone = Api::<ClusterRole>::all(client.clone())
        .delete("eraser-manager-role", &DeleteParams::default())
        .await;
    test.cleanup().await.unwrap();
}
