//! The cluster's verdict cache end to end: the scanner stage's real decision loop
//! (`scan::scan_images`) with the scanner's real client (`verdict_client::Remote`) against the
//! manager's real service (`verdict_cache::VerdictService`) over ConfigMaps kept in memory.
//!
//! - A simulation of a 50-node run, 80 % of each node's images shared, on tokio's paused
//!   clock (scans and writes take virtual time; node starts are spread by a seeded RNG): scans
//!   with the cache against scans without, and the manager restarted mid-run (its state
//!   dropped, read back from the ConfigMaps) losing no acknowledged verdict.
//! - Over HTTP on a loopback port: the job's token is honoured, a forged, ended or missing one
//!   is refused with 403 and changes nothing, a restarted manager still answers, and a new
//!   index forgets everything.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test, with its backtrace

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drydock_cleaner::manager::verdict_cache::{
    self, Access, Credentials, MAX_ENTRIES, Persist, VerdictService,
};
use drydock_cleaner::manager::vulndist::{Published, Status};
use drydock_cleaner::node::scan::{NoCache, ScanImage, VerdictCache, scan_images};
use drydock_cleaner::node::verdict_client::{Http, Remote, Sent, Transport};
use drydock_cleaner::verdicts::{Answer, Known, Lookup, Report};
use drydock_cleaner::{Error, Result};
use drydock_vuln::Verdict;
use drydock_vuln::config::TimeoutConfig;
use tokio::sync::{oneshot, watch};

/// The index digest the manager serves in these tests.
const INDEX: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
/// Another index (after a refresh).
const NEW_INDEX: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
/// The scanners' settings digest.
const SETTINGS: &str = "0123456789abcdef";

/// Nodes in the simulated cluster.
const NODES: usize = 50;
/// Images per node.
const IMAGES_PER_NODE: usize = 40;
/// Of which shared with other nodes (80 %).
const SHARED_PER_NODE: usize = 32;
/// The pool the shared images are drawn from.
const SHARED_POOL: usize = 40;
/// Pods of one run start over this long (kubelets pull and start containers at their pace).
const START_SPREAD_MS: u64 = 20_000;
/// One scan takes 1 to 3 s.
const SCAN_MS: (u64, u64) = (1_000, 3_000);
/// One ConfigMap write takes this long.
const WRITE: Duration = Duration::from_millis(20);
/// The manager is killed this far into the run…
const RESTART_AT: Duration = Duration::from_secs(30);
/// …and serves again this much later.
const DOWNTIME: Duration = Duration::from_secs(5);

/// xorshift64*: a seeded, reproducible RNG (no crate needed for a test's dice).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// ConfigMaps kept in memory; writes take [`WRITE`] of tokio's time and can be made to fail.
#[derive(Clone, Default)]
struct Memory {
    shards: Arc<Mutex<BTreeMap<usize, String>>>,
    writes: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Persist for Memory {
    async fn load(&self) -> Result<Vec<String>> {
        Ok(self.shards.lock().unwrap().values().cloned().collect())
    }

    async fn write(&self, n: usize, text: String) -> Result<()> {
        tokio::time::sleep(WRITE).await;
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::io(
                verdict_cache::configmap_name(n),
                std::io::Error::other("the API server is away"),
            ));
        }
        self.shards.lock().unwrap().insert(n, text);
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Tokens of jobs: token → (job, still running).
#[derive(Clone, Default)]
struct Tokens(Arc<Mutex<HashMap<String, (String, bool)>>>);

impl Tokens {
    fn with(self, token: &str, job: &str, running: bool) -> Self {
        self.0
            .lock()
            .unwrap()
            .insert(token.to_owned(), (job.to_owned(), running));
        self
    }
}

impl Credentials for Tokens {
    async fn check(&self, token: &str) -> Access {
        match self.0.lock().unwrap().get(token) {
            Some((job, true)) => Access::Granted { job: job.clone() },
            Some((job, false)) => Access::Refused(format!("the token's job {job} has ended")),
            None => Access::Refused("unknown token".to_owned()),
        }
    }
}

type Service = VerdictService<Memory, Tokens>;

fn serving(digest: &str) -> (watch::Sender<Status>, watch::Receiver<Status>) {
    watch::channel(Status {
        published: Some(Published {
            digest: digest.to_owned(),
            bytes: 1,
            built_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            skipped: 0,
        }),
        ..Status::default()
    })
}

async fn service(memory: &Memory, tokens: &Tokens, status: watch::Receiver<Status>) -> Service {
    VerdictService::load(memory.clone(), tokens.clone(), status, MAX_ENTRIES)
        .await
        .unwrap()
}

/// The simulated manager: its service while it runs (`None` while it restarts) and a
/// generation bumped when it dies, which cuts the requests it was answering.
struct Manager {
    running: Mutex<Option<Service>>,
    generation: watch::Sender<u64>,
}

impl Manager {
    fn current(&self) -> Option<(Service, u64)> {
        let service = self.running.lock().unwrap().clone()?;
        Some((service, *self.generation.borrow()))
    }

