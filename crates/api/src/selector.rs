//! Kubernetes label selectors and `key=value` node labels, checked at start-up. Shared by the
//! reboot coordinator (its kured flags) and the Image Cleaner (`manager.nodeFilter.selectors`).
//!
//! `--drain-pod-selector` and `--blocking-pod-selector` are label selectors in the syntax of
//! `kubectl get -l` (`app=x`, `tier!=web`, `env in (a,b)`, `!legacy`, …); kured passes them to
//! the API server unchecked, so a typo only shows up as an API error at drain time. Drydock
//! parses them once so a bad selector is a start-up error naming the flag, and keeps the text to
//! send to the API server. `--pre-reboot-node-labels` and `--post-reboot-node-labels` are
//! `key=value` pairs; kured panics on a label without `=` when it applies it, Drydock refuses it
//! at start-up.

use std::collections::BTreeMap;
use std::fmt;

/// The longest label name (and value), from Kubernetes' validation.
const MAX_LABEL_NAME_LEN: usize = 63;
/// The longest label key prefix (a DNS subdomain), from Kubernetes' validation.
const MAX_LABEL_PREFIX_LEN: usize = 253;

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `key` — the label is present.
    Exists(String),
    /// `!key` — the label is absent.
    DoesNotExist(String),
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the label is absent).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also true when the label is absent).
    NotIn(String, Vec<String>),
    /// `key>n` (the label's value is an integer greater than n).
    GreaterThan(String, i64),
    /// `key<n` (the label's value is an integer less than n).
    LessThan(String, i64),
}

/// A parsed label selector; it prints as the text it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelector {
    text: String,
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses a selector; the empty selector matches everything.
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let requirements = split_top_level(text)?
            .into_iter()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(parse_requirement)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LabelSelector {
            text: text.trim().to_owned(),
            requirements,
        })
    }

    /// The requirements, all of which must hold.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether a set of labels satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::GreaterThan(k, n) => label_int(labels, k).is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => label_int(labels, k).is_some_and(|l| l < *n),
        })
    }
}

fn label_int(labels: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    labels.get(key)?.parse().ok()
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0_u32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' in selector {text:?}"))?;
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in selector {text:?}"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(req: &str) -> Result<Requirement, String> {
    if let Some(key) = req.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(label_key(key.trim())?));
    }
    for (op, build) in [
        (
            "!=",
            Requirement::NotEquals as fn(String, String) -> Requirement,
        ),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = req.split_once(op) {
            return Ok(build(label_key(key.trim())?, label_value(value.trim())?));
        }
    }
    for (op, build) in [
        (
            '>',
            Requirement::GreaterThan as fn(String, i64) -> Requirement,
        ),
        ('<', Requirement::LessThan),
    ] {
        if let Some((key, value)) = req.split_once(op) {
            let n = value
                .trim()
                .parse()
                .map_err(|_| format!("{op} needs an integer in {req:?}"))?;
            return Ok(build(label_key(key.trim())?, n));
        }
    }
    let mut words = req.splitn(2, char::is_whitespace);
    let key = label_key(words.next().unwrap_or_default())?;
    let Some(rest) = words.next().map(str::trim) else {
        return Ok(Requirement::Exists(key));
    };
    let (op, set) = rest
        .split_once(|c: char| c.is_whitespace() || c == '(')
        .map(|(op, _)| (op, rest[op.len()..].trim()))
        .ok_or_else(|| format!("expected in or notin in {req:?}"))?;
    let inner = set
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("expected a (value,…) set in {req:?}"))?;
    let values = inner
        .split(',')
        .map(|v| label_value(v.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if inner.trim().is_empty() {
        return Err(format!("the value set of {req:?} is empty"));
    }
    match op {
        "in" => Ok(Requirement::In(key, values)),
        "notin" => Ok(Requirement::NotIn(key, values)),
        other => Err(format!("unknown operator {other:?} in {req:?}")),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn valid_name(name: &str) -> bool {
    name.len() <= MAX_LABEL_NAME_LEN
        && name.chars().all(is_name_char)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= MAX_LABEL_PREFIX_LEN
        && prefix.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// Checks a label key (`[prefix/]name`), returning it.
pub fn label_key(key: &str) -> Result<String, String> {
    let ok = match key.split_once('/') {
        Some((prefix, name)) => valid_prefix(prefix) && valid_name(name),
        None => valid_name(key),
    };
    if ok {
        Ok(key.to_owned())
    } else {
        Err(format!(
            "{key:?} is not a valid label key ([prefix/]name, name up to 63 of [A-Za-z0-9-_.] \
             starting and ending alphanumeric)"
        ))
    }
}

/// Checks a label value (empty, or a valid name), returning it.
pub fn label_value(value: &str) -> Result<String, String> {
    if value.is_empty() || valid_name(value) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a valid label value (up to 63 of [A-Za-z0-9-_.], starting and \
             ending alphanumeric)"
        ))
    }
}

/// A `key=value` node label from `--pre-reboot-node-labels` or `--post-reboot-node-labels`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLabel {
    /// The label key.
    pub key: String,
    /// The label value.
    pub value: String,
}

impl NodeLabel {
    /// Parses `key=value`.
    pub fn parse(text: &str) -> Result<NodeLabel, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("label {text:?} has no '=' (expected key=value)"))?;
        Ok(NodeLabel {
            key: label_key(key)?,
            value: label_value(value)?,
        })
    }
}

impl fmt::Display for NodeLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_selector_operator_parses_and_matches() {
        let sel = LabelSelector::parse(
            "app=blocker, tier!=web,env in (prod, stage),!legacy,team,gen>2,zone notin (a)",
        )
        .unwrap();
        assert_eq!(sel.requirements().len(), 7);
        let good = labels(&[
            ("app", "blocker"),
            ("env", "prod"),
            ("team", "x"),
            ("gen", "3"),
        ]);
        assert!(sel.matches(&good));
        let mut bad = good.clone();
        bad.insert("legacy".into(), "true".into());
        assert!(!sel.matches(&bad));
        assert_eq!(
            sel.to_string(),
            "app=blocker, tier!=web,env in (prod, stage),!legacy,team,gen>2,zone notin (a)"
        );
    }

    #[test]
    fn the_empty_selector_matches_everything() {
        assert!(
            LabelSelector::parse("")
                .unwrap()
                .matches(&labels(&[("a", "b")]))
        );
    }

    #[test]
    fn malformed_selectors_are_refused() {
        for bad in [
            "app=bl ocker",
            "env in prod",
            "env in ()",
            "env between (a)",
            "(app=x",
            "app)=x",
            "-app=x",
            "gen>two",
            "app=x=y",
        ] {
            assert!(
                LabelSelector::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn node_labels_need_an_equals_sign_and_valid_parts() {
        assert_eq!(
            NodeLabel::parse("example.com/rebooting=true")
                .unwrap()
                .to_string(),
            "example.com/rebooting=true"
        );
        assert_eq!(NodeLabel::parse("empty=").unwrap().value, "");
        assert!(NodeLabel::parse("no-equals").is_err());
        assert!(NodeLabel::parse("=value").is_err());
        assert!(NodeLabel::parse("key=bad value").is_err());
    }
}
