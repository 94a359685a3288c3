//! The admin commands: pure decisions, then every command call by call against the tower-test
//! API server (a missing or an extra call fails).

use drydock_api::config::Config;
use drydock_cleaner::manager::admin::RunRequest;
use drydock_cleaner::manager::history::{NodeRecord, Outcome, Run, RunMode, RunPhase};
use drydock_cleaner::manager::schedule::ScheduleState;
use drydock_kube::mock::{self, Exchange};
use http::Method;
use k8s_openapi::api::apps::v1::DeploymentStatus;

use super::*;

const NS: &str = "kube-system";
const CM_PATH: &str = "/api/v1/namespaces/kube-system/configmaps";
const DEPLOY_PATH: &str = "/apis/apps/v1/namespaces/kube-system/deployments";
const SSA: &str = "?&force=true&fieldManager=drydock";

fn image() -> RepoTag {
    Options::default().image
}

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A configuration a user tuned: custom node filter, scanner off, a third-party scanner image,
/// a 48 h interval, a comment.
const TUNED: &str = "\
# tuned by ops
apiVersion: eraser.sh/v1alpha3
kind: EraserConfig
manager:
  scheduling:
    repeatInterval: 48h
  nodeFilter:
    type: include
    selectors: [pool=batch]
components:
  collector:
    enabled: true
  scanner:
    enabled: false
    image:
      repo: example.com/custom-scanner
      tag: v2
";

fn config_cm(text: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "eraser-manager-config", "namespace": NS},
           "data": {"controller_manager_config.yaml": text}})
}

/// The GET of the manager's config in `kube-system`, answered with `reply`.
fn get_config(reply: Value) -> Exchange {
    Exchange::new(
        Method::GET,
        format!("{CM_PATH}/eraser-manager-config"),
        reply,
    )
}

/// The GET of the manager's Deployment, answered with `reply`.
fn get_manager(reply: Value) -> Exchange {
    Exchange::new(
        Method::GET,
        format!("{DEPLOY_PATH}/eraser-controller-manager"),
        reply,
    )
}

/// The PATCH of the schedule's state ConfigMap (a run request's annotations).
fn patch_state() -> Exchange {
    Exchange::new(
        Method::PATCH,
        format!("{CM_PATH}/drydock-image-cleaner-state?&fieldManager=drydock"),
        json!({}),
    )
}

/// The reads of a run request on a cluster whose manager runs with the config `config_text`.
fn running_with(config_text: &str) -> Vec<Exchange> {
    vec![
        get_manager(serde_json::to_value(deployment(1)).unwrap()),
        get_config(config_cm(config_text)),
    ]
}

fn parsed(text: &str) -> Config {
    config::parse(text, "test").unwrap().config
}

// === plan_config ===

#[test]
fn a_first_enable_writes_automatic_mode_every_week_or_the_given_interval() {
    let plan = plan_config(None, "cm", None, &image()).unwrap();
    let c = parsed(&plan.text);
    assert_eq!(c.manager.scheduling.repeat_interval.to_string(), "168h0m0s");
    assert!(c.components.collector.enabled && c.components.scanner.enabled);
    let plan = plan_config(None, "cm", Some("24".parse().unwrap()), &image()).unwrap();
    assert_eq!(
        parsed(&plan.text)
            .manager
            .scheduling
            .repeat_interval
            .to_string(),
        "24h0m0s"
    );
}

#[test]
fn re_enabling_without_options_keeps_the_existing_text_byte_for_byte() {
    let tuned = TUNED.replace("v2", &image().tag);
    let plan = plan_config(Some(&tuned), "cm", None, &image()).unwrap();
    assert_eq!(plan.text, tuned);
    assert_eq!(plan.notes, ["existing configuration kept unchanged"]);
}

