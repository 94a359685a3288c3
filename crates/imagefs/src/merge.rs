//! Merging layers, lowest first, into one view, as an overlay mount (and Trivy's applier) does:
//! per layer, opaque directories empty their lower content, whiteouts delete paths and their
//! subtrees, then the layer's entries replace what lies below. Symlinks resolve inside the image
//! as if it were the root (absolute targets and `..` stop at the image root).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::interest::{Interest, is_under};
use crate::layer::{LayerFiles, Node};
use crate::limits::MAX_SYMLINK_HOPS;

/// The merged view of an image: every wanted file present in the top-most layers, by
/// image-relative path. A wanted path that is a symlink (or under a symlinked directory) to
/// another kept file appears with that file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFiles {
    files: BTreeMap<String, (Arc<[u8]>, usize)>,
}

/// Overlay state while merging: each node with the index of the layer it came from.
#[derive(Default)]
struct Tree {
    nodes: BTreeMap<String, (Node, usize)>,
}

// === impl ImageFiles ===

impl ImageFiles {
    /// The content of the file at `path` (normalised, image-relative).
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|(data, _)| &data[..])
    }

    /// The index (0 = lowest) of the layer the file at `path` came from.
    pub fn layer_of(&self, path: &str) -> Option<usize> {
        self.files.get(path).map(|&(_, layer)| layer)
    }

    /// Whether a file is at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// All files, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(p, (d, _))| (p.as_str(), &d[..]))
    }

    /// The files strictly below directory `dir`, sorted by path.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        let dir = dir.trim_matches('/');
        self.iter()
            .filter(move |(p, _)| is_under(p.as_bytes(), dir.as_bytes()))
    }

    /// The paths of all files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file was kept.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Merges layers (lowest first) into the view `interest` asks for.
pub fn merge_layers<'a>(
    layers: impl IntoIterator<Item = &'a LayerFiles>,
    interest: &Interest,
) -> ImageFiles {
    let mut tree = Tree::default();
    for (index, layer) in layers.into_iter().enumerate() {
        tree.apply(layer, index);
    }
    tree.into_files(interest)
}

// === impl Tree ===

impl Tree {
    fn apply(&mut self, layer: &LayerFiles, index: usize) {
        for dir in &layer.opaque_dirs {
            self.remove_below(dir);
        }
        for path in &layer.whiteouts {
            self.nodes.remove(path);
            self.remove_below(path);
        }
        let mut links = Vec::new();
        for (path, node) in &layer.nodes {
            self.remove_non_dir_ancestors(path);
            if *node != Node::Dir {
                self.remove_below(path);
            }
            match node {
                Node::HardLink(target) => links.push((path, target)),
                Node::Dir if matches!(self.nodes.get(path), Some((Node::Dir, _))) => {}
                _ => {
                    self.nodes.insert(path.clone(), (node.clone(), index));
                }
            }
        }
        // Hard links point at a file of a lower layer (same-layer targets were resolved while
        // reading); one whose target was not kept is dropped.
        for (path, target) in links {
            let file = self.resolve(target).and_then(|t| match self.nodes.get(&t) {
                Some((Node::File(data), _)) => Some(Arc::clone(data)),
                _ => None,
            });
            match file {
                Some(data) => {
                    self.nodes.insert(path.clone(), (Node::File(data), index));
                }
                None => {
                    tracing::debug!(path, target, "hard link to a file that was not kept");
                    self.nodes.remove(path);
                }
            }
        }
    }

    fn remove_below(&mut self, dir: &str) {
        if dir.is_empty() {
            self.nodes.clear();
        } else {
            self.nodes
                .retain(|p, _| !is_under(p.as_bytes(), dir.as_bytes()));
        }
    }

    /// An entry below `path` implies real directories above it, replacing lower non-directories.
    fn remove_non_dir_ancestors(&mut self, path: &str) {
        for (i, _) in path.match_indices('/') {
            let ancestor = &path[..i];
            if matches!(self.nodes.get(ancestor), Some((node, _)) if *node != Node::Dir) {
                self.nodes.remove(ancestor);
            }
        }
    }

