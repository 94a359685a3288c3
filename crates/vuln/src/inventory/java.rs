//! Java archives (JAR, WAR, EAR and the like): the Maven packages they hold, OSV's `Maven`
//! ecosystem, named `groupId:artifactId`.
//!
//! Reading happens in two steps, so the layer walk keeps a few KiB per archive rather than the
//! archive:
//!
//! 1. [`archive_metadata`] opens the zip (central directory; stored and deflated entries) and
//!    keeps what says which packages it holds: every `META-INF/maven/**/pom.properties` and the
//!    `META-INF/MANIFEST.MF`, of the archive and of the archives nested in it (a WAR's
//!    `WEB-INF/lib/*.jar`, a Spring Boot JAR's `BOOT-INF/lib/*.jar`), to [`MAX_NESTING`]
//!    levels and within byte bounds. The result is a small blob starting with
//!    [`JAVA_METADATA_MAGIC`].
//! 2. [`parse_archive_metadata`] turns that blob into packages, naming the archive's path in
//!    the image: one package per `pom.properties` with a group, an artifact and a version; and,
//!    unless one of them is the archive's own (its artifact and version are those of the file
//!    name, `guava-31.1-jre.jar`), one from the manifest as Trivy reads it
//!    (`Implementation-Vendor-Id`, else `Bundle-SymbolicName` up to its last `.`, else
//!    `Implementation-Vendor`, else `Specification-Vendor` for the group;
//!    `Implementation-Title`, `Specification-Title` or `Bundle-Name` for the artifact;
//!    `Implementation-Version`, `Specification-Version` or `Bundle-Version` for the version),
//!    only when all three are there.
//!
//! Garbage never panics: an archive that cannot be read yields the reason, naming the archive
//! (and the nested archive) it came from.

use std::io::{Cursor, Read};

use serde::{Deserialize, Serialize};

use crate::inventory::corrupt;
use crate::inventory::language::{LanguageEcosystem, LanguagePackage};

/// The start of every zip archive: a local file header's signature.
pub const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// The start of the blob [`archive_metadata`] makes. The leading NUL keeps it from being
/// mistaken for any text file kept under the same name.
pub const JAVA_METADATA_MAGIC: &[u8] = b"\0drydock java archive metadata\n";

/// The largest archive searched, read whole from its layer: above the largest JARs and WARs
/// of real images (Jenkins' WAR is about 90 MiB), so a larger zip is reported, not read.
pub const MAX_JAVA_ARCHIVE: u64 = 256 << 20;

/// How deep nested archives are opened: a WAR or Spring Boot JAR nests one level, an EAR two
/// (EAR → WAR → JAR); four leaves room for shading tools and stops a zip quine.
pub const MAX_NESTING: usize = 4;

/// The largest `pom.properties` or `MANIFEST.MF` read (decompressed): real ones are under a
/// few KiB, the largest manifests (OSGi bundles listing every package) a few hundred.
const MAX_METADATA_ENTRY: u64 = 1 << 20;

/// The most decompressed bytes read from nested archives of one archive, all levels
/// together: a deflate bomb inside a JAR stops here.
const MAX_NESTED_BYTES: u64 = 512 << 20;

/// The most metadata entries kept from one archive, nested ones included: a fat JAR of a
/// large application holds a few hundred `pom.properties`.
const MAX_METADATA_ENTRIES: usize = 10_000;

/// File name endings of archives opened when nested (syft's list of Java archive types).
const NESTED_ARCHIVE_SUFFIXES: [&str; 10] = [
    ".jar", ".war", ".ear", ".par", ".sar", ".nar", ".jpi", ".hpi", ".kar", ".lpkg",
];

/// What one kept entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum EntryKind {
    /// A `pom.properties`.
    Pom,
    /// A `MANIFEST.MF`.
    Manifest,
    /// An archive or entry that could not be read; the text says why.
    Error,
}

