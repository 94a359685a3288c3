//! Benchmark (not a test): the collector's and the remover's decision logic over a large node
//! — 1,000 images, 300 containers in mixed states, a sandbox image and a few exclusions — each
//! in its own process, reporting CPU time and peak RSS against the budget.
//!
//! Budget (issue "Foundation"): under 100 ms CPU and under 15 MiB peak RSS per process. Eraser
//! gives its remover a 30 MiB memory limit, and it still gets OOM-killed.
//!
//! Run: `cargo bench -p drydock-cleaner --bench decide`

use std::process::{Command, ExitCode};

use drydock_cleaner::node::decide::{Targets, decide, removable};
use drydock_cri::inuse::{ContainerRecord, ContainerState};
use drydock_cri::{ExclusionSet, ImageRecord, Snapshot};

const IMAGES: usize = 1_000;
const CONTAINERS: usize = 300;
/// Repetitions inside one process so that CPU time is well above the kernel's 10 ms tick.
const ROUNDS: u32 = 20;
const BUDGET_CPU_MS: f64 = 100.0;
const BUDGET_RSS_MIB: f64 = 15.0;
const ROLE_ENV: &str = "DRYDOCK_BENCH_ROLE";

fn digest(n: usize, salt: u8) -> String {
    format!("sha256:{:0>62}{salt:02x}", format!("{n:x}"))
}

fn snapshot() -> Snapshot {
    let images = (0..IMAGES)
        .map(|i| ImageRecord {
            id: digest(i, 0),
            repo_tags: vec![
                format!(
                    "registry{}.example.com:5000/team-{}/service-{i}:v{}",
                    i % 7,
                    i % 13,
                    i % 5
                ),
                format!("docker.io/library/app-{i}:latest"),
            ],
            repo_digests: vec![format!(
                "registry{}.example.com:5000/team-{}/service-{i}@{}",
                i % 7,
                i % 13,
                digest(i, 1)
            )],
            size: 50_000_000,
            pinned: i % 250 == 0,
        })
        .collect();
    let states = [
        ContainerState::Running,
        ContainerState::Exited,
        ContainerState::Created,
    ];
    let containers = (0..CONTAINERS)
        .map(|c| ContainerRecord {
            id: format!("{c:064x}"),
            name: format!("container-{c}"),
            // Half refer by tag, half by image ID, like kubelet and runtimes do.
            image: if c % 2 == 0 {
                format!("docker.io/library/app-{}:latest", c * 3)
            } else {
                String::new()
            },
            image_ref: digest(c * 3, 0),
            state: states[c % states.len()],
        })
        .collect();
    Snapshot {
        images,
        containers,
        sandbox_image: Some("docker.io/library/app-999:latest".to_owned()),
    }
}

fn exclusions() -> ExclusionSet {
    ExclusionSet::parse(
        [
            "registry1.example.com:5000/team-1/*",
            "docker.io/library/app-5:*",
            "registry3.example.com:5000/team-3/service-3:v3",
        ],
        "bench",
    )
    .expect("valid patterns")
}

/// Clock ticks per second of /proc/self/stat's utime and stime (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) * 1000.0 / USER_HZ
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// One role, in this process: prints `cpu_ms_per_round peak_rss_mib`.
fn child(role: &str) {
    let start = cpu_ms();
    let mut checksum = 0usize;
    for _ in 0..ROUNDS {
        // Each round builds its inputs like a fresh process would (listing → snapshot).
        let snapshot = snapshot();
        let exclusions = exclusions();
        match role {
            "collector" => {
                let decisions = decide(&snapshot, &Targets::All, &exclusions, &[]);
                let images: Vec<_> = removable(&decisions)
                    .into_iter()
                    .map(ImageRecord::to_pipe)
                    .collect();
                checksum += drydock_api::pipe::encode(&images).map_or(0, |b| b.len());
            }
            _ => {
                // The remover decodes the collector's list, then decides on a fresh listing.
                let decisions = decide(&snapshot, &Targets::All, &exclusions, &[]);
                let images: Vec<_> = removable(&decisions)
                    .into_iter()
                    .map(ImageRecord::to_pipe)
                    .collect();
                let payload = drydock_api::pipe::encode(&images).unwrap_or_default();
                let handed = drydock_api::pipe::decode(&payload, "bench").unwrap_or_default();
                let targets = Targets::Named(handed.into_iter().map(|i| i.image_id).collect());
                checksum += decide(&snapshot, &targets, &exclusions, &[]).len();
            }
        }
    }
    let per_round = (cpu_ms() - start) / f64::from(ROUNDS);
    println!("{per_round:.2} {:.2} {checksum}", peak_rss_mib());
}

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE_ENV) {
        child(&role);
        return ExitCode::SUCCESS;
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("cannot find the benchmark executable");
        return ExitCode::FAILURE;
    };
    println!(
        "decision logic, {IMAGES} images, {CONTAINERS} containers ({ROUNDS} rounds per process)"
    );
    println!(
        "{:<10} {:>14} {:>14} {:>8}",
        "process", "CPU ms/round", "peak RSS MiB", "budget"
    );
    let mut ok = true;
    for role in ["collector", "remover"] {
        let output = Command::new(&exe).env(ROLE_ENV, role).output();
        let Ok(output) = output else {
            eprintln!("cannot run the {role} process");
            return ExitCode::FAILURE;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let mut fields = text
            .split_whitespace()
            .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
        let (cpu, rss) = (
            fields.next().unwrap_or(f64::NAN),
            fields.next().unwrap_or(f64::NAN),
        );
        let within = cpu < BUDGET_CPU_MS && rss < BUDGET_RSS_MIB;
        ok &= within;
        println!(
            "{role:<10} {cpu:>14.2} {rss:>14.2} {:>8}",
            if within { "ok" } else { "OVER" }
        );
    }
    println!("budget: < {BUDGET_CPU_MS} ms CPU and < {BUDGET_RSS_MIB} MiB peak RSS per process");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