#[test]
fn a_new_interval_changes_only_the_interval() {
    let plan = plan_config(Some(TUNED), "cm", Some("72".parse().unwrap()), &image()).unwrap();
    let before = parsed(TUNED);
    let after = parsed(&plan.text);
    assert_eq!(
        after.manager.scheduling.repeat_interval.to_string(),
        "72h0m0s"
    );
    let mut expected = before.clone();
    expected.manager.scheduling.repeat_interval = after.manager.scheduling.repeat_interval;
    assert_eq!(after, expected, "every other setting is kept");
    assert!(
        plan.notes.iter().any(|n| n.contains("48h0m0s -> 72 h")),
        "{:?}",
        plan.notes
    );
    // The same interval again changes nothing.
    let same = plan_config(
        Some(&plan.text),
        "cm",
        Some("72".parse().unwrap()),
        &image(),
    )
    .unwrap();
    assert_eq!(same.text, plan.text);
}

#[test]
fn a_manual_only_config_gets_automatic_mode_back_and_keeps_the_rest() {
    let manual = TUNED.replace(
        "collector:\n    enabled: true",
        "collector:\n    enabled: false",
    );
    let plan = plan_config(Some(&manual), "cm", None, &image()).unwrap();
    let after = parsed(&plan.text);
    assert!(after.components.collector.enabled);
    assert!(!after.components.scanner.enabled);
    assert_eq!(
        after.components.scanner.image.repo,
        "example.com/custom-scanner"
    );
    assert_eq!(after.manager.node_filter, parsed(TUNED).manager.node_filter);
}

#[test]
fn components_on_the_manager_repository_follow_its_tag_and_foreign_images_stay() {
    let old = TUNED.replace(
        "components:\n",
        &format!(
            "components:\n  remover:\n    image:\n      repo: {}\n      tag: 0.0.1\n",
            image().repo
        ),
    );
    let plan = plan_config(Some(&old), "cm", None, &image()).unwrap();
    let after = parsed(&plan.text);
    assert_eq!(after.components.remover.image, image());
    assert_eq!(after.components.scanner.image.tag, "v2");
}

#[test]
fn an_unreadable_existing_config_is_refused_naming_the_configmap() {
    let bad = "apiVersion: eraser.sh/v9\n";
    let err = plan_config(
        Some(bad),
        "ConfigMap kube-system/eraser-manager-config",
        None,
        &image(),
    )
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("ConfigMap kube-system/eraser-manager-config"),
        "{text}"
    );
    assert!(text.contains("unknown apiVersion"), "{text}");
}

#[test]
fn v1alpha1_files_keep_the_remover_under_eraser() {
    let old = format!(
        "apiVersion: eraser.sh/v1alpha1\nkind: EraserConfig\ncomponents:\n  collector:\n    enabled: true\n  eraser:\n    image:\n      repo: {}\n      tag: 0.0.1\n",
        image().repo
    );
    let plan = plan_config(Some(&old), "cm", None, &image()).unwrap();
    assert!(!plan.text.contains("remover"), "{}", plan.text);
    assert_eq!(parsed(&plan.text).components.remover.image, image());
}

// === enable ===

/// The server-side applies of a full install, in order, after the config read.
fn applies(config_text: &str) -> Vec<Exchange> {
    let object = |path: &str| Exchange::new(Method::PATCH, format!("{path}{SSA}"), json!({}));
    vec![
        object("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagelists.eraser.sh"),
        object("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagejobs.eraser.sh"),
        object("/api/v1/namespaces/kube-system/serviceaccounts/eraser-controller-manager"),
        object("/api/v1/namespaces/kube-system/serviceaccounts/eraser-imagejob-pods")
            .with_body(json!({"automountServiceAccountToken": false})),
        object("/apis/rbac.authorization.k8s.io/v1/clusterroles/eraser-manager-role"),
        object("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/eraser-manager-rolebinding"),
        object(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles/eraser-manager-role",
        ),
        object(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings/eraser-manager-rolebinding",
        ),
        object(&format!("{CM_PATH}/eraser-manager-config"))
            .with_body(json!({"data": {"controller_manager_config.yaml": config_text}})),
        object(&format!("{CM_PATH}/eraser-system-exclusion")),
        object(&format!("{DEPLOY_PATH}/eraser-controller-manager"))
            .with_body(json!({"spec": {"replicas": 1}})),
        object("/api/v1/namespaces/kube-system/services/eraser-controller-manager"),
    ]
}