/// One kept entry: the nested archive it lies in (`""` for the archive itself, else the chain
/// of entry names joined by `!`), its kind and its text.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    archive: String,
    kind: EntryKind,
    text: String,
}

/// The metadata blob's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Metadata {
    entries: Vec<Entry>,
}

/// The metadata of the zip archive `bytes` as a blob for [`parse_archive_metadata`], or
/// `None` when it holds no Java metadata at all (a zip that is no Java archive). An archive
/// that cannot be read yields a blob recording why, so the reason reaches the report.
pub fn archive_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut metadata = Metadata::default();
    let mut budget = MAX_NESTED_BYTES;
    collect(bytes, "", 0, &mut budget, &mut metadata);
    if metadata.entries.is_empty() {
        return None;
    }
    let mut blob = JAVA_METADATA_MAGIC.to_vec();
    serde_json::to_writer(&mut blob, &metadata).ok()?;
    Some(blob)
}

/// The blob recording that an archive of `size` bytes was not read (above
/// [`MAX_JAVA_ARCHIVE`]).
pub fn oversized_archive_metadata(size: u64) -> Vec<u8> {
    let metadata = Metadata {
        entries: vec![Entry {
            archive: String::new(),
            kind: EntryKind::Error,
            text: format!(
                "zip archive of {size} bytes, larger than the {MAX_JAVA_ARCHIVE} searched for Java packages"
            ),
        }],
    };
    let mut blob = JAVA_METADATA_MAGIC.to_vec();
    // Serialising plain strings into a vector cannot fail.
    let _ = serde_json::to_writer(&mut blob, &metadata);
    blob
}

fn error(metadata: &mut Metadata, archive: &str, text: String) {
    metadata.entries.push(Entry {
        archive: archive.to_owned(),
        kind: EntryKind::Error,
        text,
    });
}

/// Keeps the metadata of the archive `bytes` (at `archive` in the chain) and of the archives
/// nested in it.
fn collect(bytes: &[u8], archive: &str, depth: usize, budget: &mut u64, metadata: &mut Metadata) {
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(zip) => zip,
        Err(e) => {
            return error(
                metadata,
                archive,
                format!("not a readable zip archive: {e}"),
            );
        }
    };
    for index in 0..zip.len() {
        if metadata.entries.len() >= MAX_METADATA_ENTRIES {
            return error(
                metadata,
                archive,
                format!("more than {MAX_METADATA_ENTRIES} metadata entries"),
            );
        }
        let name = match zip.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            _ => continue,
        };
        let kind = if is_pom_properties(&name) {
            Some(EntryKind::Pom)
        } else if name == "META-INF/MANIFEST.MF" {
            Some(EntryKind::Manifest)
        } else {
            None
        };
        let nested = kind.is_none()
            && NESTED_ARCHIVE_SUFFIXES
                .iter()
                .any(|s| name.to_ascii_lowercase().ends_with(s));
        if kind.is_none() && !nested {
            continue;
        }
        let inner = if archive.is_empty() {
            name.clone()
        } else {
            format!("{archive}!{name}")
        };
        let limit = if nested {
            if depth + 1 >= MAX_NESTING {
                error(
                    metadata,
                    &inner,
                    format!("nested deeper than {MAX_NESTING} archives"),
                );
                continue;
            }
            (*budget).min(MAX_JAVA_ARCHIVE)
        } else {
            MAX_METADATA_ENTRY
        };
        let data = match read_entry(&mut zip, index, limit) {
            Ok(data) => data,
            Err(reason) => {
                error(metadata, &inner, reason);
                continue;
            }
        };
        match kind {
            Some(kind) => match String::from_utf8(data) {
                Ok(text) => metadata.entries.push(Entry {
                    archive: archive.to_owned(),
                    kind,
                    text,
                }),
                Err(_) => error(metadata, &inner, "not valid UTF-8".to_owned()),
            },
            None => {
                *budget = budget.saturating_sub(data.len() as u64);
                if data.starts_with(ZIP_MAGIC) {
                    collect(&data, &inner, depth + 1, budget, metadata);
                }
            }
        }
    }
}

