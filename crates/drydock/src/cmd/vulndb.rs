//! `drydock vulndb build`, `info` and `refresh`: compile OSV data into the scanner's index,
//! describe an index, and keep one up to date (the builder container of the manager's pod).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use drydock_vuln::index::{self, EcosystemCount, Index, SourceCount, Unreadable};
use jiff::{SignedDuration, Timestamp, Unit};

use drydock_cleaner::manager::vulndist;

use crate::cli::{
    Output, VulndbArgs, VulndbBuildArgs, VulndbCommand, VulndbInfoArgs, VulndbRefreshArgs,
};
use crate::cmd::table;

pub(crate) async fn run(args: VulndbArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        VulndbCommand::Build(args) => build(&args),
        VulndbCommand::Info(args) => info(&args),
        VulndbCommand::Refresh(args) => refresh(args).await,
    }
}

/// `drydock vulndb refresh`: the refresh loop of [`vulndist::VulnDb`] without its server,
/// until SIGTERM or SIGINT.
async fn refresh(args: VulndbRefreshArgs) -> anyhow::Result<ExitCode> {
    let db = vulndist::VulnDb::new(vulndist::Settings {
        sources: args.sources,
        dir: args.dir.clone(),
        refresh: args.refresh,
        built_by: None,
    })?;
    if args.once {
        let published = db
            .build_once(Timestamp::now())
            .await
            .with_context(|| format!("refreshing {}", args.dir.display()))?;
        let fetched_bytes = db.subscribe().borrow().fetched_bytes;
        println!(
            "{}: {} ({} bytes), {fetched_bytes} bytes fetched",
            args.dir
                .join(drydock_cleaner::download::INDEX_FILE)
                .display(),
            published.digest,
            published.bytes
        );
        return Ok(ExitCode::SUCCESS);
    }
    tracing::info!(dir = %args.dir.display(), refresh_seconds = args.refresh.as_secs(), "keeping the vulnerability index up to date");
    tokio::select! {
        never = db.refresh_loop(Timestamp::now) => match never {},
        signal = crate::plumbing::terminated() => {
            tracing::info!("{} received; stopping", signal?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn build(args: &VulndbBuildArgs) -> anyhow::Result<ExitCode> {
    let report = index::build(&args.sources, &args.out, Timestamp::now())
        .with_context(|| format!("building {}", args.out.display()))?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Output::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Output::Table => {
            write!(
                stdout,
                "{}",
                counts_table(&report.sources, &report.ecosystems)
            )?;
            writeln!(
                stdout,
                "\nwrote {}: {} record(s), {} advisory row(s); skipped {} withdrawn, {} duplicate(s)",
                report.out.display(),
                report.records,
                report.advisories,
                report.withdrawn,
                report.duplicates
            )?;
            write!(stdout, "{}", unreadable_lines(&report.unreadable))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn info(args: &VulndbInfoArgs) -> anyhow::Result<ExitCode> {
    let info = Index::open(&args.index)?.info()?;
    let now = Timestamp::now();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Output::Json => {
            let mut value = serde_json::to_value(&info)?;
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "ageSeconds".to_owned(),
                    serde_json::json!(info.age(now).as_secs()),
                );
            }
            serde_json::to_writer_pretty(&mut stdout, &value)?;
            writeln!(stdout)?;
        }
        Output::Table => {
            write!(stdout, "{}", counts_table(&info.sources, &info.ecosystems))?;
            writeln!(
                stdout,
                "\n{}: {} record(s) ({} withdrawn skipped), schema {}, built {} by {} ({} ago)",
                info.path.display(),
                info.records,
                info.withdrawn,
                info.schema_version,
                info.built_at,
                info.builder,
                human_age(info.age(now))
            )?;
            write!(stdout, "{}", unreadable_lines(&info.unreadable))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One row per source, then one per ecosystem with how many of its advisories (findings-to-be)
/// carry a severity of their own and how many get one from another record of the same CVE.
fn counts_table(sources: &[SourceCount], ecosystems: &[EcosystemCount]) -> String {
    let rows: Vec<[String; 7]> = sources
        .iter()
        .map(|s| {
            [
                "source".to_owned(),
                s.path.clone(),
                s.records.to_string(),
                s.withdrawn.to_string(),
                String::new(),
                String::new(),
                String::new(),
            ]
        })
        .chain(ecosystems.iter().map(|e| {
            [
                "ecosystem".to_owned(),
                e.ecosystem.clone(),
                e.records.to_string(),
                e.withdrawn.to_string(),
                e.advisories.to_string(),
                e.rated.to_string(),
                e.rated_by_cve.to_string(),
            ]
        }))
        .collect();
    table::render(
        [
            "KIND",
            "NAME",
            "RECORDS",
            "WITHDRAWN",
            "ADVISORIES",
            "RATED",
            "RATED-BY-CVE",
        ],
        &rows,
    )
}

/// Per source with unreadable records: the count, then the first few by name and reason.
fn unreadable_lines(unreadable: &[Unreadable]) -> String {
    let mut out = String::new();
    for source in unreadable {
        out.push_str(&format!(
            "skipped {} unreadable record(s) of {} in {}:\n",
            source.skipped, source.read, source.source
        ));
        for record in &source.first {
            out.push_str(&format!("  {}: {}\n", record.name, record.reason));
        }
        if source.skipped > source.first.len() as u64 {
            out.push_str(&format!(
                "  … and {} more\n",
                source.skipped - source.first.len() as u64
            ));
        }
    }
    out
}

/// `3d 4h`, `12m`, or `in the future` for clock skew.
fn human_age(age: SignedDuration) -> String {
    if age.is_negative() {
        return "built in the future: check the clock".to_owned();
    }
    let rounded = age.round(Unit::Minute).unwrap_or(age).as_secs();
    let (days, hours, minutes) = (
        rounded / 86_400,
        rounded % 86_400 / 3600,
        rounded % 3600 / 60,
    );
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}