    /// Resolves when the manager that was generation `generation` has died.
    async fn died(&self, generation: u64) {
        let mut watching = self.generation.subscribe();
        let _ = watching.wait_for(|g| *g != generation).await;
    }
}

/// The manager's service called in process, as one job's scanner would over HTTP; records
/// the verdicts acknowledged to it.
struct Direct {
    manager: Arc<Manager>,
    acknowledged: Arc<Mutex<BTreeSet<String>>>,
}

impl Transport for Direct {
    async fn lookup(&mut self, body: &Lookup) -> std::result::Result<Answer, String> {
        let (service, _) = self
            .manager
            .current()
            .ok_or("connection refused: the manager restarts")?;
        Ok(service.lookup(body).await)
    }

    async fn report(&mut self, body: &Report) -> Sent {
        let Some((service, generation)) = self.manager.current() else {
            return Sent::Failed("connection refused: the manager restarts".to_owned());
        };
        tokio::select! {
            stored = service.report(body) => match stored {
                Ok(_) => {
                    self.acknowledged.lock().unwrap().extend(body.verdicts.keys().cloned());
                    Sent::Acknowledged
                }
                Err(error) => Sent::Failed(error.to_string()),
            },
            () = self.manager.died(generation) => Sent::Failed("connection reset".to_owned()),
        }
    }

