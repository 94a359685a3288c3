//! `drydock __host-exec --mount-ns <path> -- <cmd> <args>…`: run a command in another mount
//! namespace, what kured does with `/usr/bin/nsenter -m/proc/1/ns/mnt -- <cmd>`, with no
//! `nsenter` binary in the image.
//!
//! `setns(2)` into a mount namespace is refused to a multi-threaded process, and the daemon
//! runs an async runtime, so the daemon does not enter the namespace itself: it re-executes
//! its own binary with the hidden subcommand [`HOST_EXEC_SUBCOMMAND`]
//! ([`crate::config::in_host_mount_namespace`] builds that command line). `main` hands the
//! subcommand to [`main`] first thing, while the process is still single-threaded; it opens
//! the namespace file, enters it (`setns(fd, CLONE_NEWNS)`, which needs `CAP_SYS_ADMIN` and,
//! for PID 1's namespace, `hostPID`) and replaces itself with the command (`execvp`, so the
//! program is looked up on `PATH` inside the host's file system).
//!
//! Exit codes follow `env(1)`/`chroot(1)`: the command's own status once it runs;
//! [`EXIT_SETUP_FAILED`] when the arguments are wrong or the namespace cannot be entered;
//! [`EXIT_CANNOT_RUN`] when the program exists but cannot run; [`EXIT_NOT_FOUND`] when it is
//! not found. None of them is 0 or 1, so a sentinel command that cannot run is never read as
//! "reboot required" nor silently as "not required".

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

pub use crate::config::{HOST_EXEC_SUBCOMMAND, MOUNT_NS_FLAG};

/// The exit status when the arguments are wrong or the namespace cannot be entered (as
/// `env(1)` exits 125 when it fails itself).
pub const EXIT_SETUP_FAILED: u8 = 125;

/// The exit status when the program exists but cannot be executed (the shell's 126).
pub const EXIT_CANNOT_RUN: u8 = 126;

/// The exit status when the program is not found (the shell's 127).
pub const EXIT_NOT_FOUND: u8 = 127;

/// What `__host-exec` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostExec {
    /// The mount namespace file to enter (`/proc/1/ns/mnt`).
    pub mount_ns: PathBuf,
    /// The command and its arguments.
    pub argv: Vec<OsString>,
}

/// Why `__host-exec` could not run the command.
#[derive(Debug, thiserror::Error)]
pub enum HostExecError {
    /// The arguments are not `--mount-ns <path> -- <cmd> [args…]`.
    #[error(
        "usage: drydock {HOST_EXEC_SUBCOMMAND} {MOUNT_NS_FLAG} <path> -- <command> [args…]: {0}"
    )]
    Usage(String),
    /// The namespace file cannot be opened.
    #[error("cannot open mount namespace {path}: {source}")]
    Open {
        /// The namespace file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `setns(2)` refused.
    #[error(
        "cannot enter mount namespace {path}: {source} (needs CAP_SYS_ADMIN, and hostPID for /proc/1)"
    )]
    Enter {
        /// The namespace file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `execvp(3)` failed.
    #[error("cannot run {program:?} in mount namespace {path}: {source}")]
    Exec {
        /// The program.
        program: OsString,
        /// The namespace file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl HostExecError {
    /// The exit status this failure gives.
    pub fn exit_status(&self) -> u8 {
        match self {
            HostExecError::Usage(_) | HostExecError::Open { .. } | HostExecError::Enter { .. } => {
                EXIT_SETUP_FAILED
            }
            HostExecError::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                EXIT_NOT_FOUND
            }
            HostExecError::Exec { .. } => EXIT_CANNOT_RUN,
        }
    }
}

/// Parses the arguments after the subcommand: `--mount-ns <path>` (or `--mount-ns=<path>`),
/// then `--`, then the command.
///
/// # Errors
///
/// [`HostExecError::Usage`], saying what is missing or unexpected.
pub fn parse(args: &[OsString]) -> Result<HostExec, HostExecError> {
    let mut mount_ns = None;
    let mut rest = args.iter();
    loop {
        let Some(arg) = rest.next() else {
            return Err(HostExecError::Usage("no `--` before the command".into()));
        };
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        } else if text == MOUNT_NS_FLAG {
            let path = rest
                .next()
                .ok_or_else(|| HostExecError::Usage(format!("{MOUNT_NS_FLAG} needs a path")))?;
            mount_ns = Some(PathBuf::from(path));
        } else if let Some(path) = text.strip_prefix(&format!("{MOUNT_NS_FLAG}=")) {
            mount_ns = Some(PathBuf::from(path));
        } else {
            return Err(HostExecError::Usage(format!(
                "unexpected argument {text:?}"
            )));
        }
    }
    let mount_ns = mount_ns
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| HostExecError::Usage(format!("{MOUNT_NS_FLAG} <path> is required")))?;
    let argv: Vec<OsString> = rest.cloned().collect();
    if argv.is_empty() {
        return Err(HostExecError::Usage("no command after `--`".into()));
    }
    Ok(HostExec { mount_ns, argv })
}

