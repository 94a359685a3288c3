//! The `ImageList` custom resource (`imagelists.eraser.sh`): the administrator's list of images
//! to remove from every node (manual mode). Cluster-scoped; served as `v1` (storage) and as the
//! deprecated `v1alpha1` with an identical schema, exactly like Eraser, so existing manifests
//! apply unchanged. Drydock adds optional status fields (`observedGeneration`, `conditions`)
//! that Eraser clients ignore.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The pseudo-image that means "every unused, non-excluded image" in an ImageList's `images`
/// (Eraser's `*`).
pub const ALL_IMAGES: &str = "*";

/// Observed state of an ImageList: the result of the last run it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageListStatus {
    /// When the last run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Time>,
    /// Number of nodes whose worker pod succeeded.
    #[serde(default)]
    pub success: i64,
    /// Number of nodes whose worker pod failed (or never started).
    #[serde(default)]
    pub failed: i64,
    /// Number of nodes skipped by the node filter (Windows nodes included).
    #[serde(default)]
    pub skipped: i64,
    /// The `metadata.generation` of the spec the manager last acted on (a run started for it,
    /// or the spec was rejected as invalid). A list whose generation equals this value is not
    /// run again (restarts never re-run an unchanged list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions (`Running`, `Succeeded`, `Failed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Declares one served version of the ImageList CRD; both versions share one schema.
macro_rules! imagelist_version {
    ($module:ident, $version:tt; $($extra:tt)*) => {
        /// ImageList as served at this API version.
        pub mod $module {
            use kube::CustomResource;
            use schemars::JsonSchema;
            use serde::{Deserialize, Serialize};

            /// The images to remove. Each entry is an image ID, a reference as the runtime
            /// reports it (`docker.io/library/alpine:3.7.3`, short names such as `alpine:3.7.3`
            /// are normalised), a digest (`sha256:…` or `repo@sha256:…`), or `*` for every
            /// unused, non-excluded image.
            #[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
            #[kube(
                group = "eraser.sh",
                version = $version,
                kind = "ImageList",
                doc = "A list of images to remove from every node where they are not in use (manual mode).",
                singular = "imagelist",
                plural = "imagelists",
                status = "super::ImageListStatus",
                printcolumn(name = "Success", type_ = "integer", json_path = ".status.success"),
                printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
                printcolumn(name = "Skipped", type_ = "integer", json_path = ".status.skipped"),
                printcolumn(name = "Last run", type_ = "date", json_path = ".status.timestamp"),
                printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
                $($extra)*
            )]
            pub struct ImageListSpec {
                /// Images to remove from every node where they are not in use.
                pub images: Vec<String>,
            }
        }
    };
}

imagelist_version!(v1, "v1";);
imagelist_version!(
    v1alpha1, "v1alpha1";
    , storage = false,
    deprecated = "v1alpha1 of the eraser API has been deprecated. Please migrate to v1."
);

pub use v1::{ImageList, ImageListSpec};
