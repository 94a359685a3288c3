//! `drydock scan`: scan images from files (OCI layout, OCI archive, docker-archive) or held by
//! containerd, print a table or JSON, and exit with a status that tells the truth
//! ([`exit_status`]): 1 when an image could not be read or scanned, else the `--exit-code` for
//! findings, else 0.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use drydock_cleaner::node::inventory::{
    ContainerdImages, ContainerdScanner, ImageScan, ImageScanner, SnapshotSource,
};
use drydock_cleaner::node::scan::{Deadlines, OnBlockingThreads};
use drydock_cri::inuse::ImageIndex;
use drydock_cri::{CriClient, Endpoint, ImageRuntime};
use drydock_imagefs::{DockerArchive, OciArchive, OciLayout, Platform};
use drydock_vuln::config::SeverityName;
use drydock_vuln::{Index, ScannerConfig, Severity, Verdict};
use jiff::Timestamp;
use serde::Serialize;

use crate::cli::{ContainerdArgs, Output, ScanArgs, ScanPolicyArgs};
use crate::cmd::table;

/// The JSON report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScanReport {
    db: drydock_vuln::IndexInfo,
    images: Vec<ImageScan>,
    layers_read: u64,
    total_ms: f64,
}

/// The scanner configuration: the file (Eraser's scanner YAML) or Eraser's defaults, with the
/// command-line overrides applied. Ignored keys are logged.
pub(crate) fn scanner_config(policy: &ScanPolicyArgs) -> anyhow::Result<ScannerConfig> {
    let mut config = match &policy.scanner_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse_scanner_config(&text, &path.display().to_string())?
        }
        None => ScannerConfig::default(),
    };
    if !policy.severity.is_empty() {
        config.vulnerabilities.severities = policy
            .severity
            .iter()
            .map(|name| {
                Severity::from_name(name.trim())
                    .map(SeverityName)
                    .with_context(|| {
                        format!("--severity: unknown severity {name:?} (expected UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)")
                    })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if policy.ignore_unfixed {
        config.vulnerabilities.ignore_unfixed = true;
    }
    Ok(config)
}

/// Parses Eraser's scanner YAML, logging what is accepted but ignored.
pub(crate) fn parse_scanner_config(text: &str, source: &str) -> anyhow::Result<ScannerConfig> {
    let parsed = drydock_vuln::config::parse(text).with_context(|| source.to_owned())?;
    for warning in &parsed.warnings {
        tracing::warn!(source, "{warning}");
    }
    Ok(parsed.config)
}

/// Where images whose layer blobs containerd discarded are read from: its snapshots API at
/// `endpoint` and the overlayfs snapshotter's directory (`snapshotRoot`, else under
/// `--containerd-root`).
pub(crate) fn snapshot_source(
    endpoint: Endpoint,
    args: &ContainerdArgs,
    config: &ScannerConfig,
) -> SnapshotSource {
    let mut source = SnapshotSource::overlayfs(endpoint, &args.containerd_root);
    if let Some(dir) = &config.snapshot_root {
        source.dir = dir.into();
    }
    source
}

/// The platform to scan: the flag, else this machine's.
pub(crate) fn platform(args: &ContainerdArgs) -> anyhow::Result<Platform> {
    match &args.platform {
        Some(text) => Ok(text.parse()?),
        None => {
            let architecture = match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                "x86" => "386",
                other => other,
            };
            Ok(Platform {
                os: "linux".to_owned(),
                architecture: architecture.to_owned(),
                variant: None,
            })
        }
    }
}

/// One thing to scan.
#[derive(Clone)]
enum Target {
    File(String),
    Containerd(drydock_api::Image),
}

pub(crate) async fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let config = scanner_config(&args.policy)?;
    let platform = platform(&args.containerd)?;
    let index = Index::open(&args.db)?;
    let db = index.info()?;
    let mut targets = Vec::new();
    let mut containerd_names = Vec::new();
    for image in &args.images {
        if Path::new(image).exists() {
            targets.push(Target::File(image.clone()));
        } else {
            containerd_names.push(image.clone());
        }
    }
    let endpoint: Endpoint = args.runtime_endpoint.parse()?;
    if args.all_images || !containerd_names.is_empty() {
        let mut client = CriClient::connect(&endpoint).await?;
        let records = client.list_images().await?;
        let found = ImageIndex::new(&records);
        if args.all_images {
            targets.extend(records.iter().map(|r| Target::Containerd(r.to_pipe())));
        }
        for name in containerd_names {
            let Some(position) = found.find(&name) else {
                bail!("{name}: not a file, and no image of that name in the runtime at {endpoint}");
            };
            targets.push(Target::Containerd(records[position].to_pipe()));
        }
    }
    let timeouts = config.timeout;
    let scanner = OnBlockingThreads::new(ContainerdScanner {
        // Layer blobs first; when containerd discarded them, the unpacked snapshots.
        images: ContainerdImages::new(&args.containerd.containerd_root, platform.clone())
            .with_snapshots(snapshot_source(endpoint, &args.containerd, &config)),
        scanner: if args.list_packages {
            ImageScanner::new(index, config).with_package_list()
        } else {
            ImageScanner::new(index, config)
        },
        clock: Timestamp::now,
    });
    let deadlines = Deadlines::start(&timeouts);
    let started = Instant::now();
    let progress = targets.len() > 1 && std::io::stderr().is_terminal();
    let mut scans = Vec::with_capacity(targets.len());
    for (position, target) in targets.iter().enumerate() {
        let label = match target {
            Target::File(path) => path.clone(),
            Target::Containerd(image) => image.names.first().unwrap_or(&image.image_id).clone(),
        };
        if progress {
            eprint!(
                "\r\x1b[2Kscanning {}/{}: {label}",
                position + 1,
                targets.len()
            );
        }
        if deadlines.total_passed() {
            scans.push(ImageScan::failed(
                label,
                "total scan timeout passed before this image was scanned",
            ));
            continue;
        }
        let (target, platform) = (target.clone(), platform.clone());
        let scan = scanner.run(move |scanner| match &target {
            Target::File(path) => scan_file(&scanner.scanner, path, &platform),
            Target::Containerd(image) => scanner.scan_image(image),
        });
        scans.push(match deadlines.bound(scan).await {
            Ok(Ok(scan)) => scan,
            Ok(Err(died)) => ImageScan::failed(label, died.to_string()),
            Err(timed_out) => ImageScan::failed(label, timed_out.to_string()),
        });
    }
    if progress {
        eprint!("\r\x1b[2K");
    }
    let report = ScanReport {
        db,
        // An abandoned (timed-out) scan may still hold the scanner; its count is then unknown.
        layers_read: scanner
            .try_with(|scanner| scanner.scanner.layers_read())
            .unwrap_or_default(),
        total_ms: started.elapsed().as_secs_f64() * 1000.0,
        images: scans,
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Output::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Output::Table => write!(stdout, "{}", render(&report))?,
    }
    drop(stdout);
    let verdicts: Vec<&Verdict> = report.images.iter().map(ImageScan::verdict).collect();
    let status = exit_status(&verdicts, args.exit_code);
    if status == EXIT_NOT_SCANNED {
        // Said once on stderr too, so a pipeline that keeps only stdout's JSON still sees why.
        for scan in &report.images {
            if let Verdict::Failed { reason } | Verdict::Unscannable { reason } = scan.verdict() {
                eprintln!(
                    "drydock: error: {}: not scanned: {}",
                    scan.image,
                    one_line(reason)
                );
            }
        }
    }
    Ok(ExitCode::from(status))
}

