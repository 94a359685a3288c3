//! Language packages in an image (`vulnerabilities.types: [library]`): which files the layer
//! walk keeps for them, and how they become a [`LanguagePackage`] list.
//!
//! Python, npm and RubyGems metadata, Composer's `installed.json` and .NET `*.deps.json` are
//! found by name patterns wherever they lie (where syft's catalogers look for them). Go binaries,
//! Rust binaries and Java archives are found by content: every other regular file is offered
//! to [`LanguageFiles`], which looks at its first bytes. An ELF executable goes to the Go
//! search, which keeps only the build information block (a few KiB at a 16-byte-aligned
//! offset, found by its magic), and to the cargo-auditable search, which keeps only the
//! inflated dependency list (a zlib stream found by what it inflates to); never the binary. A zip archive is read whole (up to
//! [`MAX_JAVA_ARCHIVE`]) and only its Java metadata is kept (`pom.properties`, manifests, of
//! nested archives too). The parsing itself is `drydock_vuln::inventory::language` and
//! `drydock_vuln::inventory::java`.

use std::sync::Arc;

use drydock_imagefs::{ImageFiles, Interest, Pattern, SniffSink, Sniffer};
use drydock_vuln::inventory::dotnet::{DEPS_JSON_SUFFIX, parse_deps_json};
use drydock_vuln::inventory::java::{
    JAVA_METADATA_MAGIC, MAX_JAVA_ARCHIVE, ZIP_MAGIC, archive_metadata, oversized_archive_metadata,
    parse_archive_metadata,
};
use drydock_vuln::inventory::language::{
    GO_BUILDINFO_MAGIC, GO_BUILDINFO_MAX, GO_CANDIDATE_BYTES, LanguagePackage, go_buildinfo_len,
    is_go_buildinfo_start, parse_gemspec, parse_go_buildinfo, parse_package_json,
    parse_python_metadata,
};
use drydock_vuln::inventory::php::{COMPOSER_INSTALLED_NAME, parse_composer_installed};
use drydock_vuln::inventory::rust::{
    MAX_DEP_INFO, RUST_DEP_INFO_MAGIC, ZLIB_CMF, ZLIB_HEADER, dep_info_candidate, parse_dep_info,
};

/// The ELF magic: only ELF executables are searched for Go build information.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Any of the execute permission bits of a tar mode.
const EXECUTABLE_BITS: u32 = 0o111;

/// Smaller executables are skipped: the smallest Go program (an empty `main`) links to over a
/// megabyte; shell scripts and tiny C helpers are far below this.
const MIN_GO_BINARY: u64 = 512 << 10;

/// Go aligns the build information block to 16 bytes in the binary's data.
const GO_BUILDINFO_ALIGN: usize = 16;

/// Smaller executables are not searched for cargo-auditable's dependency list: the smallest
/// Rust program (`fn main() {}`, stripped) links to about 300 KiB.
const MIN_RUST_BINARY: u64 = 128 << 10;

/// The smallest zip archive: an empty one is its 22-byte end-of-central-directory record.
const MIN_ZIP: u64 = 22;

/// The patterns of Python, npm, RubyGems, Composer and .NET metadata and the Go binary and
/// Java archive sniffer, added to `interest`.
#[must_use]
pub fn with_language_files(interest: Interest) -> Interest {
    interest
        .with_pattern(Pattern::InDirEndingWith {
            dir_suffix: ".dist-info".to_owned(),
            name: "METADATA".to_owned(),
        })
        .with_pattern(Pattern::InDirEndingWith {
            dir_suffix: ".egg-info".to_owned(),
            name: "PKG-INFO".to_owned(),
        })
        .with_pattern(Pattern::NameEndingWith {
            suffix: ".egg-info".to_owned(),
        })
        .with_pattern(Pattern::Below {
            dir: "node_modules".to_owned(),
            name: "package.json".to_owned(),
        })
        .with_pattern(Pattern::BelowEndingWith {
            dir: "specifications".to_owned(),
            suffix: ".gemspec".to_owned(),
        })
        // Any directory: an `installed.json` anywhere, as syft reads it.
        .with_pattern(Pattern::InDirEndingWith {
            dir_suffix: String::new(),
            name: COMPOSER_INSTALLED_NAME.to_owned(),
        })
        .with_pattern(Pattern::NameEndingWith {
            suffix: DEPS_JSON_SUFFIX.to_owned(),
        })
        .with_sniffer(Arc::new(LanguageFiles))
}