#[tokio::test(start_paused = true)]
async fn enable_on_a_fresh_cluster_applies_everything_with_a_weekly_config() {
    let fresh = plan_config(None, "", None, &image()).unwrap().text;
    assert!(fresh.contains("repeatInterval: 168h0m0s"));
    let mut calls = vec![get_config(json!({})).failing(404, "NotFound", "not found")];
    calls.extend(applies(&fresh));
    let (client, verifier) = mock::client(calls);
    let lines = enable(&client, &Options::default(), None).await.unwrap();
    verifier.finish().await;
    assert!(
        lines.contains(&"applied Deployment kube-system/eraser-controller-manager".to_owned()),
        "{lines:?}"
    );
    assert!(lines[0].contains("every 168 h"), "{lines:?}");
}

#[tokio::test(start_paused = true)]
async fn re_enable_keeps_the_existing_config_and_changes_only_a_given_interval() {
    let mut calls = vec![get_config(config_cm(TUNED))];
    let expected = plan_config(Some(TUNED), "x", Some("96".parse().unwrap()), &image()).unwrap();
    assert_eq!(
        parsed(&expected.text).manager.node_filter.selectors,
        parsed(TUNED).manager.node_filter.selectors
    );
    calls.extend(applies(&expected.text));
    let (client, verifier) = mock::client(calls);
    enable(&client, &Options::default(), Some("96".parse().unwrap()))
        .await
        .unwrap();
    verifier.finish().await;

    // Without --interval-hours the text goes back unchanged.
    let tuned = TUNED.replace("v2", &image().tag);
    let mut calls = vec![get_config(config_cm(&tuned))];
    calls.extend(applies(&tuned));
    let (client, verifier) = mock::client(calls);
    enable(&client, &Options::default(), None).await.unwrap();
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn enable_into_another_namespace_creates_it_first() {
    let options = Options {
        namespace: "eraser-system".into(),
        ..Options::default()
    };
    let get = Exchange::new(
        Method::GET,
        "/api/v1/namespaces/eraser-system/configmaps/eraser-manager-config",
        json!({}),
    )
    .failing(404, "NotFound", "not found");
    let fresh = plan_config(None, "", None, &image()).unwrap().text;
    let mut calls = vec![get];
    for call in applies(&fresh) {
        let path = call
            .path
            .replace("namespaces/kube-system", "namespaces/eraser-system");
        if path.contains("imagejobs.eraser.sh") {
            calls.push(Exchange { path, ..call });
            calls.push(Exchange::new(
                Method::PATCH,
                format!("/api/v1/namespaces/eraser-system{SSA}"),
                json!({}),
            ));
        } else {
            calls.push(Exchange { path, ..call });
        }
    }
    let (client, verifier) = mock::client(calls);
    enable(&client, &options, None).await.unwrap();
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_broken_config_stops_enable_before_anything_is_applied() {
    let (client, verifier) = mock::client(vec![get_config(config_cm(
        "apiVersion: eraser.sh/v1alpha3\nmanager: {scheduling: {repeatInterval: 10s}}\n",
    ))]);
    let err = enable(&client, &Options::default(), None)
        .await
        .unwrap_err();
    verifier.finish().await;
    assert!(format!("{err:#}").contains("repeatInterval"), "{err:#}");
}

#[test]
fn a_bad_interval_is_a_usage_error_before_any_client_exists() {
    use clap::Parser as _;
    for bad in ["23", "2161", "weekly"] {
        let err = crate::cli::Cli::try_parse_from([
            "drydock",
            "image-cleaner",
            "enable",
            "--interval-hours",
            bad,
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad}");
        assert!(err.to_string().contains("--interval-hours"), "{err}");
    }
}

// === disable ===

#[tokio::test(start_paused = true)]
async fn disable_deletes_the_manager_and_its_jobs_and_keeps_the_config() {
    let (client, verifier) = mock::client(vec![
        Exchange::new(
            Method::DELETE,
            format!("{DEPLOY_PATH}/eraser-controller-manager?"),
            json!({}),
        )
        .with_body(json!({"propagationPolicy": "Background"})),
        Exchange::new(
            Method::DELETE,
            "/api/v1/namespaces/kube-system/services/eraser-controller-manager?",
            json!({}),
        ),
        Exchange::new(
            Method::DELETE,
            "/apis/eraser.sh/v1/imagejobs?&labelSelector=eraser.sh%2Fjob-owner",
            json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJobList", "metadata": {},
                   "items": [{"apiVersion": "eraser.sh/v1", "kind": "ImageJob",
                              "metadata": {"name": "imagejob-abcde"}}]}),
        ),
    ]);
    let lines = disable(&client, NS).await.unwrap();
    verifier.finish().await;
    assert_eq!(
        lines[0],
        "deleted Deployment kube-system/eraser-controller-manager"
    );
    assert_eq!(lines[2], "deleted ImageJob imagejob-abcde");
    assert!(
        lines[3].contains("eraser-manager-config is kept"),
        "{lines:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn disable_twice_is_fine() {
    let gone = |method: Method, path: &str| {
        Exchange::new(method, path, json!({})).failing(404, "NotFound", "not found")
    };
    let (client, verifier) = mock::client(vec![
        gone(
            Method::DELETE,
            &format!("{DEPLOY_PATH}/eraser-controller-manager?"),
        ),
        gone(
            Method::DELETE,
            "/api/v1/namespaces/kube-system/services/eraser-controller-manager?",
        ),
        gone(
            Method::DELETE,
            "/apis/eraser.sh/v1/imagejobs?&labelSelector=eraser.sh%2Fjob-owner",
        ),
    ]);
    let lines = disable(&client, NS).await.unwrap();
    verifier.finish().await;
    assert_eq!(
        lines[..3],
        [
            "Deployment kube-system/eraser-controller-manager was already absent",
            "Service kube-system/eraser-controller-manager was already absent",
            "no ImageJob to delete",
        ]
    );
}

// === status ===

fn deployment(available: i32) -> Deployment {
    let objects = image_cleaner::fresh(&Options::default(), IntervalHours::DEFAULT).unwrap();
    Deployment {
        status: Some(DeploymentStatus {
            available_replicas: Some(available),
            ..DeploymentStatus::default()
        }),
        ..objects.deployment
    }
}

fn state_cm(schedule: &ScheduleState, requested: Option<&str>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            annotations: requested.map(|r| {
                BTreeMap::from([(state::RUN_REQUESTED_ANNOTATION.to_owned(), r.to_owned())])
            }),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            state::SCHEDULE_KEY.to_owned(),
            serde_json::to_string(schedule).unwrap(),
        )])),
        ..ConfigMap::default()
    }
}

