//! The reboot coordinator's objects, shaped like kured's released manifests (`kured-ds.yaml`
//! and `kured-rbac.yaml`): the same names (`kured` everywhere), selector `name=kured`, host PID,
//! a privileged container with a read-only root, the host's `/var/run` mounted read-only at
//! `/sentinel`, `KURED_NODE_ID` from the node name and port 8080 `metrics`. Swapping kured's
//! DaemonSet for this one keeps the lock (the annotation on DaemonSet `kube-system/kured`).
//!
//! RBAC is kured's footprint plus what Drydock's daemon does beyond kured: it lists and
//! watches Nodes (hand-over when a holder's Node vanishes), watches its DaemonSet (a freed
//! slot is taken at once), and creates Node Events. Each extra right only makes the daemon
//! quicker or more visible: under kured's own chart RBAC it reads the holders' Nodes by name,
//! polls the DaemonSet and records no Events (`drydock_reboot::access`).

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, HostPathVolumeSource, ObjectFieldSelector, PodSpec,
    PodTemplateSpec, ResourceRequirements, SecurityContext, ServiceAccount, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use drydock_api::config::RepoTag;

use super::{
    KUBE_SYSTEM, cluster_meta, http_probe, labels, meta, named_port, push_yaml, quantities,
    role_ref, rule, service_account_subject,
};

/// kured's name for every object: the DaemonSet (which carries the lock), its account and
/// roles.
pub(crate) const NAME: &str = "kured";
/// Honour `drydock reboot now` requests (`drydock_reboot::request`); kured's manifests lack it.
const REBOOT_ON_REQUEST_FLAG: &str = "--reboot-on-request=true";
/// Hand the lock on only once the evicted workloads are whole (`drydock_reboot::health`);
/// kured's manifests lack it, so there the lock passes on at once.
const HEALTH_GATE_FLAG: &str = "--health-gate=true";
/// The pod label kured's DaemonSet selects on.
const SELECTOR_LABEL: (&str, &str) = ("name", NAME);
/// kured's metrics port (`/metrics`; Drydock also serves `/healthz` and `/readyz` there).
pub(crate) const METRICS_PORT: i32 = 8080;
/// The port's name, as kured's manifest names it.
const METRICS_PORT_NAME: &str = "metrics";
/// The sentinel volume: the host's `/var/run`, where unattended upgrades write
/// `reboot-required`.
const SENTINEL_VOLUME: &str = "sentinel";
const SENTINEL_HOST_DIR: &str = "/var/run";
const SENTINEL_MOUNT: &str = "/sentinel";
/// The flag kured's manifest passes: the host file as seen through the mount.
const SENTINEL_FLAG: &str = "--reboot-sentinel=/sentinel/reboot-required";
/// kured's default `--ds-namespace`; the flag is written only for another namespace.
const KURED_DEFAULT_NAMESPACE: &str = KUBE_SYSTEM;
/// Control-plane taints kured tolerates, so control-plane nodes are patched too.
const CONTROL_PLANE_TAINTS: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];
/// The daemon sleeps between sentinel checks; a small reservation keeps it schedulable on
/// full nodes. No limit: an OOM kill in the middle of a drain would strand a cordoned node.
const CPU_REQUEST: &str = "10m";
const MEMORY_REQUEST: &str = "32Mi";
/// Probe timings: the admin server answers at once, but the first lock and node reads may
/// take a few seconds on a busy API server.
const PROBE_INITIAL_DELAY_SECONDS: i32 = 10;
const PROBE_PERIOD_SECONDS: i32 = 30;

/// Every object of the reboot coordinator, in apply order.
#[derive(Debug, Clone)]
pub(crate) struct Reboot {
    /// `kured`.
    pub(crate) service_account: ServiceAccount,
    /// Nodes, pods, evictions, Events; DaemonSets read for the drain.
    pub(crate) cluster_role: ClusterRole,
    /// Binds [`Self::cluster_role`].
    pub(crate) cluster_role_binding: ClusterRoleBinding,
    /// The lock: the `kured` DaemonSet only.
    pub(crate) role: Role,
    /// Binds [`Self::role`].
    pub(crate) role_binding: RoleBinding,
    /// The agent on every Linux node.
    pub(crate) daemonset: DaemonSet,
}

