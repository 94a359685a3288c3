//! Lock hand-over benchmark: Drydock's daemon against kured's strategy, on the same simulated
//! cluster and in virtual time.
//!
//! Run with `cargo bench -p drydock-reboot --bench handover`.
//!
//! kured's strategy, as in 1.23 (`cmd/kured/main.go`): the pod's first look at a held lock
//! comes 30–90 s after it starts (`delaytick(1m)`), and only then is the lock released after
//! a reboot; a node waiting for the lock tries again only at its next period tick (first
//! tick uniform in [0.5, 1.5) × period, then every period). Both run with kured's defaults
//! (period 1 h, concurrency 1, no TTL) over the same nodes, pods, budgets and timings.
//!
//! Printed: makespan (first start to the last release) and its ratio, the idle time of the
//! lock between holders (p50/p99) for 10 and 50 nodes, and the API calls per hour of an idle
//! node that needs no reboot. Budgets: Drydock's idle p99 under 5 s, and zero idle calls.
//!
//! Then the health-gated hand-over (`--health-gate`, as Drydock's chart runs it) against
//! kured's model and Drydock without the gate, with every rescheduled pod ready exactly
//! [`GATED_POD_START`] after it is placed: the gate's price in makespan for never handing the
//! lock on while the evicted workloads are short.

use std::collections::BTreeMap;

use drydock_reboot::cluster::{Clock, Cluster, Host, Owner, TokioClock};
use drydock_reboot::config::{self, Config};
use drydock_reboot::daemon::{DrainProgress, Drainer};
use drydock_reboot::lock::{Acquire, AcquireRequest, Lock};
use drydock_reboot::memory::{Chaos, MemoryCluster, NodeClient, NodeSpec, SimRng, Timings};
use jiff::{SignedDuration, Timestamp};

/// Seeds per fleet size: enough gaps for a p99, few enough to run in seconds.
const SEEDS: u64 = 5;

/// Drydock's budget for the lock's idle time between holders (p99).
const IDLE_P99_BUDGET: SignedDuration = SignedDuration::from_secs(5);

/// kured's phase-A ticker period (`delaytick(1m)` before the post-reboot release).
const KURED_PHASE_A_TICK: SignedDuration = SignedDuration::from_mins(1);

/// kured's pause after a lock write conflict (`daemonsetlock.go`).
const KURED_CONFLICT_RETRY: SignedDuration = SignedDuration::from_secs(1);

/// Pods are ready this long after being rescheduled, in the health-gate comparison.
const GATED_POD_START: SignedDuration = SignedDuration::from_secs(30);

/// How long the idle node is watched.
const IDLE_HOURS: i64 = 24;

fn origin() -> Timestamp {
    "2026-11-22T03:00:00Z".parse().expect("a valid timestamp")
}

/// Who runs on each node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    /// Drydock with kured's flags.
    Drydock,
    /// Drydock with `--health-gate` (default timeout).
    Gated,
    /// kured 1.23's loop.
    Kured,
}

fn config(node: &str) -> Config {
    config::parse(["drydock", &format!("--node-id={node}")], &BTreeMap::new()).expect("valid flags")
}

fn gated_config(node: &str) -> Config {
    config::parse(
        ["drydock", &format!("--node-id={node}"), "--health-gate"],
        &BTreeMap::new(),
    )
    .expect("valid flags")
}

fn fleet(seed: u64, nodes: usize, timings: Timings) -> MemoryCluster {
    let cluster = MemoryCluster::new(seed, origin(), timings, Chaos::default());
    for i in 0..nodes {
        let n = format!("n{i:02}");
        cluster.add_node(NodeSpec::worker(&n).needing_reboot());
        cluster.add_pod(
            "kube-system",
            &format!("ds-{n}"),
            "ds",
            &n,
            Owner::DaemonSet,
        );
    }
    cluster.add_replicas("shop", "web", nodes * 2);
    cluster.add_budget("shop", "web", nodes * 2 - 1);
    cluster.add_replicas("shop", "cache", nodes);
    cluster
}

fn finished(cluster: &MemoryCluster) -> bool {
    let reboots = cluster.reboots();
    cluster.lock_holders().is_empty()
        && cluster
            .node_names()
            .iter()
            .all(|n| reboots.contains_key(n) && !cluster.sentinel(n))
}

/// kured's delaytick: the first tick uniform in [d/2, 3d/2).
fn jitter(rng: &mut SimRng, d: SignedDuration) -> SignedDuration {
    let ms = u64::try_from(d.as_millis()).unwrap_or(0);
    let extra = rng.between(0, ms.saturating_sub(1));
    SignedDuration::from_millis(i64::try_from(ms / 2 + extra).unwrap_or(0))
}