fn run_record(job: &str, finished: &str) -> Run {
    Run {
        job: job.into(),
        mode: RunMode::Automatic,
        started: t(finished) - jiff::SignedDuration::from_mins(10),
        finished: t(finished),
        phase: RunPhase::Completed,
        desired: 3,
        succeeded: 2,
        failed: 0,
        skipped: 1,
        nodes: vec![
            NodeRecord {
                node: "n1".into(),
                outcome: Outcome::Succeeded,
                reason: None,
                removed: vec!["docker.io/library/alpine:3.7.3".into()],
                failed_images: vec![],
                truncated: false,
                would_remove: vec![],
                kept: vec![],
            },
            NodeRecord {
                node: "win1".into(),
                outcome: Outcome::Skipped,
                reason: Some("Windows node".into()),
                removed: vec![],
                failed_images: vec![],
                truncated: false,
                would_remove: vec![],
                kept: vec![],
            },
        ],
        imagelist: None,
        dry_run: false,
    }
}

fn history_cm(history: &History) -> ConfigMap {
    ConfigMap {
        data: Some(BTreeMap::from([(
            state::HISTORY_KEY.to_owned(),
            serde_json::to_string(history).unwrap(),
        )])),
        ..ConfigMap::default()
    }
}

fn enabled_cluster() -> Observed {
    let objects = image_cleaner::fresh(&Options::default(), IntervalHours::DEFAULT).unwrap();
    Observed {
        namespace: NS.into(),
        deployment: Some(deployment(1)),
        config: Some(objects.config),
        state: Some(state_cm(
            &ScheduleState {
                enabled_at: Some(t("2026-11-01T00:00:00Z")),
                last_started: Some(t("2026-11-01T00:00:00Z")),
                last_finished: Some(t("2026-11-01T00:10:00Z")),
                ..ScheduleState::default()
            },
            None,
        )),
        history: Some(history_cm(&History {
            runs: vec![
                run_record("imagejob-old", "2026-10-25T00:10:00Z"),
                run_record("imagejob-new", "2026-11-01T00:10:00Z"),
            ],
        })),
        jobs: vec![],
    }
}

