//! The cluster's exclusion lists, checked before a run starts.
//!
//! The lists are the ConfigMaps labelled `eraser.sh/exclude.list=true` in the manager's
//! namespace plus the system list `eraser-system-exclusion`; the worker pods mount each at
//! `/exclude-<name>` and read its first key ending in `.json` ([`crate::exclusions`]). A list
//! the workers could not read would make them remove nothing mid-run (or, in Eraser, exit 1).
//! The manager checks the same rules first: a list without a `.json` key or with invalid JSON
//! gets a warning Event, and **the run is not started** — the job would otherwise run with an
//! exclusion set that is unknown, and ignoring an exclusion could remove an image the
//! administrator protected. The starter retries once the list is fixed.

use std::path::Path;

use drydock_api::names;
use drydock_cri::ExclusionSet;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::{Context, EventKind};
use crate::{Error, Result};

/// Reason of the warning Event on a bad exclusion ConfigMap.
pub const INVALID_REASON: &str = "InvalidExclusionList";

/// The exclusion lists found for a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// Valid lists to mount, sorted by name.
    pub valid: Vec<String>,
    /// Invalid lists with what is wrong, sorted by name.
    pub invalid: Vec<(String, String)>,
}

// === impl Exclusions ===

impl Exclusions {
    /// Whether a run may start (every list is valid).
    #[must_use]
    pub fn usable(&self) -> bool {
        self.invalid.is_empty()
    }

    /// One line naming every bad list, for Events and conditions.
    #[must_use]
    pub fn problem(&self) -> String {
        let lists: Vec<String> = self
            .invalid
            .iter()
            .map(|(name, why)| format!("ConfigMap {name}: {why}"))
            .collect();
        format!(
            "run not started: exclusion list(s) cannot be read, and removing images while an exclusion is unknown could remove a protected image ({})",
            lists.join("; ")
        )
    }
}

/// Checks one exclusion ConfigMap the way a worker reads it: the first key (by name) ending in
/// `.json`, in `data` or `binaryData`, must hold `{"excluded": [...]}` with valid patterns.
///
/// # Errors
/// What is wrong, for an Event.
pub fn validate(configmap: &ConfigMap) -> Result<(), String> {
    let name = configmap.name_any();
    let text_keys = configmap.data.iter().flat_map(|data| {
        data.iter()
            .map(|(key, value)| (key.as_str(), Some(value.as_str())))
    });
    let binary_keys = configmap.binary_data.iter().flat_map(|data| {
        data.iter()
            .map(|(key, value)| (key.as_str(), std::str::from_utf8(&value.0).ok()))
    });
    let mut keys: Vec<(&str, Option<&str>)> = text_keys
        .chain(binary_keys)
        .filter(|(key, _)| key.ends_with(".json"))
        .collect();
    keys.sort_by_key(|(key, _)| *key);
    let Some((key, value)) = keys.first() else {
        return Err("no key ending in .json".to_owned());
    };
    let Some(text) = value else {
        return Err(format!("key {key} is not UTF-8 text"));
    };
    if !text.trim_start().starts_with('{') {
        return Err(format!(
            "key {key} is not JSON of the form {{\"excluded\": [...]}}"
        ));
    }
    let mut set = ExclusionSet::default();
    crate::exclusions::parse_file(text, Path::new(&format!("{name}/{key}")), &mut set)
        .map_err(|e| e.to_string())
}

/// Sorts the lists into valid and invalid (pure). `system` is the system list when it exists.
#[must_use]
pub fn classify(labelled: &[ConfigMap], system: Option<&ConfigMap>) -> Exclusions {
    let mut all: Vec<&ConfigMap> = labelled.iter().collect();
    if let Some(system) = system
        && !labelled.iter().any(|cm| cm.name_any() == system.name_any())
    {
        all.push(system);
    }
    let mut found = Exclusions::default();
    for configmap in all {
        match validate(configmap) {
            Ok(()) => found.valid.push(configmap.name_any()),
            Err(why) => found.invalid.push((configmap.name_any(), why)),
        }
    }
    found.valid.sort();
    found.invalid.sort();
    found
}

