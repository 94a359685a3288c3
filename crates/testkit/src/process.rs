//! A process under test: waiting for the line it logs, and a stop by SIGTERM.

use std::io::BufRead;
use std::process::{Child, Command, ExitStatus};

/// The first line of `lines` that contains `needle`, read as the process writes them (no
/// sleeping); `None` when the stream ends first. The lines before it are consumed.
///
/// # Panics
/// When the stream cannot be read: the test fails there.
pub fn first_line_containing(lines: &mut impl BufRead, needle: &str) -> Option<String> {
    lines
        .lines()
        .map(|line| line.unwrap_or_else(|e| panic!("reading the process's output: {e}")))
        .find(|line| line.contains(needle))
}

/// Sends SIGTERM to `child` (with `kill`) and waits for it to exit: its exit status.
///
/// # Panics
/// When `kill` fails or the child cannot be waited for: the test fails there.
pub fn stop_with_sigterm(child: &mut Child) -> ExitStatus {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap_or_else(|e| panic!("kill -TERM {pid}: {e}"));
    assert!(sent.success(), "kill -TERM {pid}: {sent}");
    child
        .wait()
        .unwrap_or_else(|e| panic!("waiting for {pid}: {e}"))
}