/// Exit status when at least one image could not be read or scanned (a truncated or garbage
/// archive, a missing layer, a timeout): what Trivy exits on a scan error, so a CI pipeline
/// does not pass an image nobody looked at.
pub(crate) const EXIT_NOT_SCANNED: u8 = 1;

/// The exit status of a scan with these verdicts: [`EXIT_NOT_SCANNED`] when any image failed
/// or was unscannable (this wins over findings: the report is incomplete), else `exit_code`
/// when any image is non-compliant, else 0.
pub(crate) fn exit_status(verdicts: &[&Verdict], exit_code: Option<u8>) -> u8 {
    let not_scanned = verdicts
        .iter()
        .any(|v| matches!(v, Verdict::Failed { .. } | Verdict::Unscannable { .. }));
    let flagged = verdicts
        .iter()
        .any(|v| matches!(v, Verdict::NonCompliant { .. }));
    match exit_code {
        _ if not_scanned => EXIT_NOT_SCANNED,
        Some(code) if flagged => code,
        _ => 0,
    }
}

/// Scans an OCI layout directory, an OCI archive or a docker-archive.
fn scan_file(scanner: &ImageScanner, path: &str, platform: &Platform) -> ImageScan {
    let now = Timestamp::now();
    let started = Instant::now();
    let mut scan = if Path::new(path).is_dir() {
        match OciLayout::open(path).and_then(|layout| Ok((layout.image(None, platform)?, layout))) {
            Ok((image, layout)) => scanner.scan(&layout, &image, now),
            Err(error) => ImageScan::failed(path, error.to_string()),
        }
    } else {
        match OciArchive::open(path).and_then(|a| Ok((a.image(None, platform)?, a))) {
            Ok((image, archive)) => scanner.scan(&archive, &image, now),
            Err(oci_error) => match DockerArchive::open(path).and_then(|a| Ok((a.image(None)?, a)))
            {
                Ok((image, archive)) => scanner.scan(&archive, &image, now),
                Err(docker_error) => ImageScan::failed(
                    path,
                    format!(
                        "not an OCI archive ({oci_error}) nor a docker-archive ({docker_error})"
                    ),
                ),
            },
        }
    };
    scan.image = path.to_owned();
    scan.timings.read_ms = started.elapsed().as_secs_f64() * 1000.0 - scan.timings.match_ms;
    scan
}

