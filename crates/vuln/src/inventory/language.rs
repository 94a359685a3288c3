//! Language packages: what Go binaries, Python distributions and npm packages inside an image
//! say about themselves.
//!
//! - **Go binaries** carry their build information (Go 1.18 and later): the block that starts
//!   with [`GO_BUILDINFO_MAGIC`] in the binary's data, holding the toolchain version and the
//!   module list (`mod`, `dep`, `=>` replacement lines). Binaries built before Go 1.18 point at
//!   their strings instead and are reported as not readable. The toolchain becomes the package
//!   `stdlib`, as OSV's Go ecosystem names it.
//! - **Python**: the `Name` and `Version` headers of a `*.dist-info/METADATA`, an
//!   `*.egg-info/PKG-INFO` or an `*.egg-info` file.
//! - **npm**: `name` and `version` of a `package.json` below `node_modules`.
//! - **RubyGems**: the `name` and `version` assignments of an installed gem's
//!   `specifications/*.gemspec` (the Ruby file RubyGems writes; read as text, never run).
//! - **Maven**: the `pom.properties` and manifests of Java archives, in [`super::java`].
//! - **crates.io**: the dependency list cargo-auditable embeds in Rust binaries, in
//!   [`super::rust`].
//! - **Packagist**: Composer's `vendor/composer/installed.json`, in [`super::php`].
//! - **NuGet**: the packages of a .NET application's `*.deps.json`, in [`super::dotnet`].
//!
//! Parsers take the input's name (its path in the image) and its bytes; garbage yields
//! [`crate::Error::CorruptPackageDb`] naming the input, never a panic.

use crate::inventory::{corrupt, utf8};
use crate::version::VersionScheme;

/// The start of a Go binary's build information block.
pub const GO_BUILDINFO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// The build information header's size: magic, pointer size, flags, padding to 32 bytes.
const GO_BUILDINFO_HEADER: usize = 32;

/// Offset of the flags byte in the header.
const GO_FLAGS_OFFSET: usize = 15;

/// Flag bit: the version and module strings follow the header inline (Go 1.18 and later).
const GO_FLAG_INLINE: u8 = 0x2;

/// Flag bit: the binary is big-endian (only pointers of the pre-1.18 format depend on it).
const GO_FLAG_BIG_ENDIAN: u8 = 0x1;

/// Length of each sentinel that wraps the module information string (Go's `modinfo`).
const GO_MODINFO_SENTINEL: usize = 16;

/// The largest build information block read: module lists of the largest Go programs
/// (Kubernetes components, syft) are a few tens of KiB.
pub const GO_BUILDINFO_MAX: usize = 1 << 20;

/// The most bytes a LEB128 varint of a 64-bit length takes.
const MAX_VARINT_BYTES: usize = 10;

/// A language ecosystem whose packages Drydock inventories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LanguageEcosystem {
    /// Go modules and the Go standard library.
    Go,
    /// Python packages.
    PyPI,
    /// npm packages.
    Npm,
    /// Ruby gems.
    RubyGems,
    /// Maven packages (Java archives), named `groupId:artifactId`.
    Maven,
    /// Rust crates (binaries built with cargo-auditable).
    CratesIo,
    /// PHP packages installed by Composer, named `vendor/project`.
    Packagist,
    /// .NET packages (NuGet), named by their package ID.
    NuGet,
}

// === impl LanguageEcosystem ===

impl LanguageEcosystem {
    /// The ecosystem's name in OSV records.
    pub fn osv_name(self) -> &'static str {
        match self {
            Self::Go => "Go",
            Self::PyPI => "PyPI",
            Self::Npm => "npm",
            Self::RubyGems => "RubyGems",
            Self::Maven => "Maven",
            Self::CratesIo => "crates.io",
            Self::Packagist => "Packagist",
            Self::NuGet => "NuGet",
        }
    }

    /// The version scheme its versions follow.
    pub fn scheme(self) -> VersionScheme {
        match self {
            Self::Go => VersionScheme::Go,
            Self::PyPI => VersionScheme::Pep440,
            Self::Npm => VersionScheme::SemVer,
            Self::RubyGems => VersionScheme::RubyGems,
            Self::Maven => VersionScheme::Maven,
            Self::CratesIo => VersionScheme::SemVer,
            Self::Packagist => VersionScheme::Composer,
            Self::NuGet => VersionScheme::NuGet,
        }
    }
}

