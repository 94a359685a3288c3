//! `drydock clean`: the collect → remove pipeline in one process on this host.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use drydock_cleaner::clean::{CleanOptions, clean};
use drydock_cleaner::decide::Targets;
use drydock_cleaner::exclusions;
use drydock_cri::{CriClient, Endpoint, ExclusionSet};

use crate::cli::{CleanArgs, Output};

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
    let report = clean(&mut client, &endpoint.to_string(), &runtime_name, &options).await?;
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
