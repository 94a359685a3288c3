//! Zone-aware concurrency, proved at the lock: 10,000 randomized runs of 50 nodes taking,
//! renewing and releasing the lock through optimistic-concurrency writes (a read, a decision
//! with the pure lock policy, a write that fails if anyone wrote in between), with crashes
//! between every read and write and after writes (the write landed, the node forgot), expiring
//! TTLs and deleted Nodes. After every write the live holders stay within `--concurrency`,
//! one control-plane node, `--max-nodes-per-zone` and `--max-zones`. Each run is replayed by
//! its seed. The full daemons under zone limits run in `simulation.rs`.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test, with its backtrace

use std::collections::{BTreeMap, BTreeSet};

use drydock_reboot::lock::{
    Acquire, AcquireRequest, Lock, LockFormat, LockPolicy, NodeDirectory, NodeRole, ZoneLimits,
    ZoneView,
};
use drydock_reboot::memory::SimRng;
use jiff::{SignedDuration, Timestamp};

/// Randomized runs.
const RUNS: u64 = 10_000;
/// Nodes per run.
const NODES: usize = 50;
/// Control-plane nodes among them (the first ones).
const CONTROL_PLANE: usize = 3;
/// Steps (one node's read, write, crash, or the clock moving) per run.
const STEPS: usize = 200;
/// Most zones a run spreads its nodes over.
const MAX_ZONE_COUNT: u64 = 5;
/// The fewest nodes that act in a run (the rest of the 50 are idle members of the fleet).
const MIN_ACTIVE: u64 = 6;
/// Percent of nodes without a zone label (they count as the zone `""`).
const UNLABELLED_PERCENT: u32 = 5;