/// Whether `name` is `META-INF/maven/<group>/<artifact>/pom.properties` (at any depth below
/// `META-INF/maven`, as syft looks for it).
fn is_pom_properties(name: &str) -> bool {
    name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties")
}

/// Reads entry `index` whole, refusing more than `limit` decompressed bytes.
fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let entry = zip
        .by_index(index)
        .map_err(|e| format!("entry not readable: {e}"))?;
    if entry.size() > limit {
        return Err(format!(
            "entry of {} bytes, above the {limit} read",
            entry.size()
        ));
    }
    let mut data = Vec::new();
    entry
        .take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| format!("entry not readable: {e}"))?;
    if data.len() as u64 > limit {
        return Err(format!("entry inflates beyond the {limit} bytes read"));
    }
    Ok(data)
}

/// The Maven packages an [`archive_metadata`] blob records, for the archive at `input`.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` (and the nested archive) when the blob is
/// not one [`archive_metadata`] made, or records an archive or entry that could not be read.
pub fn parse_archive_metadata(input: &str, blob: &[u8]) -> crate::Result<Vec<LanguagePackage>> {
    let json = blob
        .strip_prefix(JAVA_METADATA_MAGIC)
        .ok_or_else(|| corrupt(input, 0, "not Java archive metadata"))?;
    let metadata: Metadata = serde_json::from_slice(json)
        .map_err(|_| corrupt(input, 0, "garbled Java archive metadata"))?;
    if let Some(failed) = metadata.entries.iter().find(|e| e.kind == EntryKind::Error) {
        let at = if failed.archive.is_empty() {
            input.to_owned()
        } else {
            format!("{input}!{}", failed.archive)
        };
        return Err(corrupt(&at, 0, failed.text.clone()));
    }
    let package = |(group, artifact, version): (String, String, String)| LanguagePackage {
        ecosystem: LanguageEcosystem::Maven,
        name: format!("{group}:{artifact}"),
        version,
        path: input.to_owned(),
    };
    let mut packages = Vec::new();
    let mut archives: Vec<&str> = metadata
        .entries
        .iter()
        .map(|e| e.archive.as_str())
        .collect();
    archives.sort_unstable();
    archives.dedup();
    for archive in archives {
        let entries = || metadata.entries.iter().filter(|e| e.archive == archive);
        let poms: Vec<_> = entries()
            .filter(|e| e.kind == EntryKind::Pom)
            .filter_map(|e| pom_coordinates(&e.text))
            .collect();
        // Trivy's rule: the manifest names a package too unless a `pom.properties` is the
        // archive's own, by the artifact and version its file name gives.
        let path = if archive.is_empty() {
            input
        } else {
            archive.rsplit('!').next().unwrap_or(archive)
        };
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let own_pom = file_name_coordinates(file_name)
            .is_some_and(|(a, v)| poms.iter().any(|(_, pa, pv)| pa == a && pv == v));
        packages.extend(poms.into_iter().map(package));
        if !own_pom {
            packages.extend(
                entries()
                    .filter(|e| e.kind == EntryKind::Manifest)
                    .filter_map(|e| manifest_coordinates(&e.text))
                    .map(package),
            );
        }
    }
    Ok(packages)
}

/// The artifact and version a JAR's file name gives, as Trivy reads it
/// (`^([a-zA-Z0-9._-]*[^-*])-(\d\S*).jar$`: the last `-` followed by a digit that leaves a
/// plausible artifact name before it).
fn file_name_coordinates(name: &str) -> Option<(&str, &str)> {
    let stem = name.strip_suffix("jar")?;
    // Any one character before `jar` (the regular expression's unescaped `.`).
    let stem = &stem[..stem.char_indices().next_back()?.0];
    stem.rmatch_indices('-').find_map(|(i, _)| {
        let (artifact, version) = (&stem[..i], &stem[i + 1..]);
        let plausible = artifact
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !artifact.is_empty()
            && !artifact.ends_with(['-', '*']);
        (plausible
            && version.starts_with(|c: char| c.is_ascii_digit())
            && !version.contains(char::is_whitespace))
        .then_some((artifact, version))
    })
}

