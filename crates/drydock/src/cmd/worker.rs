//! The worker-pod stages `drydock collector` and `drydock remover`.

use std::process::ExitCode;

use drydock_cleaner::pipes::PipeDir;
use drydock_cleaner::stages::{RemoverInput, StageContext, run_collector, run_remover};
use drydock_cri::{CriClient, Endpoint};
use tracing::warn;

use crate::cli::{CollectorArgs, RemoverArgs, StageArgs};

fn context(stage: &StageArgs) -> StageContext {
    StageContext {
        pipes: PipeDir::new(&stage.pipe_dir),
        exclusion_root: stage.exclusion_dir.clone(),
        exclusion_files: stage.keep.exclude_files.clone(),
        protected: stage.keep.protect.clone(),
    }
}

async fn connect(stage: &StageArgs) -> anyhow::Result<CriClient> {
    let endpoint: Endpoint = stage.runtime_endpoint.parse()?;
    Ok(CriClient::connect(&endpoint).await?)
}

pub(crate) async fn collector(args: CollectorArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.stage).await?;
    run_collector(&mut client, &context(&args.stage), args.scan_disabled).await?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn remover(args: RemoverArgs) -> anyhow::Result<ExitCode> {
    let context = context(&args.stage);
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
