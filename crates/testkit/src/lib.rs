//! Test-only helpers (a dev-dependency, never shipped): a private containerd started for one
//! test and torn down after it, sample images built without a registry, and CRI helpers that
//! run pod sandboxes and containers the way kubelet would; plain HTTP helpers (`http`) and
//! process helpers (`process`: a logged line awaited, a stop by SIGTERM) for processes under
//! test.
//!
//! The containerd sandbox drives the same scripts the README's demo uses
//! (`scripts/lib/ctrd-up.sh`, `ctrd-down.sh`, `build-image.sh`), so the demo and the tests
//! exercise one recipe. It needs root and the Debian packages `containerd`, `runc` and
//! `busybox-static`; `scripts/test.sh` installs them.

pub mod containerd;
pub mod http;
pub mod process;

pub use containerd::Containerd;
