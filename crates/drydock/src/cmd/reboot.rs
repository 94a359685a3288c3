//! `drydock reboot status | pause | resume | now | cancel`: the reboot coordinator from an admin
//! workstation.
//! Flags and printing only; what is read, decided and written is `drydock_reboot::admin`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use drydock_reboot::admin::{
    Admin, CancelOutcome, LockTarget as Target, PauseOutcome, RequestOutcome, ResumeOutcome,
};
use drydock_reboot::lock::{DEFAULT_LOCK_ANNOTATION, MANUAL_HOLDER};
use jiff::Timestamp;

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
    /// Mark NODE as needing a reboot (no shell on the node needed). It waits for the lock,
    /// the blockers and the window like any other; the daemons must run with
    /// `--reboot-on-request`.
    Now {
        /// The Node to reboot.
        node: String,
        /// Start outside the maintenance window (never past a blocker or the lock).
        #[arg(long)]
        force: bool,
    },
    /// Withdraw NODE's request from `reboot now`.
    Cancel {
        /// The Node.
        node: String,
    },
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
    let target = Target {
        ds_namespace: args.target.ds_namespace,
        ds_name: args.target.ds_name,
        lock_annotation: args.target.lock_annotation,
    };
    let mut admin = Admin::connect(client, &target).await?;
    let now = Timestamp::now();
    match args.action {
        RebootAction::Status => print!("{}", admin.status().await?.render(now)),
        RebootAction::Pause => match admin.pause(now).await? {
            PauseOutcome::Paused => println!(
                "paused: {MANUAL_HOLDER} holds every slot of the {:?} lock; `drydock reboot \
                 resume` clears it",
                admin.config().lock.policy.format()
            ),
            PauseOutcome::AlreadyPaused => println!("already paused"),
        },
        RebootAction::Resume => match admin.resume().await? {
            ResumeOutcome::Resumed => println!("resumed"),
            ResumeOutcome::NotPaused => println!("not paused"),
        },
        RebootAction::Now { node, force } => {
            let waits = if force {
                "it waits for the lock and the blockers, not for the window"
            } else {
                "it waits for the lock, the blockers and the window"
            };
            match admin.request_reboot(&node, force, now).await? {
                RequestOutcome::Requested(r) => println!(
                    "reboot of {node} requested (boot ID {}); {waits}; `drydock reboot cancel \
                     {node}` withdraws it",
                    r.boot_id
                ),
                RequestOutcome::AlreadyRequested(r) => println!(
                    "reboot of {node} already requested since {}; {waits}",
                    r.requested
                ),
            }
        }
        RebootAction::Cancel { node } => match admin.cancel_reboot(&node).await? {
            CancelOutcome::Cancelled => println!("reboot request of {node} withdrawn"),
            CancelOutcome::NotRequested => println!("no reboot request on {node}"),
        },
    }
    Ok(ExitCode::SUCCESS)
}
