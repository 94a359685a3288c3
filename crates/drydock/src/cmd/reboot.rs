//! `drydock reboot status | pause | resume`: the reboot coordinator from an admin workstation.
//!
//! The DaemonSet is the source of truth: the lock lives in its annotation, and the daemons'
//! flags (concurrency, window, …) are read from its pod template (literal args and `KURED_*`
//! env values) with the daemons' own parser, so `pause` writes the lock in the format the
//! daemons use and `status` shows their window. `pause` refuses to write a lock in the other
//! format, and refuses while a node holds the lock (a pause must not take a slot from under a
//! rebooting node).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use drydock_reboot::cluster::{Cluster, TokioClock};
use drydock_reboot::config::{self, Config};
use drydock_reboot::daemon::KURED_REBOOT_IN_PROGRESS_ANNOTATION;
use drydock_reboot::k8s::KubeCluster;
use drydock_reboot::lock::{DEFAULT_LOCK_ANNOTATION, Lock, LockFormat, MANUAL_HOLDER};
use drydock_reboot::machine::CORDON_MARKER_ANNOTATION;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Node};
use kube::Api;
use kube::api::ListParams;

/// `drydock reboot`.
#[derive(Debug, Args)]
pub(crate) struct RebootArgs {
    #[command(subcommand)]
    pub(crate) action: RebootAction,
    #[command(flatten)]
    pub(crate) target: LockTarget,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum RebootAction {
    /// Nodes needing a reboot, lock holders (age, TTL), blocked nodes, and the window.
    Status,
    /// Stop new reboots: set the manual lock in the format the daemons use.
    Pause,
    /// Clear the manual lock set by `pause`.
    Resume,
}

/// Where the lock is.
#[derive(Debug, Args)]
pub(crate) struct LockTarget {
    /// Namespace of the reboot DaemonSet.
    #[arg(long, global = true, default_value = "kube-system")]
    pub(crate) ds_namespace: String,
    /// Name of the reboot DaemonSet.
    #[arg(long, global = true, default_value = "kured")]
    pub(crate) ds_name: String,
    /// The lock annotation (only if the DaemonSet does not say).
    #[arg(long, global = true, default_value = DEFAULT_LOCK_ANNOTATION)]
    pub(crate) lock_annotation: String,
    /// The kubeconfig (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, env = "KUBECONFIG_PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,
}

/// Runs the admin command.
pub(crate) async fn run(args: RebootArgs) -> anyhow::Result<ExitCode> {
    let client = drydock_kube::client::client(args.target.kubeconfig.as_deref()).await?;
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), &args.target.ds_namespace);
    let ds = daemonsets
        .get(&args.target.ds_name)
        .await
        .with_context(|| {
            format!(
                "cannot read DaemonSet {}/{}",
                args.target.ds_namespace, args.target.ds_name
            )
        })?;
    let config = daemon_config(&ds, &args.target)?;
    let clock = TokioClock::system();
    let cluster = KubeCluster::new(client.clone(), &config.lock, clock);
    let now = Timestamp::now();
    match args.action {
        RebootAction::Status => status(&client, &cluster, &config, now).await,
        RebootAction::Pause => pause(&cluster, &config, now).await,
        RebootAction::Resume => resume(&cluster, &config).await,
    }
}

/// The daemons' configuration, parsed from the DaemonSet's first container as they parse it.
fn daemon_config(ds: &DaemonSet, target: &LockTarget) -> anyhow::Result<Config> {
    let container = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first());
    let mut argv = vec!["kured".to_owned()];
    let mut env = BTreeMap::new();
    if let Some(c) = container {
        let words = c
            .command
            .iter()
            .flatten()
            .skip(1)
            .chain(c.args.iter().flatten());
        argv.extend(words.filter(|w| w.starts_with("--")).cloned());
        for var in c.env.iter().flatten() {
            if let Some(value) = &var.value {
                env.insert(var.name.clone(), value.clone());
            }
        }
    }
    argv.push(format!("--ds-namespace={}", target.ds_namespace));
    argv.push(format!("--ds-name={}", target.ds_name));
    if !argv.iter().any(|a| a.starts_with("--lock-annotation")) {
        argv.push(format!("--lock-annotation={}", target.lock_annotation));
    }
    // The node name comes from the downward API in the pods; any name parses here.
    env.insert("KURED_NODE_ID".into(), "drydock-admin".into());
    env.remove("KURED_DS_NAMESPACE");
    env.remove("KURED_DS_NAME");
    config::parse(argv, &env).context("cannot read the daemons' flags from the DaemonSet")
}

fn decode_any(value: Option<&str>) -> anyhow::Result<Lock> {
    Lock::decode(value, LockFormat::Single)
        .or_else(|_| Lock::decode(value, LockFormat::Multi))
        .context("the lock annotation is not a kured lock")
}