#[test]
fn status_shows_the_schedule_the_last_result_and_the_component_images() {
    let s = status(&enabled_cluster(), t("2026-11-03T00:00:00Z"));
    assert!(s.enabled);
    assert_eq!(s.interval.as_deref(), Some("168h0m0s"));
    assert_eq!(s.next_run, Some(NextRun::At(t("2026-11-08T00:00:00Z"))));
    let last = s.last_result.clone().unwrap();
    assert_eq!(
        (last.job.as_str(), last.removed_images, last.mode.as_str()),
        ("imagejob-new", 1, "automatic")
    );
    assert_eq!(s.components["scanner"].image, image().reference());
    let text = render_status(&s);
    assert!(
        text.starts_with("Image Cleaner:  enabled (1 manager available)\n"),
        "{text}"
    );
    assert!(
        text.contains("Next run:       2026-11-08T00:00:00Z\n"),
        "{text}"
    );
    assert!(
        text.contains("Mode:           automatic every 168h0m0s\n"),
        "{text}"
    );
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json["nextRun"],
        json!({"state": "at", "at": "2026-11-08T00:00:00Z"})
    );
    assert_eq!(json["components"]["remover"]["enabled"], json!(true));
}

#[test]
fn status_while_a_run_is_in_progress_and_after_disable() {
    let mut observed = enabled_cluster();
    observed.jobs = vec![serde_json::from_value(json!({
        "apiVersion": "eraser.sh/v1", "kind": "ImageJob",
        "metadata": {"name": "imagejob-xyz", "labels": {"eraser.sh/job-owner": "imagecollector"}},
        "status": {"phase": "Running", "desired": 3, "succeeded": 0, "failed": 0, "skipped": 0}
    }))
    .unwrap()];
    let s = status(&observed, t("2026-11-09T00:00:00Z"));
    assert_eq!(s.next_run, Some(NextRun::AfterRunningJob));
    assert_eq!(s.running_jobs, ["imagejob-xyz"]);

    observed.deployment = None;
    let s = status(&observed, t("2026-11-09T00:00:00Z"));
    assert!(!s.enabled);
    assert_eq!(s.next_run, None, "no run is coming while disabled");
    assert_eq!(
        s.interval.as_deref(),
        Some("168h0m0s"),
        "the kept config is still shown"
    );
    assert!(render_status(&s).starts_with("Image Cleaner:  disabled\n"));
}