/// Reads the lists (two calls: the labelled ConfigMaps, then the system list, which may be
/// absent).
///
/// # Errors
/// [`Error::Kube`] when a call fails (an absent system list is not an error).
pub async fn load(ctx: &Context) -> Result<Exclusions> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let selector = format!("{}=true", names::EXCLUDE_LIST_LABEL);
    let labelled = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Kube {
            action: "list the exclusion ConfigMaps".to_owned(),
            source: Box::new(source),
        })?;
    let system = api
        .get_opt(names::SYSTEM_EXCLUSION_CONFIGMAP)
        .await
        .map_err(|source| Error::Kube {
            action: format!("read ConfigMap {}", names::SYSTEM_EXCLUSION_CONFIGMAP),
            source: Box::new(source),
        })?;
    Ok(classify(&labelled.items, system.as_ref()))
}

/// Writes a warning Event on every invalid list (best effort).
pub async fn report(ctx: &Context, exclusions: &Exclusions) {
    for (name, why) in &exclusions.invalid {
        let regarding = ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("ConfigMap".to_owned()),
            name: Some(name.clone()),
            namespace: Some(ctx.namespace.clone()),
            ..ObjectReference::default()
        };
        let note = format!(
            "exclusion list cannot be read ({why}); Image Cleaner runs are not started until it is fixed"
        );
        tracing::warn!(configmap = %name, reason = %why, "invalid exclusion list: runs blocked");
        ctx.event(regarding, EventKind::Warning, INVALID_REASON, &note)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn a_list_needs_a_json_key_holding_an_excluded_array() {
        let ok = configmap(
            "excluded",
            &[("sample.json", r#"{"excluded": ["docker.io/library/*"]}"#)],
        );
        assert_eq!(validate(&ok), Ok(()));
        let no_json = configmap("a", &[("sample.txt", r#"{"excluded": []}"#)]);
        assert_eq!(validate(&no_json), Err("no key ending in .json".into()));
        let bad_json = configmap("b", &[("x.json", r#"{"excluded": ["#)]);
        assert!(validate(&bad_json).unwrap_err().starts_with("b/x.json: "));
        let lines = configmap("c", &[("x.json", "docker.io/library/*")]);
        assert!(validate(&lines).unwrap_err().contains("not JSON"));
        let bad_pattern = configmap("d", &[("x.json", r#"{"excluded": ["a b"]}"#)]);
        assert!(validate(&bad_pattern).is_err());
        let wrong_key = configmap("e", &[("x.json", r#"{"exclude": []}"#)]);
        assert!(validate(&wrong_key).is_err());
    }

    #[test]
    fn only_the_first_json_key_counts_as_the_workers_read_it() {
        let first_bad = configmap("a", &[("a.json", "{"), ("b.json", r#"{"excluded": []}"#)]);
        assert!(validate(&first_bad).is_err());
        let first_good = configmap("b", &[("a.json", r#"{"excluded": []}"#), ("b.json", "{")]);
        assert_eq!(validate(&first_good), Ok(()));
        let mut binary = configmap("c", &[]);
        binary.binary_data = Some(BTreeMap::from([(
            "list.json".to_owned(),
            ByteString(br#"{"excluded": ["x"]}"#.to_vec()),
        )]));
        assert_eq!(validate(&binary), Ok(()));
    }

    #[test]
    fn the_system_list_joins_the_labelled_ones_once_and_bad_lists_block_the_run() {
        let good = configmap("excluded", &[("s.json", r#"{"excluded": []}"#)]);
        let bad = configmap("broken", &[("s.txt", "")]);
        let system = configmap(
            names::SYSTEM_EXCLUSION_CONFIGMAP,
            &[("system.json", r#"{"excluded": ["mcr.microsoft.com/*"]}"#)],
        );
        let found = classify(&[good.clone(), system.clone()], Some(&system));
        assert_eq!(found.valid, vec!["eraser-system-exclusion", "excluded"]);
        assert!(found.usable());
        let found = classify(&[bad, good], Some(&system));
        assert!(!found.usable());
        assert_eq!(found.valid.len(), 2);
        assert_eq!(
            found.invalid,
            vec![("broken".into(), "no key ending in .json".into())]
        );
        assert!(
            found
                .problem()
                .contains("ConfigMap broken: no key ending in .json")
        );
        assert_eq!(classify(&[], None), Exclusions::default());
    }
}
