//! Pure job planning: which nodes get a worker pod, which are skipped and why.
//!
//! Eraser's rules, kept: every node counts towards `desired`; the node filter's selectors are
//! label selectors (`key`, `k=v`, `!k`, `k in (…)`), a node matches when *any* selector
//! matches, `eraser.sh/cleanup.filter` is always one of them; `exclude` skips matching nodes,
//! `include` keeps only them. Added: Windows nodes and virtual nodes are always skipped and
//! counted as skipped (AKS supports neither), whatever the filter says — Eraser only skipped
//! Windows through its *shipped* config, so an `include` filter could select them.

use std::collections::{BTreeMap, BTreeSet};

use drydock_api::config::{NodeFilter, NodeFilterType};
use drydock_api::names::CLEANUP_FILTER_LABEL;
use drydock_api::selector::{LabelSelector, Requirement};

use crate::manager::cached::CachedNode;
use crate::{Error, Result};

/// The well-known OS label and its Windows value.
pub const OS_LABEL: &str = "kubernetes.io/os";
/// Value of [`OS_LABEL`] on Windows nodes.
pub const WINDOWS: &str = "windows";
/// Label virtual-kubelet nodes (AKS virtual nodes, ACI) carry, and its value.
pub const VIRTUAL_NODE_LABEL: (&str, &str) = ("type", "virtual-kubelet");

/// Why a node gets no worker pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// A Windows node (no Windows support, as in AKS).
    Windows,
    /// A virtual node (no real runtime to clean).
    VirtualNode,
    /// Matched this selector of an `exclude` filter.
    Excluded(String),
    /// Matched no selector of an `include` filter.
    NotIncluded,
}

/// The nodes of one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePlan {
    /// Nodes that get a worker pod, sorted by name.
    pub targets: Vec<String>,
    /// Nodes that are skipped, with the reason, sorted by name.
    pub skipped: Vec<(String, Skip)>,
}

// === impl NodePlan ===

impl NodePlan {
    /// Eraser's `desired`: every node considered, skipped ones included.
    #[must_use]
    pub fn desired(&self) -> usize {
        self.targets.len() + self.skipped.len()
    }
}

/// The filter's selectors, parsed, with `eraser.sh/cleanup.filter` appended when absent.
///
/// # Errors
/// [`Error::Input`] naming the selector's position for an invalid selector.
pub fn selectors(filter: &NodeFilter) -> Result<Vec<LabelSelector>> {
    let mut texts: Vec<&str> = filter.selectors.iter().map(String::as_str).collect();
    if !texts.iter().any(|text| text.trim() == CLEANUP_FILTER_LABEL) {
        texts.push(CLEANUP_FILTER_LABEL);
    }
    texts
        .iter()
        .enumerate()
        .map(|(position, text)| {
            LabelSelector::parse(text).map_err(|message| Error::Input {
                source_name: format!("manager.nodeFilter.selectors[{position}] {text:?}"),
                message,
            })
        })
        .collect()
}

/// Every label key planning reads under `filter`: the OS and virtual-node labels and each key
/// a selector names. A cache of Nodes may drop every other label (the manager does, to stay
/// small on large clusters, and re-lists when this set changes).
///
/// # Errors
/// An invalid selector in the filter.
pub fn label_keys(filter: &NodeFilter) -> Result<BTreeSet<String>> {
    let mut keys = BTreeSet::from([OS_LABEL.to_owned(), VIRTUAL_NODE_LABEL.0.to_owned()]);
    for selector in selectors(filter)? {
        for requirement in selector.requirements() {
            let key = match requirement {
                Requirement::Exists(key)
                | Requirement::DoesNotExist(key)
                | Requirement::Equals(key, _)
                | Requirement::NotEquals(key, _)
                | Requirement::In(key, _)
                | Requirement::NotIn(key, _)
                | Requirement::GreaterThan(key, _)
                | Requirement::LessThan(key, _) => key,
            };
            keys.insert(key.clone());
        }
    }
    Ok(keys)
}

