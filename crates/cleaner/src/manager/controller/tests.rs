//! tower-test scenarios of the shared controller code: job creation order and ownership.

use drydock_kube::mock::{self, Exchange};
use http::Method;
use serde_json::{Value, json};

use super::*;

/// The namespace of the tests.
pub(crate) const NS: &str = "eraser-system";

/// A fixed instant for tests.
pub(crate) fn t0() -> Timestamp {
    "2026-03-01T03:00:00Z".parse().unwrap()
}

/// A context over `client` at a fixed time.
pub(crate) fn context(client: kube::Client, config: Config) -> Context {
    let now = t0();
    Context::new(client, NS, config).with_clock(Arc::new(move || now))
}

fn job_reply(name: &str) -> Value {
    json!({
        "apiVersion": "eraser.sh/v1", "kind": "ImageJob",
        "metadata": {"name": name, "uid": "job-uid"}
    })
}

fn owner_patch(name: &str) -> Value {
    json!({"metadata": {"ownerReferences": [{
        "apiVersion": "eraser.sh/v1", "kind": "ImageJob", "name": name,
        "uid": "job-uid", "controller": true
    }]}})
}

/// The POST of a job's PodTemplate, answered with the template `name`.
fn template_post(name: &str) -> Exchange {
    Exchange::new(
        Method::POST,
        format!("/api/v1/namespaces/{NS}/podtemplates?&fieldManager=drydock"),
        json!({"apiVersion": "v1", "kind": "PodTemplate",
               "metadata": {"name": name, "namespace": NS}}),
    )
}

/// The POST of the ImageJob, answered with the job `name`.
fn job_post(name: &str) -> Exchange {
    Exchange::new(
        Method::POST,
        "/apis/eraser.sh/v1/imagejobs?&fieldManager=drydock",
        job_reply(name),
    )
}

/// The PATCH that hands the PodTemplate `name` to its job.
fn template_reown(name: &str) -> Exchange {
    Exchange::new(
        Method::PATCH,
        format!("/api/v1/namespaces/{NS}/podtemplates/{name}?&fieldManager=drydock"),
        json!({"apiVersion": "v1", "kind": "PodTemplate",
               "metadata": {"name": name, "namespace": NS}}),
    )
}