/// The objects for the DaemonSet in `namespace` running `image`.
pub(crate) fn objects(namespace: &str, image: &RepoTag) -> Reboot {
    Reboot {
        service_account: ServiceAccount {
            metadata: meta(NAME, namespace),
            ..ServiceAccount::default()
        },
        cluster_role: ClusterRole {
            metadata: cluster_meta(NAME),
            rules: Some(vec![
                rule("", &["nodes"], &["get", "list", "watch", "patch"]),
                rule("", &["pods"], &["get", "list", "delete"]),
                rule("", &["pods/eviction"], &["create"]),
                // kured's drain reads the DaemonSets of the pods it skips.
                rule("apps", &["daemonsets"], &["get"]),
                // Node Events go to the `default` namespace, as kubelet's do; each is created
                // once, never updated.
                rule("", &["events"], &["create"]),
                // The health gate reads the evicted pods' controllers and their budgets.
                rule(
                    "apps",
                    &["deployments", "replicasets", "statefulsets"],
                    &["get"],
                ),
                rule("policy", &["poddisruptionbudgets"], &["list"]),
            ]),
            ..ClusterRole::default()
        },
        cluster_role_binding: ClusterRoleBinding {
            metadata: cluster_meta(NAME),
            role_ref: role_ref("ClusterRole", NAME),
            subjects: Some(vec![service_account_subject(NAME, namespace)]),
        },
        role: Role {
            metadata: meta(NAME, namespace),
            rules: Some(vec![k8s_openapi::api::rbac::v1::PolicyRule {
                // The lock lives in this DaemonSet's annotation; list and watch come with a
                // `metadata.name` field selector, which the name restriction allows.
                resource_names: Some(vec![NAME.to_owned()]),
                ..rule(
                    "apps",
                    &["daemonsets"],
                    &["get", "list", "watch", "update", "patch"],
                )
            }]),
        },
        role_binding: RoleBinding {
            metadata: meta(NAME, namespace),
            role_ref: role_ref("Role", NAME),
            subjects: Some(vec![service_account_subject(NAME, namespace)]),
        },
        daemonset: daemonset(namespace, image),
    }
}

