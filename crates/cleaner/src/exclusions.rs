//! Exclusion lists read the Eraser way, plus Drydock's own exclusion files.
//!
//! In a worker pod every ConfigMap labelled `eraser.sh/exclude.list=true` is mounted at
//! `/exclude-<name>`. For each directory whose name starts with `exclude-`, the **first** file
//! (by name) ending in `.json` is read as `{"excluded": ["pattern", …]}`. A directory without a
//! `.json` file, unreadable or invalid JSON, or an invalid pattern is an error naming the file:
//! the stage then removes nothing, because ignoring an exclusion could delete an image the
//! administrator protected.

use std::path::{Path, PathBuf};

use drydock_cri::ExclusionSet;
use serde::Deserialize;

use crate::{Error, Result};

/// Prefix of the mounted exclusion directories.
pub const EXCLUDE_DIR_PREFIX: &str = "exclude-";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExclusionList {
    excluded: Vec<String>,
}

fn input_error(source: &Path, message: impl Into<String>) -> Error {
    Error::Input {
        source_name: source.display().to_string(),
        message: message.into(),
    }
}

/// Parses an exclusion file: `{"excluded": [...]}` JSON, or (for `drydock clean
/// --exclude-file`) plain text with one pattern per line, `#` comments and blank lines
/// ignored.
///
/// # Errors
/// [`Error::Input`] naming `source` for invalid JSON or an invalid pattern.
pub fn parse_file(text: &str, source: &Path, into: &mut ExclusionSet) -> Result<()> {
    let name = source.display().to_string();
    let patterns: Vec<String> = if text.trim_start().starts_with('{') {
        let list: ExclusionList = serde_json::from_str(text).map_err(|e| {
            input_error(
                source,
                format!("not an exclusion list {{\"excluded\": [...]}}: {e}"),
            )
        })?;
        list.excluded
    } else {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    into.extend(patterns.iter().map(String::as_str), &name)
        .map_err(Error::from)
}

/// Reads one exclusion file from disk.
///
/// # Errors
/// [`Error::Io`] when unreadable, otherwise as [`parse_file`].
pub fn read_file(path: &Path, into: &mut ExclusionSet) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_file(&text, path, into)
}

/// Reads every `exclude-*` directory under `root` the Eraser way. Returns the files read.
///
/// # Errors
/// The first unreadable directory, directory without a `.json` file, or invalid file.
pub fn read_mounted(root: &Path, into: &mut ExclusionSet) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(root, e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(std::result::Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(EXCLUDE_DIR_PREFIX)
        })
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    let mut read = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(std::result::Result::ok)
            // ConfigMap volumes hold `..data` and timestamped `..2024_…` entries: skip them.
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                !name.starts_with("..") && name.ends_with(".json")
            })
            .map(|entry| entry.path())
            .collect();
        files.sort();
        let Some(first) = files.into_iter().next() else {
            return Err(input_error(
                &dir,
                "exclusion ConfigMap has no key ending in .json",
            ));
        };
        read_file(&first, into)?;
        read.push(first);
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_json_key_of_each_mounted_configmap() {
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("exclude-excluded");
        std::fs::create_dir(&a).unwrap();
        std::fs::write(a.join("b.json"), r#"{"excluded": ["redis"]}"#).unwrap();
        std::fs::write(a.join("a.json"), r#"{"excluded": ["docker.io/library/*"]}"#).unwrap();
        std::fs::write(a.join("notes.txt"), "ignored").unwrap();
        let b = root.path().join("exclude-system");
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("list.json"), r#"{"excluded": ["quay.io/x:*"]}"#).unwrap();
        std::fs::create_dir(root.path().join("other")).unwrap();
        let mut set = ExclusionSet::default();
        let files = read_mounted(root.path(), &mut set).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(set.len(), 2, "only a.json of the first ConfigMap counts");
    }

    #[test]
    fn a_configmap_without_json_or_with_bad_json_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("exclude-broken");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("sample.txt"), "x").unwrap();
        let err = read_mounted(root.path(), &mut ExclusionSet::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exclude-broken") && err.contains("no key ending in .json"),
            "{err}"
        );
        std::fs::write(dir.join("sample.json"), "{\"excluded\": [").unwrap();
        let err = read_mounted(root.path(), &mut ExclusionSet::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exclude-broken/sample.json") && err.contains("not an exclusion list"),
            "{err}"
        );
        std::fs::write(dir.join("sample.json"), r#"{"excluded": ["ng*nx"]}"#).unwrap();
        let err = read_mounted(root.path(), &mut ExclusionSet::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exclude-broken/sample.json") && err.contains("\"ng*nx\""),
            "{err}"
        );
    }

    #[test]
    fn plain_text_files_hold_one_pattern_per_line() {
        let mut set = ExclusionSet::default();
        parse_file(
            "# keep these\nnginx\n\n  quay.io/x/*  \n",
            Path::new("keep.txt"),
            &mut set,
        )
        .unwrap();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn a_missing_root_means_no_exclusions() {
        let mut set = ExclusionSet::default();
        assert!(
            read_mounted(Path::new("/nonexistent/drydock"), &mut set)
                .unwrap()
                .is_empty()
        );
    }
}