/// One language package found in an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LanguagePackage {
    /// Its ecosystem.
    pub ecosystem: LanguageEcosystem,
    /// Its name in that ecosystem (a Go module path, a Python distribution, an npm package).
    pub name: String,
    /// Its version as recorded.
    pub version: String,
    /// The file it was read from, in the image.
    pub path: String,
}

/// Bytes a candidate block needs before [`is_go_buildinfo_start`] can judge it: the 32-byte
/// header, the version string's one-byte length and its `go` prefix.
pub const GO_CANDIDATE_BYTES: usize = GO_BUILDINFO_HEADER + 3;

/// Offset of the pointer-size byte in the header.
const GO_PTR_SIZE_OFFSET: usize = 14;

/// Whether `bytes` (at least [`GO_CANDIDATE_BYTES`] long) start a real build information
/// block, not the magic string as data (programs that read build information, like syft,
/// carry it in their read-only data): the pointer size is 4 or 8, no unknown flag is set, and
/// an inline block's version string starts with `go`. `false` for shorter input.
pub fn is_go_buildinfo_start(bytes: &[u8]) -> bool {
    if bytes.len() < GO_CANDIDATE_BYTES
        || !bytes.starts_with(GO_BUILDINFO_MAGIC)
        || !matches!(bytes[GO_PTR_SIZE_OFFSET], 4 | 8)
    {
        return false;
    }
    let flags = bytes[GO_FLAGS_OFFSET];
    if flags & !(GO_FLAG_INLINE | GO_FLAG_BIG_ENDIAN) != 0 {
        return false;
    }
    flags & GO_FLAG_INLINE == 0
        || (bytes[GO_BUILDINFO_HEADER] < 0x80
            && &bytes[GO_BUILDINFO_HEADER + 1..GO_CANDIDATE_BYTES] == b"go")
}

/// The length of the build information block at the start of `bytes` (which may still be
/// shorter: the length is known once both string lengths are read): `None` while more bytes
/// are needed to tell, `Some(Err)` when it is not a block this module reads.
pub fn go_buildinfo_len(bytes: &[u8]) -> Option<Result<usize, &'static str>> {
    if bytes.len() < GO_BUILDINFO_HEADER {
        return None;
    }
    if !bytes.starts_with(GO_BUILDINFO_MAGIC) {
        return Some(Err("no Go build information magic"));
    }
    if bytes[GO_FLAGS_OFFSET] & GO_FLAG_INLINE == 0 {
        return Some(Ok(GO_BUILDINFO_HEADER));
    }
    let mut at = GO_BUILDINFO_HEADER;
    for _ in 0..2 {
        let (len, used) = match varint(bytes.get(at..)?) {
            Varint::Value(len, used) => (len, used),
            Varint::Short => return None,
            Varint::Bad => return Some(Err("bad string length")),
        };
        at = match usize::try_from(len)
            .ok()
            .and_then(|len| at.checked_add(used)?.checked_add(len))
        {
            Some(end) if end <= GO_BUILDINFO_MAX => end,
            _ => return Some(Err("build information larger than the bound")),
        };
    }
    Some(Ok(at))
}

enum Varint {
    Value(u64, usize),
    Short,
    Bad,
}

/// Reads an unsigned LEB128 varint (Go's `binary.Uvarint`).
fn varint(bytes: &[u8]) -> Varint {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().take(MAX_VARINT_BYTES).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Varint::Value(value, i + 1);
        }
    }
    if bytes.len() < MAX_VARINT_BYTES {
        Varint::Short
    } else {
        Varint::Bad
    }
}

