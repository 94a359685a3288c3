//! Which paths a caller wants kept (exact paths, directories, name patterns and a content
//! sniffer), and path normalisation.

use std::fmt;
use std::sync::Arc;

/// The paths a caller wants from an image: exact file paths plus directories whose files (at any
/// depth) are kept. Paths are image-relative (`etc/os-release`); a leading `/` or `./` is
/// accepted and dropped.
///
/// Symlinks are resolved only between kept paths: to get `etc/os-release` when it links to
/// `../usr/lib/os-release` (Debian), ask for both.
///
/// [`Pattern`]s want files wherever they lie (language package metadata), and a [`Sniffer`] is
/// offered every other regular file to keep a part of its content (a Go binary's build
/// information). Both are matched in blobs only: an unpacked snapshot is read by paths and
/// directories.
#[derive(Debug, Clone, Default)]
pub struct Interest {
    /// Exact paths, sorted and deduplicated.
    paths: Vec<String>,
    /// Directory paths without trailing `/`, sorted and deduplicated.
    dirs: Vec<String>,
    /// Name patterns, sorted and deduplicated.
    patterns: Vec<Pattern>,
    /// The content sniffer, if any.
    sniffer: Option<Arc<dyn Sniffer>>,
}

/// A file wanted wherever it lies in the image, by its name and its directories' names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pattern {
    /// A file named `name` directly inside a directory whose name ends with `dir_suffix`
    /// (`*.dist-info/METADATA`).
    InDirEndingWith {
        /// The end of the parent directory's name.
        dir_suffix: String,
        /// The file's name.
        name: String,
    },
    /// A file named `name` with a directory named `dir` among its ancestors
    /// (`node_modules/**/package.json`).
    Below {
        /// The ancestor directory's name.
        dir: String,
        /// The file's name.
        name: String,
    },
    /// A file whose name ends with `suffix`, with a directory named `dir` among its ancestors
    /// (`specifications/**/*.gemspec`).
    BelowEndingWith {
        /// The ancestor directory's name.
        dir: String,
        /// The end of the file's name.
        suffix: String,
    },
    /// A file whose name ends with `suffix` (`*.egg-info`).
    NameEndingWith {
        /// The end of the file's name.
        suffix: String,
    },
}

/// Chooses which regular files no path or pattern wants may still hold something worth
/// keeping, and what of them to keep. The interpretation belongs to the caller; this crate only
/// streams the bytes.
pub trait Sniffer: Send + Sync + fmt::Debug {
    /// Offered a file's tar mode and size; returns a sink that will be fed its content, or
    /// `None` to skip it.
    fn start(&self, mode: u32, size: u64) -> Option<Box<dyn SniffSink>>;
}

/// Receives one file's content chunk by chunk.
pub trait SniffSink {
    /// Takes the next chunk; returns `false` once it needs no more of this file.
    fn feed(&mut self, chunk: &[u8]) -> bool;
    /// The bytes to keep under the file's path, if the file held what the sniffer looks for.
    fn finish(self: Box<Self>) -> Option<Vec<u8>>;
}

// === impl Pattern ===

impl Pattern {
    /// Whether the normalised `path` matches.
    fn matches(&self, path: &[u8]) -> bool {
        let (parent, name) = crate::layer::split_parent(path);
        match self {
            Pattern::InDirEndingWith {
                dir_suffix,
                name: want,
            } => {
                name == want.as_bytes()
                    && crate::layer::split_parent(parent)
                        .1
                        .ends_with(dir_suffix.as_bytes())
            }
            Pattern::Below { dir, name: want } => {
                name == want.as_bytes() && parent.split(|&b| b == b'/').any(|c| c == dir.as_bytes())
            }
            Pattern::BelowEndingWith { dir, suffix } => {
                name.ends_with(suffix.as_bytes())
                    && parent.split(|&b| b == b'/').any(|c| c == dir.as_bytes())
            }
            Pattern::NameEndingWith { suffix } => name.ends_with(suffix.as_bytes()),
        }
    }
}