/// The table: one row per image, then one per finding.
fn render(report: &ScanReport) -> String {
    let rows: Vec<[String; 6]> = report
        .images
        .iter()
        .map(|scan| {
            let os = scan.os.as_ref().map_or("-".to_owned(), |os| {
                let note = if os.osv_data { "" } else { " (no data in OSV)" };
                format!("{} {}{note}", os.family, os.version)
            });
            let eol = match scan.assessment.eol_status {
                Some(drydock_vuln::EolStatus::EndOfLife { since }) => format!("EOL since {since}"),
                Some(drydock_vuln::EolStatus::Supported { until: Some(until) }) => {
                    format!("until {until}")
                }
                Some(drydock_vuln::EolStatus::Supported { until: None }) => "supported".to_owned(),
                Some(drydock_vuln::EolStatus::Unknown) => "unknown".to_owned(),
                None => "-".to_owned(),
            };
            let (verdict, detail) = match scan.verdict() {
                Verdict::Ok => ("ok", String::new()),
                Verdict::NonCompliant { findings, eol } => (
                    "NON-COMPLIANT",
                    match (findings.len(), eol) {
                        (0, _) => "end of life".to_owned(),
                        (n, true) => format!("{n} finding(s), end of life"),
                        (n, false) => format!("{n} finding(s)"),
                    },
                ),
                Verdict::Failed { reason } => ("FAILED", one_line(reason)),
                Verdict::Unscannable { reason } => ("UNSCANNABLE", one_line(reason)),
            };
            [
                scan.image.clone(),
                os,
                eol,
                if scan.language_packages > 0 {
                    format!("{} + {} lang", scan.packages, scan.language_packages)
                } else {
                    scan.packages.to_string()
                },
                verdict.to_owned(),
                detail,
            ]
        })
        .collect();
    let mut out = table::render(
        ["IMAGE", "OS", "SUPPORT", "PACKAGES", "VERDICT", "DETAIL"],
        &rows,
    );
    let findings: Vec<[String; 6]> = report
        .images
        .iter()
        .flat_map(|scan| {
            let findings = match scan.verdict() {
                Verdict::NonCompliant { findings, .. } => &findings[..],
                _ => &[],
            };
            findings.iter().map(|f| {
                [
                    scan.image.clone(),
                    f.id.clone(),
                    f.package.clone(),
                    f.installed.clone(),
                    f.fixed.clone().unwrap_or_else(|| "(unfixed)".to_owned()),
                    f.severity.to_string(),
                ]
            })
        })
        .collect();
    if !findings.is_empty() {
        out.push('\n');
        out.push_str(&table::render(
            [
                "IMAGE",
                "VULNERABILITY",
                "PACKAGE",
                "INSTALLED",
                "FIXED",
                "SEVERITY",
            ],
            &findings,
        ));
    }
    out.push_str(&package_tables(report));
    let flagged = report
        .images
        .iter()
        .filter(|s| matches!(s.verdict(), Verdict::NonCompliant { .. }))
        .count();
    let failed = report
        .images
        .iter()
        .filter(|s| matches!(s.verdict(), Verdict::Failed { .. }))
        .count();
    out.push_str(&format!(
        "\nscanned {} image(s) in {:.0} ms ({} layer(s) read): {} non-compliant, {} failed; index built {}\n",
        report.images.len(),
        report.total_ms,
        report.layers_read,
        flagged,
        failed,
        report.db.built_at
    ));
    out
}