#[test]
fn a_pending_run_request_makes_the_next_run_due_and_a_handled_one_does_not() {
    let mut observed = enabled_cluster();
    let mut schedule = ScheduleState {
        last_started: Some(t("2026-11-01T00:00:00Z")),
        last_finished: Some(t("2026-11-01T00:10:00Z")),
        ..ScheduleState::default()
    };
    observed.state = Some(state_cm(&schedule, Some("2026-11-02T00:00:00Z")));
    let s = status(&observed, t("2026-11-03T00:00:00Z"));
    assert_eq!(s.next_run, Some(NextRun::Due));
    assert!(
        render_status(&s).contains(
            "Run requested:  2026-11-02T00:00:00Z (pending: the manager starts it shortly)\n"
        ),
        "{}",
        render_status(&s)
    );
    schedule.handled_run_request = Some("2026-11-02T00:00:00Z".into());
    observed.state = Some(state_cm(&schedule, Some("2026-11-02T00:00:00Z")));
    let s = status(&observed, t("2026-11-03T00:00:00Z"));
    assert_eq!(s.next_run, Some(NextRun::At(t("2026-11-08T00:00:00Z"))));
    assert_eq!(
        s.run_requested,
        Some(RunRequest {
            at: "2026-11-02T00:00:00Z".into(),
            started: true
        })
    );
}

#[test]
fn status_reports_an_unreadable_config_instead_of_failing() {
    let mut observed = enabled_cluster();
    observed.config = Some(ConfigMap {
        data: Some(BTreeMap::from([(
            names::MANAGER_CONFIG_KEY.to_owned(),
            "apiVersion: nope\n".to_owned(),
        )])),
        ..ConfigMap::default()
    });
    let s = status(&observed, t("2026-11-03T00:00:00Z"));
    assert!(
        s.config_error
            .as_deref()
            .unwrap()
            .contains("unknown apiVersion")
    );
    assert!(render_status(&s).contains("Configuration:  unreadable:"));
}

#[tokio::test(start_paused = true)]
async fn status_reads_five_objects_any_of_which_may_be_missing() {
    let missing =
        |path: String| Exchange::new(Method::GET, path, json!({})).failing(404, "NotFound", "nf");
    let (client, verifier) = mock::client(vec![
        missing(format!("{DEPLOY_PATH}/eraser-controller-manager")),
        get_config(config_cm(TUNED)),
        missing(format!("{CM_PATH}/drydock-image-cleaner-state")),
        missing(format!("{CM_PATH}/drydock-image-cleaner-history")),
        missing("/apis/eraser.sh/v1/imagejobs?&labelSelector=eraser.sh%2Fjob-owner".to_owned()),
    ]);
    let observed = observe(&client, NS).await.unwrap();
    verifier.finish().await;
    let s = status(&observed, t("2026-11-03T00:00:00Z"));
    assert!(!s.enabled);
    assert_eq!(s.interval.as_deref(), Some("48h0m0s"));
    assert_eq!(s.last_result, None);
}

// === history ===

#[test]
fn history_shows_the_newest_runs_first_with_the_removed_images_per_node() {
    let history = History {
        runs: vec![
            run_record("imagejob-old", "2026-10-25T00:10:00Z"),
            run_record("imagejob-new", "2026-11-01T00:10:00Z"),
        ],
    };
    let shown = newest(&history, 1);
    assert_eq!(shown.runs.len(), 1);
    assert_eq!(shown.runs[0].job, "imagejob-new");
    let text = render_history(&newest(&history, 10));
    assert!(
        text.starts_with("imagejob-new (automatic, Completed)"),
        "{text}"
    );
    assert!(
        text.contains("  n1    succeeded  docker.io/library/alpine:3.7.3\n"),
        "{text}"
    );
    assert!(
        text.contains("  win1  skipped    -                               Windows node\n"),
        "{text}"
    );
    assert_eq!(
        render_history(&History::default()),
        "no finished run recorded\n"
    );
    let json = serde_json::to_value(&shown).unwrap();
    assert_eq!(
        json["runs"][0]["nodes"][0]["removed"][0],
        "docker.io/library/alpine:3.7.3"
    );
}

