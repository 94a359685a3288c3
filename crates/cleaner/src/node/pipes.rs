//! Eraser's in-pod pipe contract (`reference/eraser.md` §1.6), byte for byte.
//!
//! Named pipes (FIFOs, mode 0644) in the shared emptyDir `/run/eraser.sh/shared-data`:
//! `collectScan` (collector → scanner) and `scanErase` (scanner or collector → remover) carry
//! the JSON image list; `eraseCompleteCollect` and `eraseCompleteScan` carry the literal
//! `complete` from the remover back. The writer of a data pipe creates it; a reader polls for it
//! once a second. Third-party scanner images rely on every one of these details.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};

use crate::{Error, Result};

/// How often a reader looks for a pipe that does not exist yet (Eraser polls every second).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Permissions Eraser creates its FIFOs with.
const FIFO_MODE: u32 = 0o644;
/// How often, and how many times, the remover retries opening a completion pipe whose reader
/// has not opened it yet: 100 × 100 ms = 10 s, far more than a live peer needs to reach its
/// read (milliseconds), short enough that a dead peer delays the pod's end only briefly.
const COMPLETE_RETRY_INTERVAL: Duration = Duration::from_millis(100);
const COMPLETE_RETRIES: u32 = 100;
/// Largest payload accepted on a data pipe: 64 MiB holds far more than the largest image list
/// a node can have, and bounds memory if a peer misbehaves.
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// The pipe directory and the paths in it.
#[derive(Debug, Clone)]
pub struct PipeDir {
    root: PathBuf,
}

// === impl PipeDir ===

impl PipeDir {
    /// Pipes under `root` (in a pod: `/run/eraser.sh/shared-data`).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The path of pipe `name`.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether the directory exists (in a worker pod it is the shared emptyDir, so it always
    /// does; a stage run outside a pod has none and no peers).
    #[must_use]
    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }
}

/// Creates a FIFO unless one already exists.
///
/// # Errors
/// [`Error::Io`] when it cannot be created.
pub fn make_fifo(path: &Path) -> Result<()> {
    match rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(FIFO_MODE)) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(errno) => Err(Error::io(path, errno.into())),
    }
}

/// Waits (polling) until `path` exists.
pub async fn wait_for(path: &Path) {
    while !path.exists() {
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Reads a pipe to its end (blocks until a writer opens and closes it).
///
/// # Errors
/// [`Error::Io`] when it cannot be read or exceeds [`MAX_PAYLOAD_BYTES`].
pub async fn read_all(path: &Path) -> Result<Vec<u8>> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&owned).map_err(|e| Error::io(&owned, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_PAYLOAD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&owned, e))?;
        if bytes.len() as u64 > MAX_PAYLOAD_BYTES {
            return Err(Error::io(
                &owned,
                std::io::Error::other(format!("payload larger than {MAX_PAYLOAD_BYTES} bytes")),
            ));
        }
        Ok(bytes)
    })
    .await
    .map_err(|e| Error::io(path, std::io::Error::other(e)))?
}

/// Creates the FIFO if needed and writes `bytes` into it (blocks until a reader opens it).
///
/// # Errors
/// [`Error::Io`] when it cannot be created, opened or written.
pub async fn write_all(path: &Path, bytes: Vec<u8>) -> Result<()> {
    make_fifo(path)?;
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&owned)
            .map_err(|e| Error::io(&owned, e))?;
        file.write_all(&bytes).map_err(|e| Error::io(&owned, e))
    })
    .await
    .map_err(|e| Error::io(path, std::io::Error::other(e)))?
}

/// Writes `complete` into a completion pipe if it exists. Opens without blocking and retries
/// while its reader has not opened it yet, so a dead peer cannot hang the remover forever.
/// Returns whether the pipe existed.
///
/// # Errors
/// [`Error::Io`] when the pipe exists but nobody reads it within the retry budget.
pub async fn signal_complete(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    send(path, drydock_api::names::pipes::COMPLETE)
        .await
        .map(|()| true)
}

/// Waits (bounded by the same retry budget) for a peer to create its completion pipe.
/// Returns whether it appeared.
pub async fn await_creation(path: &Path) -> bool {
    for _ in 0..COMPLETE_RETRIES {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(COMPLETE_RETRY_INTERVAL).await;
    }
    path.exists()
}

/// Writes `message` into an existing FIFO without blocking on a missing reader forever.
///
/// # Errors
/// [`Error::Io`] when nobody opens the pipe for reading within the retry budget.
pub async fn send(path: &Path, message: &[u8]) -> Result<()> {
    for _ in 0..COMPLETE_RETRIES {
        match rustix::fs::open(
            path,
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => {
                let mut file = std::fs::File::from(fd);
                file.write_all(message).map_err(|e| Error::io(path, e))?;
                return Ok(());
            }
            // ENXIO: a FIFO with no reader yet.
            Err(rustix::io::Errno::NXIO) => tokio::time::sleep(COMPLETE_RETRY_INTERVAL).await,
            Err(errno) => return Err(Error::io(path, errno.into())),
        }
    }
    Err(Error::io(
        path,
        std::io::Error::other("nobody reads this pipe"),
    ))
}

/// Creates a completion pipe, waits for the remover's message and checks it is `complete`.
///
/// # Errors
/// [`Error::Protocol`] for any other message, [`Error::Io`] when the pipe fails.
pub async fn await_complete(path: &Path) -> Result<()> {
    make_fifo(path)?;
    let bytes = read_all(path).await?;
    if bytes == drydock_api::names::pipes::COMPLETE {
        Ok(())
    } else {
        Err(Error::Protocol {
            pipe: path.display().to_string(),
            got: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn data_and_completion_round_trip_through_real_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("scanErase");
        let writer = tokio::spawn({
            let pipe = pipe.clone();
            async move { write_all(&pipe, b"[]".to_vec()).await }
        });
        wait_for(&pipe).await;
        assert_eq!(read_all(&pipe).await.unwrap(), b"[]");
        writer.await.unwrap().unwrap();

        let done = dir.path().join("eraseCompleteCollect");
        let waiter = tokio::spawn({
            let done = done.clone();
            async move { await_complete(&done).await }
        });
        wait_for(&done).await;
        assert!(signal_complete(&done).await.unwrap());
        waiter.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn anything_but_complete_is_a_protocol_error() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("eraseCompleteCollect");
        let waiter = tokio::spawn({
            let done = done.clone();
            async move { await_complete(&done).await }
        });
        wait_for(&done).await;
        write_all(&done, b"nope".to_vec()).await.unwrap();
        let err = waiter.await.unwrap().unwrap_err().to_string();
        assert!(err.contains("expected \"complete\", got \"nope\""), "{err}");
    }

    #[tokio::test]
    async fn signalling_a_missing_pipe_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !signal_complete(&dir.path().join("eraseCompleteScan"))
                .await
                .unwrap()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_completion_pipe_nobody_reads_fails_after_the_retry_budget() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("eraseCompleteScan");
        make_fifo(&done).unwrap();
        let err = signal_complete(&done).await.unwrap_err().to_string();
        assert!(err.contains("nobody reads this pipe"), "{err}");
    }
}
