//! Which role a process plays, decided from its argument vector and one environment variable.
//!
//! One image serves every role, so the same binary is started in three ways:
//!
//! - under another project's program name, busybox-style: the image links `/usr/bin/kured`
//!   (kured's chart runs `command: [/usr/bin/kured]`), `/manager` (Eraser's chart), and
//!   `/collector`, `/scanner`, `/trivy-scanner`, `/remover` (Eraser's images' entrypoints) to
//!   the binary;
//! - with the image's default entrypoint and flags only, as Eraser's manager starts its worker
//!   containers (no `command`): the role is what Eraser's manager writes into the container's
//!   `OTEL_SERVICE_NAME` (`trivy-scanner`, `remover`; `eraser-manager` for the manager
//!   itself); the collector, which Eraser gives no such variable, is told by its
//!   `--scan-disabled` flag;
//! - as `drydock <subcommand> …`, the normal command line.
//!
//! The decision is a pure function ([`resolve`]) over the arguments and the variable's value,
//! so every case is unit-tested without processes.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use drydock_api::names::{containers, env};

/// The binary's own name, shown by clap in usage and error messages.
const PROGRAM: &str = "drydock";
/// The subcommand of the reboot daemon; its flags are kured's and go to kured's parser.
pub(crate) const REBOOTD: &str = "rebootd";
/// The subcommand of the Image Cleaner's controller manager.
const MANAGER: &str = "manager";
/// kured's program name (`/usr/bin/kured` in kured's image).
const KURED_PROGRAM: &str = "kured";
/// Eraser's `OTEL_SERVICE_NAME` for its controller manager.
const ERASER_MANAGER_SERVICE: &str = "eraser-manager";

/// Program names (the base name of `argv[0]`) that select a subcommand: the names the image
/// links to the binary.
const PROGRAM_ROLES: [(&str, &str); 6] = [
    (KURED_PROGRAM, REBOOTD),
    (MANAGER, MANAGER),
    (containers::COLLECTOR, containers::COLLECTOR),
    (containers::SCANNER, containers::SCANNER),
    (containers::TRIVY_SCANNER, containers::SCANNER),
    (containers::REMOVER, containers::REMOVER),
];

/// `OTEL_SERVICE_NAME` values that select a subcommand when no subcommand is given: what
/// Eraser's manager sets on the containers it starts (and on itself), plus Drydock's own
/// scanner container name.
const SERVICE_ROLES: [(&str, &str); 5] = [
    (ERASER_MANAGER_SERVICE, MANAGER),
    (containers::COLLECTOR, containers::COLLECTOR),
    (containers::TRIVY_SCANNER, containers::SCANNER),
    (containers::SCANNER, containers::SCANNER),
    (containers::REMOVER, containers::REMOVER),
];

/// The flag only Eraser's collector takes. Eraser's manager sets no `OTEL_SERVICE_NAME` on
/// the collector container (the remover and the scanner get one), so under the default
/// entrypoint with flags only this flag is what names the collector.
const COLLECTOR_FLAG: &str = "--scan-disabled";

/// The name of the environment variable consulted by [`resolve`].
pub(crate) const ROLE_VARIABLE: &str = env::OTEL_SERVICE_NAME;

/// The subcommand a program name selects, if any.
fn program_role(argv0: &OsStr) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    PROGRAM_ROLES
        .iter()
        .find(|(program, _)| *program == name)
        .map(|(_, role)| *role)
}

/// The subcommand an `OTEL_SERVICE_NAME` value selects, if any.
fn service_role(service: &OsStr) -> Option<&'static str> {
    let service = service.to_str()?;
    SERVICE_ROLES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, role)| *role)
}

