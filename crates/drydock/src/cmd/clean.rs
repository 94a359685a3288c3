//! `drydock clean`: the collect → remove pipeline in one process on this host; with
//! `--vulndb`, collect → scan → remove (only the vulnerable or end-of-life unused images go).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use drydock_cleaner::exclusions;
use drydock_cleaner::node::clean::{CleanOptions, clean, clean_scanned};
use drydock_cleaner::node::decide::Targets;
use drydock_cleaner::node::inventory::{ContainerdImages, ContainerdScanner, ImageScanner};
use drydock_cri::{CriClient, Endpoint, ExclusionSet};
use drydock_vuln::Index;

use crate::cli::{CleanArgs, Output};
use crate::cmd::scan::{platform, scanner_config, snapshot_source};

/// Exit code when some removals failed (the run itself worked).
const EXIT_SOME_FAILED: u8 = 2;

pub(crate) async fn run(args: CleanArgs) -> anyhow::Result<ExitCode> {
    let mut exclusion_set =
        ExclusionSet::parse(args.excludes.iter().map(String::as_str), "--exclude")?;
    for file in &args.keep.exclude_files {
        exclusions::read_file(file, &mut exclusion_set)?;
    }
    let targets = if args.images.is_empty() {
        Targets::All
    } else {
        Targets::from_entries(args.images)
    };
    let endpoint: Endpoint = args.runtime_endpoint.parse()?;
    let mut client = CriClient::connect(&endpoint).await?;
    let options = CleanOptions {
        targets,
        exclusions: exclusion_set,
        protected: args.keep.protect,
        dry_run: args.dry_run,
    };
    let runtime_name = client.runtime();
    let endpoint_name = endpoint.to_string();
    let report = match &args.vulndb {
        None => clean(&mut client, &endpoint_name, &runtime_name, &options).await?,
        Some(db) => {
            let config = scanner_config(&args.policy)?;
            let mut scanner = ContainerdScanner {
                images: ContainerdImages::new(
                    &args.containerd.containerd_root,
                    platform(&args.containerd)?,
                )
                .with_snapshots(snapshot_source(
                    endpoint.clone(),
                    &args.containerd,
                    &config,
                )),
                scanner: ImageScanner::new(Index::open(db)?, config.clone()),
                clock: jiff::Timestamp::now,
            };
            let mut scan = |record: &drydock_cri::ImageRecord| {
                scanner.scan_image(&record.to_pipe()).assessment.verdict
            };
            clean_scanned(
                &mut client,
                &endpoint_name,
                &runtime_name,
                &options,
                &config,
                &mut scan,
            )
            .await?
        }
    };
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)
                .context("writing the JSON report")?;
            writeln!(stdout)?;
        }
        Output::Table => write!(stdout, "{}", report.table())?,
    }
    Ok(if report.totals.failed > 0 {
        ExitCode::from(EXIT_SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