#[test]
fn history_marks_a_dry_run_and_shows_what_would_go_and_why_the_rest_stays() {
    let mut dry = run_record("imagejob-dry", "2026-11-01T00:10:00Z");
    dry.dry_run = true;
    dry.nodes[0].removed = vec![];
    dry.nodes[0].would_remove = vec!["docker.io/library/alpine:3.7.3".into()];
    dry.nodes[0].kept = vec!["docker.io/library/redis:7: in use by container web (running)".into()];
    let text = render_history(&History { runs: vec![dry] });
    assert!(
        text.starts_with("imagejob-dry (automatic, Completed, dry run: nothing removed)"),
        "{text}"
    );
    assert!(text.contains("1 images would be removed"), "{text}");
    assert!(text.contains("WOULD REMOVE"), "{text}");
    assert!(
        text.contains("docker.io/library/alpine:3.7.3  kept: docker.io/library/redis:7: in use"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_request_marks_the_same_stamp_as_dry() {
    let stamp = "2026-11-03T00:00:00Z";
    let mut calls = running_with(TUNED);
    calls.extend(
        [patch_state().with_body(json!({"metadata": {"annotations": {
            "drydock.dev/run-requested": stamp,
            "drydock.dev/run-requested-dry-run": stamp,
        }}}))],
    );
    let (client, verifier) = mock::client(calls);
    let line = request_run(&client, NS, t(stamp), true).await.unwrap();
    verifier.finish().await;
    assert!(
        line.starts_with("dry run requested at 2026-11-03T00:00:00Z"),
        "{line}"
    );
}

#[tokio::test(start_paused = true)]
async fn history_is_empty_when_the_manager_never_wrote_one() {
    let (client, verifier) = mock::client(vec![
        Exchange::new(
            Method::GET,
            format!("{CM_PATH}/drydock-image-cleaner-history"),
            json!({}),
        )
        .failing(404, "NotFound", "nf"),
    ]);
    assert_eq!(read_history(&client, NS).await.unwrap(), History::default());
    verifier.finish().await;
}

// === run ===

#[tokio::test(start_paused = true)]
async fn run_is_refused_when_the_image_cleaner_is_disabled() {
    let (client, verifier) =
        mock::client(vec![get_manager(json!({})).failing(404, "NotFound", "nf")]);
    let err = request_run(&client, NS, t("2026-11-03T00:00:00Z"), false)
        .await
        .unwrap_err();
    verifier.finish().await;
    assert!(
        err.to_string()
            .contains("disabled in namespace kube-system"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn run_is_refused_in_manual_only_mode() {
    let manual = TUNED.replace(
        "collector:\n    enabled: true",
        "collector:\n    enabled: false",
    );
    let (client, verifier) = mock::client(running_with(&manual));
    let err = request_run(&client, NS, t("2026-11-03T00:00:00Z"), false)
        .await
        .unwrap_err();
    verifier.finish().await;
    assert!(err.to_string().contains("automatic mode is off"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn run_annotates_the_state_configmap_creating_it_when_absent() {
    let annotation =
        json!({"metadata": {"annotations": {"drydock.dev/run-requested": "2026-11-03T00:00:00Z"}}});
    let mut calls = running_with(TUNED);
    calls.extend([
        patch_state()
            .with_body(annotation.clone())
            .failing(404, "NotFound", "nf"),
        Exchange::new(
            Method::POST,
            format!("{CM_PATH}?&fieldManager=drydock"),
            json!({}),
        )
        .with_body(json!({"metadata": {"name": "drydock-image-cleaner-state",
                "annotations": {"drydock.dev/run-requested": "2026-11-03T00:00:00Z"}}})),
    ]);
    let (client, verifier) = mock::client(calls);
    let line = request_run(&client, NS, t("2026-11-03T00:00:00Z"), false)
        .await
        .unwrap();
    verifier.finish().await;
    assert!(
        line.starts_with("run requested at 2026-11-03T00:00:00Z"),
        "{line}"
    );
}