/// `groupId`, `artifactId` and `version` of a `pom.properties` (Java properties: `key=value`,
/// `key: value` or `key value`; `#` and `!` start comments), when all three are there.
fn pom_coordinates(text: &str) -> Option<(String, String, String)> {
    let (mut group, mut artifact, mut version) = (None, None, None);
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(split) = line.find(['=', ':', ' ', '\t']) else {
            continue;
        };
        let (key, value) = (&line[..split], line[split + 1..].trim());
        let value = value
            .strip_prefix(['=', ':'])
            .map_or(value, str::trim_start);
        let slot = match key {
            "groupId" => &mut group,
            "artifactId" => &mut artifact,
            "version" => &mut version,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Some((nonempty(group)?, nonempty(artifact)?, nonempty(version)?))
}

/// The main section's attributes of a manifest, continuation lines joined.
fn manifest_attributes(text: &str) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break; // The main section ends at the first blank line.
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some((_, value)) = attributes.last_mut() {
                value.push_str(more);
            }
        } else if let Some((key, value)) = line.split_once(':') {
            attributes.push((key.to_owned(), value.trim_start().to_owned()));
        }
    }
    attributes
}

/// Trivy's manifest fallback: group, artifact and version from the main section, when all
/// three are there.
fn manifest_coordinates(text: &str) -> Option<(String, String, String)> {
    let attributes = manifest_attributes(text);
    let get = |key: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let group = get("Implementation-Vendor-Id")
        .map(str::to_owned)
        .or_else(|| {
            get("Bundle-SymbolicName").map(|name| match name.rfind('.') {
                Some(dot) if dot > 0 => name[..dot].to_owned(),
                _ => name.to_owned(),
            })
        })
        .or_else(|| get("Implementation-Vendor").map(str::to_owned))
        .or_else(|| get("Specification-Vendor").map(str::to_owned))?;
    let artifact = get("Implementation-Title")
        .or_else(|| get("Specification-Title"))
        .or_else(|| get("Bundle-Name"))?;
    let version = get("Implementation-Version")
        .or_else(|| get("Specification-Version"))
        .or_else(|| get("Bundle-Version"))?;
    Some((group, artifact.to_owned(), version.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(entries: &[(&str, &[u8])], stored: bool) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let method = if stored {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, data) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn rows(input: &str, archive: &[u8]) -> Vec<(String, String)> {
        let blob = archive_metadata(archive).unwrap();
        parse_archive_metadata(input, &blob)
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect()
    }

    const POM: &[u8] = b"#Generated by Maven\n#Tue Jan 01 00:00:00 UTC 2019\n\
version=2.13.4\ngroupId=com.fasterxml.jackson.core\nartifactId=jackson-databind\n";

    #[test]
    fn pom_properties_name_the_package_and_nested_archives_are_opened() {
        let inner = zip_of(
            &[
                ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
                (
                    "META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties",
                    POM,
                ),
                ("com/fasterxml/A.class", &[0xCA, 0xFE, 0xBA, 0xBE]),
            ],
            false,
        );
        let war = zip_of(
            &[
                (
                    "META-INF/maven/org.example/app/pom.properties",
                    b"groupId = org.example\nartifactId: app\nversion 1.0-SNAPSHOT\n",
                ),
                ("WEB-INF/lib/jackson-databind-2.13.4.jar", &inner),
            ],
            true,
        );
        assert_eq!(
            rows("app/app.war", &war),
            [
                ("org.example:app".to_owned(), "1.0-SNAPSHOT".to_owned()),
                (
                    "com.fasterxml.jackson.core:jackson-databind".to_owned(),
                    "2.13.4".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn without_pom_properties_the_manifest_names_the_package_as_trivy_reads_it() {
        let manifest = b"Manifest-Version: 1.0\r\nBundle-SymbolicName: org.apache.commons.l\r\n ang3\r\n\
Bundle-Name: Apache Commons Lang\r\nImplementation-Title: commons-lang3\r\nBundle-Version: 3.12.0\r\n\r\nName: x\r\nImplementation-Version: 9\r\n";
        let jar = zip_of(&[("META-INF/MANIFEST.MF", manifest)], false);
        assert_eq!(
            rows("lib/commons-lang3.jar", &jar),
            [(
                "org.apache.commons:commons-lang3".to_owned(),
                "3.12.0".to_owned()
            )]
        );
        let no_version = zip_of(
            &[("META-INF/MANIFEST.MF", b"Implementation-Title: x\n")],
            false,
        );
        assert_eq!(rows("lib/x.jar", &no_version), []);
        assert_eq!(
            archive_metadata(&zip_of(&[("a.txt", b"hello")], false)),
            None
        );
    }

    #[test]
    fn file_names_give_artifact_and_version_as_trivy_reads_them() {
        for (name, want) in [
            ("guava-31.1-jre.jar", Some(("guava", "31.1-jre"))),
            (
                "geronimo-annotation-1.3-spec-1.3.jar",
                Some(("geronimo-annotation-1.3-spec", "1.3")),
            ),
            ("jsr305-0.1~+svn49.jar", Some(("jsr305", "0.1~+svn49"))),
            (
                "spring-core-5.3.4-SNAPSHOT.jar",
                Some(("spring-core", "5.3.4-SNAPSHOT")),
            ),
            ("commons-io.jar", None),
            ("app-1.0.war", None),
            ("-1.0.jar", None),
        ] {
            assert_eq!(file_name_coordinates(name), want, "{name}");
        }
    }

    #[test]
    fn a_shaded_pom_does_not_hide_the_archives_own_manifest() {
        let manifest =
            b"Bundle-SymbolicName: com.google.inject\nBundle-Name: guice\nBundle-Version: 4.2.3\n";
        let jar = zip_of(
            &[
                ("META-INF/MANIFEST.MF", manifest),
                (
                    "META-INF/maven/cglib/cglib/pom.properties",
                    b"groupId=cglib\nartifactId=cglib\nversion=3.2.12\n",
                ),
            ],
            false,
        );
        assert_eq!(
            rows("usr/share/java/guice-4.2.3.jar", &jar),
            [
                ("cglib:cglib".to_owned(), "3.2.12".to_owned()),
                ("com.google:guice".to_owned(), "4.2.3".to_owned()),
            ]
        );
    }

    #[test]
    fn garbage_and_bombs_are_refused_naming_the_archive() {
        let jar = zip_of(&[("META-INF/maven/g/a/pom.properties", POM)], false);
        for cut in [4, 30, jar.len() - 10] {
            let blob = archive_metadata(&jar[..cut]).unwrap();
            let err = parse_archive_metadata("opt/app.jar", &blob).unwrap_err();
            assert!(err.to_string().contains("opt/app.jar"), "{err}");
        }
        let big = vec![b'a'; (MAX_METADATA_ENTRY + 1) as usize];
        let bomb = zip_of(&[("META-INF/maven/g/a/pom.properties", &big)], false);
        let err =
            parse_archive_metadata("opt/bomb.jar", &archive_metadata(&bomb).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("opt/bomb.jar!META-INF/maven"),
            "{err}"
        );
        let mut nested = zip_of(&[("META-INF/maven/g/a/pom.properties", POM)], true);
        for _ in 0..MAX_NESTING {
            nested = zip_of(&[("lib/inner.jar", &nested)], true);
        }
        let err =
            parse_archive_metadata("deep.jar", &archive_metadata(&nested).unwrap()).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
        let err =
            parse_archive_metadata("huge.zip", &oversized_archive_metadata(1 << 40)).unwrap_err();
        assert!(err.to_string().contains("huge.zip"), "{err}");
        assert!(parse_archive_metadata("x.jar", b"junk").is_err());
    }
}