/// The language packages in `files`, sorted, and the files that could not be read (each
/// reason names its path). One unreadable file never hides the others.
#[must_use]
pub fn packages(files: &ImageFiles) -> (Vec<LanguagePackage>, Vec<String>) {
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for (path, bytes) in files.iter() {
        let name = path.rsplit('/').next().unwrap_or(path);
        let parsed = if bytes.starts_with(GO_BUILDINFO_MAGIC) {
            parse_go_buildinfo(path, bytes)
        } else if bytes.starts_with(RUST_DEP_INFO_MAGIC) {
            parse_dep_info(path, bytes)
        } else if bytes.starts_with(JAVA_METADATA_MAGIC) {
            parse_archive_metadata(path, bytes)
        } else if name == "package.json" {
            parse_package_json(path, bytes).map(|p| p.into_iter().collect())
        } else if name == COMPOSER_INSTALLED_NAME {
            parse_composer_installed(path, bytes)
        } else if name.ends_with(DEPS_JSON_SUFFIX) {
            parse_deps_json(path, bytes)
        } else if name.ends_with(".gemspec") {
            parse_gemspec(path, bytes).map(|p| vec![p])
        } else if name == "METADATA" || name == "PKG-INFO" || name.ends_with(".egg-info") {
            parse_python_metadata(path, bytes).map(|p| vec![p])
        } else {
            continue;
        };
        match parsed {
            Ok(packages) => found.extend(packages),
            Err(error) => unreadable.push(error.to_string()),
        }
    }
    found.sort();
    found.dedup();
    (found, unreadable)
}

/// Offers executables large enough to be Go programs to the build information search, and
/// zip archives to the Java metadata search, telling them apart by their first bytes.
#[derive(Debug)]
pub struct LanguageFiles;

impl Sniffer for LanguageFiles {
    fn start(&self, mode: u32, size: u64) -> Option<Box<dyn SniffSink>> {
        let go = GoBinaries.wants(mode, size);
        let rust = mode & EXECUTABLE_BITS != 0 && size >= MIN_RUST_BINARY;
        (go || rust || size >= MIN_ZIP).then(|| {
            Box::new(LanguageSink::Undecided {
                head: Vec::new(),
                go,
                rust,
                size,
            }) as Box<dyn SniffSink>
        })
    }
}

/// Where the search in one file stands.
#[derive(Debug)]
enum LanguageSink {
    /// Reading the first bytes; `go` and `rust` tell whether the file may be a Go or a Rust
    /// program.
    Undecided {
        head: Vec<u8>,
        go: bool,
        rust: bool,
        size: u64,
    },
    /// An ELF executable: the Go build information and cargo-auditable searches, each while it
    /// wants more.
    Elf {
        go: Option<GoSink>,
        rust: Option<RustSink>,
    },
    /// A zip archive, read whole.
    Java(Vec<u8>),
    /// Finished, with what to keep.
    Done(Option<Vec<u8>>),
}

impl SniffSink for LanguageSink {
    fn feed(&mut self, chunk: &[u8]) -> bool {
        match self {
            LanguageSink::Undecided {
                head,
                go,
                rust,
                size,
            } => {
                head.extend_from_slice(chunk);
                if head.len() < ZIP_MAGIC.len().max(ELF_MAGIC.len()) {
                    return true;
                }
                let head = std::mem::take(head);
                if (*go || *rust) && head.starts_with(ELF_MAGIC) {
                    *self = LanguageSink::Elf {
                        go: go.then_some(GoSink::Head(Vec::new())),
                        rust: rust.then_some(RustSink::Searching {
                            pending: Vec::new(),
                        }),
                    };
                    self.feed(&head)
                } else if head.starts_with(ZIP_MAGIC) && *size > MAX_JAVA_ARCHIVE {
                    *self = LanguageSink::Done(Some(oversized_archive_metadata(*size)));
                    false
                } else if head.starts_with(ZIP_MAGIC) {
                    let mut archive = Vec::with_capacity(usize::try_from(*size).unwrap_or(0));
                    archive.extend_from_slice(&head);
                    *self = LanguageSink::Java(archive);
                    true
                } else {
                    *self = LanguageSink::Done(None);
                    false
                }
            }
            LanguageSink::Elf { go, rust } => {
                let go_more = go.as_mut().is_some_and(|sink| sink.feed(chunk));
                let rust_more = rust.as_mut().is_some_and(|sink| sink.feed(chunk));
                go_more || rust_more
            }
            LanguageSink::Java(archive) => {
                archive.extend_from_slice(chunk);
                true
            }
            LanguageSink::Done(_) => false,
        }
    }

