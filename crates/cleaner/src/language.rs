//! Language packages in an image (`vulnerabilities.types: [library]`): which files the layer
//! walk keeps for them, and how they become a [`LanguagePackage`] list.
//!
//! Python, npm and RubyGems metadata are found by name patterns wherever they lie. Go binaries
//! and Java archives are found by content: every other regular file is offered to
//! [`LanguageFiles`], which looks at its first bytes. An ELF executable goes to the Go search,
//! which keeps only the build information block (a few KiB at a 16-byte-aligned offset, found
//! by its magic), never the binary. A zip archive is read whole (up to
//! [`MAX_JAVA_ARCHIVE`]) and only its Java metadata is kept (`pom.properties`, manifests, of
//! nested archives too). The parsing itself is `drydock_vuln::inventory::language` and
//! `drydock_vuln::inventory::java`.

use std::sync::Arc;

use drydock_imagefs::{ImageFiles, Interest, Pattern, SniffSink, Sniffer};
use drydock_vuln::inventory::java::{
    JAVA_METADATA_MAGIC, MAX_JAVA_ARCHIVE, ZIP_MAGIC, archive_metadata, oversized_archive_metadata,
    parse_archive_metadata,
};
use drydock_vuln::inventory::language::{
    GO_BUILDINFO_MAGIC, GO_BUILDINFO_MAX, GO_CANDIDATE_BYTES, LanguagePackage, go_buildinfo_len,
    is_go_buildinfo_start, parse_gemspec, parse_go_buildinfo, parse_package_json,
    parse_python_metadata,
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

/// The smallest zip archive: an empty one is its 22-byte end-of-central-directory record.
const MIN_ZIP: u64 = 22;

/// The patterns of Python, npm and RubyGems metadata and the Go binary and Java archive
/// sniffer, added to `interest`.
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
        } else if bytes.starts_with(JAVA_METADATA_MAGIC) {
            parse_archive_metadata(path, bytes)
        } else if name == "package.json" {
            parse_package_json(path, bytes).map(|p| p.into_iter().collect())
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
        (go || size >= MIN_ZIP).then(|| {
            Box::new(LanguageSink::Undecided {
                head: Vec::new(),
                go,
                size,
            }) as Box<dyn SniffSink>
        })
    }
}

/// Where the search in one file stands.
#[derive(Debug)]
enum LanguageSink {
    /// Reading the first bytes; `go` tells whether the file may be a Go program.
    Undecided { head: Vec<u8>, go: bool, size: u64 },
    /// An ELF executable: the Go build information search.
    Go(GoSink),
    /// A zip archive, read whole.
    Java(Vec<u8>),
    /// Finished, with what to keep.
    Done(Option<Vec<u8>>),
}

impl SniffSink for LanguageSink {
    fn feed(&mut self, chunk: &[u8]) -> bool {
        match self {
            LanguageSink::Undecided { head, go, size } => {
                head.extend_from_slice(chunk);
                if head.len() < ZIP_MAGIC.len().max(ELF_MAGIC.len()) {
                    return true;
                }
                let head = std::mem::take(head);
                if *go && head.starts_with(ELF_MAGIC) {
                    let mut sink = GoSink::Head(Vec::new());
                    let more = sink.feed(&head);
                    *self = LanguageSink::Go(sink);
                    more
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
            LanguageSink::Go(sink) => sink.feed(chunk),
            LanguageSink::Java(archive) => {
                archive.extend_from_slice(chunk);
                true
            }
            LanguageSink::Done(_) => false,
        }
    }

    fn finish(self: Box<Self>) -> Option<Vec<u8>> {
        match *self {
            LanguageSink::Go(sink) => Box::new(sink).finish(),
            LanguageSink::Java(archive) => archive_metadata(&archive),
            LanguageSink::Done(kept) => kept,
            LanguageSink::Undecided { .. } => None,
        }
    }
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
}
