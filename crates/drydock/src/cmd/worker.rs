//! The worker-pod stages `drydock collector`, `drydock scanner` and `drydock remover`.

use std::process::ExitCode;

use drydock_cleaner::node::pipes::PipeDir;
use drydock_cleaner::node::stages::{
    MinimumAge, RemoverInput, StageContext, run_collector, run_remover,
};
use drydock_cri::{CriClient, Endpoint};
use tracing::{info, warn};

use anyhow::Context;
use drydock_cleaner::node::fetch::Outcome;
use drydock_cleaner::node::inventory::{ContainerdImages, ContainerdScanner, ImageScanner};
use drydock_cleaner::node::scan::{
    OnBlockingThreads, RELEASE_BOUND, release_peers, run_scanner_cached,
};
use drydock_cleaner::node::verdict_client;
use drydock_cleaner::verdicts;
use drydock_vuln::Index;

use crate::cli::{CollectorArgs, RemoverArgs, ScannerArgs, StageArgs};
use crate::cmd::scan::{parse_scanner_config, platform, snapshot_source};

fn context(stage: &StageArgs) -> StageContext {
    StageContext {
        pipes: PipeDir::new(&stage.pipe_dir),
        exclusion_root: stage.exclusion_dir.clone(),
        exclusion_files: stage.keep.exclude_files.clone(),
        protected: stage.keep.protect.clone(),
        minimum_age: stage.minimum_age.map(|age| MinimumAge {
            age,
            clock: jiff::Timestamp::now,
        }),
        dry_run: false,
        report_in_use: false,
    }
}

async fn connect(stage: &StageArgs) -> anyhow::Result<CriClient> {
    let endpoint: Endpoint = stage.runtime_endpoint.parse()?;
    Ok(CriClient::connect(&endpoint).await?)
}