/// The package lists (`--list-packages`), one table for every image, after a blank line; empty
/// when none was asked for.
fn package_tables(report: &ScanReport) -> String {
    let listed: Vec<[String; 4]> = report
        .images
        .iter()
        .flat_map(|scan| {
            scan.package_list.iter().flatten().map(|p| {
                [
                    scan.image.clone(),
                    p.ecosystem.clone(),
                    p.name.clone(),
                    p.version.clone(),
                ]
            })
        })
        .collect();
    if listed.is_empty() {
        return String::new();
    }
    format!(
        "\n{}",
        table::render(["IMAGE", "ECOSYSTEM", "PACKAGE", "VERSION"], &listed)
    )
}

/// Longest failure reason shown in the table (the JSON has it whole).
const MAX_REASON_CHARS: usize = 160;

/// A reason fit for a table cell: one line, bounded (tar errors can quote file contents).
fn one_line(reason: &str) -> String {
    let flat: String = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MAX_REASON_CHARS {
        let cut: String = flat.chars().take(MAX_REASON_CHARS).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn non_compliant() -> Verdict {
        Verdict::NonCompliant {
            findings: Vec::new(),
            eol: true,
        }
    }

    #[test]
    fn an_image_not_scanned_exits_1_whatever_exit_code_says() {
        let failed = Verdict::failed("truncated tar");
        let unscannable = Verdict::Unscannable {
            reason: "layers discarded".to_owned(),
        };
        assert_eq!(exit_status(&[&Verdict::Ok, &failed], None), 1);
        assert_eq!(exit_status(&[&unscannable], None), 1);
        assert_eq!(exit_status(&[&non_compliant(), &failed], Some(5)), 1);
        assert_eq!(exit_status(&[&failed], Some(0)), 1);
    }

    #[test]
    fn the_package_list_is_a_table_after_the_images_and_only_when_asked() {
        use drydock_cleaner::node::inventory::ListedPackage;
        let mut scan = ImageScan::failed("app.tar", "x");
        scan.assessment.verdict = Verdict::Ok;
        let mut report = ScanReport {
            db: drydock_vuln::IndexInfo {
                path: "vuln.db".into(),
                schema_version: 2,
                built_at: Timestamp::UNIX_EPOCH,
                builder: "test".to_owned(),
                sources: Vec::new(),
                ecosystems: Vec::new(),
                records: 0,
                withdrawn: 0,
                skipped: 0,
                unreadable: Vec::new(),
            },
            images: vec![scan],
            layers_read: 1,
            total_ms: 1.0,
        };
        assert!(!render(&report).contains("ECOSYSTEM"));
        report.images[0].package_list = Some(vec![
            ListedPackage {
                ecosystem: "debian".to_owned(),
                name: "libc6".to_owned(),
                version: "2.36-9".to_owned(),
                path: None,
            },
            ListedPackage {
                ecosystem: "crates.io".to_owned(),
                name: "tokio".to_owned(),
                version: "1.48.0".to_owned(),
                path: Some("usr/bin/drydock".to_owned()),
            },
        ]);
        let table = render(&report);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip_while(|l| !l.contains("ECOSYSTEM"))
            .skip(1)
            .take(2)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                ["app.tar", "debian", "libc6", "2.36-9"],
                ["app.tar", "crates.io", "tokio", "1.48.0"]
            ]
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["images"][0]["packageList"][1],
            serde_json::json!({"ecosystem": "crates.io", "name": "tokio", "version": "1.48.0", "path": "usr/bin/drydock"})
        );
    }

    #[test]
    fn findings_exit_with_exit_code_only_when_asked() {
        assert_eq!(exit_status(&[&Verdict::Ok, &non_compliant()], None), 0);
        assert_eq!(exit_status(&[&Verdict::Ok, &non_compliant()], Some(5)), 5);
        assert_eq!(exit_status(&[&Verdict::Ok], Some(5)), 0);
        assert_eq!(exit_status(&[], Some(5)), 0);
    }
}