    fn finish(self: Box<Self>) -> Option<Vec<u8>> {
        match *self {
            // A Go block when there is one (a Go program holds no cargo-auditable list).
            LanguageSink::Elf { go, rust } => go
                .and_then(|sink| Box::new(sink).finish())
                .or_else(|| rust.and_then(RustSink::finish)),
            LanguageSink::Java(archive) => archive_metadata(&archive),
            LanguageSink::Done(kept) => kept,
            LanguageSink::Undecided { .. } => None,
        }
    }
}

/// Bytes a zlib stream candidate may take before it has inflated enough to be judged: a
/// dynamic Huffman block header is at most a few hundred bytes; a stream still silent after
/// this is not cargo-auditable's.
const DEP_INFO_PROBE: usize = 4096;

/// Output reserved at a time while inflating the dependency information.
const INFLATE_STEP: usize = 64 << 10;

/// Where the cargo-auditable search in one ELF executable stands.
enum RustSink {
    /// Looking for the zlib stream; `pending` holds bytes from the first unjudged candidate.
    Searching { pending: Vec<u8> },
    /// Found: inflating the dependency information.
    Inflating {
        inflate: flate2::Decompress,
        json: Vec<u8>,
    },
    /// Finished, with the dependency information if found.
    Done(Option<Vec<u8>>),
}

impl std::fmt::Debug for RustSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RustSink::Searching { .. } => "Searching",
            RustSink::Inflating { .. } => "Inflating",
            RustSink::Done(_) => "Done",
        })
    }
}

// === impl RustSink ===

impl RustSink {
    /// Takes the next chunk; `false` once finished.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        match std::mem::replace(self, RustSink::Done(None)) {
            RustSink::Searching { mut pending } => {
                pending.extend_from_slice(chunk);
                self.search(pending)
            }
            RustSink::Inflating { inflate, json } => self.inflate(inflate, json, chunk),
            RustSink::Done(found) => {
                *self = RustSink::Done(found);
                false
            }
        }
    }

    fn search(&mut self, mut pending: Vec<u8>) -> bool {
        let mut at = 0;
        while let Some(offset) = pending[at..].iter().position(|b| *b == ZLIB_CMF) {
            let candidate = at + offset;
            match dep_info_candidate(&pending[candidate..]) {
                Some(true) => {
                    let stream = pending.split_off(candidate + ZLIB_HEADER);
                    return self.inflate(flate2::Decompress::new(false), Vec::new(), &stream);
                }
                None if pending.len() - candidate < DEP_INFO_PROBE => {
                    pending.drain(..candidate);
                    *self = RustSink::Searching { pending };
                    return true;
                }
                Some(false) | None => at = candidate + 1,
            }
        }
        pending.clear();
        *self = RustSink::Searching { pending };
        true
    }

    fn inflate(
        &mut self,
        mut inflate: flate2::Decompress,
        mut json: Vec<u8>,
        mut input: &[u8],
    ) -> bool {
        loop {
            if json.len() >= MAX_DEP_INFO {
                // Larger than any real tree: kept as cut, so the parser names the binary.
                *self = RustSink::Done(Some(kept_dep_info(json)));
                return false;
            }
            json.reserve(INFLATE_STEP.min(MAX_DEP_INFO - json.len()));
            let (in_before, out_before) = (inflate.total_in(), json.len());
            let status = inflate.decompress_vec(input, &mut json, flate2::FlushDecompress::None);
            let used = usize::try_from(inflate.total_in() - in_before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            let stuck = used == 0 && json.len() == out_before;
            let room_left = json.len() < json.capacity();
            match status {
                // All input taken and nothing more to flush: wait for the next chunk.
                Ok(flate2::Status::Ok | flate2::Status::BufError)
                    if input.is_empty() && (room_left || stuck) =>
                {
                    *self = RustSink::Inflating { inflate, json };
                    return true;
                }
                Ok(flate2::Status::Ok | flate2::Status::BufError) if !stuck => {}
                // The end of the stream, an error, or no progress: kept as inflated so far.
                _ => {
                    *self = RustSink::Done(Some(kept_dep_info(json)));
                    return false;
                }
            }
        }
    }

    fn finish(self) -> Option<Vec<u8>> {
        match self {
            RustSink::Done(found) => found,
            RustSink::Inflating { json, .. } => Some(kept_dep_info(json)),
            RustSink::Searching { .. } => None,
        }
    }
}

/// The kept form of inflated dependency information.
fn kept_dep_info(json: Vec<u8>) -> Vec<u8> {
    let mut kept = RUST_DEP_INFO_MAGIC.to_vec();
    kept.extend_from_slice(&json);
    kept
}

