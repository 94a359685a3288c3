//! dpkg databases: `var/lib/dpkg/status` and the distroless `var/lib/dpkg/status.d/<name>`
//! files (same RFC 822 stanza format, usually one stanza per file, often without `Status`).
//!
//! Which stanzas count as installed: a stanza whose `Status` state word is `not-installed` or
//! `config-files` has no files on disk and is skipped; every other state counts, and so does a
//! missing `Status` (distroless). This follows the reference's recommendation. It differs from
//! Trivy only for packages whose *wanted* state is `deinstall`/`purge` while still installed
//! (Trivy drops them although their files are present) and from osv-scalibr for half-installed
//! states.
//!
//! `Source: name (version)` gives the source name and version; without a version the source
//! version is the binary version, and without `Source` both default to the binary's.

use super::{Package, corrupt, utf8};
use crate::Result;

/// Status state words meaning no package files are on disk.
const NOT_INSTALLED_STATES: [&str; 2] = ["not-installed", "config-files"];

/// Parses a dpkg `status` file (or one `status.d` file) into its installed packages.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` for non-UTF-8 bytes, a line that is not a
/// field or a continuation, a stanza without `Package`, an installed stanza without `Version`,
/// or a malformed `Source` or `Status` field.
pub fn parse_status(input: &str, bytes: &[u8]) -> Result<Vec<Package>> {
    let text = utf8(input, bytes)?;
    let mut packages = Vec::new();
    let mut stanza = Stanza::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            stanza.finish(input, &mut packages)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if stanza.start_line == 0 {
                return Err(corrupt(
                    input,
                    line_no,
                    "continuation line outside a stanza",
                ));
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(corrupt(input, line_no, "expected a `Field: value` line"));
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(corrupt(input, line_no, "invalid field name"));
        }
        if stanza.start_line == 0 {
            stanza.start_line = line_no;
        }
        let value = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "package" => stanza.package = Some(value.to_owned()),
            "version" => stanza.version = Some(value.to_owned()),
            "source" => stanza.source = Some(value.to_owned()),
            "status" => stanza.status = Some(value.to_owned()),
            "architecture" => stanza.arch = Some(value.to_owned()),
            _ => {}
        }
    }
    stanza.finish(input, &mut packages)?;
    Ok(packages)
}

/// Whether a file in `var/lib/dpkg/status.d/` describes a package (`*.md5sums` lists files).
pub fn is_status_d_package_file(file_name: &str) -> bool {
    !file_name.ends_with(".md5sums") && !file_name.starts_with('.')
}

#[derive(Debug, Default)]
struct Stanza {
    /// 1-based line where the stanza starts; 0 when no stanza is open.
    start_line: usize,
    package: Option<String>,
    version: Option<String>,
    source: Option<String>,
    status: Option<String>,
    arch: Option<String>,
}

// === impl Stanza ===

impl Stanza {
    fn finish(&mut self, input: &str, packages: &mut Vec<Package>) -> Result<()> {
        let stanza = std::mem::take(self);
        if stanza.start_line == 0 {
            return Ok(());
        }
        let line = stanza.start_line;
        let name = stanza
            .package
            .filter(|p| !p.is_empty())
            .ok_or_else(|| corrupt(input, line, "stanza without a Package field"))?;
        if let Some(status) = &stanza.status {
            let words: Vec<&str> = status.split_whitespace().collect();
            let [_want, _flag, state] = words[..] else {
                return Err(corrupt(
                    input,
                    line,
                    format!("package {name}: malformed Status"),
                ));
            };
            if NOT_INSTALLED_STATES.contains(&state) {
                return Ok(());
            }
        }
        let version = stanza
            .version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| corrupt(input, line, format!("package {name}: no Version")))?;
        let (source_name, source_version) = match stanza.source.as_deref() {
            None | Some("") => (name.clone(), version.clone()),
            Some(source) => match source.split_once('(') {
                None if !source.contains(char::is_whitespace) => {
                    (source.to_owned(), version.clone())
                }
                Some((source_name, rest)) => {
                    let source_version = rest.strip_suffix(')').map(str::trim);
                    match (source_name.trim(), source_version) {
                        (n, Some(v)) if !n.is_empty() && !v.is_empty() => {
                            (n.to_owned(), v.to_owned())
                        }
                        _ => {
                            return Err(corrupt(
                                input,
                                line,
                                format!("package {name}: malformed Source {source:?}"),
                            ));
                        }
                    }
                }
                None => {
                    return Err(corrupt(
                        input,
                        line,
                        format!("package {name}: malformed Source {source:?}"),
                    ));
                }
            },
        };
        packages.push(Package {
            name,
            version,
            source_name,
            source_version,
            arch: stanza.arch.filter(|a| !a.is_empty()),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libssl3
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation.
 .
 It provides the libssl and libcrypto shared libraries.

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2

Package: old-tool
Status: deinstall ok config-files
Version: 1.0-1

Package: never-there
Status: purge ok not-installed
";

    #[test]
    fn installed_stanzas_become_packages_with_source_name_and_version() {
        let packages = parse_status("var/lib/dpkg/status", STATUS.as_bytes()).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(
            packages[0],
            Package {
                name: "libssl3".into(),
                version: "3.0.11-1~deb12u2".into(),
                source_name: "openssl".into(),
                source_version: "3.0.11-1~deb12u2".into(),
                arch: Some("amd64".into()),
            }
        );
        assert_eq!(packages[1].source_name, "bash");
        assert_eq!(packages[1].source_version, "5.2.15-2");
        assert_eq!(packages[1].version, "5.2.15-2+b2");
    }

    #[test]
    fn distroless_status_d_file_without_status_counts_as_installed() {
        let file = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n";
        let packages = parse_status("var/lib/dpkg/status.d/tzdata", file.as_bytes()).unwrap();
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].source_name, "tzdata");
        assert!(is_status_d_package_file("tzdata"));
        assert!(!is_status_d_package_file("tzdata.md5sums"));
    }

    #[test]
    fn crlf_line_endings_and_trailing_blank_lines_are_accepted() {
        let file = "Package: a\r\nVersion: 1\r\n\r\n\r\n";
        assert_eq!(parse_status("status", file.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn corrupt_databases_are_errors_naming_the_input() {
        for bad in [
            &b"Package: a\nVersion 1\n"[..],
            b" continuation first\n",
            b"Version: 1\n",
            b"Package: a\nStatus: install ok installed\n",
            b"Package: a\nVersion: 1\nSource: b (1\n",
            b"Package: a\nVersion: 1\nStatus: installed\n",
            b"Package: a\nVersion: \xff\n",
        ] {
            let err = parse_status("var/lib/dpkg/status", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("var/lib/dpkg/status"), "{err}");
        }
    }
}