    /// Resolves every symlink along `path` inside the image; `None` past [`MAX_SYMLINK_HOPS`].
    fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = path.rsplit('/').map(str::to_owned).collect();
        let mut out = String::with_capacity(path.len());
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    out.truncate(out.rfind('/').unwrap_or(0));
                    continue;
                }
                c => {
                    let before = out.len();
                    if !out.is_empty() {
                        out.push('/');
                    }
                    out.push_str(c);
                    if let Some((Node::Symlink(target), _)) = self.nodes.get(&out) {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return None;
                        }
                        out.truncate(before);
                        if target.starts_with('/') {
                            out.clear();
                        }
                        pending.extend(target.rsplit('/').map(str::to_owned));
                    }
                }
            }
        }
        Some(out)
    }

    fn file_at(&self, path: &str) -> Option<(Arc<[u8]>, usize)> {
        let resolved = self.resolve(path)?;
        match self.nodes.get(&resolved) {
            Some((Node::File(data), layer)) => Some((Arc::clone(data), *layer)),
            _ => None,
        }
    }

    fn into_files(self, interest: &Interest) -> ImageFiles {
        let mut files = BTreeMap::new();
        for (path, (node, layer)) in &self.nodes {
            // Sniffed files are kept under paths no path or pattern names.
            if let Node::File(data) = node
                && (interest.wants(path) || interest.is_open_ended())
            {
                files.insert(path.clone(), (Arc::clone(data), *layer));
            }
        }
        // Wanted paths reached through symlinks.
        for path in interest.paths() {
            if !files.contains_key(path)
                && let Some(found) = self.file_at(path)
            {
                files.insert(path.to_owned(), found);
            }
        }
        for dir in interest.dirs() {
            // Symlinks inside the directory.
            for (path, (node, _)) in &self.nodes {
                if matches!(node, Node::Symlink(_))
                    && is_under(path.as_bytes(), dir.as_bytes())
                    && let Some(found) = self.file_at(path)
                {
                    files.entry(path.clone()).or_insert(found);
                }
            }
            // The directory itself reached through a symlink (`lib` -> `usr/lib`).
            let Some(resolved) = self.resolve(dir) else {
                continue;
            };
            if resolved == dir {
                continue;
            }
            for (path, (node, layer)) in &self.nodes {
                if let Node::File(data) = node
                    && is_under(path.as_bytes(), resolved.as_bytes())
                {
                    let alias = format!("{dir}{}", &path[resolved.len()..]);
                    files
                        .entry(alias)
                        .or_insert_with(|| (Arc::clone(data), *layer));
                }
            }
        }
        ImageFiles { files }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(nodes: &[(&str, Node)], whiteouts: &[&str], opaque: &[&str]) -> LayerFiles {
        LayerFiles {
            nodes: nodes
                .iter()
                .map(|(p, n)| ((*p).to_owned(), n.clone()))
                .collect(),
            whiteouts: whiteouts.iter().map(|s| (*s).to_owned()).collect(),
            opaque_dirs: opaque.iter().map(|s| (*s).to_owned()).collect(),
            ..LayerFiles::default()
        }
    }

    fn file(s: &str) -> Node {
        Node::File(Arc::from(s.as_bytes()))
    }

    #[test]
    fn symlink_loops_resolve_to_nothing_instead_of_spinning() {
        let interest = Interest::new().with_path("etc/os-release");
        let l = layer(
            &[
                ("etc/os-release", Node::Symlink("a".into())),
                ("etc/a", Node::Symlink("os-release".into())),
            ],
            &[],
            &[],
        );
        assert!(merge_layers([&l], &interest).is_empty());
    }

    #[test]
    fn absolute_and_climbing_symlinks_stay_inside_the_image() {
        let interest = Interest::new()
            .with_path("etc/os-release")
            .with_path("usr/lib/os-release")
            .with_path("etc/issue");
        let l = layer(
            &[
                ("usr/lib/os-release", file("ID=debian\n")),
                (
                    "etc/os-release",
                    Node::Symlink("../../../../usr/lib/os-release".into()),
                ),
                ("etc/issue", Node::Symlink("/usr/lib/os-release".into())),
            ],
            &[],
            &[],
        );
        let merged = merge_layers([&l], &interest);
        assert_eq!(merged.get("etc/os-release"), Some(&b"ID=debian\n"[..]));
        assert_eq!(merged.get("etc/issue"), Some(&b"ID=debian\n"[..]));
    }

    #[test]
    fn a_later_symlink_replaces_a_lower_directory_and_its_files() {
        let interest = Interest::new()
            .with_path("lib/apk/db/installed")
            .with_path("usr/lib/apk/db/installed");
        let lower = layer(&[("lib/apk/db/installed", file("old"))], &[], &[]);
        let upper = layer(
            &[
                ("lib", Node::Symlink("usr/lib".into())),
                ("usr/lib/apk/db/installed", file("new")),
            ],
            &[],
            &[],
        );
        let merged = merge_layers([&lower, &upper], &interest);
        assert_eq!(merged.get("lib/apk/db/installed"), Some(&b"new"[..]));
        assert_eq!(merged.layer_of("lib/apk/db/installed"), Some(1));
    }

    #[test]
    fn opaque_root_hides_every_lower_file() {
        let interest = Interest::new().with_path("etc/os-release");
        let lower = layer(&[("etc/os-release", file("x"))], &[], &[]);
        let upper = layer(&[], &[], &[""]);
        assert!(merge_layers([&lower, &upper], &interest).is_empty());
    }
}
