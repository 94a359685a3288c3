//! The JSON record that Eraser's worker containers pass through their pipes
//! (`collectScan`, `scanErase`): an array of `{"image_id", "names", "digests"}` objects.
//!
//! The field names and the `omitempty` behaviour of Go's encoder are part of the custom-scanner
//! contract, so third-party scanner images keep working: empty `names`/`digests` are omitted
//! on output and accepted as missing or `null` on input.
//!
//! Drydock adds one field Eraser's schema does not have, `drydock_in_use`: with the in-use
//! vulnerability report on, Drydock's collector also hands the scanner the images in use,
//! marked so. It is omitted when false, so every list without a marked image is Eraser's JSON
//! byte for byte; Go's decoder ignores the unknown field, so an Eraser scanner reads a marked
//! entry as an ordinary one.

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
    /// Drydock's mark: the image is in use, handed over to be scanned for the in-use report
    /// only; Drydock's scanner and remover never remove it.
    #[serde(
        rename = "drydock_in_use",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub in_use: bool,
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
                in_use: false,
            },
            Image {
                image_id: "sha256:cc".into(),
                names: vec![],
                digests: vec![],
                in_use: false,
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
    fn the_in_use_mark_is_drydocks_own_field_and_absent_unless_set() {
        let marked = Image {
            image_id: "sha256:aa".into(),
            in_use: true,
            ..Image::default()
        };
        let text = String::from_utf8(encode(std::slice::from_ref(&marked)).unwrap()).unwrap();
        assert_eq!(text, r#"[{"image_id":"sha256:aa","drydock_in_use":true}]"#);
        assert_eq!(
            decode(text.as_bytes(), "collectScan").unwrap(),
            vec![marked]
        );
        let plain = decode(br#"[{"image_id":"sha256:aa"}]"#, "collectScan").unwrap();
        assert!(!plain[0].in_use);
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