/// kured's lock write: retried after a second on conflicts. `change` returns `None` when
/// there is nothing to write.
async fn kured_write(
    client: &NodeClient,
    clock: &TokioClock,
    config: &Config,
    change: impl Fn(&Lock, Timestamp) -> Option<Lock>,
) -> bool {
    loop {
        let Ok(read) = client.read_lock().await else {
            return false;
        };
        let Ok(lock) = Lock::decode_for(read.value.as_deref(), &config.lock.policy) else {
            return false;
        };
        let Some(new) = change(&lock, clock.now()) else {
            return false;
        };
        let Ok(value) = new.encode() else {
            return false;
        };
        if client.write_lock(value, &read.version).await.is_ok() {
            return true;
        }
        clock.sleep(KURED_CONFLICT_RETRY).await;
    }
}

/// kured 1.23's main loop, reduced to what decides the hand-over timing.
async fn kured(client: NodeClient, config: Config, clock: TokioClock, mut rng: SimRng) {
    let me = config.node_id.clone();
    // Phase A: after the jittered one-minute tick, release a lock held from before.
    clock.sleep(jitter(&mut rng, KURED_PHASE_A_TICK)).await;
    if let Ok(read) = client.read_lock().await
        && let Ok(lock) = Lock::decode_for(read.value.as_deref(), &config.lock.policy)
        && let Some(entry) = lock.holding(&me, clock.now())
    {
        if !entry.metadata.unschedulable {
            let _ = client.uncordon(&me).await;
        }
        kured_write(&client, &clock, &config, |l, _| l.release(&me).ok()).await;
    }
    // Phase B: every period (first tick jittered), try to take the lock and reboot.
    let mut tick = clock.now() + jitter(&mut rng, config.period);
    loop {
        clock.sleep_until(tick).await;
        while tick <= clock.now() {
            tick += config.period;
        }
        if !config.window.contains(clock.now()) || !client.reboot_required().await {
            continue;
        }
        let Ok(Some(node)) = client.get_node(&me).await else {
            continue;
        };
        let Ok(nodes) = client.list_nodes(&[]).await else {
            continue;
        };
        let directory = nodes.directory();
        let request = AcquireRequest {
            node: &me,
            role: node.role(),
            cordoned_before: node.unschedulable,
            boot_id: &node.boot_id,
        };
        let acquired = kured_write(&client, &clock, &config, |l, now| {
            match l.acquire(&request, &config.lock.policy, &directory, now) {
                Acquire::Take(new) => Some(new),
                Acquire::AlreadyHeld | Acquire::Busy(_) => None,
            }
        })
        .await;
        if !acquired {
            continue;
        }
        let _ = client.cordon(&me).await;
        let mut drainer = Drainer::new(clock.now());
        while let Ok(DrainProgress::Pending(next)) = drainer
            .round(&client, &me, &config.drain, clock.now())
            .await
        {
            clock.sleep_until(next).await;
        }
        let _ = client.reboot().await;
        std::future::pending::<()>().await;
    }
}

struct Run {
    makespan: SignedDuration,
    gaps: Vec<SignedDuration>,
}

async fn rollout(seed: u64, nodes: usize, strategy: Strategy, timings: Timings) -> Run {
    let cluster = fleet(seed, nodes, timings);
    let kured_strategy = strategy == Strategy::Kured;
    let mut tasks = Vec::new();
    for (index, n) in cluster.node_names().into_iter().enumerate() {
        let c = cluster.clone();
        let config = if strategy == Strategy::Gated {
            gated_config(&n)
        } else {
            config(&n)
        };
        let clock = cluster.clock();
        let node_seed = seed.wrapping_mul(1_000_003).wrapping_add(index as u64);
        tasks.push(tokio::spawn(async move {
            if kured_strategy {
                let mut incarnation = 0_u64;
                c.run_node(&n, |client| {
                    incarnation += 1;
                    let rng = SimRng::new(node_seed.wrapping_mul(31).wrapping_add(incarnation));
                    kured(client, config.clone(), clock, rng)
                })
                .await;
            } else {
                c.run_drydock(config).await;
            }
        }));
    }
    let clock = cluster.clock();
    while !finished(&cluster) {
        clock.sleep(SignedDuration::from_secs(10)).await;
    }
    for t in tasks {
        t.abort();
    }
    let last = cluster.lock_history().last().map_or(origin(), |(t, _)| *t);
    Run {
        makespan: last.duration_since(origin()),
        gaps: cluster.lock_idle_gaps(),
    }
}

