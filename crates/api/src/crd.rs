//! The CustomResourceDefinitions Drydock installs, rendered from the Rust types so the YAML in
//! `deploy/` can never drift from the code (a test compares them).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::core::crd::merge_crds;

use crate::{Error, Result, imagejob, imagelist};

/// The version every stored object is written in.
pub const STORAGE_VERSION: &str = "v1";

fn merged(versions: Vec<CustomResourceDefinition>, what: &str) -> Result<CustomResourceDefinition> {
    let mut crd = merge_crds(versions, STORAGE_VERSION).map_err(|e| Error::Render {
        what: what.to_owned(),
        message: e.to_string(),
    })?;
    // controller-gen writes `listKind`; kube's derive leaves it to the API server. Writing it
    // keeps the rendered CRD identical in meaning to Eraser's.
    crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    Ok(crd)
}

/// The `imagelists.eraser.sh` CRD with `v1` (storage) and deprecated `v1alpha1`.
///
/// # Errors
/// Only if the generated versions disagree on names or scope (a programming error).
pub fn imagelist_crd() -> Result<CustomResourceDefinition> {
    merged(
        vec![
            imagelist::v1::ImageList::crd(),
            imagelist::v1alpha1::ImageList::crd(),
        ],
        "imagelists.eraser.sh",
    )
}

/// The `imagejobs.eraser.sh` CRD with `v1` (storage) and deprecated `v1alpha1`.
///
/// # Errors
/// Only if the generated versions disagree on names or scope (a programming error).
pub fn imagejob_crd() -> Result<CustomResourceDefinition> {
    merged(
        vec![
            imagejob::v1::ImageJob::crd(),
            imagejob::v1alpha1::ImageJob::crd(),
        ],
        "imagejobs.eraser.sh",
    )
}

/// Both CRDs as one multi-document YAML stream, as `deploy/crds/eraser.sh.yaml` holds it.
///
/// # Errors
/// When YAML serialisation fails.
pub fn render_yaml() -> Result<String> {
    let mut out = String::new();
    for crd in [imagelist_crd()?, imagejob_crd()?] {
        let name = crd.metadata.name.clone().unwrap_or_default();
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd).map_err(|e| Error::Render {
            what: name,
            message: e.to_string(),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_crds_are_cluster_scoped_with_v1_storage_and_deprecated_v1alpha1() {
        for crd in [imagelist_crd().unwrap(), imagejob_crd().unwrap()] {
            assert_eq!(crd.spec.group, "eraser.sh");
            assert_eq!(crd.spec.scope, "Cluster");
            let versions: Vec<_> = crd
                .spec
                .versions
                .iter()
                .map(|v| {
                    (
                        v.name.as_str(),
                        v.served,
                        v.storage,
                        v.deprecated.unwrap_or(false),
                    )
                })
                .collect();
            assert_eq!(
                versions,
                vec![("v1", true, true, false), ("v1alpha1", true, false, true)]
            );
            let warning = crd.spec.versions[1].deprecation_warning.as_deref();
            assert_eq!(
                warning,
                Some("v1alpha1 of the eraser API has been deprecated. Please migrate to v1.")
            );
            for version in &crd.spec.versions {
                let status = version
                    .subresources
                    .as_ref()
                    .and_then(|s| s.status.as_ref());
                assert!(
                    status.is_some(),
                    "{} {} lacks the status subresource",
                    crd.spec.names.kind,
                    version.name
                );
            }
        }
    }

    #[test]
    fn names_match_eraser() {
        let list = imagelist_crd().unwrap();
        assert_eq!(list.metadata.name.as_deref(), Some("imagelists.eraser.sh"));
        assert_eq!(list.spec.names.kind, "ImageList");
        assert_eq!(list.spec.names.list_kind.as_deref(), Some("ImageListList"));
        assert_eq!(list.spec.names.singular.as_deref(), Some("imagelist"));
        let job = imagejob_crd().unwrap();
        assert_eq!(job.metadata.name.as_deref(), Some("imagejobs.eraser.sh"));
        assert_eq!(job.spec.names.plural, "imagejobs");
    }

    #[test]
    fn imagelist_schema_requires_spec_images_and_imagejob_has_no_spec() {
        let yaml = render_yaml().unwrap();
        let list = serde_json::to_value(imagelist_crd().unwrap()).unwrap();
        let schema = &list["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert_eq!(
            schema["properties"]["spec"]["required"],
            serde_json::json!(["images"])
        );
        let job = serde_json::to_value(imagejob_crd().unwrap()).unwrap();
        let schema = &job["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert!(
            schema["properties"].get("spec").is_none(),
            "ImageJob must not have a spec: {yaml}"
        );
        for field in [
            "failed",
            "succeeded",
            "desired",
            "skipped",
            "phase",
            "deleteAfter",
        ] {
            assert!(
                schema["properties"]["status"]["properties"]
                    .get(field)
                    .is_some(),
                "missing status.{field}"
            );
        }
    }

    #[test]
    fn eraser_status_json_decodes() {
        let job: imagejob::ImageJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "eraser.sh/v1", "kind": "ImageJob",
            "metadata": {"name": "imagejob-abcde"},
            "status": {"desired": 3, "succeeded": 2, "failed": 1, "skipped": 0, "phase": "Failed",
                       "deleteAfter": "2026-01-01T00:00:00Z"}
        }))
        .unwrap();
        let status = job.status.unwrap();
        assert_eq!(status.phase, imagejob::JobPhase::Failed);
        assert_eq!(status.desired, 3);
        let new: imagejob::ImageJobStatus =
            serde_json::from_value(serde_json::json!({"phase": ""})).unwrap();
        assert_eq!(new.phase, imagejob::JobPhase::New);
        let list: imagelist::ImageList = serde_json::from_value(serde_json::json!({
            "apiVersion": "eraser.sh/v1", "kind": "ImageList", "metadata": {"name": "imagelist"},
            "spec": {"images": ["docker.io/library/alpine:3.7.3"]},
            "status": {"timestamp": "2026-01-01T00:00:00Z", "success": 3, "failed": 0, "skipped": 1}
        }))
        .unwrap();
        assert_eq!(list.spec.images, vec!["docker.io/library/alpine:3.7.3"]);
        assert_eq!(list.status.unwrap().skipped, 1);
    }
}
