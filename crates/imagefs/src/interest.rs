//! Which paths a caller wants kept, and path normalisation.

/// The paths a caller wants from an image: exact file paths plus directories whose files (at any
/// depth) are kept. Paths are image-relative (`etc/os-release`); a leading `/` or `./` is
/// accepted and dropped.
///
/// Symlinks are resolved only between kept paths: to get `etc/os-release` when it links to
/// `../usr/lib/os-release` (Debian), ask for both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interest {
    /// Exact paths, sorted and deduplicated.
    paths: Vec<String>,
    /// Directory paths without trailing `/`, sorted and deduplicated.
    dirs: Vec<String>,
}

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
}