fn percentile(sorted: &[SignedDuration], p: usize) -> SignedDuration {
    if sorted.is_empty() {
        return SignedDuration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn human(d: SignedDuration) -> String {
    let secs = d.as_secs_f64();
    if secs < 120.0 {
        format!("{secs:.2}s")
    } else {
        format!("{:.1}min", secs / 60.0)
    }
}

struct Summary {
    makespan: SignedDuration,
    p50: SignedDuration,
    p99: SignedDuration,
    gaps: usize,
}

async fn measure(nodes: usize, strategy: Strategy, timings: Timings) -> Summary {
    let mut makespans = SignedDuration::ZERO;
    let mut gaps = Vec::new();
    for seed in 1..=SEEDS {
        let run = rollout(seed, nodes, strategy, timings).await;
        makespans += run.makespan;
        gaps.extend(run.gaps);
    }
    gaps.sort();
    Summary {
        makespan: makespans / i32::try_from(SEEDS).unwrap_or(1),
        p50: percentile(&gaps, 50),
        p99: percentile(&gaps, 99),
        gaps: gaps.len(),
    }
}

/// API calls per hour made by a node that needs no reboot, after its start-up look, while
/// another node reboots (so the lock changes under it).
async fn idle_calls_per_hour() -> (u64, f64) {
    let cluster = MemoryCluster::new(7, origin(), Timings::default(), Chaos::default());
    cluster.add_node(NodeSpec::worker("idle"));
    cluster.add_node(NodeSpec::worker("busy").needing_reboot());
    let tasks: Vec<_> = ["idle", "busy"]
        .into_iter()
        .map(|n| {
            let c = cluster.clone();
            tokio::spawn(async move { c.run_drydock(config(n)).await })
        })
        .collect();
    let clock = cluster.clock();
    clock.sleep(SignedDuration::from_mins(1)).await;
    let startup = cluster.api_calls("idle");
    clock.sleep(SignedDuration::from_hours(IDLE_HOURS)).await;
    let later = cluster.api_calls("idle") - startup;
    for t in tasks {
        t.abort();
    }
    (startup, later as f64 / IDLE_HOURS as f64)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        println!(
            "lock hand-over, {SEEDS} seeds per size, kured defaults (period 1h, concurrency 1)"
        );
        println!(
            "{:>5} {:>8} {:>11} {:>10} {:>10} {:>6}",
            "nodes", "strategy", "makespan", "idle p50", "idle p99", "gaps"
        );
        let mut within_budget = true;
        for nodes in [10, 50] {
            let drydock = measure(nodes, Strategy::Drydock, Timings::default()).await;
            let kured = measure(nodes, Strategy::Kured, Timings::default()).await;
            for (name, s) in [("drydock", &drydock), ("kured", &kured)] {
                println!(
                    "{nodes:>5} {name:>8} {:>11} {:>10} {:>10} {:>6}",
                    human(s.makespan),
                    human(s.p50),
                    human(s.p99),
                    s.gaps
                );
            }
            let ratio = kured.makespan.as_secs_f64() / drydock.makespan.as_secs_f64();
            println!("{nodes:>5} makespan kured/drydock = {ratio:.2}x");
            within_budget &= drydock.p99 < IDLE_P99_BUDGET;
        }
        let timings = Timings {
            pod_start: (GATED_POD_START, GATED_POD_START),
            ..Timings::default()
        };
        println!(
            "health-gated hand-over (--health-gate), pods ready {} after reschedule",
            human(GATED_POD_START)
        );
        println!("{:>5} {:>8} {:>11}", "nodes", "strategy", "makespan");
        for nodes in [10, 50] {
            let gated = measure(nodes, Strategy::Gated, timings).await;
            let drydock = measure(nodes, Strategy::Drydock, timings).await;
            let kured = measure(nodes, Strategy::Kured, timings).await;
            for (name, s) in [("gated", &gated), ("drydock", &drydock), ("kured", &kured)] {
                println!("{nodes:>5} {name:>8} {:>11}", human(s.makespan));
            }
            let secs = |s: &Summary| s.makespan.as_secs_f64();
            println!(
                "{nodes:>5} makespan kured/gated = {:.2}x, gated/drydock = {:.2}x",
                secs(&kured) / secs(&gated),
                secs(&gated) / secs(&drydock)
            );
        }
        let (startup, per_hour) = idle_calls_per_hour().await;
        println!(
            "idle node: {startup} API calls at start-up, then {per_hour:.2} per hour \
             over {IDLE_HOURS}h (budget 0)"
        );
        within_budget &= per_hour == 0.0;
        println!(
            "budgets (drydock idle p99 < {}, idle calls 0): {}",
            human(IDLE_P99_BUDGET),
            if within_budget { "met" } else { "MISSED" }
        );
    });
}
