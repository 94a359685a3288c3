//! `drydock manifests`: render manifests from the Rust types.

use std::process::ExitCode;

use crate::cli::{ManifestKind, ManifestsArgs};

pub(crate) fn run(args: &ManifestsArgs) -> anyhow::Result<ExitCode> {
    match args.kind {
        ManifestKind::Crds => print!("{}", drydock_api::crd::render_yaml()?),
    }
    Ok(ExitCode::SUCCESS)
}