fn daemonset(namespace: &str, image: &RepoTag) -> DaemonSet {
    let mut args = vec!["rebootd".to_owned(), SENTINEL_FLAG.to_owned()];
    if namespace != KURED_DEFAULT_NAMESPACE {
        args.push(format!("--ds-namespace={namespace}"));
    }
    // Drydock's own: `drydock reboot now NODE` works out of the box (the chart's default too).
    args.push(REBOOT_ON_REQUEST_FLAG.to_owned());
    args.push(HEALTH_GATE_FLAG.to_owned());
    let probe = |path: &str| {
        http_probe(
            METRICS_PORT_NAME,
            path,
            PROBE_INITIAL_DELAY_SECONDS,
            PROBE_PERIOD_SECONDS,
        )
    };
    let container = Container {
        name: NAME.to_owned(),
        image: Some(image.reference()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        // The image's entrypoint is the drydock binary; `rebootd` takes kured's flags.
        args: Some(args),
        env: Some(vec![EnvVar {
            name: "KURED_NODE_ID".to_owned(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "spec.nodeName".to_owned(),
                    api_version: None,
                }),
                ..EnvVarSource::default()
            }),
            value: None,
        }]),
        ports: Some(vec![named_port(METRICS_PORT_NAME, METRICS_PORT)]),
        liveness_probe: Some(probe("/healthz")),
        readiness_probe: Some(probe("/readyz")),
        resources: Some(ResourceRequirements {
            requests: Some(quantities([
                ("cpu", CPU_REQUEST),
                ("memory", MEMORY_REQUEST),
            ])),
            ..ResourceRequirements::default()
        }),
        // Entering PID 1's mount namespace (setns, for the reboot and sentinel commands) and
        // signalling PID 1 need a privileged container, as kured's manifest has it.
        security_context: Some(SecurityContext {
            privileged: Some(true),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: SENTINEL_VOLUME.to_owned(),
            mount_path: SENTINEL_MOUNT.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    DaemonSet {
        metadata: meta(NAME, namespace),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels([SELECTOR_LABEL])),
                match_expressions: None,
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels([SELECTOR_LABEL])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.to_owned()),
                    host_pid: Some(true),
                    restart_policy: Some("Always".to_owned()),
                    node_selector: Some(labels([("kubernetes.io/os", "linux")])),
                    tolerations: Some(
                        CONTROL_PLANE_TAINTS
                            .iter()
                            .map(|key| Toleration {
                                key: Some((*key).to_owned()),
                                effect: Some("NoSchedule".to_owned()),
                                ..Toleration::default()
                            })
                            .collect(),
                    ),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: SENTINEL_VOLUME.to_owned(),
                        host_path: Some(HostPathVolumeSource {
                            path: SENTINEL_HOST_DIR.to_owned(),
                            type_: Some("Directory".to_owned()),
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        status: None,
    }
}

impl Reboot {
    /// The objects as one multi-document YAML stream, in apply order.
    pub(crate) fn render_yaml(&self) -> anyhow::Result<String> {
        let mut out = String::new();
        push_yaml(&mut out, &self.service_account)?;
        push_yaml(&mut out, &self.cluster_role)?;
        push_yaml(&mut out, &self.cluster_role_binding)?;
        push_yaml(&mut out, &self.role)?;
        push_yaml(&mut out, &self.role_binding)?;
        push_yaml(&mut out, &self.daemonset)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::image_cleaner::Options;

    fn rendered(namespace: &str) -> Reboot {
        objects(namespace, &Options::default().image)
    }

    fn grants(rules: &[k8s_openapi::api::rbac::v1::PolicyRule]) -> Vec<String> {
        rules
            .iter()
            .flat_map(|r| {
                let resources = r.resources.clone().unwrap_or_default();
                resources.into_iter().flat_map(move |res| {
                    r.verbs
                        .iter()
                        .map(move |v| format!("{res}:{v}"))
                        .collect::<Vec<_>>()
                })
            })
            .collect()
    }

    #[test]
    fn rbac_covers_kureds_footprint_and_the_lock_is_only_the_named_daemonset() {
        let objects = rendered("kube-system");
        let cluster = grants(objects.cluster_role.rules.as_deref().unwrap());
        for needed in [
            "nodes:get",
            "nodes:patch",
            "nodes:list",
            "pods:list",
            "pods:get",
            "pods:delete",
            "pods/eviction:create",
            "daemonsets:get",
            "events:create",
            "replicasets:get",
            "statefulsets:get",
            "deployments:get",
            "poddisruptionbudgets:list",
        ] {
            assert!(
                cluster.iter().any(|g| g == needed),
                "missing {needed}: {cluster:?}"
            );
        }
        assert!(
            !cluster.iter().any(|g| g == "daemonsets:update"),
            "{cluster:?}"
        );
        let lock = &objects.role.rules.as_ref().unwrap()[0];
        assert_eq!(
            lock.resource_names.as_deref(),
            Some(&["kured".to_owned()][..])
        );
        assert!(lock.verbs.iter().any(|v| v == "update"));
        assert_eq!(
            objects.role.metadata.namespace.as_deref(),
            Some("kube-system")
        );
    }

    #[test]
    fn the_daemonset_is_kureds_shape_running_rebootd() {
        let ds = rendered("kube-system").daemonset;
        assert_eq!(ds.metadata.name.as_deref(), Some("kured"));
        let spec = ds.spec.unwrap();
        assert_eq!(spec.selector.match_labels.unwrap()["name"], "kured");
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.host_pid, Some(true));
        assert_eq!(pod.service_account_name.as_deref(), Some("kured"));
        let c = &pod.containers[0];
        assert_eq!(
            c.args.as_deref().unwrap(),
            [
                "rebootd",
                "--reboot-sentinel=/sentinel/reboot-required",
                "--reboot-on-request=true",
                "--health-gate=true"
            ]
        );
        assert_eq!(c.security_context.as_ref().unwrap().privileged, Some(true));
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);
        let env = &c.env.as_ref().unwrap()[0];
        assert_eq!(env.name, "KURED_NODE_ID");
        let volume = &pod.volumes.unwrap()[0];
        assert_eq!(volume.host_path.as_ref().unwrap().path, "/var/run");
    }

    #[test]
    fn the_daemons_own_parser_accepts_the_rendered_flags() {
        use drydock_reboot::config::{self, Sentinel};
        for namespace in ["kube-system", "reboot"] {
            let ds = rendered(namespace).daemonset;
            let pod = ds.spec.unwrap().template.spec.unwrap();
            let args = pod.containers[0].args.clone().unwrap();
            assert_eq!(args[0], "rebootd", "the image's entrypoint is drydock");
            let argv = std::iter::once("kured".to_owned()).chain(args.into_iter().skip(1));
            let env = std::collections::BTreeMap::from([(
                "KURED_NODE_ID".to_owned(),
                "node-1".to_owned(),
            )]);
            let parsed = config::parse(argv, &env).unwrap();
            assert_eq!(
                parsed.sentinel,
                Sentinel::File("/sentinel/reboot-required".into())
            );
            assert_eq!(
                (
                    parsed.lock.ds_namespace.as_str(),
                    parsed.lock.ds_name.as_str()
                ),
                (namespace, "kured")
            );
        }
    }

    #[test]
    fn another_namespace_is_passed_to_the_daemon() {
        let ds = rendered("reboot").daemonset;
        let pod = ds.spec.unwrap().template.spec.unwrap();
        let args = pod.containers[0].args.clone().unwrap();
        assert!(
            args.contains(&"--ds-namespace=reboot".to_owned()),
            "{args:?}"
        );
    }
}