/// The argument vector with the subcommand the invocation implies inserted after `argv[0]`:
/// the program name's role first (and `argv[0]` becomes `drydock`, the name clap shows in
/// usage and errors); otherwise, when `argv[1]` is a flag or absent, the role of
/// `otel_service_name`, or the collector when no service name selects a role and the flags
/// hold [`COLLECTOR_FLAG`]; otherwise `args` unchanged (the normal command line, which also
/// covers an unknown service name).
pub(crate) fn resolve(mut args: Vec<OsString>, otel_service_name: Option<&OsStr>) -> Vec<OsString> {
    let Some(argv0) = args.first_mut() else {
        return args;
    };
    if let Some(role) = program_role(argv0) {
        *argv0 = OsString::from(PROGRAM);
        args.insert(1, role.into());
        return args;
    }
    let flags_only = args
        .get(1)
        .is_none_or(|first| first.as_encoded_bytes().starts_with(b"-"));
    if !flags_only {
        return args;
    }
    if let Some(role) = otel_service_name.and_then(service_role) {
        args.insert(1, role.into());
    } else if args.iter().skip(1).any(|a| {
        let flag = a.as_encoded_bytes();
        flag == COLLECTOR_FLAG.as_bytes()
            || flag.starts_with(format!("{COLLECTOR_FLAG}=").as_bytes())
    }) {
        args.insert(1, containers::COLLECTOR.into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<OsString> {
        items.iter().map(OsString::from).collect()
    }

    fn resolved(items: &[&str], service: Option<&str>) -> Vec<OsString> {
        resolve(argv(items), service.map(OsStr::new))
    }

    #[test]
    fn other_projects_program_names_select_their_role() {
        let cases = [
            ("/usr/bin/kured", "rebootd"),
            ("/manager", "manager"),
            ("/collector", "collector"),
            ("/scanner", "scanner"),
            ("/trivy-scanner", "scanner"),
            ("/remover", "remover"),
            ("remover", "remover"),
        ];
        for (program, role) in cases {
            assert_eq!(
                resolved(&[program, "--log-level=debug"], None),
                argv(&["drydock", role, "--log-level=debug"]),
                "{program}"
            );
        }
    }

    #[test]
    fn the_program_name_wins_over_the_service_name() {
        assert_eq!(
            resolved(&["/manager", "--config=/c.yaml"], Some("remover")),
            argv(&["drydock", "manager", "--config=/c.yaml"])
        );
    }

    #[test]
    fn flags_only_under_the_default_entrypoint_take_the_role_from_otel_service_name() {
        let cases = [
            ("collector", "collector"),
            ("trivy-scanner", "scanner"),
            ("scanner", "scanner"),
            ("remover", "remover"),
            ("eraser-manager", "manager"),
        ];
        for (service, role) in cases {
            assert_eq!(
                resolved(&["/drydock", "--config=/config/c.yaml"], Some(service)),
                argv(&["/drydock", role, "--config=/config/c.yaml"]),
                "{service}"
            );
        }
    }

    #[test]
    fn erasers_collector_container_has_no_service_name_and_is_told_by_its_flag() {
        // Exactly the arguments Eraser's manager gives its collector container.
        let eraser = [
            "/drydock",
            "--scan-disabled=false",
            "--enable-pprof=false",
            "--pprof-port=6060",
        ];
        let mut expected = eraser.to_vec();
        expected.insert(1, "collector");
        assert_eq!(resolved(&eraser, None), argv(&expected));
        assert_eq!(
            resolved(&["/drydock", "--scan-disabled"], Some("unknown-service")),
            argv(&["/drydock", "collector", "--scan-disabled"])
        );
        // A service name that selects a role wins; a subcommand given stays.
        assert_eq!(
            resolved(&["/drydock", "--scan-disabled=true"], Some("remover")),
            argv(&["/drydock", "remover", "--scan-disabled=true"])
        );
        assert_eq!(
            resolved(&["/drydock", "clean", "--scan-disabled=true"], None),
            argv(&["/drydock", "clean", "--scan-disabled=true"])
        );
        // Other flags alone are not the collector's.
        assert_eq!(
            resolved(&["/drydock", "--scan-disabled-not"], None),
            argv(&["/drydock", "--scan-disabled-not"])
        );
    }

    #[test]
    fn no_arguments_at_all_also_take_the_role_from_otel_service_name() {
        assert_eq!(
            resolved(&["/drydock"], Some("collector")),
            argv(&["/drydock", "collector"])
        );
    }

    #[test]
    fn a_subcommand_given_is_the_normal_command_line_whatever_the_service_name() {
        assert_eq!(
            resolved(
                &["/drydock", "manager", "--config=/c.yaml"],
                Some("remover")
            ),
            argv(&["/drydock", "manager", "--config=/c.yaml"])
        );
        assert_eq!(
            resolved(&["drydock", "clean", "--dry-run"], Some("eraser-manager")),
            argv(&["drydock", "clean", "--dry-run"])
        );
    }

    #[test]
    fn unknown_or_absent_service_names_leave_the_command_line_alone() {
        for service in [None, Some(""), Some("my-app"), Some("kured")] {
            assert_eq!(
                resolved(&["drydock", "--help"], service),
                argv(&["drydock", "--help"]),
                "{service:?}"
            );
        }
    }

    #[test]
    fn drydock_under_its_own_name_is_not_a_role() {
        assert_eq!(
            resolved(&["/usr/bin/drydock"], None),
            argv(&["/usr/bin/drydock"])
        );
    }

    #[test]
    fn an_empty_argument_vector_stays_empty() {
        assert!(resolve(Vec::new(), Some(OsStr::new("collector"))).is_empty());
    }

    #[test]
    fn program_names_that_are_not_utf8_are_not_roles() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![OsString::from_vec(vec![0xff, 0xfe]), OsString::from("--x")];
        assert_eq!(resolve(args.clone(), None), args);
    }
}