/// Offers executables large enough to be Go programs to the build information search.
#[derive(Debug)]
pub struct GoBinaries;

// === impl GoBinaries ===

impl GoBinaries {
    /// Whether a file of this tar mode and size may be a Go program.
    fn wants(&self, mode: u32, size: u64) -> bool {
        mode & EXECUTABLE_BITS != 0 && size >= MIN_GO_BINARY
    }
}

impl Sniffer for GoBinaries {
    fn start(&self, mode: u32, size: u64) -> Option<Box<dyn SniffSink>> {
        self.wants(mode, size)
            .then(|| Box::new(GoSink::Head(Vec::new())) as Box<dyn SniffSink>)
    }
}

/// Where the search in one executable stands.
#[derive(Debug)]
enum GoSink {
    /// Reading the first bytes, to tell ELF from anything else.
    Head(Vec<u8>),
    /// Searching aligned offsets; `pending` starts at an aligned offset.
    Searching { pending: Vec<u8> },
    /// Found: reading the block to its end.
    Collecting(Vec<u8>),
    /// Finished, with the block if one was found.
    Done(Option<Vec<u8>>),
}

// === impl GoSink ===

impl GoSink {
    fn search(&mut self, mut pending: Vec<u8>) -> bool {
        let mut at = 0;
        while at + GO_CANDIDATE_BYTES <= pending.len() {
            if pending[at] == GO_BUILDINFO_MAGIC[0] && is_go_buildinfo_start(&pending[at..]) {
                let block = pending.split_off(at);
                return self.collect(block);
            }
            at += GO_BUILDINFO_ALIGN;
        }
        pending.drain(..at);
        *self = GoSink::Searching { pending };
        true
    }

    fn collect(&mut self, mut block: Vec<u8>) -> bool {
        match go_buildinfo_len(&block) {
            None if block.len() <= GO_BUILDINFO_MAX => {
                *self = GoSink::Collecting(block);
                true
            }
            Some(Ok(len)) if block.len() < len => {
                *self = GoSink::Collecting(block);
                true
            }
            Some(Ok(len)) => {
                block.truncate(len);
                *self = GoSink::Done(Some(block));
                false
            }
            // Too long or garbled: kept as read, so the parser names the binary and why.
            _ => {
                block.truncate(GO_BUILDINFO_MAX);
                *self = GoSink::Done(Some(block));
                false
            }
        }
    }
}

impl SniffSink for GoSink {
    fn feed(&mut self, chunk: &[u8]) -> bool {
        match std::mem::replace(self, GoSink::Done(None)) {
            GoSink::Head(mut head) => {
                head.extend_from_slice(chunk);
                if head.len() < ELF_MAGIC.len() {
                    *self = GoSink::Head(head);
                    true
                } else if head.starts_with(ELF_MAGIC) {
                    self.search(head)
                } else {
                    false
                }
            }
            GoSink::Searching { mut pending } => {
                pending.extend_from_slice(chunk);
                self.search(pending)
            }
            GoSink::Collecting(mut block) => {
                block.extend_from_slice(chunk);
                self.collect(block)
            }
            GoSink::Done(found) => {
                *self = GoSink::Done(found);
                false
            }
        }
    }