async fn status(
    client: &kube::Client,
    cluster: &KubeCluster,
    config: &Config,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let read = cluster.read_lock().await?;
    let lock = decode_any(read.value.as_deref())?;
    println!(
        "Window: {} (open now: {})",
        config.window,
        if config.window.contains(now) {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "Lock: {}/{} {} ({:?} format, concurrency {})",
        config.lock.ds_namespace,
        config.lock.ds_name,
        config.lock.annotation,
        lock.format(),
        config.lock.policy.concurrency
    );
    if lock.holders().is_empty() {
        println!("  no holder");
    }
    for holder in lock.holders() {
        let age = now.duration_since(holder.created);
        let ttl = if holder.ttl.is_zero() {
            "none".to_owned()
        } else {
            format!("{:#}", holder.ttl)
        };
        let state = match (holder.is_manual(), holder.is_expired(now)) {
            (true, _) => " (manual pause)",
            (false, true) => " (expired)",
            (false, false) => "",
        };
        println!(
            "  held by {} for {:#}, TTL {ttl}{state}",
            holder.node_id,
            age.round(jiff::Unit::Second).unwrap_or(age)
        );
    }

    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    println!("Nodes needing a reboot (kured's in-progress annotation, --annotate-nodes):");
    let mut any = false;
    for node in &nodes.items {
        let annotations = node.metadata.annotations.clone().unwrap_or_default();
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(since) = annotations.get(KURED_REBOOT_IN_PROGRESS_ANNOTATION) {
            let cordoned = if annotations.contains_key(CORDON_MARKER_ANNOTATION) {
                ", cordoned for the reboot"
            } else {
                ""
            };
            println!("  {name} since {since}{cordoned}");
            any = true;
        }
    }
    if !any {
        println!("  none recorded");
    }

    let events =
        Api::<Event>::namespaced(client.clone(), drydock_kube::events::NODE_EVENT_NAMESPACE)
            .list(&ListParams::default().fields("reason=RebootBlocked"))
            .await?;
    let mut latest: BTreeMap<String, (Timestamp, String)> = BTreeMap::new();
    for event in events.items {
        let node = event.involved_object.name.unwrap_or_default();
        let when = event.last_timestamp.map_or(Timestamp::UNIX_EPOCH, |t| t.0);
        let message = event.message.unwrap_or_default();
        if latest.get(&node).is_none_or(|(t, _)| *t < when) {
            latest.insert(node, (when, message));
        }
    }
    println!("Blocked (latest RebootBlocked Event per node):");
    if latest.is_empty() {
        println!("  none");
    }
    for (node, (when, message)) in latest {
        let ago = now
            .duration_since(when)
            .round(jiff::Unit::Second)
            .unwrap_or_default();
        println!("  {node}: {message} ({ago:#} ago)");
    }
    Ok(ExitCode::SUCCESS)
}

async fn pause(cluster: &KubeCluster, config: &Config, now: Timestamp) -> anyhow::Result<ExitCode> {
    let policy = &config.lock.policy;
    let read = cluster.read_lock().await?;
    // A lock in the other format is refused with the daemons' own error.
    let lock = Lock::decode_for(read.value.as_deref(), policy)?;
    if !lock.holders().is_empty() && lock.holders().iter().all(|h| h.is_manual()) {
        println!("already paused");
        return Ok(ExitCode::SUCCESS);
    }
    let live: Vec<&str> = lock
        .holders()
        .iter()
        .filter(|h| !h.is_expired(now))
        .map(|h| h.node_id.as_str())
        .collect();
    if !live.is_empty() {
        bail!(
            "the lock is held by {}; pause once they have finished (or their TTL ran out)",
            live.join(", ")
        );
    }
    let paused = Lock::paused(policy, now).encode()?;
    cluster
        .write_lock(paused, &read.version)
        .await
        .context("the lock changed while pausing; run the command again")?;
    println!(
        "paused: {} holds every slot of the {:?} lock; `drydock reboot resume` clears it",
        MANUAL_HOLDER,
        policy.format()
    );
    Ok(ExitCode::SUCCESS)
}

async fn resume(cluster: &KubeCluster, config: &Config) -> anyhow::Result<ExitCode> {
    let read = cluster.read_lock().await?;
    let mut lock = Lock::decode_for(read.value.as_deref(), &config.lock.policy)?;
    if lock.entry(MANUAL_HOLDER).is_none() {
        println!("not paused");
        return Ok(ExitCode::SUCCESS);
    }
    while lock.entry(MANUAL_HOLDER).is_some() {
        lock = lock.release(MANUAL_HOLDER)?;
    }
    cluster
        .write_lock(lock.encode()?, &read.version)
        .await
        .context("the lock changed while resuming; run the command again")?;
    println!("resumed");
    Ok(ExitCode::SUCCESS)
}