/// Enters the mount namespace at `path`. The process must be single-threaded.
///
/// # Errors
///
/// The file cannot be opened, or `setns(2)` refused.
pub fn enter_mount_namespace(path: &Path) -> Result<(), HostExecError> {
    let file = std::fs::File::open(path).map_err(|source| HostExecError::Open {
        path: path.to_owned(),
        source,
    })?;
    move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(LinkNameSpaceType::Mount),
    )
    .map_err(|errno| HostExecError::Enter {
        path: path.to_owned(),
        source: errno.into(),
    })
}

/// Enters the namespace and replaces this process with the command. Returns only on failure.
pub fn exec(request: &HostExec) -> HostExecError {
    if let Err(error) = enter_mount_namespace(&request.mount_ns) {
        return error;
    }
    // `parse` guarantees a program.
    let Some((program, args)) = request.argv.split_first() else {
        return HostExecError::Usage("no command after `--`".into());
    };
    let source = std::process::Command::new(program).args(args).exec();
    HostExecError::Exec {
        program: program.clone(),
        path: request.mount_ns.clone(),
        source,
    }
}

/// The subcommand's entry: `args` are the arguments after [`HOST_EXEC_SUBCOMMAND`]. Call it
/// before any thread is started. Returns only on failure, having printed why to stderr.
pub fn main(args: &[OsString]) -> ExitCode {
    let error = match parse(args) {
        Ok(request) => exec(&request),
        Err(error) => error,
    };
    eprintln!("drydock {HOST_EXEC_SUBCOMMAND}: {error}");
    ExitCode::from(error.exit_status())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_namespace_and_the_command_are_parsed_in_both_flag_forms() {
        let want = HostExec {
            mount_ns: "/proc/1/ns/mnt".into(),
            argv: os(&["/bin/systemctl", "reboot", "--", "-x"]),
        };
        let command = ["--", "/bin/systemctl", "reboot", "--", "-x"];
        for flag in [
            &["--mount-ns", "/proc/1/ns/mnt"][..],
            &["--mount-ns=/proc/1/ns/mnt"],
        ] {
            let args = [flag, &command[..]].concat();
            assert_eq!(parse(&os(&args)).unwrap(), want, "{flag:?}");
        }
    }

    #[test]
    fn bad_arguments_are_usage_errors_saying_what_is_wrong() {
        let cases: [(&[&str], &str); 5] = [
            (&["--", "true"], "--mount-ns <path> is required"),
            (
                &["--mount-ns", "/proc/1/ns/mnt", "true"],
                "unexpected argument \"true\"",
            ),
            (&["--mount-ns"], "--mount-ns needs a path"),
            (
                &["--mount-ns", "/proc/1/ns/mnt", "--"],
                "no command after `--`",
            ),
            (&["--mount-ns=/x"], "no `--` before the command"),
        ];
        for (args, want) in cases {
            let error = parse(&os(args)).unwrap_err();
            assert!(error.to_string().contains(want), "{args:?}: {error}");
            assert_eq!(error.exit_status(), EXIT_SETUP_FAILED);
        }
    }

    #[test]
    fn a_missing_namespace_file_is_named_in_the_error() {
        let error = enter_mount_namespace(Path::new("/nonexistent/ns/mnt")).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/ns/mnt"), "{error}");
        assert_eq!(error.exit_status(), EXIT_SETUP_FAILED);
    }

    #[test]
    fn a_program_that_is_not_found_exits_127() {
        let error = HostExecError::Exec {
            program: "x".into(),
            path: "/proc/1/ns/mnt".into(),
            source: std::io::ErrorKind::NotFound.into(),
        };
        assert_eq!(error.exit_status(), EXIT_NOT_FOUND);
    }
}
