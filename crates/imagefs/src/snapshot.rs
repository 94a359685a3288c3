//! Unpacked snapshot directories (containerd's overlayfs snapshotter keeps one `fs` directory per
//! layer). Whiteouts there are overlay's: a 0/0 character device deletes a path, and the
//! `trusted.overlay.opaque` (or, for rootless overlay, `user.overlay.opaque`) xattr set to `y`
//! makes a directory opaque. Reading `trusted.*` xattrs needs CAP_SYS_ADMIN; without it they read
//! as absent, so a non-root scanner may see files of a lower layer that an opaque directory
//! hides.
//!
//! Only the interesting paths are visited, one `openat` per component with `O_NOFOLLOW`: a
//! symlink in a snapshot is recorded and resolved inside the image, never followed on the host.

use std::ffi::CStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::interest::Interest;
use crate::layer::{LayerFiles, Node};
use crate::limits::MAX_SNAPSHOT_DEPTH;
use crate::{Error, Limit, Limits, Result};

/// The opaque-directory xattr overlayfs sets with its default (privileged) xattr namespace.
const OPAQUE_XATTR_TRUSTED: &str = "trusted.overlay.opaque";
/// The same for overlay mounted with `userxattr` (rootless containerd).
const OPAQUE_XATTR_USER: &str = "user.overlay.opaque";
/// The value of an opaque-directory xattr.
const OPAQUE_YES: &[u8] = b"y";
/// Longest symlink target read (Linux `PATH_MAX`).
const MAX_LINK_TARGET: usize = 4096;

/// One layer of an unpacked image: its directory and the key its extracted files are cached
/// under (a diff ID or chain ID; layers with the same key must have the same content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotLayer {
    /// Cache key, e.g. the layer's diff ID.
    pub key: String,
    /// The layer's directory (an overlay `lowerdir`).
    pub dir: PathBuf,
}

/// Reads the interesting part of one unpacked layer directory.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be read, or [`Error::LimitExceeded`].
pub fn read_snapshot_layer(dir: &Path, interest: &Interest, limits: &Limits) -> Result<LayerFiles> {
    let root = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(dir.display().to_string(), e.into()))?;
    let mut walker = Walker {
        dir,
        interest,
        limits,
        files: LayerFiles::default(),
    };
    if is_opaque(&root) {
        walker.files.opaque_dirs.push(String::new());
    }
    for path in interest.paths() {
        walker.visit(&root, path, false)?;
    }
    for path in interest.dirs() {
        walker.visit(&root, path, true)?;
    }
    Ok(walker.files)
}

struct Walker<'a> {
    dir: &'a Path,
    interest: &'a Interest,
    limits: &'a Limits,
    files: LayerFiles,
}

/// What a directory entry turned out to be.
enum Found {
    Missing,
    Dir(OwnedFd),
    NotDir,
}

// === impl Walker ===

