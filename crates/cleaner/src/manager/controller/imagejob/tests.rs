//! tower-test scenarios of the ImageJob reconciler: every API call it makes, in order, and
//! none more. Eraser bugs (`reference/eraser.md` §8) are named where a scenario would fail on
//! Eraser's behaviour.

use std::collections::BTreeMap;

use drydock_api::config::{Config, NodeFilterType};
use drydock_api::names::{self, CLEANUP_FILTER_LABEL, state};
use drydock_kube::mock::{self, Exchange};
use http::Method;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::runtime::reflector::store::Writer;
use serde_json::{Value, json};

use super::*;
use crate::manager::cached::from_api;
use crate::manager::controller::tests::{NS, t0};
use crate::manager::testing;

const JOB: &str = "imagejob-abcde";
const JOB_UID: &str = "job-uid";

fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

fn node(name: &str, labels: &[(&str, &str)], ready: bool) -> CachedNode {
    testing::node(name, labels, Some(ready))
}

fn api_node(name: &str, labels: &[(&str, &str)], ready: bool) -> Node {
    testing::api_node(name, labels, Some(ready))
}

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "eraser.sh/v1".into(),
        kind: "ImageJob".into(),
        name: JOB.into(),
        uid: JOB_UID.into(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// A worker pod of the job on `node`; `terminated` lists (container, exit code, message).
fn pod(
    node: &str,
    phase: &str,
    created: Timestamp,
    terminated: &[(&str, i32, Option<&str>)],
) -> WorkerPod {
    from_api(&api_pod(node, phase, created, terminated))
}

fn api_pod(
    node: &str,
    phase: &str,
    created: Timestamp,
    terminated: &[(&str, i32, Option<&str>)],
) -> Pod {
    let mut pod = testing::api_worker_pod(node, phase, created, terminated);
    pod.metadata = ObjectMeta {
        name: Some(format!("eraser-{node}-x1")),
        namespace: Some(NS.into()),
        labels: Some(BTreeMap::from([(
            JOB_NAME_LABEL.to_owned(),
            JOB.to_owned(),
        )])),
        owner_references: Some(vec![owner()]),
        creation_timestamp: Some(Time(created)),
        ..ObjectMeta::default()
    };
    pod
}

fn job(status: Option<ImageJobStatus>) -> Arc<ImageJob> {
    Arc::new(ImageJob {
        metadata: ObjectMeta {
            name: Some(JOB.into()),
            uid: Some(JOB_UID.into()),
            creation_timestamp: Some(Time(t0())),
            labels: Some(BTreeMap::from([(
                names::JOB_OWNER_LABEL.to_owned(),
                names::JOB_OWNER_COLLECTOR.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: drydock_api::imagejob::ImageJobFields {},
        status,
    })
}

fn running(desired: i64, skipped: i64) -> Option<ImageJobStatus> {
    Some(ImageJobStatus {
        phase: JobPhase::Running,
        desired,
        skipped,
        ..ImageJobStatus::default()
    })
}

fn filled<K>(objects: Vec<K>) -> (Store<K>, Writer<K>)
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (store, mut writer) = reflector::store::<K>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(object));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    (store, writer)
}

/// A settable clock.
#[derive(Clone)]
struct TestClock(Arc<Mutex<Timestamp>>);

impl TestClock {
    fn new(now: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }
    fn set(&self, now: Timestamp) {
        *self.0.lock().unwrap() = now;
    }
    fn clock(&self) -> super::super::Clock {
        let cell = self.0.clone();
        Arc::new(move || *cell.lock().unwrap())
    }
}

struct Fixture {
    shared: Arc<Shared>,
    clock: TestClock,
    _node_writer: Writer<CachedNode>,
    pod_writer: Writer<WorkerPod>,
}

fn fixture(
    client: kube::Client,
    config: Config,
    nodes: Vec<CachedNode>,
    pods: Vec<WorkerPod>,
    now: Timestamp,
) -> Fixture {
    let clock = TestClock::new(now);
    let ctx = Context::new(client, NS, config).with_clock(clock.clock());
    let (nodes, node_writer) = filled(nodes);
    let (pods, pod_writer) = filled(pods);
    Fixture {
        shared: Arc::new(Shared::new(Arc::new(ctx), nodes, pods)),
        clock,
        _node_writer: node_writer,
        pod_writer,
    }
}

fn template_reply() -> Value {
    let template = crate::manager::podspec::template(
        &Config::default(),
        &crate::manager::podspec::Mode::Collector,
        &crate::manager::podspec::TemplateInputs::default(),
    );
    json!({"apiVersion": "v1", "kind": "PodTemplate",
           "metadata": {"name": JOB, "namespace": NS}, "template": template})
}

fn get_template() -> Exchange {
    Exchange::new(
        Method::GET,
        format!("/api/v1/namespaces/{NS}/podtemplates/{JOB}"),
        template_reply(),
    )
}

fn job_reply() -> Value {
    json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJob",
           "metadata": {"name": JOB, "uid": JOB_UID}})
}

/// A server-side apply of the job's status by Drydock's field manager.
fn patch_status(status: Value) -> Exchange {
    Exchange::new(
        Method::PATCH,
        format!(
            "/apis/eraser.sh/v1/imagejobs/{JOB}/status{}",
            mock::APPLY_QUERY
        ),
        job_reply(),
    )
    .with_content_type(mock::APPLY_PATCH)
    .with_body(json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJob", "status": status}))
}

fn create_pod(node: &str) -> Exchange {
    Exchange::new(
        Method::POST,
        format!("/api/v1/namespaces/{NS}/pods?&fieldManager=drydock"),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": format!("eraser-{node}-q1"), "namespace": NS}}),
    )
    .with_body(json!({
        "metadata": {
            "generateName": format!("eraser-{node}-"),
            "labels": {JOB_NAME_LABEL: JOB, "eraser.sh/type": "collector"},
            "ownerReferences": [{"apiVersion": "eraser.sh/v1", "kind": "ImageJob", "name": JOB, "uid": JOB_UID, "controller": true}]
        },
        "spec": {"nodeName": node, "tolerations": [{"operator": "Exists"}]}
    }))
}

/// The calls recording a finished run: the history (absent, so created) and the Event.
fn record_run(event_type: &str, reason: &str) -> Vec<Exchange> {
    vec![
        Exchange::new(
            Method::GET,
            format!(
                "/api/v1/namespaces/{NS}/configmaps/{}",
                state::HISTORY_CONFIGMAP
            ),
            json!({}),
        )
        .failing(404, "NotFound", "configmaps not found"),
        Exchange::new(
            Method::POST,
            format!("/api/v1/namespaces/{NS}/configmaps?&fieldManager=drydock"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": state::HISTORY_CONFIGMAP}}),
        )
        .with_body(json!({"metadata": {"name": state::HISTORY_CONFIGMAP}})),
        Exchange::new(
            Method::POST,
            "/api/v1/namespaces/default/events?",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"}}),
        )
        .with_body(json!({
            "type": event_type, "reason": reason,
            "involvedObject": {"kind": "ImageJob", "name": JOB, "uid": JOB_UID}
        })),
    ]
}

/// The one call that deletes every worker pod of the job.
fn delete_pods() -> Exchange {
    Exchange::new(
        Method::DELETE,
        format!("/api/v1/namespaces/{NS}/pods?&labelSelector=drydock.dev%2Fimagejob%3D{JOB}"),
        json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": []}),
    )
    .with_body(json!({"propagationPolicy": "Background"}))
}

/// The cache sees the pods of `nodes` terminating (their deletion asked for).
fn terminating(f: &mut Fixture, nodes: &[&str], now: Timestamp) {
    for n in nodes {
        let mut p = pod(n, "Succeeded", t0(), &[]);
        p.metadata.deletion_timestamp = Some(Time(now));
        f.pod_writer.apply_watcher_event(&watcher::Event::Apply(p));
    }
}

/// The call that deletes the ImageJob itself.
fn delete_job() -> Exchange {
    Exchange::new(
        Method::DELETE,
        format!("/apis/eraser.sh/v1/imagejobs/{JOB}?"),
        job_reply(),
    )
}

/// A job that completed at `at(60)` with `count` nodes succeeded.
fn completed_at_60(count: i64) -> Arc<ImageJob> {
    job(Some(ImageJobStatus {
        phase: JobPhase::Completed,
        desired: count,
        succeeded: count,
        delete_after: Some(Time(at(60))),
        ..ImageJobStatus::default()
    }))
}

/// The passes of a started job whose pods on `nodes` all succeed: the cache sees them done,
/// the pass at `at(60)` completes the job, the next deletes its pods, and the one after they
/// terminate deletes the job.
async fn run_to_completion(f: &mut Fixture, nodes: &[&str]) {
    for n in nodes {
        f.pod_writer
            .apply_watcher_event(&watcher::Event::Apply(pod(n, "Succeeded", at(5), &[])));
    }
    f.clock.set(at(60));
    let count = i64::try_from(nodes.len()).unwrap();
    reconcile(job(running(count, 0)), f.shared.clone())
        .await
        .unwrap();
    let completed = completed_at_60(count);
    reconcile(completed.clone(), f.shared.clone())
        .await
        .unwrap();
    terminating(f, nodes, at(61));
    reconcile(completed, f.shared.clone()).await.unwrap();
}

fn requeue(action: &Action, after: Duration) {
    assert_eq!(*action, Action::requeue(after));
}

#[tokio::test(start_paused = true)]
async fn a_new_job_writes_its_status_first_then_one_pod_per_eligible_node() {
    let mut calls = vec![
        get_template(),
        patch_status(
            json!({"phase": "Running", "desired": 4, "skipped": 2, "succeeded": 0, "failed": 0}),
        ),
    ];
    calls.extend(["a", "b"].map(create_pod));
    let (client, verifier) = mock::client(calls);
    let nodes = vec![
        node("a", &[], true),
        node("b", &[], true),
        node(
            "win",
            &[(
                crate::manager::plan::OS_LABEL,
                crate::manager::plan::WINDOWS,
            )],
            true,
        ),
        node("kept-out", &[(CLEANUP_FILTER_LABEL, "true")], true),
    ];
    let f = fixture(client, Config::default(), nodes, vec![], t0());
    let action = reconcile(job(None), f.shared.clone()).await.unwrap();
    requeue(&action, RUNNING_RECHECK);
    verifier.finish().await;

    // The next pass (the status write's own watch event) before the cache shows the pods:
    // nothing is created twice, nothing is polled.
    let action = reconcile(job(running(4, 2)), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, RUNNING_RECHECK);
}

#[tokio::test(start_paused = true)]
async fn an_include_filter_plans_only_matching_nodes() {
    let (client, verifier) = mock::client(vec![
        get_template(),
        patch_status(json!({"phase": "Running", "desired": 2, "skipped": 1})),
        create_pod("gpu"),
    ]);
    let mut config = Config::default();
    config.manager.node_filter.kind = NodeFilterType::Include;
    config.manager.node_filter.selectors = vec!["pool=gpu".into()];
    let nodes = vec![
        node("gpu", &[("pool", "gpu")], true),
        node("web", &[("pool", "web")], true),
    ];
    let f = fixture(client, config, nodes, vec![], t0());
    reconcile(job(None), f.shared.clone()).await.unwrap();
    verifier.finish().await;
}

/// Sixty Ready nodes `n00`…`n59`, and the calls that start a job on them: the template read
/// and the status write to Running.
fn sixty_nodes_started() -> (Vec<String>, Vec<Exchange>) {
    let names = (0..60).map(|i| format!("n{i:02}")).collect();
    let calls = vec![
        get_template(),
        patch_status(json!({"phase": "Running", "desired": 60})),
    ];
    (names, calls)
}

/// The fixture over the nodes `names`, with the API server answering `calls` in order.
fn sixty_nodes_fixture(names: &[String], calls: Vec<Exchange>) -> (Fixture, mock::Verifier) {
    let (client, verifier) = mock::client(calls);
    let nodes = names.iter().map(|n| node(n, &[], true)).collect();
    (
        fixture(client, Config::default(), nodes, vec![], t0()),
        verifier,
    )
}

#[tokio::test(start_paused = true)]
async fn pod_creation_is_rate_limited_across_passes_without_waiting() {
    let (names, mut calls) = sixty_nodes_started();
    // The bucket's burst on the first pass…
    calls.extend(names[..50].iter().map(|n| create_pod(n)));
    // …then, one second later, what 20 pods a second allows.
    calls.extend(names[50..].iter().map(|n| create_pod(n)));
    let (f, verifier) = sixty_nodes_fixture(&names, calls);
    let action = reconcile(job(None), f.shared.clone()).await.unwrap();
    requeue(&action, CREATION_REQUEUE);
    // A pass at the same instant (a watch event) creates nothing: the bucket is empty.
    let action = reconcile(job(running(60, 0)), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, CREATION_REQUEUE);
    f.clock.set(at(1));
    let action = reconcile(job(running(60, 0)), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, RUNNING_RECHECK);
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_pass_before_the_cache_shows_the_job_running_creates_no_second_pod() {
    let (names, mut calls) = sixty_nodes_started();
    calls.extend(names[..50].iter().map(|n| create_pod(n)));
    // The next pass sees the job still new (the status write's event has not arrived) and
    // the pods not yet: it creates the remaining ten, no template read, no status write and
    // no second pod on the first fifty nodes (the real-node memory bench found 5,034 pods
    // for 5,000 nodes).
    calls.extend(names[50..].iter().map(|n| create_pod(n)));
    let (f, verifier) = sixty_nodes_fixture(&names, calls);
    let action = reconcile(job(None), f.shared.clone()).await.unwrap();
    requeue(&action, CREATION_REQUEUE);
    f.clock.set(at(1));
    let action = reconcile(job(None), f.shared.clone()).await.unwrap();
    requeue(&action, RUNNING_RECHECK);
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn two_passes_of_one_job_at_once_create_each_pod_once() {
    let (names, mut calls) = sixty_nodes_started();
    calls.extend(names.iter().map(|n| create_pod(n)));
    let (f, verifier) = sixty_nodes_fixture(&names, calls);
    let action = reconcile(job(None), f.shared.clone()).await.unwrap();
    requeue(&action, CREATION_REQUEUE);
    f.clock.set(at(1));
    // A pod's change and the job's requeue trigger passes at the same instant. Run together,
    // both would see n50…n59 without a pod and create them (the memory bench found runs of
    // consecutive nodes with two pods): the second pass comes back later instead.
    let (first, second) = tokio::join!(
        reconcile(job(running(60, 0)), f.shared.clone()),
        reconcile(job(running(60, 0)), f.shared.clone()),
    );
    requeue(&first.unwrap(), RUNNING_RECHECK);
    requeue(&second.unwrap(), BUSY_REQUEUE);
    verifier.finish().await;
    // The pass is over: the next one runs.
    let action = reconcile(job(running(60, 0)), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, RUNNING_RECHECK);
}

#[test]
fn a_worker_pod_triggers_its_job_under_the_jobs_own_key() {
    let job = job(None);
    let own = reflector::ObjectRef::from_obj(&*job);
    let key = job_of_pod(&pod("a", "Pending", t0(), &[])).unwrap();
    assert_eq!(key, own);
    assert_eq!(key.namespace, None);
    // kube's owner trigger keys the cluster-scoped job with the pod's namespace: another key
    // for the scheduler, so its passes could run beside the job's own.
    let by_owner =
        reflector::ObjectRef::<ImageJob>::from_owner_ref(Some(NS), &owner(), ()).unwrap();
    assert_ne!(by_owner, own);
}

#[test]
fn the_token_bucket_refills_at_its_rate_up_to_its_size() {
    let mut bucket = TokenBucket::new(20.0, 50.0);
    assert_eq!(bucket.take(t0(), 80), 50);
    assert_eq!(bucket.take(t0(), 80), 0);
    assert_eq!(bucket.take(at(1), 80), 20);
    assert_eq!(bucket.take(at(100), 80), 50, "never more than its size");
    assert_eq!(bucket.take(at(100), 1), 0);
}

/// Eraser #911/#654: a pod stuck Pending (or ContainerCreating) and a node deleted under its pod
/// kept the job Running forever. Here the job ends once the start timeout has passed, without a
/// single call per pod.
#[tokio::test(start_paused = true)]
async fn a_job_with_a_pod_stuck_pending_and_a_deleted_node_finishes_after_the_start_timeout() {
    let nodes = vec![node("ok", &[], true), node("stuck", &[], true)];
    let pods = vec![
        pod("ok", "Succeeded", t0(), &[("remover", 0, None)]),
        pod("stuck", "Pending", t0(), &[]),
        pod("gone", "Running", t0(), &[]),
    ];
    // Before the timeout: still running, no call at all.
    let (client, verifier) = mock::client(vec![]);
    let f = fixture(
        client,
        Config::default(),
        nodes.clone(),
        pods.clone(),
        at(9 * 60),
    );
    let action = reconcile(job(running(3, 0)), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, RUNNING_RECHECK);
    verifier.finish().await;

    let mut calls = record_run("Warning", "Failed");
    calls.push(patch_status(json!({
        "phase": "Failed", "desired": 3, "succeeded": 1, "failed": 2, "skipped": 0,
        "deleteAfter": "2026-03-02T03:11:00Z"
    })));
    let (client, verifier) = mock::client(calls);
    let f = fixture(client, Config::default(), nodes, pods, at(11 * 60));
    let action = reconcile(job(running(3, 0)), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, to_std(WORKER_POD_RETENTION));
    verifier.finish().await;
}

/// Eraser #777: an OOM-killed remover leaves the collector blocked on its pipe and the pod
/// Running forever; the job must end anyway.
#[tokio::test(start_paused = true)]
async fn an_oom_killed_container_with_its_peers_blocked_does_not_keep_the_job_running() {
    let nodes = vec![node("a", &[], true), node("b", &[], true)];
    let pods = vec![
        pod("a", "Succeeded", t0(), &[]),
        pod("b", "Running", t0(), &[("remover", 137, None)]),
    ];
    let mut config = Config::default();
    config.manager.image_job.success_ratio = 0.5;
    let mut calls = record_run("Normal", "Completed");
    calls.push(patch_status(json!({
        "phase": "Completed", "succeeded": 1, "failed": 1, "deleteAfter": "2026-03-01T03:01:00Z"
    })));
    calls.push(delete_pods());
    calls.push(delete_job().with_body(json!({"propagationPolicy": "Background"})));
    let (client, verifier) = mock::client(calls);
    let mut f = fixture(client, config, nodes, pods, at(60));
    let action = reconcile(job(running(2, 0)), f.shared.clone())
        .await
        .unwrap();
    // delayOnSuccess is 0s by default: the pods, then the job, go on the next passes.
    requeue(&action, Duration::ZERO);
    // A pass before the cache shows the new phase finishes nothing twice (no call).
    let action = reconcile(job(running(2, 0)), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, CREATION_REQUEUE);
    let completed = job(Some(ImageJobStatus {
        phase: JobPhase::Completed,
        desired: 2,
        succeeded: 1,
        failed: 1,
        skipped: 0,
        delete_after: Some(Time(at(60))),
    }));
    let action = reconcile(completed.clone(), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, POD_DELETION_REQUEUE);
    // The job goes once its pods are terminating, not before (no garbage collector needed).
    terminating(&mut f, &["a", "b"], at(61));
    let action = reconcile(completed, f.shared.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    verifier.finish().await;
}

/// Eraser #1163: 272 of 273 nodes is a success at successRatio 0.95 (Eraser's integer division
/// made the ratio 0 and the job Failed).
#[tokio::test(start_paused = true)]
async fn two_hundred_seventy_two_of_273_nodes_complete_the_job_at_ratio_095() {
    let names: Vec<String> = (0..273).map(|i| format!("n{i:03}")).collect();
    let nodes: Vec<CachedNode> = names.iter().map(|n| node(n, &[], true)).collect();
    let mut pods: Vec<WorkerPod> = names[..272]
        .iter()
        .map(|n| pod(n, "Succeeded", t0(), &[]))
        .collect();
    pods.push(pod(&names[272], "Failed", t0(), &[("remover", 1, None)]));
    let mut config = Config::default();
    config.manager.image_job.success_ratio = 0.95;
    let mut calls = record_run("Normal", "Completed");
    calls.push(patch_status(
        json!({"phase": "Completed", "succeeded": 272, "failed": 1, "desired": 273}),
    ));
    let (client, verifier) = mock::client(calls);
    let f = fixture(client, config, nodes, pods, at(120));
    reconcile(job(running(273, 0)), f.shared.clone())
        .await
        .unwrap();
    verifier.finish().await;
    assert_eq!(f.shared.ctx.metrics.pods_completed.get(), 272);
    assert_eq!(f.shared.ctx.metrics.pods_failed.get(), 1);
    assert_eq!(f.shared.ctx.metrics.jobs.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_finished_job_waits_for_delete_after_then_is_deleted() {
    let (client, verifier) = mock::client(vec![delete_job()]);
    let mut config = Config::default();
    config.manager.image_job.cleanup.delay_on_success = drydock_api::GoDuration::from_secs(120);
    let completed = job(Some(ImageJobStatus {
        phase: JobPhase::Completed,
        desired: 1,
        succeeded: 1,
        delete_after: Some(Time(at(120))),
        ..ImageJobStatus::default()
    }));
    let f = fixture(client, config, vec![node("a", &[], true)], vec![], at(30));
    let action = reconcile(completed.clone(), f.shared.clone())
        .await
        .unwrap();
    requeue(&action, Duration::from_secs(90));
    f.clock.set(at(120));
    let action = reconcile(completed, f.shared.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    verifier.finish().await;
}

/// The spec's promise: worker pods are gone within 10 minutes of finishing, in both modes —
/// even when a failed job is kept for `delayOnFailure` (24 h by default).
#[tokio::test(start_paused = true)]
async fn a_failed_job_kept_for_a_day_loses_its_worker_pods_after_the_retention() {
    let pods = vec![pod("a", "Failed", t0(), &[("remover", 1, None)])];
    let (client, verifier) = mock::client(vec![delete_pods()]);
    let failed = job(Some(ImageJobStatus {
        phase: JobPhase::Failed,
        desired: 1,
        failed: 1,
        delete_after: Some(Time(at(24 * 3600))),
        ..ImageJobStatus::default()
    }));
    let f = fixture(client, Config::default(), vec![], pods, at(60));
    let action = reconcile(failed.clone(), f.shared.clone()).await.unwrap();
    requeue(&action, Duration::from_secs(4 * 60));
    f.clock.set(at(5 * 60));
    let action = reconcile(failed, f.shared.clone()).await.unwrap();
    requeue(&action, Duration::from_secs(24 * 3600 - 5 * 60));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_job_without_its_podtemplate_fails_with_an_event() {
    let (client, verifier) = mock::client(vec![
        Exchange::new(
            Method::GET,
            format!("/api/v1/namespaces/{NS}/podtemplates/{JOB}"),
            json!({}),
        )
        .failing(404, "NotFound", "podtemplates not found"),
        Exchange::new(
            Method::POST,
            "/api/v1/namespaces/default/events?",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"}}),
        )
        .with_body(json!({"type": "Warning", "reason": "PodTemplateNotFound"})),
        patch_status(json!({"phase": "Failed", "deleteAfter": "2026-03-01T03:00:01Z"})),
    ]);
    let f = fixture(
        client,
        Config::default(),
        vec![node("a", &[], true)],
        vec![],
        t0(),
    );
    reconcile(job(None), f.shared.clone()).await.unwrap();
    verifier.finish().await;
}

/// API requests of one whole job on 50 nodes: one template read, one status write, one create
/// per eligible node, the finish (history read + write, Event, status), one DeleteCollection
/// for the pods and the job's delete. Nothing per pod beyond its creation; no polling.
#[tokio::test(start_paused = true)]
async fn a_whole_job_on_50_nodes_costs_one_create_per_node_plus_eight_calls() {
    let names: Vec<String> = (0..50).map(|i| format!("n{i:02}")).collect();
    let nodes: Vec<CachedNode> = names.iter().map(|n| node(n, &[], true)).collect();
    let mut calls = vec![
        get_template(),
        patch_status(json!({"phase": "Running", "desired": 50})),
    ];
    calls.extend(names.iter().map(|n| create_pod(n)));
    calls.extend(record_run("Normal", "Completed"));
    calls.push(patch_status(json!({"phase": "Completed", "succeeded": 50})));
    calls.push(delete_pods());
    calls.push(delete_job());
    let total = calls.len();
    let (client, verifier) = mock::client(calls);
    let mut f = fixture(client, Config::default(), nodes, vec![], t0());
    reconcile(job(None), f.shared.clone()).await.unwrap();
    // The pods run and succeed; the cache sees them.
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    run_to_completion(&mut f, &all).await;
    verifier.finish().await;
    assert_eq!(total, 50 + 8);
    println!("API requests for one job on 50 nodes: {total}");
}

#[test]
fn the_caches_keep_what_planning_and_folding_read() {
    let mut n = api_node("a", &[("pool", "gpu")], true);
    n.metadata.annotations = Some(BTreeMap::from([("big".to_owned(), "x".repeat(1000))]));
    n.status.as_mut().unwrap().images = Some(vec![Default::default(); 50]);
    n.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("zone".into(), "1".into());
    let keys = label_keys(&Config::default().manager.node_filter).unwrap();
    let mut n: CachedNode = from_api(&n);
    n.keep_labels(&keys);
    assert!(n.metadata.annotations.is_none());
    assert!(
        !n.labels().contains_key("zone"),
        "a label no selector reads"
    );
    let plan = plan_nodes([&n], &Config::default().manager.node_filter).unwrap();
    assert_eq!(plan.targets, vec!["a"]);

    let summary = r#"{"removed":1,"wouldRemove":0,"alreadyGone":0,"kept":0,"notOnNode":0,"failed":0,"bytesReclaimed":1,"removedImages":["x"],"failedImages":[],"truncated":false}"#;
    let p = pod(
        "a",
        "Succeeded",
        t0(),
        &[
            ("collector", 0, Some("chatter")),
            ("scanner", 2, Some("db unreachable")),
            ("remover", 0, Some(summary)),
        ],
    );
    let names: Vec<&str> = p.ended.iter().map(|c| c.container.as_str()).collect();
    assert_eq!(
        names,
        vec!["scanner", "remover"],
        "clean exits other than the remover's go"
    );
    assert_eq!(
        (p.ended[0].exit_code, p.ended[0].message.as_deref()),
        (2, None)
    );
    assert!(remover_summary(&p).is_some());
    assert_eq!(p.node.as_deref(), Some("a"));
    assert_eq!(p.job.as_deref(), Some(JOB));
}

/// Eraser's chart role, and only it: `deletecollection` on pods and everything on Events answer
/// 403 (as the API server does for every call outside a role). The run completes, its pods are
/// deleted one by one, and each missing permission is asked for once and reported once.
#[tokio::test(start_paused = true)]
async fn with_erasers_chart_role_a_run_completes_and_deletes_its_pods_one_by_one() {
    let names = ["a", "b"];
    let nodes: Vec<CachedNode> = names.iter().map(|n| node(n, &[], true)).collect();
    let mut calls = vec![
        get_template(),
        patch_status(json!({"phase": "Running", "desired": 2})),
    ];
    calls.extend(names.iter().map(|n| create_pod(n)));
    let mut record = record_run("Normal", "Completed");
    let event = record.pop().unwrap();
    calls.extend(record);
    calls.push(event.failing(
        403,
        "Forbidden",
        "events is forbidden: User \"system:serviceaccount:eraser-system:eraser-controller-manager\" cannot create resource \"events\"",
    ));
    calls.push(patch_status(json!({"phase": "Completed", "succeeded": 2})));
    calls.push(delete_pods().failing(
        403,
        "Forbidden",
        "pods is forbidden: cannot deletecollection resource \"pods\"",
    ));
    for n in names {
        calls.push(
            Exchange::new(
                Method::DELETE,
                format!("/api/v1/namespaces/{NS}/pods/eraser-{n}-x1?"),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("eraser-{n}-x1")}}),
            )
            .with_body(json!({"propagationPolicy": "Background"})),
        );
    }
    calls.push(delete_job());
    let (client, verifier) = mock::client(calls);
    let mut f = fixture(client, Config::default(), nodes, vec![], t0());
    reconcile(job(None), f.shared.clone()).await.unwrap();
    run_to_completion(&mut f, &names).await;
    // Later Events are not even attempted (the mock would fail on any extra call).
    f.shared
        .ctx
        .event(
            job(None).object_ref(&()),
            EventKind::Normal,
            "Anything",
            "not sent",
        )
        .await;
    verifier.finish().await;
    let missing = &f.shared.ctx.metrics.permission_missing;
    for (verb, resource) in [("create", "events"), ("deletecollection", "pods")] {
        let labels = crate::manager::metrics::PermissionLabels {
            verb: verb.into(),
            resource: resource.into(),
        };
        assert_eq!(missing.get_or_create(&labels).get(), 1, "{verb} {resource}");
    }
}

/// Issue 11: a worker pod the API server refuses (its ServiceAccount is missing) is reported at
/// once — a warning Event with the server's reason — and its node counts failed at the next
/// pass, instead of after the start timeout.
#[tokio::test(start_paused = true)]
async fn a_refused_worker_pod_is_reported_at_once_and_its_node_counted_failed() {
    let reason = "pods \"eraser-a-\" is forbidden: error looking up service account eraser-system/eraser-imagejob-pods: serviceaccount \"eraser-imagejob-pods\" not found";
    let mut calls = vec![
        get_template(),
        patch_status(json!({"phase": "Running", "desired": 2})),
        create_pod("a").failing(403, "Forbidden", reason),
        Exchange::new(
            Method::POST,
            "/api/v1/namespaces/default/events?",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"}}),
        )
        .with_body(json!({
            "type": "Warning", "reason": "FailedCreate",
            "message": format!("worker pod on node a refused: {reason}"),
            "involvedObject": {"kind": "ImageJob", "name": JOB}
        })),
        // The same refusal on the next node: counted, not announced again.
        create_pod("b").failing(403, "Forbidden", reason),
    ];
    calls.extend(record_run("Warning", "Failed"));
    calls.push(patch_status(
        json!({"phase": "Failed", "desired": 2, "failed": 2, "succeeded": 0}),
    ));
    let (client, verifier) = mock::client(calls);
    let nodes = vec![node("a", &[], true), node("b", &[], true)];
    let f = fixture(client, Config::default(), nodes, vec![], t0());
    let action = reconcile(job(None), f.shared.clone()).await.unwrap();
    requeue(&action, CREATION_REQUEUE);
    // One second later, far inside the start timeout: both nodes failed, the job ends.
    f.clock.set(at(1));
    reconcile(job(running(2, 0)), f.shared.clone())
        .await
        .unwrap();
    verifier.finish().await;
    assert_eq!(f.shared.ctx.metrics.pods_failed.get(), 2);
}

/// A scanner's in-use report naming `images` as (ID, severity, count).
fn scanner_message(images: &[(&str, &str, u32)]) -> String {
    let images: Vec<Value> = images
        .iter()
        .map(|(id, severity, count)| {
            json!({"id": id, "names": [format!("registry.example/{}:1", &id[7..])],
                   "severities": {(*severity): count}, "fixable": false})
        })
        .collect();
    json!({"inUseScanned": images.len() + 1, "inUseFailed": 0, "images": images}).to_string()
}

fn report_path() -> String {
    format!(
        "/api/v1/namespaces/{NS}/configmaps/{}?&force=true&fieldManager=drydock",
        state::REPORT_CONFIGMAP
    )
}

/// The API server's view of the report write: the folded report is the one expected.
fn folded_report_of_nodes_a_and_b(body: &Value) -> Option<String> {
    let text = body["data"][state::REPORT_KEY].as_str()?;
    let report: Value = serde_json::from_str(text).ok()?;
    let expected = json!({
        "job": JOB, "nodes": 2, "inUseScanned": 5, "inUseFailed": 0, "vulnerable": 2,
        "vulnerableBySeverity": {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 0, "HIGH": 0, "CRITICAL": 1},
        "images": [
            {"id": "sha256:shared", "names": ["registry.example/shared:1"], "nodes": ["a", "b"],
             "nodeCount": 2, "severities": {"CRITICAL": 1}, "fixable": false},
            {"id": "sha256:only-b", "names": ["registry.example/only-b:1"], "nodes": ["b"],
             "nodeCount": 1, "severities": {"LOW": 2}, "fixable": false},
        ],
    });
    let mut got = report;
    got.as_object_mut()?.remove("finished");
    (got != expected).then(|| format!("unexpected report {got:#}"))
}

fn scanned_pods() -> Vec<WorkerPod> {
    let a = scanner_message(&[("sha256:shared", "CRITICAL", 1)]);
    let b = scanner_message(&[
        ("sha256:shared", "CRITICAL", 1),
        ("sha256:only-b", "LOW", 2),
    ]);
    vec![
        pod(
            "a",
            "Succeeded",
            t0(),
            &[("trivy-scanner", 0, Some(a.as_str()))],
        ),
        pod(
            "b",
            "Succeeded",
            t0(),
            &[("trivy-scanner", 0, Some(b.as_str()))],
        ),
        // A scanner without the report writes no message: the node adds nothing.
        pod("c", "Succeeded", t0(), &[("trivy-scanner", 0, None)]),
    ]
}

fn gauge(f: &Fixture, severity: &str) -> i64 {
    f.shared
        .ctx
        .metrics
        .vulnerable_images_in_use
        .get_or_create(&crate::manager::metrics::SeverityLabels {
            severity: severity.into(),
        })
        .get()
}

#[tokio::test(start_paused = true)]
async fn a_finished_run_folds_the_scanners_in_use_reports_into_the_report_configmap() {
    let nodes: Vec<CachedNode> = ["a", "b", "c"].iter().map(|n| node(n, &[], true)).collect();
    let mut calls = record_run("Normal", "Completed");
    let event = calls.pop().unwrap();
    calls.push(
        Exchange::new(
            Method::PATCH,
            report_path(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": state::REPORT_CONFIGMAP}}),
        )
        .with_body(json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": state::REPORT_CONFIGMAP, "namespace": NS}}))
        .validated_by(folded_report_of_nodes_a_and_b),
    );
    calls.push(event);
    calls.push(patch_status(json!({"phase": "Completed", "succeeded": 3})));
    let (client, verifier) = mock::client(calls);
    let f = fixture(client, Config::default(), nodes, scanned_pods(), at(120));
    reconcile(job(running(3, 0)), f.shared.clone())
        .await
        .unwrap();
    verifier.finish().await;
    assert_eq!(gauge(&f, "CRITICAL"), 1);
    assert_eq!(gauge(&f, "LOW"), 1);
    assert_eq!(gauge(&f, "HIGH"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_refused_report_write_still_finishes_the_run() {
    let nodes: Vec<CachedNode> = ["a", "b", "c"].iter().map(|n| node(n, &[], true)).collect();
    let mut calls = record_run("Normal", "Completed");
    let event = calls.pop().unwrap();
    calls.push(
        Exchange::new(Method::PATCH, report_path(), json!({})).failing(
            403,
            "Forbidden",
            "configmaps is forbidden: cannot patch resource \"configmaps\"",
        ),
    );
    calls.push(event);
    calls.push(patch_status(json!({"phase": "Completed", "succeeded": 3})));
    let (client, verifier) = mock::client(calls);
    let f = fixture(client, Config::default(), nodes, scanned_pods(), at(120));
    reconcile(job(running(3, 0)), f.shared.clone())
        .await
        .unwrap();
    verifier.finish().await;
    assert_eq!(
        gauge(&f, "CRITICAL"),
        1,
        "the gauge shows the newest run all the same"
    );
}
