//! The `ImageJob` custom resource (`imagejobs.eraser.sh`): one cleaning run across the
//! cluster. Cluster-scoped, no spec (the pod template lives in a PodTemplate of the same name),
//! status with Eraser's exact field names, served as `v1` and deprecated `v1alpha1`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Phase of an ImageJob, spelled as Eraser spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum JobPhase {
    /// Just created; no pod started yet (Eraser writes the empty string).
    #[default]
    #[serde(rename = "")]
    New,
    /// Worker pods are running.
    Running,
    /// Finished with a success ratio at or above `successRatio`.
    Completed,
    /// Finished below `successRatio`, or its PodTemplate vanished.
    Failed,
}

/// Observed state of an ImageJob.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageJobStatus {
    /// Number of pods that failed (or never started, or whose node vanished).
    #[serde(default)]
    pub failed: i64,
    /// Number of pods that completed successfully.
    #[serde(default)]
    pub succeeded: i64,
    /// Number of nodes considered, skipped ones included (Eraser's meaning).
    #[serde(default)]
    pub desired: i64,
    /// Number of nodes skipped by the node filter (Windows nodes included).
    #[serde(default)]
    pub skipped: i64,
    /// Running, Completed or Failed; empty while new.
    #[serde(default)]
    #[schemars(transform = without_default)]
    pub phase: JobPhase,
    /// When the job (and everything it owns) will be deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<Time>,
}

/// Drops the `default` schemars derives from `#[serde(default)]`: API servers up to 1.20 read
/// an empty-string default as `null` and reject the whole CRD ("in body must be of type
/// string"). Readers default a missing phase themselves (`#[serde(default)]`).
fn without_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// Declares one served version of the ImageJob CRD; both versions share one schema.
macro_rules! imagejob_version {
    ($module:ident, $version:tt; $($extra:tt)*) => {
        /// ImageJob as served at this API version.
        pub mod $module {
            use kube::CustomResource;
            use schemars::JsonSchema;
            use serde::{Deserialize, Serialize};

            /// ImageJob has no spec; this empty set of root fields keeps the wire format
            /// free of a `spec` key, as Eraser's is.
            #[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
            #[kube(
                group = "eraser.sh",
                version = $version,
                kind = "ImageJob",
                doc = "One cleaning run across the cluster: a worker pod per eligible node.",
                singular = "imagejob",
                plural = "imagejobs",
                no_spec,
                status = "super::ImageJobStatus",
                printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
                printcolumn(name = "Desired", type_ = "integer", json_path = ".status.desired"),
                printcolumn(name = "Succeeded", type_ = "integer", json_path = ".status.succeeded"),
                printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
                printcolumn(name = "Skipped", type_ = "integer", json_path = ".status.skipped"),
                printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
                $($extra)*
            )]
            pub struct ImageJobFields {}
        }
    };
}

imagejob_version!(v1, "v1";);
imagejob_version!(
    v1alpha1, "v1alpha1";
    , storage = false,
    deprecated = "v1alpha1 of the eraser API has been deprecated. Please migrate to v1."
);

pub use v1::{ImageJob, ImageJobFields};