impl Walker<'_> {
    /// Visits `path` from the root, recording its ancestors on the way.
    fn visit(&mut self, root: &OwnedFd, path: &str, recurse: bool) -> Result<()> {
        let mut fd: Option<OwnedFd> = None;
        let mut current = String::new();
        let mut components = path.split('/').peekable();
        while let Some(name) = components.next() {
            let parent = fd.as_ref().map_or(root.as_fd(), AsFd::as_fd);
            if !current.is_empty() {
                current.push('/');
            }
            current.push_str(name);
            let last = components.peek().is_none();
            match self.entry(parent, name, &current, last && recurse, 0)? {
                Found::Dir(dir) if !last => fd = Some(dir),
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Records the entry `name` of directory `parent` (image path `path`).
    fn entry(
        &mut self,
        parent: std::os::fd::BorrowedFd<'_>,
        name: &str,
        path: &str,
        recurse: bool,
        depth: usize,
    ) -> Result<Found> {
        let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(Found::Missing),
            Err(e) => return Err(self.io(path, e)),
        };
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => {
                let fd = match open_nofollow(parent, name, OFlags::DIRECTORY) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => return Ok(Found::Missing),
                    Err(e) => return Err(self.io(path, e)),
                };
                if !self.files.nodes.contains_key(path) {
                    self.files.nodes.insert(path.to_owned(), Node::Dir);
                    if is_opaque(&fd) {
                        self.files.opaque_dirs.push(path.to_owned());
                    }
                }
                if recurse && depth < MAX_SNAPSHOT_DEPTH {
                    self.walk_dir(&fd, path, depth + 1)?;
                }
                Ok(Found::Dir(fd))
            }
            FileType::Symlink => {
                if self.interest.is_relevant(path.as_bytes()) {
                    let target = rustix::fs::readlinkat(parent, name, Vec::new())
                        .map_err(|e| self.io(path, e))?;
                    let target = target.to_bytes();
                    let target = &target[..target.len().min(MAX_LINK_TARGET)];
                    self.files.nodes.insert(
                        path.to_owned(),
                        Node::Symlink(String::from_utf8_lossy(target).into_owned()),
                    );
                }
                Ok(Found::NotDir)
            }
            FileType::CharacterDevice if stat.st_rdev == 0 => {
                self.files.whiteouts.push(path.to_owned());
                Ok(Found::NotDir)
            }
            FileType::RegularFile if self.interest.wants(path) => {
                self.read_file(parent, name, path, stat.st_size as u64)?;
                Ok(Found::NotDir)
            }
            _ => {
                if self.interest.is_relevant(path.as_bytes()) {
                    self.files.nodes.insert(path.to_owned(), Node::Other);
                }
                Ok(Found::NotDir)
            }
        }
    }

    fn walk_dir(&mut self, dir: &OwnedFd, path: &str, depth: usize) -> Result<()> {
        let entries = rustix::fs::Dir::read_from(dir).map_err(|e| self.io(path, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io(path, e))?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            self.files.entries += 1;
            if self.files.entries > self.limits.max_entries {
                return Err(Error::limit(Limit::Entries, self.limits.max_entries));
            }
            names.push(cstr_lossy(name));
        }
        names.sort();
        for name in names {
            let child = format!("{path}/{name}");
            self.entry(dir.as_fd(), &name, &child, true, depth)?;
        }
        Ok(())
    }

    fn read_file(
        &mut self,
        parent: std::os::fd::BorrowedFd<'_>,
        name: &str,
        path: &str,
        size: u64,
    ) -> Result<()> {
        if size > self.limits.max_file_size {
            return Err(Error::limit(Limit::FileSize, self.limits.max_file_size));
        }
        // O_NONBLOCK: if the entry was swapped for a FIFO since the stat, do not hang on it.
        let fd = open_nofollow(parent, name, OFlags::NONBLOCK).map_err(|e| self.io(path, e))?;
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        File::from(fd)
            .take(self.limits.max_file_size + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::io(format!("{}/{path}", self.dir.display()), e))?;
        self.files.entries += 1;
        self.files.keep_file(path.to_owned(), data, self.limits)
    }

    fn io(&self, path: &str, e: Errno) -> Error {
        Error::io(format!("{}/{path}", self.dir.display()), e.into())
    }
}

fn open_nofollow(
    parent: std::os::fd::BorrowedFd<'_>,
    name: &str,
    extra: OFlags,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | extra,
        Mode::empty(),
    )
}

/// Whether a directory carries overlay's opaque xattr. Unreadable (no privilege, no xattr
/// support) counts as not opaque.
fn is_opaque(fd: &OwnedFd) -> bool {
    [OPAQUE_XATTR_TRUSTED, OPAQUE_XATTR_USER].iter().any(|name| {
        let mut value = [0u8; 8];
        matches!(rustix::fs::fgetxattr(fd, *name, &mut value[..]), Ok(n) if &value[..n] == OPAQUE_YES)
    })
}

fn cstr_lossy(name: &CStr) -> String {
    String::from_utf8_lossy(name.to_bytes()).into_owned()
}