    fn describe(&self) -> String {
        "the manager in process".to_owned()
    }
}

/// Scans take virtual time; counts every scan, per image.
#[derive(Clone)]
struct Scanner {
    scans: Arc<Mutex<BTreeMap<String, usize>>>,
    took: Duration,
}

fn vulnerable(id: &str) -> bool {
    id.ends_with(['0', '4', '8', 'c'])
}

impl ScanImage for Scanner {
    fn scan(
        &mut self,
        image: &drydock_api::Image,
    ) -> impl std::future::Future<Output = Verdict> + Send {
        let id = image.image_id.clone();
        let scans = self.scans.clone();
        let took = self.took;
        async move {
            tokio::time::sleep(took).await;
            *scans.lock().unwrap().entry(id.clone()).or_insert(0) += 1;
            if vulnerable(&id) {
                Verdict::NonCompliant {
                    findings: vec![],
                    eol: true,
                }
            } else {
                Verdict::Ok
            }
        }
    }
}

fn image(id: String) -> drydock_api::Image {
    drydock_api::Image {
        names: vec![format!("docker.io/library/{}:1", &id[7..19])],
        image_id: id,
        digests: vec![],
        in_use: false,
    }
}

/// Each node's images (80 % from the shared pool), its start offset and its scan time.
fn cluster(seed: u64) -> Vec<(String, Vec<drydock_api::Image>, Duration, Duration)> {
    let mut dice = Dice(seed);
    (0..NODES)
        .map(|node| {
            let mut pool: Vec<usize> = (0..SHARED_POOL).collect();
            let mut ids = Vec::new();
            for _ in 0..SHARED_PER_NODE {
                let pick = usize::try_from(dice.below(pool.len() as u64)).unwrap();
                ids.push(format!("sha256:{:064x}", pool.swap_remove(pick)));
            }
            for own in 0..IMAGES_PER_NODE - SHARED_PER_NODE {
                ids.push(format!("sha256:{:064x}", 1_000_000 + node * 1_000 + own));
            }
            let start = Duration::from_millis(dice.below(START_SPREAD_MS));
            let took = Duration::from_millis(SCAN_MS.0 + dice.below(SCAN_MS.1 - SCAN_MS.0));
            (
                format!("node-{node:02}"),
                ids.into_iter().map(image).collect(),
                start,
                took,
            )
        })
        .collect()
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig {
        total: "23h".parse().unwrap(),
        per_image: "1h".parse().unwrap(),
    }
}

/// What one simulated run did.
struct Run {
    scans: BTreeMap<String, usize>,
    unique: usize,
    handed_on_right: bool,
    requests: u64,
}

/// Runs every node's scanner stage on tokio's (paused) clock; with `cached`, against a
/// manager that is killed at [`RESTART_AT`] and back [`DOWNTIME`] later. Checks that no
/// acknowledged verdict is lost by the restart.
async fn simulate(seed: u64, cached: bool) -> Run {
    let nodes = cluster(seed);
    let unique: BTreeSet<String> = nodes
        .iter()
        .flat_map(|(_, images, _, _)| images.iter().map(|i| i.image_id.clone()))
        .collect();
    let memory = Memory::default();
    let tokens = Tokens::default();
    let (_publish, status) = serving(INDEX);
    let manager = Arc::new(Manager {
        running: Mutex::new(Some(service(&memory, &tokens, status.clone()).await)),
        generation: watch::Sender::new(0),
    });
    let acknowledged: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let scans: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let requests = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (node, images, start, took) in nodes {
        let expected: BTreeSet<String> = images
            .iter()
            .map(|i| i.image_id.clone())
            .filter(|id| vulnerable(id))
            .collect();
        let mut scanner = Scanner {
            scans: scans.clone(),
            took,
        };
        let transport = Direct {
            manager: manager.clone(),
            acknowledged: acknowledged.clone(),
        };
        let requests = requests.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(start).await;
            let summary = if cached {
                let mut cache = Remote::new(transport, INDEX, SETTINGS, tokio::time::sleep)
                    .with_order_seed(&node);
                let summary =
                    scan_images(&mut scanner, images, false, &timeouts(), &mut cache).await;
                cache.finish().await;
                requests.fetch_add(usize::try_from(cache.requests()).unwrap(), Ordering::SeqCst);
                summary
            } else {
                scan_images(&mut scanner, images, false, &timeouts(), &mut NoCache).await
            };
            let handed: BTreeSet<String> = summary
                .handed_on
                .iter()
                .map(|i| i.image_id.clone())
                .collect();
            handed == expected
        }));
    }
    if cached {
        tokio::time::sleep(RESTART_AT).await;
        let before: BTreeSet<String> = acknowledged.lock().unwrap().clone();
        // The manager dies: its state goes, its requests in flight are cut.
        *manager.running.lock().unwrap() = None;
        manager.generation.send_modify(|g| *g += 1);
        tokio::time::sleep(DOWNTIME).await;
        let restarted = service(&memory, &tokens, status.clone()).await;
        let ids: Vec<String> = before.iter().cloned().collect();
        let found = restarted
            .lookup(&Lookup {
                index: INDEX.to_owned(),
                settings: SETTINGS.to_owned(),
                images: ids,
            })
            .await;
        println!(
            "restart at {RESTART_AT:?}: {} verdicts acknowledged before it, {} read back from the ConfigMaps",
            before.len(),
            found.verdicts.len()
        );
        assert!(!before.is_empty(), "the restart must fall mid-run");
        assert_eq!(
            found.verdicts.keys().cloned().collect::<BTreeSet<_>>(),
            before,
            "a verdict acknowledged before the restart was lost"
        );
        *manager.running.lock().unwrap() = Some(restarted);
    }
    let mut handed_on_right = true;
    for task in tasks {
        handed_on_right &= task.await.unwrap();
    }
    if cached {
        // Every verdict acknowledged during the run is kept at its end.
        let (service, _) = manager.current().unwrap();
        let all: Vec<String> = acknowledged.lock().unwrap().iter().cloned().collect();
        let found = service
            .lookup(&Lookup {
                index: INDEX.to_owned(),
                settings: SETTINGS.to_owned(),
                images: all.clone(),
            })
            .await;
        assert_eq!(found.verdicts.len(), all.len());
        println!(
            "ConfigMap writes: {}; verdicts kept: {}",
            memory.writes.load(Ordering::SeqCst),
            service.len().await
        );
    }
    let scans = scans.lock().unwrap().clone();
    Run {
        scans,
        unique: unique.len(),
        handed_on_right,
        requests: requests.load(Ordering::SeqCst) as u64,
    }
}