pub(crate) async fn collector(args: CollectorArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.stage).await?;
    let mut context = context(&args.stage);
    context.report_in_use = args.report_in_use;
    run_collector(&mut client, &context, args.scan_disabled).await?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn remover(args: RemoverArgs) -> anyhow::Result<ExitCode> {
    let mut context = context(&args.stage);
    context.dry_run = args.dry_run;
    let input = args
        .imagelist
        .map_or(RemoverInput::Pipe, RemoverInput::ImageList);
    let mut client = connect(&args.stage).await?;
    let label = (client.endpoint().to_owned(), client.runtime());
    let report = run_remover(&mut client, &context, &input, (&label.0, &label.1)).await?;
    let summary = serde_json::to_vec(&report.summary())?;
    if let Err(err) = std::fs::write(&args.termination_log, summary) {
        // Outside a pod there is no termination log; the per-image log lines still tell all.
        warn!(path = %args.termination_log.display(), error = %err, "could not write the termination message");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn scanner(args: ScannerArgs) -> anyhow::Result<ExitCode> {
    let pipes = PipeDir::new(&args.pipe_dir);
    let scanner = match prepare_scanner(&args).await {
        Ok(prepared) => prepared,
        Err(err) => {
            // Nothing to scan with: the collector and remover still get their turns (an empty
            // list: nothing is removed) so the pod ends instead of holding its requests.
            if let Err(release) = release_peers(&pipes, RELEASE_BOUND).await {
                warn!(error = %release, "could not release the collector and remover");
            }
            return Err(err);
        }
    };
    let (mut scanner, config, mut cache) = scanner;
    let summary = run_scanner_cached(
        &mut scanner,
        &pipes,
        config.delete_failed_images,
        &config.timeout,
        config.report_in_use,
        &mut cache,
    )
    .await?;
    if let Some(report) = summary.in_use {
        // The in-use report for the manager; without `reportInUse` the scanner writes none,
        // as Eraser's does not.
        let message = serde_json::to_vec(&report)?;
        if let Err(err) = std::fs::write(&args.termination_log, message) {
            warn!(path = %args.termination_log.display(), error = %err, "could not write the termination message");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The cluster's verdict cache for this run, when the manager handed this job a token and
/// the index came from the manager (its digest keys the verdicts); otherwise none, and every
/// image is scanned.
fn verdict_cache(
    args: &ScannerArgs,
    index_digest: Option<&str>,
    config: &drydock_vuln::config::ScannerConfig,
) -> Option<ManagerCache> {
    let (url, token_file) = (args.verdicts_url.as_deref()?, args.verdicts_token.as_ref()?);
    let Some(digest) = index_digest else {
        info!("the index's digest is unknown; the cluster's verdict cache is not used");
        return None;
    };
    let token = match std::fs::read_to_string(token_file) {
        Ok(token) => token,
        Err(error) => {
            warn!(path = %token_file.display(), %error, "cannot read the verdict cache token; scanning every image");
            return None;
        }
    };
    let transport = match verdict_client::Http::new(url, &token) {
        Ok(transport) => transport,
        Err(error) => {
            warn!(%error, "cannot reach the verdict cache; scanning every image");
            return None;
        }
    };
    let settings = verdicts::settings_digest(config);
    let sleep: fn(std::time::Duration) -> tokio::time::Sleep = tokio::time::sleep;
    Some(
        verdict_client::Remote::new(transport, digest, &settings, sleep)
            .with_order_seed(&args.node_name),
    )
}

/// The scanner's verdict cache client.
type ManagerCache =
    verdict_client::Remote<verdict_client::Http, fn(std::time::Duration) -> tokio::time::Sleep>;

/// The scanner stage's image access with its index, its configuration (`deleteFailedImages`,
/// timeouts, `reportInUse`) and the cluster's verdict cache, if any.
type PreparedScanner = (
    OnBlockingThreads<ContainerdScanner<fn() -> jiff::Timestamp>>,
    drydock_vuln::ScannerConfig,
    Option<ManagerCache>,
);

/// The scanner stage's config, index and image access, before any pipe is touched.
async fn prepare_scanner(args: &ScannerArgs) -> anyhow::Result<PreparedScanner> {
    let source = args.config.display().to_string();
    let text =
        std::fs::read_to_string(&args.config).with_context(|| format!("reading {source}"))?;
    let eraser = drydock_api::config::parse(&text, &source)?;
    let scanner_text = eraser.config.components.scanner.config.unwrap_or_default();
    let config = parse_scanner_config(
        &scanner_text,
        &format!("{source}: components.scanner.config"),
    )?;
    let snapshots = snapshot_source(args.runtime_endpoint.parse()?, &args.containerd, &config);
    let (db, digest) = match &args.vulndb_url {
        // Without an index the stage fails, the remover gets an empty list, and nothing is
        // removed (whatever deleteFailedImages says).
        Some(url) => fetch_index(url, &args.vulndb_cache, args.vulndb_wait).await?,
        None => (
            args.db.clone().unwrap_or_else(|| config.db_path().into()),
            None,
        ),
    };
    let index = Index::open(&db)?;
    let stage_config = config.clone();
    let cache = verdict_cache(args, digest.as_deref(), &config);
    let scanner = ContainerdScanner {
        images: ContainerdImages::new(
            &args.containerd.containerd_root,
            platform(&args.containerd)?,
        )
        .with_snapshots(snapshots),
        scanner: ImageScanner::new(index, config),
        clock: jiff::Timestamp::now as fn() -> jiff::Timestamp,
    };
    Ok((OnBlockingThreads::new(scanner), stage_config, cache))
}

/// The index from the manager, through the node cache, and its digest when known; a node
/// without a cached index waits a bounded time for the manager's first one (see
/// `drydock_cleaner::node::fetch::fetch_patiently`).
async fn fetch_index(
    url: &str,
    cache: &std::path::Path,
    patience: std::time::Duration,
) -> anyhow::Result<(std::path::PathBuf, Option<String>)> {
    let http = drydock_cleaner::node::fetch::fetch_client()?;
    let fetched = drydock_cleaner::node::fetch::fetch_patiently(
        &http,
        url,
        cache,
        patience,
        tokio::time::sleep,
    )
    .await
    .with_context(|| {
        format!(
            "no vulnerability index to scan with (from {url}, cache {})",
            cache.display()
        )
    })?;
    let digest = fetched.digest.as_deref().unwrap_or("unknown");
    match &fetched.outcome {
        Outcome::Downloaded => {
            info!(url, digest, path = %fetched.index.display(), "downloaded the vulnerability index");
        }
        Outcome::NotModified => {
            info!(url, digest, path = %fetched.index.display(), "the cached vulnerability index is current");
        }
        Outcome::Stale { cause } => {
            warn!(url, digest, path = %fetched.index.display(), error = %cause, "the manager's vulnerability index is unavailable; scanning with the cached copy");
        }
    }
    Ok((fetched.index, fetched.digest))
}
