//! The committed manifests under `deploy/` are exactly what `drydock manifests` renders, every
//! document is a valid object of its kind, and the RBAC keeps its least-privilege shape.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

use std::process::Command;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

const REGENERATE: &str = "run `scripts/render-manifests.sh` (or `drydock manifests <kind> > <file>`) and commit the result";

fn drydock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(args)
        .output()
        .expect("drydock runs")
}

fn render(args: &[&str]) -> String {
    let output = drydock(args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn committed(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}; {REGENERATE}"))
}

fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text).unwrap()
}

/// Parses `doc` as `T` and checks nothing was lost (a misspelt field would vanish).
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) {
    let typed: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", doc["kind"]));
    assert_eq!(
        &serde_json::to_value(typed).unwrap(),
        doc,
        "{} {} changes when parsed",
        doc["kind"],
        doc["metadata"]["name"]
    );
}

fn check_types(text: &str) {
    for doc in documents(text) {
        match doc["kind"].as_str().unwrap() {
            "CustomResourceDefinition" => round_trips::<CustomResourceDefinition>(&doc),
            "Namespace" => round_trips::<Namespace>(&doc),
            "ServiceAccount" => round_trips::<ServiceAccount>(&doc),
            "ClusterRole" => round_trips::<ClusterRole>(&doc),
            "ClusterRoleBinding" => round_trips::<ClusterRoleBinding>(&doc),
            "Role" => round_trips::<Role>(&doc),
            "RoleBinding" => round_trips::<RoleBinding>(&doc),
            "ConfigMap" => round_trips::<ConfigMap>(&doc),
            "Deployment" => round_trips::<Deployment>(&doc),
            "Service" => round_trips::<Service>(&doc),
            "DaemonSet" => round_trips::<DaemonSet>(&doc),
            other => panic!("unexpected kind {other}"),
        }
    }
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn committed_manifests_match_the_rendered_ones() {
    for (kind, path) in [
        ("image-cleaner", "deploy/manifests/image-cleaner.yaml"),
        ("reboot", "deploy/manifests/reboot.yaml"),
    ] {
        assert!(
            render(&["manifests", kind]) == committed(path),
            "{path} is stale: {REGENERATE}"
        );
    }
    assert_eq!(
        render(&["manifests", "all"]),
        render(&["manifests", "image-cleaner"]) + &render(&["manifests", "reboot"])
    );
}

#[test]
fn every_committed_document_is_a_valid_object_of_its_kind() {
    for path in [
        "deploy/manifests/image-cleaner.yaml",
        "deploy/manifests/reboot.yaml",
        "deploy/crds/eraser.sh.yaml",
    ] {
        check_types(&committed(path));
    }
    check_types(&render(&[
        "manifests",
        "all",
        "--namespace",
        "eraser-system",
    ]));
}

#[test]
fn the_worker_account_is_bound_to_nothing_and_pods_are_granted_only_in_one_namespace() {
    let docs = documents(&render(&["manifests", "all"]));
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for binding in of_kind(&docs, kind) {
            for subject in binding["subjects"].as_array().unwrap() {
                assert_ne!(subject["name"], "eraser-imagejob-pods", "{binding}");
                assert_eq!(subject["namespace"], "kube-system");
            }
        }
    }
    let manager_role = of_kind(&docs, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "eraser-manager-role")
        .unwrap();
    assert_eq!(manager_role["metadata"]["namespace"], "kube-system");
    for role in of_kind(&docs, "ClusterRole") {
        for rule in role["rules"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                assert!(
                    !["configmaps", "secrets", "podtemplates", "*"]
                        .contains(&resource.as_str().unwrap()),
                    "{} grants {resource} cluster-wide",
                    role["metadata"]["name"]
                );
            }
            assert!(!rule["verbs"].as_array().unwrap().contains(&"*".into()));
        }
    }
}

#[test]
fn another_namespace_gets_a_namespace_object_and_every_namespaced_object_in_it() {
    let docs = documents(&render(&[
        "manifests",
        "image-cleaner",
        "--namespace",
        "eraser-system",
        "--image",
        "mirror.example:5000/drydock:9.9",
        "--interval-hours",
        "24",
    ]));
    assert_eq!(
        of_kind(&docs, "Namespace")[0]["metadata"]["name"],
        "eraser-system"
    );
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        if ![
            "Namespace",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
        ]
        .contains(&kind)
        {
            assert_eq!(doc["metadata"]["namespace"], "eraser-system", "{kind}");
        }
    }
    let deployment = of_kind(&docs, "Deployment")[0];
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "mirror.example:5000/drydock:9.9"
    );
    let config = of_kind(&docs, "ConfigMap")[0]["data"]["controller_manager_config.yaml"]
        .as_str()
        .unwrap();
    assert!(config.contains("repeatInterval: 24h0m0s"), "{config}");
    assert!(
        config.contains("repo: mirror.example:5000/drydock"),
        "{config}"
    );
}

#[test]
fn vulnerability_sources_replace_the_public_osv_dumps_and_bad_ones_are_refused() {
    let docs = documents(&render(&[
        "manifests",
        "image-cleaner",
        "--vulndb-source",
        "https://mirror.example/osv/Debian/all.zip",
        "--vulndb-source",
        "/osv",
    ]));
    // The sources go to the pod's builder container; the manager serves what it builds.
    let builder = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][1];
    assert_eq!(builder["name"], "vulndb-builder");
    let sources: Vec<&str> = builder["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--source="))
        .collect();
    assert_eq!(
        sources,
        ["https://mirror.example/osv/Debian/all.zip", "/osv"]
    );
    let output = drydock(&[
        "manifests",
        "image-cleaner",
        "--vulndb-source",
        "ftp://x/all.zip",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported scheme"));
}

#[test]
fn a_bad_interval_is_a_usage_error_that_names_the_range_and_calls_no_api() {
    for args in [
        vec!["manifests", "image-cleaner", "--interval-hours", "12"],
        // The kubeconfig does not exist: reaching the API would fail differently (exit 1).
        vec![
            "image-cleaner",
            "enable",
            "--interval-hours",
            "2161",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ],
    ] {
        let output = drydock(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--interval-hours"), "{stderr}");
        assert!(stderr.contains("outside 24..=2160"), "{stderr}");
        assert!(!stderr.contains("kubeconfig"), "{stderr}");
    }
}
