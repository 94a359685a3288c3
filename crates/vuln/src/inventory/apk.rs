//! apk databases: `lib/apk/db/installed` (or `usr/lib/apk/db/installed`). Paragraphs separated
//! by blank lines, one `X:value` field per line. Read here: `P` name, `V` version, `A` arch,
//! `o` origin (the source package). As in Trivy, the source version is the package version and
//! packages are de-duplicated by name (the last paragraph wins).

use super::{Package, corrupt, utf8};
use crate::Result;

/// Parses an apk `installed` database.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` for non-UTF-8 bytes, a line that is not
/// `X:value`, or a paragraph without `P` or `V`.
pub fn parse_installed(input: &str, bytes: &[u8]) -> Result<Vec<Package>> {
    let text = utf8(input, bytes)?;
    let mut packages: Vec<Package> = Vec::new();
    let mut paragraph = Paragraph::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            paragraph.finish(input, &mut packages)?;
            continue;
        }
        let mut chars = line.chars();
        let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
            return Err(corrupt(input, line_no, "expected an `X:value` line"));
        };
        if paragraph.start_line == 0 {
            paragraph.start_line = line_no;
        }
        let value = chars.as_str().to_owned();
        match key {
            'P' => paragraph.name = Some(value),
            'V' => paragraph.version = Some(value),
            'A' => paragraph.arch = Some(value),
            'o' => paragraph.origin = Some(value),
            _ => {}
        }
    }
    paragraph.finish(input, &mut packages)?;
    Ok(packages)
}

#[derive(Debug, Default)]
struct Paragraph {
    /// 1-based line where the paragraph starts; 0 when none is open.
    start_line: usize,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    origin: Option<String>,
}

// === impl Paragraph ===

impl Paragraph {
    fn finish(&mut self, input: &str, packages: &mut Vec<Package>) -> Result<()> {
        let paragraph = std::mem::take(self);
        if paragraph.start_line == 0 {
            return Ok(());
        }
        let line = paragraph.start_line;
        let name = paragraph
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| corrupt(input, line, "package without a P: name"))?;
        let version = paragraph
            .version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| corrupt(input, line, format!("package {name}: no V: version")))?;
        let package = Package {
            source_name: paragraph
                .origin
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| name.clone()),
            source_version: version.clone(),
            name,
            version,
            arch: paragraph.arch.filter(|a| !a.is_empty()),
        };
        match packages.iter_mut().find(|p| p.name == package.name) {
            Some(existing) => *existing = package,
            None => packages.push(package),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "\
C:Q1abc=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1710000
o:openssl
m:Natanael Copa <ncopa@alpinelinux.org>
F:usr/lib
R:libcrypto.so.3

P:musl
V:1.2.4_git20230717-r4
A:x86_64
";

    #[test]
    fn origin_becomes_the_source_name_and_version_is_shared() {
        let packages = parse_installed("lib/apk/db/installed", INSTALLED.as_bytes()).unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "libcrypto3");
        assert_eq!(packages[0].source_name, "openssl");
        assert_eq!(packages[0].source_version, "3.1.4-r5");
        assert_eq!(packages[1].source_name, "musl");
        assert_eq!(packages[1].arch.as_deref(), Some("x86_64"));
    }

    #[test]
    fn duplicate_names_keep_the_last_paragraph() {
        let db = "P:a\nV:1-r0\n\nP:a\nV:2-r0\n";
        let packages = parse_installed("installed", db.as_bytes()).unwrap();
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].version, "2-r0");
    }

    #[test]
    fn corrupt_databases_are_errors_naming_the_input() {
        for bad in [&b"P:a\nnot a field\n"[..], b"V:1\n", b"P:a\n", b"P:\xc3\n"] {
            let err = parse_installed("lib/apk/db/installed", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("lib/apk/db/installed"), "{err}");
        }
    }
}