fn origin() -> Timestamp {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

/// What a node's process has in memory: nothing, or the lock it read and its version.
#[derive(Clone)]
enum Process {
    Idle,
    Read { lock: Lock, version: u64 },
}

struct Run {
    rng: SimRng,
    now: Timestamp,
    nodes: Vec<String>,
    directory: BTreeMap<String, NodeRole>,
    zones: BTreeMap<String, String>,
    policy: LockPolicy,
    limits: ZoneLimits,
    stored: Lock,
    version: u64,
    processes: Vec<Process>,
    writes: usize,
    /// How many nodes (the first ones) act in this run: few make for dense races on the
    /// lock, all for a wide spread over the zones.
    active: u64,
}

impl Run {
    fn new(seed: u64) -> Run {
        let mut rng = SimRng::new(seed);
        let zone_count = rng.between(1, MAX_ZONE_COUNT);
        let nodes: Vec<String> = (0..NODES).map(|i| format!("n{i:02}")).collect();
        let mut directory = BTreeMap::new();
        let mut zones = BTreeMap::new();
        for (i, n) in nodes.iter().enumerate() {
            let role = if i < CONTROL_PLANE {
                NodeRole::ControlPlane
            } else {
                NodeRole::Worker
            };
            directory.insert(n.clone(), role);
            if !rng.percent(UNLABELLED_PERCENT) {
                zones.insert(n.clone(), format!("z{}", rng.between(0, zone_count - 1)));
            }
        }
        let concurrency = u32::try_from(rng.between(2, 8)).unwrap();
        let ttl = if rng.percent(50) {
            SignedDuration::from_mins(3)
        } else {
            SignedDuration::ZERO
        };
        let limit = |rng: &mut SimRng| u32::try_from(rng.between(1, 3)).unwrap();
        let mut limits = ZoneLimits {
            per_zone: rng.percent(70).then(|| limit(&mut rng)),
            zones: rng.percent(70).then(|| limit(&mut rng)),
        };
        if !limits.is_active() {
            limits.per_zone = Some(limit(&mut rng));
        }
        let policy = LockPolicy {
            concurrency,
            ttl,
            one_control_plane_at_a_time: true,
        };
        Run {
            rng,
            now: origin(),
            nodes,
            directory,
            zones,
            policy,
            limits,
            stored: Lock::empty(LockFormat::Multi),
            version: 0,
            processes: vec![Process::Idle; NODES],
            writes: 0,
            active: 0,
        }
        .with_active()
    }

    fn with_active(mut self) -> Run {
        self.active = self.rng.between(MIN_ACTIVE, NODES as u64);
        self
    }

    fn directory(&self) -> NodeDirectory {
        self.directory
            .iter()
            .map(|(n, r)| (n.clone(), *r))
            .collect()
    }

    /// The conditional write: lands only if nobody wrote since `version`. Sometimes the
    /// annotation goes through its JSON form, as it does on the API server.
    fn write(&mut self, lock: Lock, version: u64) -> bool {
        if version != self.version {
            return false;
        }
        self.stored = if self.rng.percent(10) {
            let text = lock.encode().unwrap();
            Lock::decode(text.as_deref(), LockFormat::Multi).unwrap()
        } else {
            lock
        };
        self.version += 1;
        self.writes += 1;
        true
    }

    /// One node's next move.
    fn step_node(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        if !self.directory.contains_key(&node) {
            return;
        }
        match self.processes[i].clone() {
            Process::Idle => {
                self.processes[i] = Process::Read {
                    lock: self.stored.clone(),
                    version: self.version,
                };
            }
            Process::Read { lock, version } => {
                self.processes[i] = Process::Idle;
                if self.rng.percent(10) {
                    return; // crashed between the read and the write
                }
                let next = if lock.holding(&node, self.now).is_some() {
                    if self.rng.percent(40) {
                        lock.release(&node).ok()
                    } else {
                        lock.renew(&node, &self.policy, self.now).ok()
                    }
                } else {
                    let zone = self.zones.get(&node).cloned().unwrap_or_default();
                    let request = AcquireRequest {
                        node: &node,
                        role: self.directory[&node],
                        cordoned_before: false,
                        boot_id: "boot",
                    };
                    let view = ZoneView {
                        zone: &zone,
                        limits: &self.limits,
                        zones: &self.zones,
                    };
                    match lock.acquire_in_zone(
                        &request,
                        &self.policy,
                        &self.directory(),
                        self.now,
                        view,
                    ) {
                        Acquire::Take(taken) => Some(taken),
                        Acquire::AlreadyHeld | Acquire::Busy(_) => None,
                    }
                };
                if let Some(next) = next {
                    // A crash right after the write: it landed, the process forgot (it is
                    // Idle already, and reads again).
                    self.write(next, version);
                }
            }
        }
    }

    fn step(&mut self) {
        match self.rng.between(0, 99) {
            0..=9 => {
                let secs = i64::try_from(self.rng.between(1, 120)).unwrap();
                self.now += SignedDuration::from_secs(secs);
            }
            10 => {
                // A Node is deleted (scale-in): its entry goes stale.
                let i = usize::try_from(self.rng.between(0, NODES as u64 - 1)).unwrap();
                self.directory.remove(&self.nodes[i]);
            }
            _ => {
                let i = usize::try_from(self.rng.between(0, self.active - 1)).unwrap();
                self.step_node(i);
            }
        }
    }

    /// The limits, judged on the live holders with the Nodes' own labels.
    fn check(&self, seed: u64, step: usize) -> (usize, usize) {
        let directory = self.directory();
        let live: Vec<&str> = self
            .stored
            .live_holders(&directory, self.now)
            .map(|e| e.node_id.as_str())
            .collect();
        let context = || {
            format!(
                "seed {seed}, step {step}: holders {live:?}, policy {:?}, limits {:?}, zones {:?}",
                self.policy, self.limits, self.zones
            )
        };
        let concurrency = usize::try_from(self.policy.concurrency).unwrap();
        assert!(live.len() <= concurrency, "{}", context());
        let control_planes = live
            .iter()
            .filter(|n| directory.role(n) == Some(NodeRole::ControlPlane))
            .count();
        assert!(control_planes <= 1, "{}", context());
        let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &live {
            *per_zone
                .entry(self.zones.get(*n).map_or("", String::as_str))
                .or_default() += 1;
        }
        let most_in_a_zone = per_zone.values().copied().max().unwrap_or(0);
        if let Some(limit) = self.limits.per_zone {
            let limit = usize::try_from(limit).unwrap();
            assert!(most_in_a_zone <= limit, "{}", context());
        }
        if let Some(limit) = self.limits.zones {
            let limit = usize::try_from(limit).unwrap();
            assert!(per_zone.len() <= limit, "{}", context());
        }
        (live.len(), per_zone.len())
    }
}

#[test]
fn ten_thousand_randomized_runs_never_exceed_the_zone_limits() {
    let mut writes = 0;
    let mut most_holders = 0;
    let mut zone_sets_seen = BTreeSet::new();
    for seed in 0..RUNS {
        let mut run = Run::new(seed);
        for step in 0..STEPS {
            let before = run.version;
            run.step();
            if run.version != before {
                let (holders, zones) = run.check(seed, step);
                most_holders = most_holders.max(holders);
                zone_sets_seen.insert(zones);
            }
        }
        writes += run.writes;
    }
    eprintln!(
        "{RUNS} runs, {writes} lock writes, at most {most_holders} holders, zone counts seen {zone_sets_seen:?}"
    );
    assert!(
        writes > usize::try_from(RUNS).unwrap() * 10,
        "the runs wrote: {writes}"
    );
    assert!(most_holders >= 3, "several holders at once were reached");
    assert!(
        zone_sets_seen.contains(&3),
        "three zones at once were reached"
    );
}