impl PartialEq for Interest {
    fn eq(&self, other: &Self) -> bool {
        self.paths == other.paths
            && self.dirs == other.dirs
            && self.patterns == other.patterns
            && match (&self.sniffer, &other.sniffer) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for Interest {}

// === impl Interest ===

impl Interest {
    /// An empty interest: keeps nothing.
    pub fn new() -> Self {
        Interest::default()
    }

    /// Adds an exact file path.
    #[must_use]
    pub fn with_path(mut self, path: &str) -> Self {
        if let Some(p) = normalise_str(path) {
            insert_sorted(&mut self.paths, p);
        }
        self
    }

    /// Adds a directory whose files, at any depth, are kept.
    #[must_use]
    pub fn with_dir(mut self, dir: &str) -> Self {
        if let Some(d) = normalise_str(dir) {
            insert_sorted(&mut self.dirs, d);
        }
        self
    }

    /// Adds a name pattern.
    #[must_use]
    pub fn with_pattern(mut self, pattern: Pattern) -> Self {
        if let Err(at) = self.patterns.binary_search(&pattern) {
            self.patterns.insert(at, pattern);
        }
        self
    }

    /// Sets the content sniffer.
    #[must_use]
    pub fn with_sniffer(mut self, sniffer: Arc<dyn Sniffer>) -> Self {
        self.sniffer = Some(sniffer);
        self
    }

    /// A sink for a regular file no path or pattern wants, if the sniffer asks for it.
    pub(crate) fn sniff(&self, mode: u32, size: u64) -> Option<Box<dyn SniffSink>> {
        self.sniffer.as_ref()?.start(mode, size)
    }

    /// Whether files are wanted wherever they lie (patterns or a sniffer), so that every
    /// whiteout can matter.
    pub(crate) fn is_open_ended(&self) -> bool {
        !self.patterns.is_empty() || self.sniffer.is_some()
    }

    /// The exact paths.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(String::as_str)
    }

    /// The directories.
    pub fn dirs(&self) -> impl Iterator<Item = &str> {
        self.dirs.iter().map(String::as_str)
    }

    /// Whether a file at `path` (normalised) is kept.
    pub fn wants(&self, path: &str) -> bool {
        self.wants_bytes(path.as_bytes())
    }

    pub(crate) fn wants_bytes(&self, path: &[u8]) -> bool {
        self.paths
            .binary_search_by(|p| p.as_bytes().cmp(path))
            .is_ok()
            || self.dirs.iter().any(|d| is_under(path, d.as_bytes()))
            || self.patterns.iter().any(|p| p.matches(path))
    }

    /// Whether an entry at `path` can change what is kept: a wanted path, a wanted directory or
    /// an ancestor of one (a symlink or whiteout there redirects or hides kept files).
    pub(crate) fn is_relevant(&self, path: &[u8]) -> bool {
        self.wants_bytes(path)
            || self.paths.iter().any(|p| is_under(p.as_bytes(), path))
            || self
                .dirs
                .iter()
                .any(|d| d.as_bytes() == path || is_under(d.as_bytes(), path))
    }
}

fn insert_sorted(list: &mut Vec<String>, item: String) {
    if let Err(at) = list.binary_search(&item) {
        list.insert(at, item);
    }
}

/// Whether `path` is strictly below directory `dir` (both normalised).
pub(crate) fn is_under(path: &[u8], dir: &[u8]) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// The outcome of normalising a tar path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Normalised {
    /// The path, written into the caller's buffer (empty for the root itself).
    Ok,
    /// A `..` component climbs above the root.
    Escapes,
}

/// Normalises a tar path into `out`: drops leading `/`, `./`, empty and `.` components and
/// resolves `..` lexically. A `..` above the root is reported, never clamped, so a hostile entry
/// cannot land on a real path.
pub(crate) fn normalise_into(raw: &[u8], out: &mut Vec<u8>) -> Normalised {
    out.clear();
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                let Some(cut) = out.iter().rposition(|&b| b == b'/') else {
                    if out.is_empty() {
                        return Normalised::Escapes;
                    }
                    out.clear();
                    continue;
                };
                out.truncate(cut);
            }
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Normalised::Ok
}

/// Normalises a caller-supplied path; `None` for the root or an escaping path.
fn normalise_str(path: &str) -> Option<String> {
    let mut out = Vec::with_capacity(path.len());
    match normalise_into(path.as_bytes(), &mut out) {
        Normalised::Ok if !out.is_empty() => String::from_utf8(out).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Option<String> {
        let mut out = Vec::new();
        match normalise_into(raw.as_bytes(), &mut out) {
            Normalised::Ok => Some(String::from_utf8(out).unwrap()),
            Normalised::Escapes => None,
        }
    }

    #[test]
    fn tar_paths_lose_leading_slash_dot_and_inner_dotdot() {
        assert_eq!(norm("./etc/os-release").as_deref(), Some("etc/os-release"));
        assert_eq!(norm("/etc//os-release").as_deref(), Some("etc/os-release"));
        assert_eq!(norm("usr/x/../lib/./a").as_deref(), Some("usr/lib/a"));
        assert_eq!(norm("./").as_deref(), Some(""));
    }

    #[test]
    fn tar_paths_climbing_above_the_root_are_reported_not_clamped() {
        assert_eq!(norm("../../etc/passwd"), None);
        assert_eq!(norm("etc/../../etc/passwd"), None);
        assert_eq!(norm("/../etc"), None);
    }

    #[test]
    fn interest_wants_exact_paths_and_files_below_dirs() {
        let i = Interest::new()
            .with_path("/etc/os-release")
            .with_dir("var/lib/dpkg/status.d/");
        assert!(i.wants("etc/os-release"));
        assert!(i.wants("var/lib/dpkg/status.d/tzdata"));
        assert!(!i.wants("var/lib/dpkg/status.d"));
        assert!(!i.wants("etc/os-release2"));
        assert!(i.is_relevant(b"etc"));
        assert!(i.is_relevant(b"var/lib/dpkg/status.d"));
        assert!(i.is_relevant(b"var/lib"));
        assert!(!i.is_relevant(b"usr"));
    }

    #[test]
    fn patterns_want_files_wherever_they_lie() {
        let i = Interest::new()
            .with_pattern(Pattern::InDirEndingWith {
                dir_suffix: ".dist-info".into(),
                name: "METADATA".into(),
            })
            .with_pattern(Pattern::Below {
                dir: "node_modules".into(),
                name: "package.json".into(),
            })
            .with_pattern(Pattern::NameEndingWith {
                suffix: ".egg-info".into(),
            });
        assert!(i.wants("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"));
        assert!(!i.wants("six-1.16.0.dist-info/RECORD"));
        assert!(!i.wants("METADATA"));
        assert!(i.wants("app/node_modules/a/node_modules/b/package.json"));
        assert!(!i.wants("app/package.json"));
        assert!(!i.wants("node_modules"));
        assert!(i.wants("usr/lib/python3/dist-packages/foo-1.0.egg-info"));
        assert!(i.is_open_ended());
        assert!(!Interest::new().with_path("etc/os-release").is_open_ended());
    }
}