#[tokio::test(start_paused = true)]
async fn fifty_nodes_sharing_most_images_scan_each_image_about_once() {
    const SEED: u64 = 0x5eed_1234_abcd_0001;
    let without = simulate(SEED, false).await;
    let with = simulate(SEED, true).await;
    let total = |run: &Run| run.scans.values().sum::<usize>();
    let twice = |run: &Run| run.scans.values().filter(|n| **n > 1).count();
    println!(
        "{NODES} nodes x {IMAGES_PER_NODE} images ({SHARED_PER_NODE} shared from a pool of {SHARED_POOL}), {} unique",
        with.unique
    );
    println!(
        "scans without the cache: {} (nodes x images = {})",
        total(&without),
        NODES * IMAGES_PER_NODE
    );
    println!(
        "scans with the cache: {} (unique images {}, bound unique + nodes = {}); images scanned more than once: {}; requests to the manager: {}",
        total(&with),
        with.unique,
        with.unique + NODES,
        twice(&with),
        with.requests
    );
    assert_eq!(total(&without), NODES * IMAGES_PER_NODE);
    assert!(
        without.handed_on_right && with.handed_on_right,
        "every node removes exactly its vulnerable images"
    );
    assert!(
        total(&with) >= with.unique,
        "every image is scanned at least once"
    );
    assert!(
        total(&with) <= with.unique + NODES,
        "{} scans for {} unique images on {NODES} nodes",
        total(&with),
        with.unique
    );
}

/// Serves the cache's routes on a loopback port with connection info; stops when dropped.
async fn start(service: Service) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(
            listener,
            verdict_cache::router(service).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (format!("http://{addr}"), stop)
}

fn report_of(ids: &[&str]) -> Report {
    Report {
        index: INDEX.to_owned(),
        settings: SETTINGS.to_owned(),
        verdicts: ids.iter().map(|id| ((*id).to_owned(), Known::Ok)).collect(),
    }
}

fn lookup_of(ids: &[&str]) -> Lookup {
    Lookup {
        index: INDEX.to_owned(),
        settings: SETTINGS.to_owned(),
        images: ids.iter().map(|id| (*id).to_owned()).collect(),
    }
}

#[tokio::test]
async fn only_a_running_jobs_token_is_honoured_over_http() {
    let memory = Memory::default();
    let tokens = Tokens::default()
        .with("good-token", "imagejob-running", true)
        .with("old-token", "imagejob-done", false);
    let (_publish, status) = serving(INDEX);
    let manager = service(&memory, &tokens, status).await;
    let (base, _stop) = start(manager.clone()).await;

    let mut good = Http::new(&base, "good-token").unwrap();
    assert_eq!(
        good.report(&report_of(&["sha256:a"])).await,
        Sent::Acknowledged
    );
    assert_eq!(
        good.lookup(&lookup_of(&["sha256:a", "sha256:b"]))
            .await
            .unwrap()
            .verdicts,
        BTreeMap::from([("sha256:a".to_owned(), Known::Ok)])
    );
    let writes = memory.writes.load(Ordering::SeqCst);

    for (token, reason) in [
        ("forged-token", "unknown token"),
        ("old-token", "imagejob-done has ended"),
        ("", "no bearer token"),
    ] {
        let mut forged = Http::new(&base, token).unwrap();
        match forged.report(&report_of(&["sha256:evil"])).await {
            Sent::Refused(said) => {
                assert!(
                    said.contains("403") && said.contains(reason),
                    "{token:?}: {said}"
                );
            }
            other => panic!("{token:?}: {other:?}"),
        }
        let error = forged.lookup(&lookup_of(&["sha256:a"])).await.unwrap_err();
        assert!(error.contains("403"), "{token:?}: {error}");
    }
    println!("forged, ended and missing tokens: refused with 403, nothing stored");
    assert_eq!(manager.len().await, 1, "a refused report stores nothing");
    assert_eq!(
        memory.writes.load(Ordering::SeqCst),
        writes,
        "and writes nothing"
    );
}

