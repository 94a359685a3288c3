//! Drydock's Kubernetes objects as typed k8s-openapi values, built by pure functions: the same
//! objects are printed by `drydock manifests` (committed under `deploy/`, drift-tested) and
//! applied by `drydock image-cleaner enable`, so what GitOps users install and what the admin
//! command installs cannot differ.
//!
//! - [`image_cleaner`]: the Eraser-compatible manager (CRDs, RBAC, ConfigMaps, Deployment,
//!   Service) with least-privilege RBAC;
//! - [`reboot`]: the kured-compatible DaemonSet and its RBAC.

pub(crate) mod image_cleaner;
pub(crate) mod reboot;

use std::collections::BTreeMap;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction, Probe};
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

/// `app.kubernetes.io/part-of` on every object Drydock renders, so `kubectl get -l` finds them.
pub(crate) const PART_OF_LABEL: (&str, &str) = ("app.kubernetes.io/part-of", "drydock");

/// The namespace AKS (and kured's manifests) install into; it always exists, so no Namespace
/// object is rendered for it.
pub(crate) const KUBE_SYSTEM: &str = "kube-system";

/// The RBAC API group, as RoleRefs name it.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Labels as a map.
pub(crate) fn labels<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Metadata of a cluster-scoped object.
pub(crate) fn cluster_meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(labels([PART_OF_LABEL])),
        ..ObjectMeta::default()
    }
}

/// Metadata of a namespaced object.
pub(crate) fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(namespace.to_owned()),
        ..cluster_meta(name)
    }
}

/// A policy rule on `resources` of `group` (`""` is the core group).
pub(crate) fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..PolicyRule::default()
    }
}

/// The RoleRef of a binding.
pub(crate) fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: RBAC_GROUP.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
    }
}

/// A ServiceAccount as a binding subject.
pub(crate) fn service_account_subject(name: &str, namespace: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".to_owned(),
        name: name.to_owned(),
        namespace: Some(namespace.to_owned()),
        api_group: None,
    }
}

/// A TCP container port with a name (probes and Services refer to it by the name).
pub(crate) fn named_port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

/// An HTTP GET probe of `path` on the container port named `port_name`.
pub(crate) fn http_probe(port_name: &str, path: &str, initial_delay: i32, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port_name.to_owned()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        ..Probe::default()
    }
}

/// Resource quantities (requests or limits) as a map.
pub(crate) fn quantities<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, Quantity> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Quantity(v.to_owned())))
        .collect()
}

/// Appends `object` to a multi-document YAML stream.
pub(crate) fn push_yaml<T: Serialize>(out: &mut String, object: &T) -> anyhow::Result<()> {
    let text = serde_saphyr::to_string(object).context("cannot render a manifest as YAML")?;
    out.push_str("---\n");
    out.push_str(&text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    Ok(())
}
