//! `drydock manifests`: render manifests from the Rust types (the files under `deploy/` are
//! this command's output; a test keeps them in sync).

use std::process::ExitCode;

use crate::cli::{ManifestKind, ManifestsArgs};
use crate::manifests::{image_cleaner, reboot};

pub(crate) fn run(args: &ManifestsArgs) -> anyhow::Result<ExitCode> {
    print!("{}", render(args)?);
    Ok(ExitCode::SUCCESS)
}

/// The YAML stream for `args`.
fn render(args: &ManifestsArgs) -> anyhow::Result<String> {
    let mut options = image_cleaner::Options {
        namespace: args.namespace.clone(),
        vulndb_sources: args.vulndb_sources.clone(),
        ..image_cleaner::Options::default()
    };
    if let Some(image) = &args.image {
        options.image = image.clone();
    }
    let cleaner = || -> anyhow::Result<String> {
        image_cleaner::fresh(&options, args.interval_hours)?.render_yaml()
    };
    let reboot = || reboot::objects(&options.namespace, &options.image).render_yaml();
    Ok(match args.kind {
        ManifestKind::Crds => drydock_api::crd::render_yaml()?,
        ManifestKind::ImageCleaner => cleaner()?,
        ManifestKind::Reboot => reboot()?,
        ManifestKind::All => cleaner()? + &reboot()?,
    })
}