    fn finish(self: Box<Self>) -> Option<Vec<u8>> {
        match *self {
            GoSink::Done(found) => found,
            GoSink::Collecting(block) => Some(block),
            GoSink::Head(_) | GoSink::Searching { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF-looking file with a Go 1.18+ block at `offset`, the magic also planted unaligned
    /// and aligned-but-invalid before it.
    fn binary(offset: usize) -> (Vec<u8>, Vec<u8>) {
        let mut block = GO_BUILDINFO_MAGIC.to_vec();
        block.extend_from_slice(&[8, 2]); // 8-byte pointers, inline strings (Go 1.18+)
        block.resize(32, 0);
        block.push(8);
        block.extend_from_slice(b"go1.22.1");
        let modinfo = format!(
            "{}mod\tex.com/a\tv1.0.0\t\n{}",
            "0".repeat(16),
            "1".repeat(16)
        );
        block.push(u8::try_from(modinfo.len()).unwrap());
        block.extend_from_slice(modinfo.as_bytes());
        let mut file = ELF_MAGIC.to_vec();
        file.resize(offset, 0);
        file[100..114].copy_from_slice(GO_BUILDINFO_MAGIC); // unaligned: ignored
        file[160..174].copy_from_slice(GO_BUILDINFO_MAGIC); // aligned, no header: ignored
        file.extend_from_slice(&block);
        file.extend_from_slice(&[0xAB; 100]);
        (file, block)
    }

    fn sniff(file: &[u8], chunk: usize) -> Option<Vec<u8>> {
        let mut sink = GoBinaries.start(0o755, MIN_GO_BINARY).unwrap();
        for piece in file.chunks(chunk) {
            if !sink.feed(piece) {
                break;
            }
        }
        sink.finish()
    }

    #[test]
    fn the_block_is_found_whatever_the_chunking() {
        let (file, block) = binary(4096);
        for chunk in [1, 3, 16, 17, 4000, 1 << 20] {
            assert_eq!(
                sniff(&file, chunk).as_deref(),
                Some(&block[..]),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn non_elf_small_or_plain_files_are_not_kept() {
        let (mut file, _) = binary(4096);
        assert_eq!(GoBinaries.start(0o644, MIN_GO_BINARY).map(|_| ()), None);
        assert_eq!(GoBinaries.start(0o755, 1000).map(|_| ()), None);
        file[0] = b'#';
        assert_eq!(sniff(&file, 512), None);
        assert_eq!(sniff(b"\x7fELF and nothing else", 4), None);
    }

    /// Offers `file` to [`LanguageFiles`] as a tar entry of `mode` and (at least) the smallest
    /// Go binary's size.
    fn sniff_all(file: &[u8], mode: u32, chunk: usize) -> Option<Vec<u8>> {
        let size = (file.len() as u64).max(MIN_GO_BINARY);
        let mut sink = LanguageFiles.start(mode, size)?;
        for piece in file.chunks(chunk) {
            if !sink.feed(piece) {
                break;
            }
        }
        sink.finish()
    }

    fn jar() -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file(
            "META-INF/maven/org.example/lib/pom.properties",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(b"groupId=org.example\nartifactId=lib\nversion=1.2.3\n")
            .unwrap();
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn java_archives_keep_only_their_metadata_whatever_the_chunking() {
        let jar = jar();
        for chunk in [1, 3, 100, 1 << 20] {
            let kept = sniff_all(&jar, 0o644, chunk).unwrap();
            assert!(kept.starts_with(JAVA_METADATA_MAGIC), "chunk {chunk}");
            let packages = parse_archive_metadata("opt/lib.jar", &kept).unwrap();
            assert_eq!(packages.len(), 1);
            assert_eq!(
                (packages[0].name.as_str(), packages[0].version.as_str()),
                ("org.example:lib", "1.2.3")
            );
        }
    }

    #[test]
    fn go_binaries_still_go_to_the_go_search_and_other_files_are_dropped() {
        let (file, block) = binary(4096);
        assert_eq!(sniff_all(&file, 0o755, 17).as_deref(), Some(&block[..]));
        assert_eq!(sniff_all(&file, 0o644, 17), None);
        assert_eq!(
            sniff_all(b"plain text, long enough to be offered", 0o644, 5),
            None
        );
        assert!(LanguageFiles.start(0o644, MIN_ZIP - 1).is_none());
    }

    #[test]
    fn an_oversized_zip_is_reported_without_being_read() {
        let mut sink = LanguageFiles.start(0o644, MAX_JAVA_ARCHIVE + 1).unwrap();
        assert!(!sink.feed(ZIP_MAGIC));
        let kept = sink.finish().unwrap();
        let err = parse_archive_metadata("opt/huge.war", &kept).unwrap_err();
        assert!(err.to_string().contains("opt/huge.war"), "{err}");
    }

    #[test]
    fn cargo_auditable_lists_are_inflated_from_elf_executables_whatever_the_chunking() {
        use std::io::Write;
        let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true},{"name":"itoa","version":"1.0.9","source":"crates.io"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(7));
        z.write_all(json).unwrap();
        let stream = z.finish().unwrap();
        let mut file = ELF_MAGIC.to_vec();
        file.resize(5000, 0x78); // many zlib-looking first bytes before the real stream
        file.extend_from_slice(b"\x78\x9c\x03\x00"); // a real but empty zlib stream
        file.extend_from_slice(&stream);
        file.extend_from_slice(&[0x78; 300]);
        for chunk in [1, 7, 4096, 1 << 20] {
            let kept = sniff_all(&file, 0o755, chunk).expect("found");
            let packages = parse_dep_info("usr/bin/app", &kept).expect("parsed");
            let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["app", "itoa"], "chunk {chunk}");
        }
        assert_eq!(sniff_all(&file, 0o644, 4096), None);
    }
}
