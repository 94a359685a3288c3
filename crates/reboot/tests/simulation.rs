//! Simulation tier: many Drydock daemons on the in-memory cluster, in virtual time, with
//! crashes at every step, PodDisruptionBudgets, a deleted lock holder and a short lock TTL.
//! Each run is replayed by its seed.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

use std::collections::{BTreeMap, BTreeSet};

use drydock_reboot::cluster::{Clock, Owner};
use drydock_reboot::config::{self, Config};
use drydock_reboot::machine::CORDON_MARKER_ANNOTATION;
use drydock_reboot::memory::{Chaos, MemoryCluster, NodeSpec, Timings};
use jiff::{SignedDuration, Timestamp};

/// Nodes in the fleet.
const NODES: usize = 50;
/// Of which control-plane nodes (the first ones).
const CONTROL_PLANE: usize = 3;
/// Workers an operator cordoned before the rollout (every tenth).
const OPERATOR_CORDONED_EVERY: usize = 10;
/// The short TTL: shorter than a hold (drain plus reboot), longer than a reboot's downtime
/// plus a few daemon restarts, which is what renewal needs.
const SHORT_TTL: &str = "3m";
/// The rollout must finish well within this much virtual time.
const DEADLINE: SignedDuration = SignedDuration::from_hours(48);
/// How often the harness checks whether the rollout is over.
const POLL: SignedDuration = SignedDuration::from_secs(30);