/// Decides for every node (`nodes` as a slice or straight from a reflector store's `Arc`s).
///
/// # Errors
/// An invalid selector in the filter.
pub fn plan_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a CachedNode>,
    filter: &NodeFilter,
) -> Result<NodePlan> {
    let selectors = selectors(filter)?;
    let empty = BTreeMap::new();
    let mut plan = NodePlan::default();
    for node in nodes {
        let Some(name) = node.metadata.name.clone() else {
            continue;
        };
        let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
        let matching = selectors.iter().find(|selector| selector.matches(labels));
        let skip = if labels.get(OS_LABEL).is_some_and(|os| os == WINDOWS) {
            Some(Skip::Windows)
        } else if labels
            .get(VIRTUAL_NODE_LABEL.0)
            .is_some_and(|v| v == VIRTUAL_NODE_LABEL.1)
        {
            Some(Skip::VirtualNode)
        } else {
            match (filter.kind, matching) {
                (NodeFilterType::Exclude, Some(selector)) => {
                    Some(Skip::Excluded(selector.to_string()))
                }
                (NodeFilterType::Include, None) => Some(Skip::NotIncluded),
                _ => None,
            }
        };
        match skip {
            Some(reason) => plan.skipped.push((name, reason)),
            None => plan.targets.push(name),
        }
    }
    plan.targets.sort();
    plan.skipped.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(plan)
}

#[cfg(test)]
mod tests {

    use super::*;

    fn node(name: &str, labels: &[(&str, &str)]) -> CachedNode {
        crate::manager::testing::node(name, labels, None)
    }

    fn filter(kind: NodeFilterType, selectors: &[&str]) -> NodeFilter {
        NodeFilter {
            kind,
            selectors: selectors.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn default_filter_skips_labelled_windows_and_virtual_nodes_but_counts_them() {
        let nodes = [
            node("a", &[]),
            node("b", &[(CLEANUP_FILTER_LABEL, "true")]),
            node("win", &[(OS_LABEL, WINDOWS)]),
            node("virtual", &[("type", "virtual-kubelet")]),
        ];
        let plan = plan_nodes(&nodes, &NodeFilter::default()).unwrap();
        assert_eq!(plan.targets, vec!["a"]);
        assert_eq!(plan.desired(), 4);
        assert_eq!(
            plan.skipped[0],
            (
                "b".to_owned(),
                Skip::Excluded(CLEANUP_FILTER_LABEL.to_owned())
            )
        );
        assert!(plan.skipped.contains(&("win".to_owned(), Skip::Windows)));
        assert!(
            plan.skipped
                .contains(&("virtual".to_owned(), Skip::VirtualNode))
        );
    }

    #[test]
    fn include_filter_keeps_only_matching_nodes_and_never_windows() {
        let nodes = [
            node("a", &[(CLEANUP_FILTER_LABEL, "true")]),
            node("b", &[]),
            node(
                "win",
                &[(OS_LABEL, WINDOWS), (CLEANUP_FILTER_LABEL, "true")],
            ),
        ];
        let plan = plan_nodes(&nodes, &filter(NodeFilterType::Include, &[])).unwrap();
        assert_eq!(plan.targets, vec!["a"]);
        assert!(plan.skipped.contains(&("b".to_owned(), Skip::NotIncluded)));
        assert!(plan.skipped.contains(&("win".to_owned(), Skip::Windows)));
    }

    #[test]
    fn any_selector_matching_is_enough_and_selectors_use_the_label_grammar() {
        let nodes = [
            node("gpu", &[("pool", "gpu")]),
            node("spot", &[("spot", "")]),
            node("web", &[("pool", "web")]),
        ];
        let plan = plan_nodes(
            &nodes,
            &filter(NodeFilterType::Exclude, &["pool in (gpu, batch)", "spot"]),
        )
        .unwrap();
        assert_eq!(plan.targets, vec!["web"]);
    }

    #[test]
    fn planning_on_only_the_label_keys_it_reads_decides_the_same() {
        let filter = filter(NodeFilterType::Exclude, &["pool in (gpu)", "!keep"]);
        let keys = label_keys(&filter).unwrap();
        let nodes = [
            node("gpu", &[("pool", "gpu"), ("zone", "1"), ("keep", "")]),
            node("bare", &[("zone", "2")]),
            node("win", &[(OS_LABEL, WINDOWS), ("keep", "")]),
            node("flagged", &[(CLEANUP_FILTER_LABEL, "true"), ("keep", "")]),
        ];
        let trimmed: Vec<CachedNode> = nodes
            .iter()
            .cloned()
            .map(|mut n| {
                if let Some(labels) = n.metadata.labels.as_mut() {
                    labels.retain(|k, _| keys.contains(k));
                }
                n
            })
            .collect();
        assert_eq!(
            plan_nodes(&trimmed, &filter).unwrap(),
            plan_nodes(&nodes, &filter).unwrap()
        );
        assert!(keys.contains("keep") && keys.contains(CLEANUP_FILTER_LABEL));
        assert!(!keys.contains("zone"));
    }

    #[test]
    fn an_invalid_selector_names_its_position() {
        let err = plan_nodes(
            &[],
            &filter(NodeFilterType::Exclude, &["ok", "pool in (gpu"]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("manager.nodeFilter.selectors[1] \"pool in (gpu\""),
            "{err}"
        );
    }
}
