//! Noticing the sentinel file appear (or go) at once, through inotify, rather than at the next
//! `--period` tick.
//!
//! The watch is on the file's directory (the file may not exist yet; `/var/run` is a tmpfs the
//! package manager writes `reboot-required` into, possibly by rename), for the events that
//! make a name appear or disappear there: create, moved in, delete, moved out. Events about
//! other names are read and dropped. inotify follows the inode, so a watch through the
//! container's hostPath mount sees files the host creates.
//!
//! The period check stays: a watch that cannot be set up (no inotify, the directory missing)
//! or that ends (the directory removed) only loses the early reaction, never the check.

use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use tokio::io::unix::AsyncFd;

/// Bytes read from inotify at a time: room for dozens of events (each is 16 bytes plus its
/// name, at most 256), so a burst of unrelated files in `/var/run` is drained in a few reads.
const EVENT_BUFFER: usize = 4096;

/// A watch for one file's appearance and disappearance.
#[derive(Debug)]
pub struct SentinelWatch {
    fd: AsyncFd<OwnedFd>,
    dir: PathBuf,
    name: OsString,
}

/// What one read of the inotify queue found.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// An event named the file (or the queue overflowed, so one may have been lost).
    Change,
    /// Only other names.
    Nothing,
    /// The directory itself went away: the watch is over.
    DirectoryGone,
}

impl SentinelWatch {
    /// Watches the directory of `path` for `path`'s name. Must be called inside a tokio
    /// runtime (with IO enabled).
    ///
    /// # Errors
    ///
    /// `path` has no file name, inotify is not available, or the directory cannot be watched
    /// (it does not exist, or no permission).
    pub fn new(path: &Path) -> std::io::Result<SentinelWatch> {
        let name = path
            .file_name()
            .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?
            .to_owned();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        inotify::add_watch(
            &fd,
            &dir,
            WatchFlags::CREATE
                | WatchFlags::MOVED_TO
                | WatchFlags::DELETE
                | WatchFlags::MOVED_FROM
                | WatchFlags::ONLYDIR,
        )?;
        // `AsyncFd::new` is deprecated because a type whose `as_raw_fd` can change, or that
        // closes its descriptor early, would leave a stale registration; the replacement is
        // `unsafe`, which this workspace denies. An `OwnedFd` returns the same descriptor for
        // its whole life and closes it only when dropped, after `AsyncFd` deregisters it, so
        // the safe constructor is sound here.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(SentinelWatch { fd, dir, name })
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Completes when the file has been created, moved in, deleted or moved out since the
    /// last call (events are queued by the kernel meanwhile).
    ///
    /// # Errors
    ///
    /// Reading the queue failed, or the directory was removed: the watch is over.
    pub async fn changed(&self) -> std::io::Result<()> {
        let mut buf = [MaybeUninit::<u8>::uninit(); EVENT_BUFFER];
        loop {
            let mut guard = self.fd.readable().await?;
            let found = self.drain(guard.get_inner(), &mut buf)?;
            guard.clear_ready();
            match found {
                Found::Change => return Ok(()),
                Found::Nothing => {}
                Found::DirectoryGone => {
                    return Err(std::io::Error::other(format!(
                        "{} was removed",
                        self.dir.display()
                    )));
                }
            }
        }
    }

    /// Reads every queued event.
    fn drain(&self, fd: &OwnedFd, buf: &mut [MaybeUninit<u8>]) -> std::io::Result<Found> {
        let mut found = Found::Nothing;
        let mut reader = inotify::Reader::new(fd, buf);
        loop {
            match reader.next() {
                Ok(event) => {
                    let flags = event.events();
                    if flags.intersects(ReadFlags::IGNORED | ReadFlags::DELETE_SELF) {
                        return Ok(Found::DirectoryGone);
                    }
                    let ours = event
                        .file_name()
                        .is_some_and(|n| n.to_bytes() == self.name.as_bytes());
                    if ours || flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                        found = Found::Change;
                    }
                }
                Err(Errno::AGAIN) => return Ok(found),
                Err(Errno::INTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Bounds a test that fails; a passing one finishes as soon as the event is read.
    const FAILURE_BOUND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn creating_the_file_fires_and_other_names_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reboot-required");
        let watch = SentinelWatch::new(&path).unwrap();

        // inotify queues an event within the syscall that caused it, so a read right after
        // sees exactly what happened so far.
        let mut buf = [MaybeUninit::<u8>::uninit(); EVENT_BUFFER];
        std::fs::write(dir.path().join("unrelated"), "").unwrap();
        assert_eq!(
            watch.drain(watch.fd.get_ref(), &mut buf).unwrap(),
            Found::Nothing,
            "another file's creation is not a change"
        );
        std::fs::write(dir.path().join("reboot-required.dpkg-new"), "").unwrap();
        std::fs::write(&path, "").unwrap();
        assert_eq!(
            watch.drain(watch.fd.get_ref(), &mut buf).unwrap(),
            Found::Change
        );

        std::fs::remove_file(&path).unwrap();
        tokio::time::timeout(FAILURE_BOUND, watch.changed())
            .await
            .expect("the watch fires when the sentinel goes")
            .unwrap();

        std::fs::write(&path, "").unwrap();
        tokio::time::timeout(FAILURE_BOUND, watch.changed())
            .await
            .expect("and when it appears")
            .unwrap();
    }

    #[tokio::test]
    async fn a_file_renamed_into_place_fires() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reboot-required");
        let watch = SentinelWatch::new(&path).unwrap();
        let staged = dir.path().join(".reboot-required.tmp");
        std::fs::write(&staged, "*** System restart required ***\n").unwrap();
        std::fs::rename(&staged, &path).unwrap();
        tokio::time::timeout(FAILURE_BOUND, watch.changed())
            .await
            .expect("a rename into place is an appearance")
            .unwrap();
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_error_and_a_removed_one_ends_the_watch() {
        let error = SentinelWatch::new(Path::new("/nonexistent/dir/reboot-required")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);

        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("run");
        std::fs::create_dir(&sub).unwrap();
        let watch = SentinelWatch::new(&sub.join("reboot-required")).unwrap();
        std::fs::remove_dir(&sub).unwrap();
        let outcome = tokio::time::timeout(FAILURE_BOUND, watch.changed())
            .await
            .expect("the removal is reported");
        assert!(outcome.unwrap_err().to_string().contains("was removed"));
    }
}