fn origin() -> Timestamp {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

fn name(i: usize) -> String {
    if i < CONTROL_PLANE {
        format!("cp{i}")
    } else {
        format!("n{i:02}")
    }
}

fn config(node: &str, concurrency: u32, extra: &[&str]) -> Config {
    let mut argv = vec![
        "drydock".to_owned(),
        format!("--node-id={node}"),
        format!("--concurrency={concurrency}"),
        format!("--lock-ttl={SHORT_TTL}"),
        "--drain-timeout=30m".to_owned(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    config::parse(argv, &BTreeMap::new()).unwrap()
}

fn timings() -> Timings {
    Timings {
        reboot_downtime: (SignedDuration::from_secs(30), SignedDuration::from_secs(60)),
        daemon_restart: (SignedDuration::from_secs(2), SignedDuration::from_secs(10)),
        ..Timings::default()
    }
}

/// The zone of node `i` when the fleet spans `zones` zones.
fn zone_of(i: usize, zones: usize) -> String {
    format!("zone-{}", i % zones)
}

/// A fleet of [`NODES`] nodes that all need a reboot, with DaemonSet and mirror pods, a bare
/// pod on an operator-cordoned node, and three apps, two of them under tight budgets; its
/// nodes spread round-robin over `zones` zones (0: no zone labels).
fn fleet_in_zones(seed: u64, chaos: Chaos, zones: usize) -> (MemoryCluster, BTreeSet<String>) {
    let cluster = MemoryCluster::new(seed, origin(), timings(), chaos);
    let mut cordoned = BTreeSet::new();
    for i in 0..NODES {
        let n = name(i);
        let spec = if i < CONTROL_PLANE {
            NodeSpec::control_plane(&n)
        } else if i % OPERATOR_CORDONED_EVERY == 0 {
            cordoned.insert(n.clone());
            NodeSpec::worker(&n).cordoned()
        } else {
            NodeSpec::worker(&n)
        };
        let spec = if zones > 0 {
            spec.in_zone(zone_of(i, zones))
        } else {
            spec
        };
        cluster.add_node(spec.needing_reboot());
        cluster.add_pod(
            "kube-system",
            &format!("drydock-{n}"),
            "drydock",
            &n,
            Owner::DaemonSet,
        );
        if i < CONTROL_PLANE {
            cluster.add_mirror_pod("kube-system", &format!("kube-apiserver-{n}"), &n);
        }
    }
    cluster.add_replicas("shop", "web", 60);
    cluster.add_budget("shop", "web", 58);
    cluster.add_replicas("shop", "db", 3);
    cluster.add_budget("shop", "db", 2);
    cluster.add_replicas("shop", "cache", 20);
    let bare = cordoned.first().unwrap().clone();
    cluster.add_pod("ops", "debug-shell", "debug", &bare, Owner::None);
    (cluster, cordoned)
}

/// Whether the rollout is over: every node rebooted, nothing held, nothing cordoned by
/// Drydock, no sentinel left.
fn finished(cluster: &MemoryCluster) -> bool {
    let reboots = cluster.reboots();
    cluster.lock_holders().is_empty()
        && cluster.node_names().iter().all(|n| {
            let node = cluster.node(n).unwrap();
            reboots.contains_key(n)
                && !cluster.sentinel(n)
                && !node.annotations.contains_key(CORDON_MARKER_ANNOTATION)
                && node.ready
        })
}

async fn run_until_finished(cluster: &MemoryCluster) {
    let clock = cluster.clock();
    let deadline = clock.now() + DEADLINE;
    while !finished(cluster) {
        assert!(clock.now() < deadline, "the rollout did not finish");
        clock.sleep(POLL).await;
    }
    // Let anything still in flight happen, so that extra reboots would be seen.
    clock.sleep(SignedDuration::from_hours(2)).await;
}

/// Deletes the first worker that holds the lock, once one does after the first few writes.
async fn delete_a_lock_holder(cluster: MemoryCluster) -> String {
    let clock = cluster.clock();
    loop {
        clock.sleep(SignedDuration::from_secs(5)).await;
        if cluster.lock_history().len() < 10 {
            continue;
        }
        let holder = cluster
            .lock_holders()
            .into_iter()
            .find(|h| h.starts_with('n') && cluster.node(h).is_some());
        if let Some(holder) = holder {
            cluster.delete_node(&holder);
            return holder;
        }
    }
}

struct Outcome {
    cluster: MemoryCluster,
    operator_cordoned: BTreeSet<String>,
    deleted: String,
}

async fn rollout(seed: u64, concurrency: u32) -> Outcome {
    rollout_in_zones(seed, concurrency, 0, &[]).await
}

async fn rollout_in_zones(seed: u64, concurrency: u32, zones: usize, extra: &[&str]) -> Outcome {
    let chaos = Chaos {
        read_crash_percent: 3,
        write_crash_percent: 25,
    };
    let (cluster, operator_cordoned) = fleet_in_zones(seed, chaos, zones);
    let mut tasks = Vec::new();
    for n in cluster.node_names() {
        let c = cluster.clone();
        let config = config(&n, concurrency, extra);
        tasks.push(tokio::spawn(async move { c.run_drydock(config).await }));
    }
    let deleter = tokio::spawn(delete_a_lock_holder(cluster.clone()));
    run_until_finished(&cluster).await;
    let deleted = deleter.await.unwrap();
    for t in tasks {
        t.abort();
    }
    Outcome {
        cluster,
        operator_cordoned,
        deleted,
    }
}

fn assert_safe_and_complete(o: &Outcome, concurrency: usize, seed: u64) {
    let c = &o.cluster;
    let peaks = c.peaks();
    eprintln!(
        "seed {seed}: {} lock writes, {} crashes, {peaks:?}, makespan {}",
        c.lock_history().len(),
        c.crashes().len(),
        c.lock_history().last().unwrap().0.duration_since(origin()),
    );
    assert!(
        peaks.drydock_cordoned <= concurrency,
        "seed {seed}: {peaks:?}"
    );
    assert!(peaks.disrupted <= concurrency, "seed {seed}: {peaks:?}");
    assert!(peaks.control_plane_disrupted <= 1, "seed {seed}: {peaks:?}");
    for (at, holders) in c.lock_history() {
        assert!(
            holders.len() <= concurrency,
            "seed {seed}: {at}: {holders:?}"
        );
    }

    let reboots = c.reboots();
    for n in c.node_names() {
        let count = reboots.get(&n).map_or(0, Vec::len);
        assert_eq!(count, 1, "seed {seed}: {n} rebooted {count} times");
        let node = c.node(&n).unwrap();
        assert_eq!(
            node.unschedulable,
            o.operator_cordoned.contains(&n),
            "seed {seed}: {n} does not end in the cordon state it started in"
        );
        assert!(!node.annotations.contains_key(CORDON_MARKER_ANNOTATION));
    }
    assert_eq!(c.node_names().len(), NODES - 1, "seed {seed}");
    assert!(c.node(&o.deleted).is_none());
    assert!(c.lock_holders().is_empty(), "seed {seed}: {:?}", c.lock());
}

/// Crashes cut every kind of API call a rollout makes, both before it took effect and after
/// (its answer lost), across the runs of one test.
fn assert_crashes_hit_every_step(runs: &[Outcome]) {
    let mut cut: BTreeMap<(&str, bool), usize> = BTreeMap::new();
    for crash in runs.iter().flat_map(|o| o.cluster.crashes()) {
        *cut.entry((crash.op, crash.after)).or_default() += 1;
    }
    for op in [
        "get_node",
        "read_lock",
        "list_nodes",
        "write_lock",
        "cordon",
        "list_pods",
        "evict",
        "uncordon",
        "patch_node",
    ] {
        for after in [false, true] {
            assert!(
                cut.contains_key(&(op, after)),
                "no crash {} {op}: {cut:?}",
                if after { "after" } else { "before" },
            );
        }
    }
}

/// The longest a single node held the lock without releasing it.
fn longest_hold(c: &MemoryCluster) -> SignedDuration {
    let mut since: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut longest = SignedDuration::ZERO;
    for (at, holders) in c.lock_history() {
        since.retain(|h, t| {
            let held = holders.contains(h);
            if !held {
                longest = longest.max(at.duration_since(*t));
            }
            held
        });
        for h in holders {
            since.entry(h).or_insert(at);
        }
    }
    longest
}

#[tokio::test(start_paused = true)]
async fn fifty_nodes_one_at_a_time_reboot_once_each_despite_crashes_budgets_and_a_deleted_holder() {
    let mut runs = Vec::new();
    for seed in [1, 2] {
        let o = rollout(seed, 1).await;
        assert_safe_and_complete(&o, 1, seed);
        let ttl: SignedDuration = SignedDuration::from_mins(3);
        assert!(
            longest_hold(&o.cluster) > ttl,
            "seed {seed}: no hold outlived the TTL, so renewal was not exercised"
        );
        runs.push(o);
    }
    assert_crashes_hit_every_step(&runs);
}

#[tokio::test(start_paused = true)]
async fn fifty_nodes_three_at_a_time_never_disrupt_more_than_three_or_two_control_planes() {
    let mut runs = Vec::new();
    for seed in [3, 4] {
        let o = rollout(seed, 3).await;
        assert_safe_and_complete(&o, 3, seed);
        assert!(
            o.cluster.peaks().disrupted > 1,
            "seed {seed}: concurrency was never used"
        );
        runs.push(o);
    }
    assert_crashes_hit_every_step(&runs);
}

/// Zones of the zoned rollout, and its limits.
const ZONES: usize = 4;
const MAX_PER_ZONE: usize = 2;
const MAX_ZONES: usize = 2;

#[tokio::test(start_paused = true)]
async fn fifty_nodes_in_four_zones_never_exceed_two_per_zone_or_two_zones_at_once() {
    let zone_by_node: BTreeMap<String, String> =
        (0..NODES).map(|i| (name(i), zone_of(i, ZONES))).collect();
    let mut runs = Vec::new();
    for seed in [5, 6] {
        let flags = [
            format!("--max-nodes-per-zone={MAX_PER_ZONE}"),
            format!("--max-zones={MAX_ZONES}"),
        ];
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let o = rollout_in_zones(seed, 6, ZONES, &flags).await;
        assert_safe_and_complete(&o, MAX_PER_ZONE * MAX_ZONES, seed);
        let (mut most_zones, mut most_per_zone) = (0, 0);
        for (at, holders) in o.cluster.lock_history() {
            let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
            for h in &holders {
                *per_zone.entry(zone_by_node[h].as_str()).or_default() += 1;
            }
            assert!(
                per_zone.values().all(|n| *n <= MAX_PER_ZONE),
                "seed {seed}: {at}: {per_zone:?}"
            );
            assert!(
                per_zone.len() <= MAX_ZONES,
                "seed {seed}: {at}: {per_zone:?}"
            );
            most_zones = most_zones.max(per_zone.len());
            most_per_zone = most_per_zone.max(per_zone.values().copied().max().unwrap_or(0));
        }
        assert_eq!(
            most_zones, MAX_ZONES,
            "seed {seed}: the zone limit was reached"
        );
        assert_eq!(
            most_per_zone, MAX_PER_ZONE,
            "seed {seed}: the per-zone limit was reached"
        );
        runs.push(o);
    }
    assert_crashes_hit_every_step(&runs);
}

/// The health gate's timeout in the gated rollout: shorter than the default so that the
/// broken workload costs minutes, not hours, of virtual time.
const GATE_TIMEOUT: SignedDuration = SignedDuration::from_mins(3);
/// What a hand-over may take beyond the timeout: one gate poll, the API round trips of the
/// release, and daemon restarts (up to 10 s each) when crashes (25 % of writes) cut the
/// release's write several times in a row.
const GATE_SLACK: SignedDuration = SignedDuration::from_secs(90);
/// What crashes may add between a node's reboot and its gate starting: daemon restarts
/// (up to 10 s each) after crashed calls.
const GATE_RESTARTS: SignedDuration = SignedDuration::from_mins(2);

/// The seeds of the gated rollout: 7 in CI; `DRYDOCK_GATE_SEEDS=N` runs seeds 1..=N.
fn gate_seeds() -> Vec<u64> {
    match std::env::var("DRYDOCK_GATE_SEEDS") {
        Ok(n) => (1..=n.parse::<u64>().unwrap()).collect(),
        Err(_) => vec![7],
    }
}

#[tokio::test(start_paused = true)]
async fn with_the_health_gate_a_workload_that_never_comes_back_holds_the_lock_no_longer_than_the_timeout()
 {
    for seed in gate_seeds() {
        gated_rollout(seed).await;
    }
}

/// 50 nodes, two at a time, with the gate on and the cache's replacements never ready.
async fn gated_rollout(seed: u64) {
    let concurrency = 2;
    let chaos = Chaos {
        read_crash_percent: 3,
        write_crash_percent: 25,
    };
    let (cluster, operator_cordoned) = fleet_in_zones(seed, chaos, 0);
    // The cache's replacement pods never become ready; web and db come back.
    cluster.break_workload("cache-rs");
    let timeout = format!("--health-gate-timeout={}s", GATE_TIMEOUT.as_secs());
    let flags = ["--health-gate", timeout.as_str()];
    let mut tasks = Vec::new();
    for n in cluster.node_names() {
        let c = cluster.clone();
        let config = config(&n, concurrency, &flags);
        tasks.push(tokio::spawn(async move { c.run_drydock(config).await }));
    }
    let deleter = tokio::spawn(delete_a_lock_holder(cluster.clone()));
    run_until_finished(&cluster).await;
    let deleted = deleter.await.unwrap();
    for t in tasks {
        t.abort();
    }
    let o = Outcome {
        cluster,
        operator_cordoned,
        deleted,
    };
    assert_safe_and_complete(&o, 2, seed);

    // Each node's gate: from its RebootHealthGate Event to leaving the lock.
    let c = &o.cluster;
    let history = c.lock_history();
    let events = c.events();
    let released_after = |node: &str, since: Timestamp| {
        history
            .iter()
            .find(|(at, holders)| *at >= since && !holders.iter().any(|h| h == node))
            .map(|(at, _)| *at)
    };
    let (mut gated, mut timed_out, mut whole) = (0, BTreeSet::new(), 0);
    let mut longest_gate = SignedDuration::ZERO;
    for (_, e) in &events {
        if e.reason == "RebootHealthGateTimeout" {
            timed_out.insert(e.node.clone());
        }
    }
    for (at, e) in &events {
        if e.reason != "RebootHealthGate" {
            continue;
        }
        gated += 1;
        let Some(released) = released_after(&e.node, *at) else {
            assert_eq!(e.node, o.deleted, "seed {seed}: {} never released", e.node);
            continue;
        };
        let held = released.duration_since(*at);
        longest_gate = longest_gate.max(held);
        assert!(
            held <= GATE_TIMEOUT + GATE_SLACK,
            "seed {seed}: {} held the lock {held} after it came back",
            e.node
        );
        if !timed_out.contains(&e.node) {
            whole += 1;
        }
    }
    // Every node, Events lost to crashes or not: from its reboot to leaving the lock, no more
    // than the reboot's downtime, the timeout and a few restarts.
    let bound = timings().reboot_downtime.1 + GATE_TIMEOUT + GATE_RESTARTS;
    let mut longest = SignedDuration::ZERO;
    for (node, times) in c.reboots() {
        let Some(released) = released_after(&node, times[0]) else {
            assert_eq!(node, o.deleted, "seed {seed}: {node} never released");
            continue;
        };
        longest = longest.max(released.duration_since(times[0]));
    }
    assert!(
        longest <= bound,
        "seed {seed}: a hold lasted {longest} after its reboot"
    );
    eprintln!(
        "seed {seed}: longest gate {longest_gate:#}, longest hold after a reboot {longest:#} \
         (bound {bound:#}); \
         {gated} gated hand-overs, {} timed out, {whole} whole",
        timed_out.len()
    );
    assert!(
        !timed_out.is_empty(),
        "seed {seed}: the broken cache never timed a gate out"
    );
    assert!(whole > 0, "seed {seed}: no gate opened on whole workloads");
    let notified: BTreeSet<String> = c
        .notifications()
        .into_iter()
        .filter(|(_, _, m)| m.contains("health gate timed out"))
        .map(|(_, node, _)| node)
        .collect();
    assert_eq!(
        notified, timed_out,
        "seed {seed}: a notification per timeout"
    );
}