#[tokio::test(start_paused = true)]
async fn an_automatic_job_creates_its_podtemplate_first_then_the_job_then_reowns_the_template() {
    let (client, verifier) = mock::client(vec![
        // Eraser #1051: the PodTemplate exists before the ImageJob does.
        template_post("imagejob-x7k2p").with_body(json!({
            "metadata": {"generateName": "imagejob-", "namespace": NS},
            "template": {"metadata": {"labels": {"eraser.sh/type": "collector"}}}
        })),
        job_post("imagejob-x7k2p").with_body(json!({"metadata": {
            "name": "imagejob-x7k2p",
            "labels": {"eraser.sh/job-owner": "imagecollector"}
        }})),
        // Eraser #912: the template is owned by the job, not by the manager pod.
        template_reown("imagejob-x7k2p").with_body(owner_patch("imagejob-x7k2p")),
    ]);
    let ctx = context(client, Config::default());
    let name = create_job(&ctx, collector_job()).await.unwrap();
    assert_eq!(name, "imagejob-x7k2p");
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_manual_job_puts_its_images_in_an_immutable_configmap_owned_by_the_job() {
    let cm_path = format!("/api/v1/namespaces/{NS}/configmaps");
    let template_path = format!("/api/v1/namespaces/{NS}/podtemplates");
    let imagelist_owner = OwnerReference {
        api_version: "eraser.sh/v1".into(),
        kind: "ImageList".into(),
        name: "imagelist".into(),
        uid: "list-uid".into(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    let (client, verifier) = mock::client(vec![
        Exchange::new(
            Method::POST,
            format!("{cm_path}?&fieldManager=drydock"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "imagelist-abcde", "namespace": NS}}),
        )
        .with_body(json!({
            "metadata": {"generateName": "imagelist-"},
            "immutable": true,
            "data": {"images": "[\"docker.io/library/alpine:3.7.3\"]"}
        })),
        template_post("imagejob-m1")
        .with_body(json!({"template": {"spec": {"volumes": [
            {"name": "runtime-sock-volume",
             "hostPath": {"path": "/run/containerd/containerd.sock", "type": "Socket"}},
            {"name": "imagelist", "configMap": {"name": "imagelist-abcde"}}
        ]}}})),
        job_post("imagejob-m1")
        .with_body(json!({"metadata": {
            "name": "imagejob-m1",
            "labels": {"eraser.sh/job-owner": "imagelist-controller"},
            "ownerReferences": [{"apiVersion": "eraser.sh/v1", "kind": "ImageList",
                                 "name": "imagelist", "uid": "list-uid", "controller": true}]
        }})),
        Exchange::new(
            Method::PATCH,
            format!("{template_path}/imagejob-m1?&fieldManager=drydock"),
            json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "imagejob-m1"}}),
        )
        .with_body(owner_patch("imagejob-m1")),
        Exchange::new(
            Method::PATCH,
            format!("{cm_path}/imagelist-abcde?&fieldManager=drydock"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "imagelist-abcde"}}),
        )
        .with_body(owner_patch("imagejob-m1")),
    ]);
    let ctx = context(client, Config::default());
    let name = create_job(
        &ctx,
        JobRequest {
            mode: JobMode::Manual {
                images: vec!["docker.io/library/alpine:3.7.3".into()],
            },
            owner: Some(imagelist_owner),
            exclusions: vec![],
            identity: BTreeMap::new(),
        },
    )
    .await
    .unwrap();
    assert_eq!(name, "imagejob-m1");
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_that_cannot_be_created_takes_its_podtemplate_with_it() {
    let template_path = format!("/api/v1/namespaces/{NS}/podtemplates");
    let (client, verifier) = mock::client(vec![
        template_post("imagejob-q"),
        Exchange::new(
            Method::POST,
            "/apis/eraser.sh/v1/imagejobs?&fieldManager=drydock",
            json!({}),
        )
        .failing(403, "Forbidden", "imagejobs is forbidden"),
        Exchange::new(
            Method::DELETE,
            format!("{template_path}/imagejob-q?"),
            json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "imagejob-q"}}),
        ),
    ]);
    let ctx = context(client, Config::default());
    let err = create_job(&ctx, collector_job()).await.unwrap_err();
    assert!(
        err.to_string().starts_with("cannot create the ImageJob"),
        "{err}"
    );
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn the_controllers_stop_within_the_grace_after_shutdown_even_without_an_api_server() {
    let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
    drydock_kube::client::install_crypto_provider();
    let client = kube::Client::try_from(config).unwrap();
    let ctx = Arc::new(context(client, Config::default()));
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(run_all(ctx, shutdown));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    stop.send(true).unwrap();
    let stopped = tokio::time::timeout(STOP_GRACE * 2, running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}

/// The ImageList and ImageJob status schemas of Eraser's CRDs (the repository's fixture
/// `testdata/eraser-crds.yaml`, as Eraser's chart installs them), by kind.
fn eraser_status_schema(kind: &str) -> Value {
    let text = include_str!("../../../../../testdata/eraser-crds.yaml");
    let crds: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
    let crd = crds
        .iter()
        .find(|crd| crd["spec"]["names"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} CRD in the fixture"));
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"].clone()
}

/// What Eraser's structural CRD says of a status write `{"status": …}` on a `kind` that has no
/// status yet (the write that broke the issue: required fields missing, a field of the wrong
/// type), in the API server's words; `None` when valid. Unknown fields are not looked at: a
/// merge patch had them pruned, while an apply naming one is refused whole before this check
/// (the ImageList tests' `eraser_apply_problem`), and the ImageList controller then writes
/// Eraser's fields only.
fn eraser_status_problem(kind: &str, body: &Value) -> Option<String> {
    let schema = eraser_status_schema(kind);
    let status = body.get("status")?;
    let mut problems = Vec::new();
    for field in schema["required"].as_array().unwrap() {
        let field = field.as_str().unwrap();
        if status.get(field).is_none_or(Value::is_null) {
            problems.push(format!("status.{field}: Required value"));
        }
    }
    for (field, spec) in schema["properties"].as_object().unwrap() {
        let Some(value) = status.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let ok = match spec["type"].as_str() {
            Some("integer") => value.is_i64(),
            Some("string") if spec["format"] == "date-time" => value
                .as_str()
                .is_some_and(|s| s.parse::<Timestamp>().is_ok()),
            Some("string") => value.is_string(),
            _ => true,
        };
        if !ok {
            problems.push(format!("status.{field}: Invalid value: {value}"));
        }
    }
    (!problems.is_empty())
        .then(|| format!("{kind}.eraser.sh is invalid: [{}]", problems.join(", ")))
}

/// [`eraser_status_problem`] for ImageLists, as a mock validator.
pub(crate) fn eraser_imagelist_status(body: &Value) -> Option<String> {
    eraser_status_problem("ImageList", body)
}

/// [`eraser_status_problem`] for ImageJobs, as a mock validator.
pub(crate) fn eraser_imagejob_status(body: &Value) -> Option<String> {
    eraser_status_problem("ImageJob", body)
}

#[test]
fn the_eraser_schema_check_refuses_what_the_api_server_refused() {
    // The write of the issue: conditions and observedGeneration only.
    let drydock_only = json!({"status": {"observedGeneration": 1, "conditions": []}});
    let problem = eraser_imagelist_status(&drydock_only).unwrap();
    assert_eq!(
        problem,
        "ImageList.eraser.sh is invalid: [status.failed: Required value, status.skipped: Required value, status.success: Required value, status.timestamp: Required value]"
    );
    let complete = json!({"status": {"timestamp": "2026-03-01T03:00:00Z", "success": 1,
                                      "failed": 0, "skipped": 0, "conditions": []}});
    assert_eq!(eraser_imagelist_status(&complete), None);
    let job = json!({"status": {"phase": "Running", "desired": 2, "succeeded": 0, "failed": 0,
                                "skipped": 0}});
    assert_eq!(eraser_imagejob_status(&job), None);
    assert!(eraser_imagejob_status(&json!({"status": {"phase": "Running"}})).is_some());
}

#[test]
fn every_imagejob_status_the_manager_writes_is_valid_under_erasers_crd() {
    use drydock_api::imagejob::{ImageJobStatus, JobPhase};
    for phase in [
        JobPhase::New,
        JobPhase::Running,
        JobPhase::Completed,
        JobPhase::Failed,
    ] {
        let status = ImageJobStatus {
            phase,
            ..ImageJobStatus::default()
        };
        let body = json!({ "status": status });
        assert_eq!(eraser_imagejob_status(&body), None, "{body}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_with_a_remover_that_cannot_honour_it_starts_nothing() {
    // Eraser's remover image would remove for real: no call at all is made.
    let (client, verifier) = mock::client(vec![]);
    let mut config = Config::default();
    config.components.remover.image.repo = "ghcr.io/eraser-dev/remover".into();
    let ctx = context(client, config);
    let err = create_job(
        &ctx,
        JobRequest {
            mode: JobMode::Automatic,
            owner: None,
            exclusions: vec![],
            identity: BTreeMap::from([(names::DRY_RUN_LABEL.to_owned(), "true".to_owned())]),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    verifier.finish().await;
    assert!(err.starts_with("components.remover.image: "), "{err}");
    assert!(err.contains("ghcr.io/eraser-dev/remover"), "{err}");
}

#[test]
fn a_real_start_never_adopts_the_dry_run_of_the_same_generation() {
    let identity = BTreeMap::from([
        (names::state::IMAGELIST_UID_LABEL.to_owned(), "u".to_owned()),
        (
            names::state::IMAGELIST_GENERATION_LABEL.to_owned(),
            "1".to_owned(),
        ),
    ]);
    let mut dry_labels = identity.clone();
    dry_labels.insert(names::DRY_RUN_LABEL.to_owned(), "true".to_owned());
    let mut dry_job = ImageJob::new("imagejob-dry", drydock_api::imagejob::ImageJobFields {});
    dry_job.metadata.labels = Some(dry_labels.clone());
    dry_job.status = Some(drydock_api::imagejob::ImageJobStatus {
        phase: drydock_api::imagejob::JobPhase::Completed,
        ..Default::default()
    });
    let jobs = [dry_job];
    let mut guard = StartGuard::default();
    assert_eq!(
        preflight_decide(&jobs, &identity, &mut guard, t0()),
        Preflight::Clear
    );
    assert_eq!(
        preflight_decide(&jobs, &dry_labels, &mut guard, t0()),
        Preflight::Adopt("imagejob-dry".to_owned())
    );
}

/// A config whose scanner is Drydock's (the default image) and enabled.
fn drydock_scanner() -> Config {
    let mut config = Config::default();
    config.components.collector.enabled = true;
    config.components.scanner.enabled = true;
    config
}

fn collector_job() -> JobRequest {
    JobRequest {
        mode: JobMode::Automatic,
        owner: None,
        exclusions: vec![],
        identity: BTreeMap::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_with_drydocks_scanner_gets_a_token_secret_it_owns_and_its_scanner_mounts() {
    let secret_path = format!("/api/v1/namespaces/{NS}/secrets");
    let (client, verifier) = mock::client(vec![
        Exchange::new(
            Method::POST,
            format!("{secret_path}?&fieldManager=drydock"),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "drydock-verdicts-q8z", "namespace": NS}}),
        )
        .with_body(json!({
            "metadata": {"generateName": "drydock-verdicts-",
                         "labels": {"drydock.dev/verdict-token": "true"}},
            "type": "Opaque"
        }))
        .validated_by(|body| {
            // 64 hex digits, base64-encoded by the client.
            let token = body["data"]["token"].as_str().unwrap_or_default();
            (token.len() != 88).then(|| format!("token {token:?} is not 32 bytes of hex"))
        }),
        template_post("imagejob-x7k2p").validated_by(|body| {
            let spec = &body["template"]["spec"];
            let volume = spec["volumes"]
                .as_array()
                .and_then(|vs| vs.iter().find(|v| v["name"] == "drydock-verdict-token"));
            if volume.map(|v| &v["secret"]["secretName"]) != Some(&json!("drydock-verdicts-q8z")) {
                return Some(format!("no token volume: {}", spec["volumes"]));
            }
            let containers = spec["containers"].as_array().cloned().unwrap_or_default();
            let mounting: Vec<&Value> = containers
                .iter()
                .filter(|c| {
                    c["volumeMounts"]
                        .to_string()
                        .contains("drydock-verdict-token")
                })
                .collect();
            let [scanner] = mounting.as_slice() else {
                return Some("the token must be mounted by the scanner alone".to_owned());
            };
            let args = scanner["args"].to_string();
            (scanner["name"] != "trivy-scanner"
                || !args.contains("--verdicts-token=/run/drydock/verdicts/token")
                || !args.contains(
                    "--verdicts-url=http://eraser-controller-manager.$(POD_NAMESPACE).svc:8890",
                ))
            .then(|| format!("scanner args {args}"))
        }),
        job_post("imagejob-x7k2p"),
        template_reown("imagejob-x7k2p").with_body(owner_patch("imagejob-x7k2p")),
        // The token belongs to the job: collected with it, honoured while it runs.
        Exchange::new(
            Method::PATCH,
            format!("{secret_path}/drydock-verdicts-q8z?&fieldManager=drydock"),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "drydock-verdicts-q8z", "namespace": NS}}),
        )
        .with_body({
            let mut patch = owner_patch("imagejob-x7k2p");
            patch["metadata"]["labels"] = json!({"drydock.dev/imagejob": "imagejob-x7k2p"});
            patch
        }),
    ]);
    let ctx = context(client, drydock_scanner());
    let name = create_job(&ctx, collector_job()).await.unwrap();
    assert_eq!(name, "imagejob-x7k2p");
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn without_the_right_to_create_secrets_jobs_run_without_the_cache_and_it_is_said_once() {
    let run = |refused: bool| {
        let mut exchanges = Vec::new();
        if refused {
            exchanges.push(
                Exchange::new(
                    Method::POST,
                    format!("/api/v1/namespaces/{NS}/secrets?&fieldManager=drydock"),
                    json!({}),
                )
                .failing(403, "Forbidden", "secrets is forbidden"),
            );
        }
        exchanges.extend([
            template_post("imagejob-a").validated_by(|body| {
                let text = body.to_string();
                (text.contains("verdict")).then(|| format!("a token is mounted: {text}"))
            }),
            job_post("imagejob-a"),
            template_reown("imagejob-a"),
        ]);
        exchanges
    };
    let mut calls = run(true);
    // The second job asks no more: the refusal is remembered.
    calls.extend(run(false));
    let (client, verifier) = mock::client(calls);
    let ctx = context(client, drydock_scanner());
    create_job(&ctx, collector_job()).await.unwrap();
    assert!(ctx.is_denied(CREATE_SECRETS));
    create_job(&ctx, collector_job()).await.unwrap();
    verifier.finish().await;
}

#[test]
fn only_drydocks_scanner_in_a_collector_job_uses_the_cache() {
    let config = drydock_scanner();
    assert!(verdict_cache_wanted(
        &config,
        &podspec::Mode::Collector,
        &[]
    ));
    let manual = podspec::Mode::Manual {
        imagelist_configmap: "imagelist-x".into(),
    };
    assert!(!verdict_cache_wanted(&config, &manual, &[]));
    let mut eraser = config.clone();
    eraser.components.scanner.image.repo = "ghcr.io/eraser-dev/eraser-trivy-scanner".into();
    assert!(!verdict_cache_wanted(
        &eraser,
        &podspec::Mode::Collector,
        &[]
    ));
    let mut off = config;
    off.components.scanner.enabled = false;
    assert!(!verdict_cache_wanted(&off, &podspec::Mode::Collector, &[]));
}