#[tokio::test]
async fn a_report_is_acknowledged_only_once_written_and_a_restart_keeps_it() {
    let memory = Memory::default();
    let tokens = Tokens::default().with("t", "imagejob-a", true);
    let (_publish, status) = serving(INDEX);
    let (base, stop) = start(service(&memory, &tokens, status.clone()).await).await;
    let mut http = Http::new(&base, "t").unwrap();

    memory.failing.store(true, Ordering::SeqCst);
    match http.report(&report_of(&["sha256:a"])).await {
        Sent::Failed(said) => assert!(said.contains("503"), "{said}"),
        other => panic!("{other:?}"),
    }
    memory.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        http.report(&report_of(&["sha256:b"])).await,
        Sent::Acknowledged
    );

    // A new manager process: state from the ConfigMaps only.
    drop(stop);
    let (base, _stop) = start(service(&memory, &tokens, status).await).await;
    let mut http = Http::new(&base, "t").unwrap();
    let found = http
        .lookup(&lookup_of(&["sha256:a", "sha256:b"]))
        .await
        .unwrap()
        .verdicts;
    // `a` was never acknowledged; it went to the ConfigMap with `b`'s write all the same.
    assert!(found.contains_key("sha256:b"), "{found:?}");
}

#[tokio::test]
async fn a_new_index_forgets_every_verdict_and_refuses_reports_of_the_old_one() {
    let memory = Memory::default();
    let tokens = Tokens::default().with("t", "imagejob-a", true);
    let (publish, status) = serving(INDEX);
    let manager = service(&memory, &tokens, status).await;
    manager.report(&report_of(&["sha256:a"])).await.unwrap();
    publish.send_modify(|s| s.published.as_mut().unwrap().digest = NEW_INDEX.to_owned());
    assert!(
        manager
            .lookup(&lookup_of(&["sha256:a"]))
            .await
            .verdicts
            .is_empty()
    );
    assert_eq!(manager.len().await, 0);
    let refused = manager.report(&report_of(&["sha256:a"])).await.unwrap_err();
    assert!(refused.to_string().contains(NEW_INDEX), "{refused}");
    let mut new = report_of(&["sha256:c"]);
    new.index = NEW_INDEX.to_owned();
    manager.report(&new).await.unwrap();
    // The shards were rewritten for the new index: a restart does not bring `a` back.
    let (_publish, status) = serving(NEW_INDEX);
    let restarted = service(&memory, &tokens, status).await;
    assert_eq!(restarted.len().await, 1);
}

#[tokio::test]
async fn an_unreachable_manager_means_every_image_is_scanned_here() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut cache = Remote::new(Http::new(&base, "t").unwrap(), INDEX, SETTINGS, |_| async {
    })
    .with_patience(Duration::from_secs(3));
    let mut scanner = Scanner {
        scans: Arc::default(),
        took: Duration::ZERO,
    };
    let images = (0..5).map(|n| image(format!("sha256:{n:064x}"))).collect();
    let summary = scan_images(&mut scanner, images, false, &timeouts(), &mut cache).await;
    cache.finish().await;
    assert_eq!(summary.known, 0);
    assert_eq!(scanner.scans.lock().unwrap().values().sum::<usize>(), 5);
    // One lookup failed; not asked per image again; the report tried until patience ran out.
    assert!(cache.requests() <= 1 + 4, "{}", cache.requests());
    let _ = cache.enabled();
}
