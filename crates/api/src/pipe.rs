//! The JSON record that Eraser's worker containers pass through their pipes
//! (`collectScan`, `scanErase`): an array of `{"image_id", "names", "digests"}` objects.
//!
//! The field names and the `omitempty` behaviour of Go's encoder are part of the custom-scanner
//! contract, so third-party scanner images keep working: empty `names`/`digests` are omitted
//! on output and accepted as missing or `null` on input.

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, Result};

/// One image as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Image {
    /// The runtime's image ID (for containerd, the config digest `sha256:…`).
    pub image_id: String,
    /// Repo tags, fully qualified (`docker.io/library/nginx:latest`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub names: Vec<String>,
    /// Bare repo digests (`sha256:…`), the repository part stripped, de-duplicated.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub digests: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Encodes images exactly as Eraser's Go encoder does (compact, no trailing newline).
///
/// # Errors
/// Never in practice: serialising strings cannot fail; the error is kept for honesty.
pub fn encode(images: &[Image]) -> Result<Vec<u8>> {
    serde_json::to_vec(images).map_err(|e| Error::Pipe {
        source_name: "encoder".to_owned(),
        message: e.to_string(),
    })
}

/// Decodes a pipe payload. `source_name` names the pipe or file in the error.
///
/// Go's `json.Marshal` of a nil slice is `null`, which Eraser components may send for "no
/// images"; it decodes as an empty list.
///
/// # Errors
/// [`Error::Pipe`] when the bytes are not the Eraser image-list JSON.
pub fn decode(bytes: &[u8], source_name: &str) -> Result<Vec<Image>> {
    let images: Option<Vec<Image>> = serde_json::from_slice(bytes).map_err(|e| Error::Pipe {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    let images = images.unwrap_or_default();
    if let Some(position) = images.iter().position(|image| image.image_id.is_empty()) {
        return Err(Error::Pipe {
            source_name: source_name.to_owned(),
            message: format!("entry {position} has an empty image_id"),
        });
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_go_with_omitempty() {
        let images = vec![
            Image {
                image_id: "sha256:aa".into(),
                names: vec!["docker.io/library/nginx:latest".into()],
                digests: vec!["sha256:bb".into()],
            },
            Image {
                image_id: "sha256:cc".into(),
                names: vec![],
                digests: vec![],
            },
        ];
        assert_eq!(
            String::from_utf8(encode(&images).unwrap()).unwrap(),
            r#"[{"image_id":"sha256:aa","names":["docker.io/library/nginx:latest"],"digests":["sha256:bb"]},{"image_id":"sha256:cc"}]"#
        );
    }

    #[test]
    fn decodes_go_output_including_null_and_missing_fields() {
        let images = decode(
            br#"[{"image_id":"sha256:aa","names":null},{"image_id":"x","digests":["sha256:d"]}]"#,
            "scanErase",
        )
        .unwrap();
        assert_eq!(images[0].names, Vec::<String>::new());
        assert_eq!(images[1].digests, vec!["sha256:d".to_owned()]);
        assert!(decode(b"null", "scanErase").unwrap().is_empty());
    }

    #[test]
    fn garbage_names_the_pipe() {
        for bad in [
            &b"{"[..],
            b"[1]",
            b"complete",
            b"[{\"names\":[]}]",
            b"[{\"image_id\":\"\"}]",
        ] {
            let err = decode(bad, "collectScan").unwrap_err().to_string();
            assert!(
                err.starts_with("collectScan: not an Eraser image list"),
                "{err}"
            );
        }
    }
}