/// Reads one varint-prefixed string at `*at`, advancing it.
fn inline_string<'a>(input: &str, blob: &'a [u8], at: &mut usize) -> crate::Result<&'a [u8]> {
    let Varint::Value(len, used) = varint(blob.get(*at..).unwrap_or_default()) else {
        return Err(corrupt(input, 0, "truncated Go build information"));
    };
    let start = *at + used;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .filter(|end| *end <= blob.len())
        .ok_or_else(|| corrupt(input, 0, "truncated Go build information"))?;
    *at = end;
    Ok(&blob[start..end])
}

/// The packages a Go binary's build information block lists: `stdlib` at the toolchain's
/// version, the main module when it has a version, and every dependency (a replaced one under
/// its replacement's path and version, as the binary runs that code).
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` for a truncated or garbled block, or one
/// written before Go 1.18.
pub fn parse_go_buildinfo(input: &str, blob: &[u8]) -> crate::Result<Vec<LanguagePackage>> {
    if !blob.starts_with(GO_BUILDINFO_MAGIC) || blob.len() < GO_BUILDINFO_HEADER {
        return Err(corrupt(input, 0, "not a Go build information block"));
    }
    if blob[GO_FLAGS_OFFSET] & GO_FLAG_INLINE == 0 {
        return Err(corrupt(
            input,
            0,
            "Go binary built before Go 1.18: its build information is not read",
        ));
    }
    let mut at = GO_BUILDINFO_HEADER;
    let version = utf8(input, inline_string(input, blob, &mut at)?)?;
    let modinfo = inline_string(input, blob, &mut at)?;
    let sentinels = 2 * GO_MODINFO_SENTINEL;
    let modinfo =
        if modinfo.len() > sentinels && modinfo[modinfo.len() - GO_MODINFO_SENTINEL - 1] == b'\n' {
            utf8(
                input,
                &modinfo[GO_MODINFO_SENTINEL..modinfo.len() - GO_MODINFO_SENTINEL],
            )?
        } else {
            ""
        };
    let package = |name: &str, version: &str| LanguagePackage {
        ecosystem: LanguageEcosystem::Go,
        name: name.to_owned(),
        version: version.to_owned(),
        path: input.to_owned(),
    };
    let mut packages = Vec::new();
    if let Some(go) = version.strip_prefix("go") {
        // `go1.21.5 X:boringcrypto` and the like: the version is the first word.
        let go = go.split_whitespace().next().unwrap_or_default();
        packages.push(package("stdlib", go));
    }
    for (n, line) in modinfo.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", path, version, ..] if *version != "(devel)" => {
                packages.push(package(path, version));
            }
            ["dep", path, version, ..] => packages.push(package(path, version)),
            ["=>", path, version, ..] => {
                let Some(last) = packages.last_mut().filter(|p| p.name != "stdlib") else {
                    return Err(corrupt(input, n + 1, "replacement without a module"));
                };
                if version.is_empty() {
                    // A replacement by a local directory: no version to match.
                    packages.pop();
                } else {
                    (last.name, last.version) = ((*path).to_owned(), (*version).to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(packages)
}

/// A Python distribution name in PEP 503's normalised form (lower case, each run of `-`, `_`
/// and `.` one `-`), the form PyPI, pip and syft compare names in (`Flask` is `flask`,
/// `typing_extensions` is `typing-extensions`).
pub fn pep503_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
            }
            in_separator_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator_run = false;
        }
    }
    out
}

/// The name packages of `ecosystem` are stored and looked up by: PEP 503's form for PyPI,
/// lower case for NuGet (whose package IDs are case-insensitive: `Newtonsoft.Json` and
/// `newtonsoft.json` are one package), the name as written elsewhere.
pub fn lookup_name<'a>(ecosystem: &str, name: &'a str) -> std::borrow::Cow<'a, str> {
    if ecosystem == LanguageEcosystem::PyPI.osv_name() {
        std::borrow::Cow::Owned(pep503_name(name))
    } else if ecosystem == LanguageEcosystem::NuGet.osv_name() {
        std::borrow::Cow::Owned(name.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// The `Name` (in PEP 503's form) and `Version` of a Python distribution's metadata
/// (`METADATA`, `PKG-INFO`).
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when either header is missing or the file
/// is not UTF-8.
pub fn parse_python_metadata(input: &str, bytes: &[u8]) -> crate::Result<LanguagePackage> {
    let text = utf8(input, bytes)?;
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            break; // The body (the long description) follows the first blank line.
        }
        if let Some((key, value)) = line.split_once(':') {
            let slot = match key {
                "Name" => &mut name,
                "Version" => &mut version,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.trim().to_owned());
            }
        }
    }
    match (name, version) {
        (Some(name), Some(version)) if !name.is_empty() && !version.is_empty() => {
            Ok(LanguagePackage {
                ecosystem: LanguageEcosystem::PyPI,
                name: pep503_name(&name),
                version,
                path: input.to_owned(),
            })
        }
        _ => Err(corrupt(input, 0, "no Name and Version headers")),
    }
}

/// The `name` and `version` of an npm `package.json`; `None` for one that names neither (a
/// folder's manifest that is not a package).
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when it is not a JSON object.
pub fn parse_package_json(input: &str, bytes: &[u8]) -> crate::Result<Option<LanguagePackage>> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(input, e.line(), "not valid JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| corrupt(input, 0, "not a JSON object"))?;
    let field = |key: &str| {
        object
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    Ok(match (field("name"), field("version")) {
        (Some(name), Some(version)) => Some(LanguagePackage {
            ecosystem: LanguageEcosystem::Npm,
            name: name.to_owned(),
            version: version.to_owned(),
            path: input.to_owned(),
        }),
        _ => None,
    })
}

/// The gem an installed `*.gemspec` describes: its `<spec>.name = "…"` and
/// `<spec>.version = "…"` assignments (a string in double or single quotes or `%q{…}`,
/// optionally `.freeze`d).
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when either assignment is missing or the
/// file is not UTF-8.
pub fn parse_gemspec(input: &str, bytes: &[u8]) -> crate::Result<LanguagePackage> {
    let text = utf8(input, bytes)?;
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        let Some((target, value)) = line.trim().split_once('=') else {
            continue;
        };
        let slot = match target.trim().rsplit_once('.') {
            Some((_, "name")) => &mut name,
            Some((_, "version")) => &mut version,
            _ => continue,
        };
        if slot.is_none() {
            *slot = ruby_string(value.trim());
        }
    }
    match (name, version) {
        (Some(name), Some(version)) => Ok(LanguagePackage {
            ecosystem: LanguageEcosystem::RubyGems,
            name,
            version,
            path: input.to_owned(),
        }),
        _ => Err(corrupt(input, 0, "no name and version assignments")),
    }
}

/// A Ruby string literal at the start of `value`: `"x"`, `'x'` or `%q{x}`, non-empty.
fn ruby_string(value: &str) -> Option<String> {
    let (close, rest) = if let Some(rest) = value.strip_prefix("%q{") {
        ('}', rest)
    } else if let Some(rest) = value.strip_prefix('"') {
        ('"', rest)
    } else {
        ('\'', value.strip_prefix('\'')?)
    };
    let end = rest.find(close)?;
    let text = &rest[..end];
    (!text.is_empty() && !text.contains('\\') && !text.contains('#')).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nuget_names_are_looked_up_case_blind_and_others_as_written() {
        assert_eq!(lookup_name("NuGet", "Newtonsoft.Json"), "newtonsoft.json");
        assert_eq!(lookup_name("PyPI", "Foo_Bar"), "foo-bar");
        assert_eq!(lookup_name("npm", "@Scope/Pkg"), "@Scope/Pkg");
    }

    /// A build information block as Go 1.18+ writes it.
    fn block(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = GO_BUILDINFO_MAGIC.to_vec();
        b.push(8);
        b.push(GO_FLAG_INLINE);
        b.resize(GO_BUILDINFO_HEADER, 0);
        let wrapped = format!("{}{modinfo}{}", "0".repeat(16), "1".repeat(16));
        for s in [version, wrapped.as_str()] {
            let mut len = s.len();
            loop {
                let byte = (len & 0x7f) as u8;
                len >>= 7;
                if len == 0 {
                    b.push(byte);
                    break;
                }
                b.push(byte | 0x80);
            }
            b.extend_from_slice(s.as_bytes());
        }
        b
    }

    #[test]
    fn go_modules_replacements_and_the_toolchain() {
        let modinfo = "path\texample.com/cmd/app\nmod\texample.com\t(devel)\t\n\
dep\tgolang.org/x/net\tv0.17.0\th1:abc=\n\
dep\tgithub.com/old/lib\tv1.0.0\th1:x=\n=>\tgithub.com/new/lib\tv1.2.0\th1:y=\n\
dep\texample.com/local\tv0.0.0\n=>\t../local\t\t\nbuild\tGOOS=linux\n";
        let blob = block("go1.21.5 X:boringcrypto", modinfo);
        assert_eq!(go_buildinfo_len(&blob), Some(Ok(blob.len())));
        assert_eq!(go_buildinfo_len(&blob[..40]), None);
        let got: Vec<(String, String)> = parse_go_buildinfo("usr/bin/app", &blob)
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect();
        let want: Vec<(String, String)> = [
            ("stdlib", "1.21.5"),
            ("golang.org/x/net", "v0.17.0"),
            ("github.com/new/lib", "v1.2.0"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn truncated_or_old_go_blocks_are_refused_naming_the_binary() {
        let blob = block("go1.22.0", "mod\tx\tv1.0.0\t\n");
        for cut in [0, 10, 33, blob.len() - 5] {
            let err = parse_go_buildinfo("usr/bin/app", &blob[..cut]).unwrap_err();
            assert!(err.to_string().contains("usr/bin/app"), "{err}");
        }
        let mut old = blob.clone();
        old[GO_FLAGS_OFFSET] = 0;
        assert!(
            parse_go_buildinfo("usr/bin/old", &old)
                .unwrap_err()
                .to_string()
                .contains("before Go 1.18")
        );
        assert_eq!(go_buildinfo_len(&old), Some(Ok(GO_BUILDINFO_HEADER)));
    }

    #[test]
    fn python_metadata_headers_stop_at_the_body() {
        let text = "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nName: not-this\n";
        let p = parse_python_metadata("x.dist-info/METADATA", text.as_bytes()).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("requests", "2.31.0")
        );
        assert_eq!(pep503_name("Typing__Extensions.x"), "typing-extensions-x");
        let err = parse_python_metadata("y/METADATA", b"Summary: none\n").unwrap_err();
        assert!(err.to_string().contains("y/METADATA"));
    }

    #[test]
    fn gemspec_assignments_in_their_usual_spellings() {
        let text = "# stub: rake 13.0.6 ruby lib\nGem::Specification.new do |s|\n  \
s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\n  s.metadata = { \"a\" => \"b\" }\nend\n";
        let p = parse_gemspec("specifications/rake-13.0.6.gemspec", text.as_bytes()).unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("rake", "13.0.6"));
        let old = "Gem::Specification.new do |spec|\n  spec.name = %q{json}\n  spec.version = '2.6.1'\nend\n";
        let p = parse_gemspec("x.gemspec", old.as_bytes()).unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("json", "2.6.1"));
        let err = parse_gemspec("y.gemspec", b"s.summary = \"none\"\n").unwrap_err();
        assert!(err.to_string().contains("y.gemspec"), "{err}");
    }

    #[test]
    fn package_json_needs_a_name_and_a_version() {
        let p = parse_package_json(
            "node_modules/a/package.json",
            br#"{"name":"a","version":"1.0.0"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("a", "1.0.0"));
        assert_eq!(
            parse_package_json("p", br#"{"private":true}"#).unwrap(),
            None
        );
        assert!(parse_package_json("node_modules/b/package.json", b"[1]").is_err());
        assert!(parse_package_json("node_modules/c/package.json", b"{").is_err());
    }
}
