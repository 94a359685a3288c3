//! `drydock`: one multi-call binary for every role — the Image Cleaner's manager and node
//! stages, the reboot daemon, the node-local clean and the manifests. Picks the role
//! ([`dispatch`]), parses flags (clap, with environment-variable forms), sets up logging and
//! dispatches; every decision lives in the library crates.

mod cli;
mod cmd;
mod dispatch;
mod manifests;
mod plumbing;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    // `drydock __host-exec` (hidden: the reboot daemon re-executes itself with it to run host
    // commands in the host's mount namespace) must enter the namespace while the process is
    // single-threaded, so it is dispatched before anything else starts.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if raw
        .get(1)
        .is_some_and(|a| a == drydock_reboot::hostns::HOST_EXEC_SUBCOMMAND)
    {
        return drydock_reboot::hostns::main(raw.get(2..).unwrap_or_default());
    }
    // The role: a program name the image links (`/usr/bin/kured`, `/manager`, `/collector`…),
    // or Eraser's `OTEL_SERVICE_NAME` when only flags are given, or the subcommand.
    let args = dispatch::resolve(raw, std::env::var_os(dispatch::ROLE_VARIABLE).as_deref());
    // kured's flags go to kured's parser untouched (clap would take `--log-format` as ours).
    if args.get(1).is_some_and(|a| a == dispatch::REBOOTD) {
        return cmd::rebootd::main(args.into_iter().skip(2).collect());
    }
    let cli = Cli::parse_from(args);
    let json_logs = plumbing::init(&cli.log);
    let log_level = cli.log.log_level.clone();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("drydock: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Clean(args) => cmd::clean::run(args).await,
            Command::Collector(args) => cmd::worker::collector(args).await,
            Command::Remover(args) => cmd::worker::remover(args).await,
            Command::Manifests(args) => cmd::manifests::run(&args),
            Command::Rebootd(_) => Err(anyhow::anyhow!(
                "rebootd takes kured's flags only: put `rebootd` first (`drydock rebootd --help`)"
            )),
            Command::Reboot(args) => cmd::reboot::run(args).await,
            Command::ImageCleaner(args) => cmd::image_cleaner::run(args).await,
            Command::Manager(args) => cmd::manager::run(args, &log_level).await,
            Command::Vulndb(args) => cmd::vulndb::run(args).await,
            Command::Scan(args) => cmd::scan::run(args).await,
            Command::Scanner(args) => cmd::worker::scanner(args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(err) => {
            // One line, in the format the logs use: JSON for log pipelines, plain for people.
            if json_logs {
                tracing::error!(error = %error_chain(&err), "failed");
            } else {
                eprintln!("drydock: error: {}", error_chain(&err));
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: a cause whose text the message
/// before it already holds (errors that print their source, like a serde or SQLite error
/// inside a vulnerability-index error) is left out instead of repeated.
fn error_chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let inner = serde_json::from_str::<String>("5").unwrap_err();
        let text = inner.to_string();
        let err = anyhow::Error::new(drydock_vuln::Error::InvalidOsvRecord {
            input: "all.zip:X.json".to_owned(),
            source: inner,
        })
        .context("building vuln.db");
        let line = error_chain(&err);
        assert_eq!(line.matches(&text).count(), 1, "{line}");
        assert!(
            line.starts_with("building vuln.db: invalid OSV record all.zip:X.json"),
            "{line}"
        );
    }

    #[test]
    fn distinct_causes_are_all_said() {
        let err = anyhow::anyhow!("no such file").context("reading a.yaml");
        assert_eq!(error_chain(&err), "reading a.yaml: no such file");
    }
}
